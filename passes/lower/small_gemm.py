"""theanir-small-gemm: products with a small side run register-blocked loops, not BLAS.

After bufferization, a float `linalg.matmul` (C += A B) with static sizes where the batch
side is small (M <= 16 rows, a minibatch forward or backward product) or the summed side is
(K <= 16: the rank-K weight update W += Hᵀ D of a minibatch) calls a generated kernel
instead of `cblas_?gemm`. Why: OpenBLAS packs the big operand into a buffer on every call,
which a 10-row product never amortizes. Measured on the project's AMD EPYC (1 thread,
float32, GFLOP/s, BLAS -> kernel): 10x1000 @ 1000x1024 49.5 -> 78; 10x784 @ 784x512 57 ->
89 (2 blocks of 5 rows: 99); 10x1000 @ (1024x1000)ᵀ 47 -> 78; the update 1000x1024 +=
(10x1000)ᵀ @ 10x1024 61 -> 83. Two kernel shapes, both reading the operands in place:

  rk (row broadcast), when B's rows and C's rows are contiguous: a block of MR rows of C and
     NV vectors of columns stays in registers while k runs; each step loads NV vectors of
     B's row k and broadcasts MR scalars A[i, k] (A may have any strides, so Hᵀ is free).
     The last column block is masked (vector.create_mask), so any N works.
  dk (dot), when A's rows and the transposed B's rows (a row-major W read as Wᵀ) are
     contiguous along k: MI x NJ vector accumulators over k, summed horizontally at the end
     and added to C; the k tail is a masked step.

    linalg.matmul ins(%a, %b : memref<10x784xf32>, memref<784x500xf32>) outs(%c : ...)
->  scf.for %i0 = 0 to 10 step 10 { call @__theanir_rk_f32_10x2(ptrs, strides, %i0, N, K) }

The kernels fit the host: with AVX-512, 32 vector registers (up to 24 accumulators) and
512-bit vectors (16 f32 / 8 f64; the `prefer-vector-width=256` hint of theanir-vector-width
only steers LLVM's own vectorizer, and 10x1000 @ 1000x1000 ran 71 GFLOP/s with 256-bit
kernels, 100 with 512); else 16 registers (up to 12) and 256-bit vectors. Products with
M, N <= 1 stay with BLAS's gemv; anything dynamic in size, with another layout, or batched
stays with the BLAS pass (or the loops). The figures above are the first, 256-bit version.
"""
from __future__ import annotations

import contextvars
import functools
import itertools
from dataclasses import dataclass

from mlir import ir
from mlir.dialects import arith, scf

from ..base import Pass
from ..options import CompileOptions

from .matmul_to_blas import (_append_functions, _call, _defined_symbols, _float_kind, _metadata,
                             _transposes)

NAME = "theanir-small-gemm"
SMALL = 16  # the small side's bound (rows of a minibatch, or its length as K)
# The kernels keep float32 sums in registers for all of K: an rk accumulator adds K products
# in one chain, a dk lane K / VL (10x16384 @ 16384x64 of uniform values: 5.8e-6 relative,
# NumPy's BLAS 3.8e-7). A longer K runs in chunks, each a kernel call adding its partial
# product into C, so no chain is longer than K_CHUNK + K / chunk (K_CHUNK products per
# accumulator or lane, as BLAS's K-blocking): 3.0e-7 there. The MLPs' K <= 1000 are one chunk.
# Beyond K_MAX the chunks' sum through C would be the long chain again: such products go to
# BLAS (or, without it, to theanir-wide-products' float64 loops).
K_CHUNK = 64
K_CHUNKED_FROM = 1024  # K above this is chunked
K_MAX = 16384
PREFETCH = 8  # rows of B ahead that rkp prefetches (B streamed from L3: +5% at 10x1000x1000)
_SIZE = {"f32": 4, "f64": 8}  # bytes per element


# The kernels' vector width for the module being rewritten: set by `small_gemm` from its
# `target_features` option for the duration of one run (the kernel text builders below read
# it instead of taking it as an argument through every helper).
_WIDE: contextvars.ContextVar[bool] = contextvars.ContextVar("theanir_small_gemm_avx512", default=False)


