"""Matrix products: tn.matmul with explicit, equal batch dims, lowered to linalg's named ops.

    %c = "tn.matmul"(%a, %b) : (tensor<4x3xf32>, tensor<3x5xf32>) -> tensor<4x5xf32>
    %d = "tn.matmul"(%x, %y) : (tensor<2x4x3xf64>, tensor<2x3x5xf64>) -> tensor<2x4x5xf64>

The op is deliberately narrower than NumPy's `matmul`: no vectors, no batch broadcasting,
one dtype. The frontend (`np_linalg.matmul`) inserts the reshapes and `tn.broadcast_to`s,
so the op table stays small and the lowering maps 1:1 onto `linalg.matmul` /
`linalg.batch_matmul`, the named ops that a later BLAS pass recognizes.
"""
from __future__ import annotations

import numpy as np
from mlir import ir
from mlir.dialects import arith, complex as cx, linalg

from .. import lax
from ..lowering import LowerCall, check_same_size, dim_value, fill, generic
from .. import batching as vb
from ..registry import Linear, ShapeError, defop
from ..types import TensorSpec
from .reduction import F64, WIDE_FROM, narrow, widen

# ---------------------------------------------------------------- tn.matmul
matmul = defop(
    "tn.matmul", ["lhs", "rhs"],
    doc="(..., m, k) x (..., k, n) -> (..., m, n); identical batch dims, one dtype (float, int or complex).",
)


@matmul.def_infer
def _matmul_infer(specs: list[TensorSpec]) -> list[TensorSpec]:
    a, b = specs
    if a.dtype != b.dtype:
        raise ShapeError(f"operands must share one dtype, got {a.dtype.name} and {b.dtype.name}")
    if a.dtype.kind not in "fic":
        raise ShapeError(f"dtype {a.dtype.name} is not accepted (float, int or complex)")
    if a.ndim < 2 or a.ndim != b.ndim:
        raise ShapeError(f"operands must have one rank >= 2, got {a.shape} and {b.shape}")
    # a dynamic dim (None) against another is checked when the code runs (_check_dims)
    if any(p != q and p is not None and q is not None for p, q in zip(a.shape[:-2], b.shape[:-2])):
        raise ShapeError(f"batch dims differ: {a.shape[:-2]} and {b.shape[:-2]} (broadcast them first)")
    if a.shape[-1] != b.shape[-2] and a.shape[-1] is not None and b.shape[-2] is not None:
        raise ShapeError(f"contracted dims differ: {a.shape} and {b.shape} ({a.shape[-1]} != {b.shape[-2]})")
    batch = tuple(p if p is not None else q for p, q in zip(a.shape[:-2], b.shape[:-2]))
    return [TensorSpec(batch + a.shape[-2:-1] + b.shape[-1:], a.dtype)]


@matmul.def_reify
def _matmul_reify(call: LowerCall) -> list[list]:
    a, b = call.in_specs
    va, vb = call.operands
    dims = [n if n is not None else dim_value(va, i) for i, n in enumerate(call.out.shape[:-1])]
    n = call.out.shape[-1]
    return [dims + [n if n is not None else dim_value(vb, b.ndim - 1)]]


def _check_dims(call: LowerCall) -> None:
    """Dims a product needs equal, where one of them is dynamic: checked when the code runs."""
    a, b = call.in_specs
    va, vb = call.operands
    pairs = [(i, i) for i in range(a.ndim - 2)] + [(a.ndim - 1, b.ndim - 2)]
    for i, j in pairs:
        if a.shape[i] is not None and b.shape[j] is not None:
            continue
        check_same_size(call, dim_value(va, i), dim_value(vb, j),
                        f"tn.matmul: {'contracted' if i == a.ndim - 1 else 'batch'} dims differ ({{0}} vs {{1}}); "
                        f"operand types {a} and {b}")


