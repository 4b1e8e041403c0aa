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

from dataclasses import dataclass

from mlir import ir
from mlir.dialects import arith, scf

from ..base import Pass
from .payloads import walk_outside_payloads
from ..options import CompileOptions

from .matmul_to_blas import _call, _float_kind, _transposes
from .small_gemm_dynamic import plan_dynamic, rewrite_dynamic
from .small_gemm_kernels import (K_CHUNK, K_CHUNKED_FROM, K_MAX, SMALL, _WIDE, _advance, _base,  # noqa: F401
                                 _declare, _index, _lanes, _registers, dk_name, has_avx512, rk_name)

NAME = "theanir-small-gemm"

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
    sized_in_call: list[tuple[ir.Operation, str]] = []

    def visit(o: ir.Operation) -> ir.WalkResult:
        o = o.operation if hasattr(o, "operation") else o
        if o.name == "linalg.matmul":
            how = plan(o)
            if how is not None:
                found.append((o, how))
            elif (kind := plan_dynamic(o)) is not None:
                sized_in_call.append((o, kind))
        return ir.WalkResult.ADVANCE

    walk_outside_payloads(module_op, visit)  # finds linalg ops, not inside them
    if not found and not sized_in_call:
        return
    needed: set[tuple[str, str, int, int]] = set()
    with module_op.context:
        for o, how in found:
            _rewrite(o, how, needed)
        for o, kind in sized_in_call:
            rewrite_dynamic(o, kind, needed)
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