def _avx512() -> bool:
    return _WIDE.get()


@functools.cache
def has_avx512(target_features: str) -> bool:
    """Whether an LLVM feature string ("+avx2,+avx512f,...") enables AVX-512F. Passes never
    probe the host: "" means an unknown CPU (generic kernels); compiles pass the resolved
    `CompileOptions.target_features` and theanir-opt the host's (codegen/host.py)."""
    return "+avx512f" in target_features.split(",")


def _registers() -> int:
    """Vector registers the host's code may use: 32 with AVX-512, else 16."""
    return 32 if _avx512() else 16


def _lanes(elt: str) -> int:
    """Elements per kernel vector: 512-bit with AVX-512, else 256-bit."""
    return (64 if _avx512() else 32) // _SIZE[elt]


class _Text:
    """MLIR text of one kernel function, with fresh SSA names."""

    def __init__(self, elt: str):
        self.elt, self.vl = elt, _lanes(elt)
        self.vec = f"vector<{self.vl}x{elt}>"
        self.lines: list[str] = []
        self._ids = itertools.count()

    def fresh(self, stem: str) -> str:
        return f"%{stem}{next(self._ids)}"

    def op(self, rhs: str, stem: str = "v") -> str:
        name = self.fresh(stem)
        self.lines.append(f"{name} = {rhs}")
        return name

    def const(self, value: int) -> str:
        return self.op(f"arith.constant {value} : index", "c")

    def add(self, a: str, b: str) -> str:
        return self.op(f"arith.addi {a}, {b} : index", "x")

    def mul(self, a: str, b: str) -> str:
        return self.op(f"arith.muli {a}, {b} : index", "x")

    def ptr(self, base: str, offset: str) -> str:
        off = self.op(f"arith.index_cast {offset} : index to i64", "o")
        return self.op(f"llvm.getelementptr {base}[{off}] : (!llvm.ptr, i64) -> !llvm.ptr, {self.elt}", "p")

    def load(self, p: str, mask: str | None = None, zero: str | None = None) -> str:
        if mask is None:
            return self.op(f"llvm.load {p} {{alignment = {_SIZE[self.elt]} : i64}} : !llvm.ptr -> {self.vec}", "l")
        return self.op(f"llvm.intr.masked.load {p}, {mask}, {zero} {{alignment = {_SIZE[self.elt]} : i32}} "
                       f": (!llvm.ptr, vector<{self.vl}xi1>, {self.vec}) -> {self.vec}", "l")

    def store(self, v: str, p: str, mask: str | None = None) -> None:
        if mask is None:
            self.lines.append(f"llvm.store {v}, {p} {{alignment = {_SIZE[self.elt]} : i64}} : {self.vec}, !llvm.ptr")
        else:
            self.lines.append(f"llvm.intr.masked.store {v}, {p}, {mask} {{alignment = {_SIZE[self.elt]} : i32}} "
                              f": {self.vec}, vector<{self.vl}xi1> into !llvm.ptr")

    def scalar(self, p: str) -> str:
        return self.op(f"llvm.load {p} {{alignment = {_SIZE[self.elt]} : i64}} : !llvm.ptr -> {self.elt}", "s")

    def loop(self, lo: str, hi: str, step: str, inits: list[str], body) -> list[str]:
        """scf.for with iter_args; `body(iv, args)` emits the body and returns the yields."""
        iv = self.fresh("k")
        args = [self.fresh("acc") for _ in inits]
        results = self.fresh("r")
        types = ", ".join([self.vec] * len(inits))
        carried = ", ".join(f"{a} = {i}" for a, i in zip(args, inits))
        head = f"scf.for {iv} = {lo} to {hi} step {step}"
        if inits:
            head = f"{results}:{len(inits)} = {head} iter_args({carried}) -> ({types})"
        self.lines.append(head + " {")
        ys = body(iv, args)
        self.lines.append(f"scf.yield {', '.join(ys)} : {types}" if ys else "scf.yield")
        self.lines.append("}")
        return [f"{results}#{j}" for j in range(len(inits))]