@matmul.def_reference
def _matmul_reference(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.matmul(a, b)


@matmul.def_lower
def _matmul_lower(call: LowerCall) -> list[ir.Value]:
    if not all(s.is_static for s in call.in_specs):
        _check_dims(call)
    a, b = call.operands
    init = fill(call.out, 0)
    rank = call.out.ndim
    if rank in (2, 3):
        (a, ta), (b, tb) = _untransposed(a, rank), _untransposed(b, rank)
        named = linalg.matmul if rank == 2 else linalg.batch_matmul
        if not (ta or tb):
            return [named(a, b, outs=[init])]
        return [named(a, b, outs=[init], indexing_maps=_matmul_maps(rank, ta, tb))]
    return [_contraction(call, a, b, init)]


def _untransposed(v: ir.Value, rank: int) -> tuple[ir.Value, bool]:
    """(x, True) when `v` is linalg.transpose(x) swapping the last two axes, else (v, False).

    Why: `d @ W.T` in every backward pass would otherwise copy W (a 1000x1000 transpose took
    705 us next to a 51 us product); a matmul reading x through a transposed indexing map
    costs nothing extra, and the BLAS pass passes it as a transposed operand."""
    op = v.owner
    if not isinstance(op, ir.OpView) or op.name != "linalg.transpose":
        return v, False
    perm = list(ir.DenseI64ArrayAttr(op.attributes["permutation"]))
    if perm != list(range(rank - 2)) + [rank - 1, rank - 2]:
        return v, False
    return op.operands[0], True


def _matmul_maps(rank: int, ta: bool, tb: bool) -> list[ir.AffineMap]:
    """linalg.(batch_)matmul's indexing maps over (batch?, m, n, k), A and/or B transposed."""
    d = [ir.AffineDimExpr.get(i) for i in range(rank + 1)]
    batch, (m, n, k) = d[:rank - 2], d[rank - 2:]
    exprs = (batch + ([k, m] if ta else [m, k]), batch + ([n, k] if tb else [k, n]), batch + [m, n])
    return [ir.AffineMap.get(rank + 1, 0, e) for e in exprs]


def _contraction(call: LowerCall, a: ir.Value, b: ir.Value, init: ir.Value) -> ir.Value:
    """Rank > 3: one generic over (batch..., m, n, k), k the reduction."""
    nb = call.out.ndim - 2
    dims = [ir.AffineDimExpr.get(i) for i in range(nb + 3)]
    batch, m, n, k = dims[:nb], dims[nb], dims[nb + 1], dims[nb + 2]
    maps = [ir.AffineMap.get(nb + 3, 0, e) for e in (batch + [m, k], batch + [k, n], batch + [m, n])]
    is_float = call.out.dtype.kind == "f"
    dt = call.out.dtype
    k_len = call.in_specs[0].shape[-1]
    # a long float32 K accumulates in float64 (f32 x f32 products are exact there), as sums do
    acc = F64 if dt == np.float32 and k_len > WIDE_FROM else dt
    if acc != dt:
        init = fill(TensorSpec(call.out.shape, acc), 0)

    def body(x: ir.Value, y: ir.Value, s: ir.Value) -> ir.Value:
        if dt.kind == "c":
            return cx.AddOp(s, cx.MulOp(x, y).result).result
        if is_float:
            return arith.AddFOp(s, arith.MulFOp(widen(x, acc), widen(y, acc)).result).result
        return arith.AddIOp(s, arith.MulIOp(x, y).result).result

    res = generic([a, b], [dt, dt], maps[:2], [init], [acc], maps[2:],
                  ["parallel"] * (nb + 2) + ["reduction"], body)[0]
    return narrow(res, acc, call.out)


def _mm(a, b):
    """tn.matmul of two Values (rules build with the op itself: shapes already match)."""
    return lax.matmul(a, b)


def _mT(x):
    """Swap the last two axes (a shape-family transpose)."""
    return lax.swap_last(x)


@matmul.def_jvp
def _matmul_jvp(primals, tangents, outs):
    # d(a @ b) = da @ b + a @ db
    a, b = primals
    ta, tb = tangents
    if outs[0].dtype.kind not in "fc":
        return [None]
    parts = []
    if ta is not None:
        parts.append(_mm(ta, b))
    if tb is not None:
        parts.append(_mm(a, tb))
    if not parts:
        return [None]
    return [parts[0] if len(parts) == 1 else parts[0] + parts[1]]


@matmul.def_transpose
def _matmul_transpose(cts, primals):
    # c = a @ b: a_bar = c_bar @ b^T (linear in a), b_bar = a^T @ c_bar (linear in b)
    (ct,) = cts
    a, b = primals
    if ct is None:
        return [None, None]
    ct_a = _mm(ct, _mT(b)) if isinstance(a, Linear) and not isinstance(b, Linear) else None
    ct_b = _mm(_mT(a), ct) if isinstance(b, Linear) and not isinstance(a, Linear) else None
    return [ct_a, ct_b]


# ---------------------------------------------------------------- batching rule (vmap)
@matmul.def_batch
def _matmul_batch(args, batched, size):
    """Both batched: one more batch dim. One side batched: the examples fold into the GEMM's
    M (lhs) or N (rhs) dim, so a per-example matrix-vector product becomes one matrix product.

        (n, B, m, k) @ (B, k, p) -> (B, n*m, k) @ (B, k, p) -> (n, B, m, p)
        (B, m, k) @ (n, B, k, p) -> (B, m, k) @ (B, k, n*p) -> (n, B, m, p)
    """
    a, b = args
    ba, bb = batched
    if ba and bb:
        return [lax.matmul(a, b)]
    if ba:
        r = a.ndim - 1
        a = vb.move_axis(a, 0, r - 2)  # (B, n, m, k)
        sh = lax.shape_of(a)
        out = lax.matmul(lax.reshape(a, sh[:r - 2] + (vb.mul_size(sh[r - 2], sh[r - 1]), sh[r])), b)
        out = lax.reshape(out, sh[:r - 2] + (sh[r - 2], sh[r - 1], lax.dim(out, -1)))
        return [vb.move_axis(out, r - 2, 0)]
    r = b.ndim - 1
    b = vb.move_axis(b, 0, r - 1)  # (B, k, n, p)
    sh = lax.shape_of(b)
    out = lax.matmul(a, lax.reshape(b, sh[:r - 1] + (vb.mul_size(sh[r - 1], sh[r]),)))
    out = lax.reshape(out, lax.shape_of(out)[:r - 1] + (sh[r - 1], sh[r]))  # (B, m, n, p)
    return [vb.move_axis(out, r - 1, 0)]
