"""The kernels of theanir-small-gemm (passes/lower/small_gemm.py) as MLIR text, and the IR
helpers its static and run-time sized rewrites share: the sizes that bound them, the host's
vector width, the register-blocked row-broadcast (rk) and dot (dk) kernels, and declaring the
kernels a module calls. The design and the measurements are in small_gemm.py's docstring."""
from __future__ import annotations

import contextvars
import functools
import itertools

from mlir import ir
from mlir.dialects import arith

from .matmul_to_blas import _append_functions, _defined_symbols, _metadata

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


def _index(v: int) -> ir.Value:
    return arith.ConstantOp(ir.IndexType.get(), v).result


def _base(v: ir.Value, elt: str) -> tuple[ir.Value, list[ir.Value]]:
    """(pointer to the memref's first element, its strides)."""
    ptr, off, _, strides = _metadata(v)
    addr = arith.AddIOp(ptr, arith.MulIOp(off, _index(_SIZE[elt])).result).result
    i64 = arith.IndexCastOp(ir.IntegerType.get_signless(64), addr).result
    p = ir.Operation.create("llvm.inttoptr", results=[ir.Type.parse("!llvm.ptr")], operands=[i64]).result
    return p, strides


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