def rk_name(elt: str, mr: int, nv: int, prefetch: bool = False, fresh: bool = False) -> str:
    return f"__theanir_rk{'p' if prefetch else ''}{'z' if fresh else ''}_{elt}_{mr}x{nv}"


def dk_name(elt: str, mi: int, nj: int) -> str:
    return f"__theanir_dk_{elt}_{mi}x{nj}"


def _rk_block(t: _Text, mr: int, nv: int, j: str, masked: bool, prefetch: bool, fresh: bool,
              a_rows: list[str], c_rows: list[str], pa: str, sak: str, pb: str, sbk: str, pc: str,
              n: str, k: str, zero: str) -> None:
    """C[rows, j : j + nv*VL] += A[rows, :] @ B[:, same columns], masked past n if asked."""
    cols = [j if v == 0 else t.add(j, t.const(v * t.vl)) for v in range(nv)]
    masks = [None] * nv
    if masked:
        masks = [t.op(f"vector.create_mask {t.op(f'arith.subi {n}, {c} : index', 'x')} : vector<{t.vl}xi1>", "m")
                 for c in cols]
    c_ptrs = [[t.ptr(pc, t.add(c_rows[r], cols[v])) for v in range(nv)] for r in range(mr)]
    # fresh (a chunk of a long K): the products sum from zero and C is added once at the end,
    # so the chunks really have short chains, not one chain through C. Otherwise the
    # accumulators start from C (the unchunked kernels: logistic regression's steps ran 1.4x
    # slower with the add at the end).
    inits = [zero] * (mr * nv) if fresh else [t.load(c_ptrs[r][v], masks[v], zero)
                                              for r in range(mr) for v in range(nv)]
    c0, c1 = t.const(0), t.const(1)

    def body(kk: str, acc: list[str]) -> list[str]:
        brow = t.mul(kk, sbk)
        if prefetch:  # B streams from L3 once: ask for its row PREFETCH steps ahead
            ahead = t.ptr(pb, t.add(t.add(brow, t.mul(t.const(PREFETCH), sbk)), cols[0]))
            t.lines.append(f'"llvm.intr.prefetch"({ahead}) <{{cache = 1 : i32, hint = 3 : i32, rw = 0 : i32}}> '
                           ": (!llvm.ptr) -> ()")
        bs = [t.load(t.ptr(pb, t.add(brow, cols[v])), masks[v], zero) for v in range(nv)]
        acol = t.mul(kk, sak)
        out = []
        for r in range(mr):
            s = t.scalar(t.ptr(pa, t.add(a_rows[r], acol)))
            bc = t.op(f"vector.broadcast {s} : {t.elt} to {t.vec}", "b")
            out += [t.op(f"vector.fma {bc}, {bs[v]}, {acc[r * nv + v]} : {t.vec}", "f") for v in range(nv)]
        return out

    res = t.loop(c0, k, c1, inits, body)
    for r in range(mr):
        for v in range(nv):
            total = res[r * nv + v]
            if fresh:
                total = t.op(f"arith.addf {t.load(c_ptrs[r][v], masks[v], zero)}, {total} : {t.vec}", "s")
            t.store(total, c_ptrs[r][v], masks[v])


def rk_kernel(elt: str, mr: int, nv: int, prefetch: bool = False, fresh: bool = False) -> str:
    """C[i0 : i0+mr, :n] += A[i0 : i0+mr, :k] @ B[:k, :n] (B, C rows contiguous)."""
    t = _Text(elt)
    w = nv * t.vl
    zero = t.op(f"arith.constant dense<0.0> : {t.vec}", "z")
    i_rows = ["%i0" if r == 0 else t.add("%i0", t.const(r)) for r in range(mr)]
    a_rows = [t.mul(i, "%sar") for i in i_rows]
    c_rows = [t.mul(i, "%scm") for i in i_rows]
    cw = t.const(w)
    nr = t.op(f"arith.remui %n, {cw} : index", "x")
    nf = t.op(f"arith.subi %n, {nr} : index", "x")
    args = ("%pa", "%sak", "%pb", "%sbk", "%pc", "%n", "%k", zero)
    t.loop(t.const(0), nf, cw, [], lambda j, _: _rk_block(t, mr, nv, j, False, prefetch, fresh, a_rows,
                                                           c_rows, *args) or [])
    tail = t.op(f"arith.cmpi ne, {nr}, {t.const(0)} : index", "t")
    t.lines.append(f"scf.if {tail} {{")
    _rk_block(t, mr, nv, nf, True, False, fresh, a_rows, c_rows, *args)
    t.lines.append("}")
    sig = ("%pa: !llvm.ptr, %sar: index, %sak: index, %pb: !llvm.ptr, %sbk: index, "
           "%pc: !llvm.ptr, %scm: index, %i0: index, %n: index, %k: index")
    return _function(rk_name(elt, mr, nv, prefetch, fresh), sig, t.lines)


def dk_kernel(elt: str, mi: int, nj: int) -> str:
    """C[i0 : i0+mi, j0 : j0+nj] += A[rows, :k] @ Bt[cols, :k]ᵀ (A, Bt rows contiguous)."""
    t = _Text(elt)
    zero = t.op(f"arith.constant dense<0.0> : {t.vec}", "z")
    i_rows = ["%i0" if i == 0 else t.add("%i0", t.const(i)) for i in range(mi)]
    j_cols = ["%j0" if j == 0 else t.add("%j0", t.const(j)) for j in range(nj)]
    a_rows = [t.mul(i, "%sam") for i in i_rows]
    b_rows = [t.mul(j, "%sbn") for j in j_cols]
    cvl = t.const(t.vl)
    kr = t.op(f"arith.remui %k, {cvl} : index", "x")
    kf = t.op(f"arith.subi %k, {kr} : index", "x")

    def step(kk: str, acc: list[str], mask: str | None) -> list[str]:
        avs = [t.load(t.ptr("%pa", t.add(a_rows[i], kk)), mask, zero) for i in range(mi)]
        out = list(acc)
        for j in range(nj):
            b = t.load(t.ptr("%pb", t.add(b_rows[j], kk)), mask, zero)
            for i in range(mi):
                out[i * nj + j] = t.op(f"vector.fma {avs[i]}, {b}, {acc[i * nj + j]} : {t.vec}", "f")
        return out

    full = t.loop(t.const(0), kf, cvl, [zero] * (mi * nj), lambda kk, acc: step(kk, acc, None))
    mask = t.op(f"vector.create_mask {kr} : vector<{t.vl}xi1>", "m")
    acc = step(kf, full, mask)
    for i in range(mi):
        for j in range(nj):
            h = t.op(f"vector.reduction <add>, {acc[i * nj + j]} fastmath<reassoc> : {t.vec} into {t.elt}", "h")
            p = t.ptr("%pc", t.add(t.mul(i_rows[i], "%scm"), j_cols[j]))
            old = t.scalar(p)
            s = t.op(f"arith.addf {old}, {h} : {t.elt}", "s")
            t.lines.append(f"llvm.store {s}, {p} {{alignment = {_SIZE[elt]} : i64}} : {elt}, !llvm.ptr")
    sig = ("%pa: !llvm.ptr, %sam: index, %pb: !llvm.ptr, %sbn: index, %pc: !llvm.ptr, %scm: index, "
           "%i0: index, %j0: index, %k: index")
    return _function(dk_name(elt, mi, nj), sig, t.lines)


def _function(name: str, sig: str, lines: list[str]) -> str:
    body = "\n    ".join(lines)
    return f"  func.func private @{name}({sig}) {{\n    {body}\n    return\n  }}\n"


# ---------------------------------------------------------------------------------------
# Choosing the kernel for a product


def _static(v: ir.Value) -> tuple[list[int], list[int]] | None:
    """(sizes, strides) of a memref when all are static, else None."""
    mt = ir.MemRefType(v.type)
    strides, _ = mt.get_strides_and_offset()
    sizes = list(mt.shape)
    if any(ir.ShapedType.is_dynamic_size(s) for s in sizes) or any(mt.is_dynamic_stride_or_offset(s) for s in strides):
        return None
    return sizes, list(strides)


def plan(op: ir.Operation) -> tuple[str, int, int] | None:
    """('rk' | 'dk', block rows, block columns) for a product the kernels should run, or None."""
    if op.name != "linalg.matmul" or _float_kind(op) is None:
        return None
    tr = _transposes(op)
    shapes = [_static(v) for v in op.operands]
    if tr is None or any(s is None for s in shapes):
        return None
    (sa, ta_strides), (_, tb_strides), (sc, tc_strides) = shapes
    ta, tb = tr
    a_strides = ta_strides[::-1] if ta else ta_strides  # logical (m, k)
    b_strides = tb_strides[::-1] if tb else tb_strides  # logical (k, n)
    m, n = sc
    k = sa[0] if ta else sa[1]
    if m <= 1 or n <= 1 or tc_strides[1] != 1 or not (m <= SMALL or k <= SMALL) or k > K_MAX:
        return None
    regs = _registers()
    if b_strides[1] == 1:
        vl = _lanes(_float_kind(op))
        nv = min(2, -(-n // vl))
        budget = regs - 2 - nv  # accumulators: leave B's vectors and a broadcast
        if m <= budget // nv:
            return "rkp" if k > SMALL else "rk", m, nv
        if m <= SMALL:  # two blocks of rows
            return "rkp" if k > SMALL else "rk", -(-m // 2), nv
        return "rk", min(6, budget // nv), nv
    if m <= SMALL and a_strides[1] == 1 and b_strides[0] == 1:
        return "dk", 2, 6
    return None


def _index(v: int) -> ir.Value:
    return arith.ConstantOp(ir.IndexType.get(), v).result


def _base(v: ir.Value, elt: str) -> tuple[ir.Value, list[ir.Value]]:
    """(pointer to the memref's first element, its strides)."""
    ptr, off, _, strides = _metadata(v)
    addr = arith.AddIOp(ptr, arith.MulIOp(off, _index(_SIZE[elt])).result).result
    i64 = arith.IndexCastOp(ir.IntegerType.get_signless(64), addr).result
    p = ir.Operation.create("llvm.inttoptr", results=[ir.Type.parse("!llvm.ptr")], operands=[i64]).result
    return p, strides


def _blocks(total: int, size: int, emit) -> None:
    """emit(start, block) over [0, total) in blocks of `size`: an scf.for, then the remainder."""
    full = total - total % size
    if full:
        loop = scf.ForOp(_index(0), _index(full), _index(size))
        with ir.InsertionPoint(loop.body):
            emit(loop.induction_variable, size)
            scf.YieldOp([])
    if total % size:
        emit(_index(full), total % size)


def _rewrite(op: ir.Operation, how: tuple[str, int, int], needed: set[tuple[str, str, int, int]]) -> None:
    kind, rows, cols = how
    elt = _float_kind(op)
    ta, tb = _transposes(op)
    a, b, c = op.operands
    m, n = ir.MemRefType(c.type).shape
    k = ir.MemRefType(a.type).shape[0 if ta else 1]
    with op.location, ir.InsertionPoint(op):
        (pa0, sa), (pb0, sb), (pc, sc) = (_base(v, elt) for v in (a, b, c))
        sa = sa[::-1] if ta else sa
        sb = sb[::-1] if tb else sb

        def emit_k(k0: ir.Value, kc: int) -> None:
            """The product over k in [k0, k0 + kc): A's columns and B's rows from k0 on."""
            chunked = kc != k
            pa = _advance(pa0, arith.MulIOp(k0, sa[1]).result, elt) if chunked else pa0
            pb = _advance(pb0, arith.MulIOp(k0, sb[0]).result, elt) if chunked else pb0
            if kind in ("rk", "rkp"):
                def emit(i0: ir.Value, mr: int) -> None:
                    needed.add((kind + ("z" if chunked else ""), elt, mr, cols))
                    _call(rk_name(elt, mr, cols, kind == "rkp", chunked),
                          [pa, sa[0], sa[1], pb, sb[0], pc, sc[0], i0, _index(n), _index(kc)], [])

                _blocks(m, rows, emit)
            else:
                def emit_cols(j0: ir.Value, nj: int) -> None:
                    def emit_rows(i0: ir.Value, mi: int) -> None:
                        needed.add(("dk", elt, mi, nj))
                        _call(dk_name(elt, mi, nj), [pa, sa[0], pb, sb[1], pc, sc[0], i0, j0, _index(kc)], [])

                    _blocks(m, rows, emit_rows)

                _blocks(n, cols, emit_cols)

        if k > K_CHUNKED_FROM:  # dk: K_CHUNK products per lane
            _blocks(k, K_CHUNK * (1 if kind in ("rk", "rkp") else _lanes(elt)), emit_k)
        else:
            emit_k(_index(0), k)
    op.erase()


def _advance(p: ir.Value, elems: ir.Value, elt: str) -> ir.Value:
    """Pointer `p` moved by `elems` elements (an index)."""
    i64 = ir.IntegerType.get_signless(64)
    addr = ir.Operation.create("llvm.ptrtoint", results=[i64], operands=[p]).result
    step = arith.IndexCastOp(i64, arith.MulIOp(elems, _index(_SIZE[elt])).result).result
    moved = arith.AddIOp(addr, step).result
    return ir.Operation.create("llvm.inttoptr", results=[ir.Type.parse("!llvm.ptr")], operands=[moved]).result


def _declare(module_op: ir.Operation, needed: set[tuple[str, str, int, int]]) -> None:
    have = _defined_symbols(module_op)
    text = ""
    for kind, elt, r, c in sorted(needed):
        if kind == "dk":
            name, make = dk_name(elt, r, c), lambda: dk_kernel(elt, r, c)
        else:
            pf, fresh = kind.startswith("rkp"), kind.endswith("z")
            name, make = rk_name(elt, r, c, pf, fresh), lambda: rk_kernel(elt, r, c, pf, fresh)
        if name not in have:
            text += make()
    _append_functions(module_op, text)


def small_gemm(module_op: ir.Operation, pass_: object = None, target_features: str = "") -> None:
    """Rewrite the bufferized module's small-sided float products into kernel calls, with
    kernels for the CPU that `target_features` (LLVM's feature string; "" an unknown CPU) names."""
    token = _WIDE.set(has_avx512(target_features))
    try:
        _small_gemm(module_op)
    finally:
        _WIDE.reset(token)


def _small_gemm(module_op: ir.Operation) -> None:
    found: list[tuple[ir.Operation, tuple[str, int, int]]] = []

    def visit(o: ir.Operation) -> ir.WalkResult:
        o = o.operation if hasattr(o, "operation") else o
        how = plan(o) if o.name == "linalg.matmul" else None
        if how is not None:
            found.append((o, how))
        return ir.WalkResult.ADVANCE

    module_op.walk(visit)
    if not found:
        return
    needed: set[tuple[str, str, int, int]] = set()
    with module_op.context:
        for o, how in found:
            _rewrite(o, how, needed)
        _declare(module_op, needed)


@dataclass(frozen=True)
class SmallGemmOptions:
    target_features: str = ""  # LLVM feature string of the target CPU; "": unknown, generic kernels


class SmallGemm(Pass):
    """After bufferization: a float linalg.matmul with static sizes and a side <= 16 (minibatch
    rows, or a rank-k update) calls a generated register-blocked kernel (vector loads of rows
    read in place) instead of BLAS; 512-bit kernels when `target-features` has +avx512f."""

    NAME = NAME
    Options = SmallGemmOptions

    @classmethod
    def from_compile_options(cls, opts: CompileOptions) -> SmallGemmOptions:
        return SmallGemmOptions(target_features=opts.target_features)

    @classmethod
    def run(cls, module_op: ir.Operation, options: SmallGemmOptions) -> None:
        small_gemm(module_op, target_features=options.target_features)
