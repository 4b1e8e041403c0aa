"""Reductions over any set of axes: sum, prod, max, min, any, all, and argmax/argmin.

Every reduction takes `axes` (sorted, distinct, non-negative; empty = no reduction) and
`keepdims` (reduced axes stay as size-1 dims). The frontend normalizes NumPy's `axis`
argument and casts first (sum/prod run in the input dtype; any/all take bools), so the ops
themselves never promote.

    %s = "tn.reduce_sum"(%x) {axes = array<i64: 1>, keepdims = false}
           : (tensor<3x4xf32>) -> tensor<3xf32>
    %m = "tn.reduce_max"(%x) {axes = array<i64: 0, 1>, keepdims = true}
           : (tensor<3x4xf32>) -> tensor<1x1xf32>
    %i = "tn.argmax"(%x) {axes = array<i64: 0, 1>, keepdims = false}
           : (tensor<3x4xf32>) -> tensor<i64>

Each op lowers to one `linalg.generic` whose reduced dims are `reduction` iterators and whose
init is a `linalg.fill` with the combiner's identity. A reduced extent of 0 gives that identity
(sum 0, prod 1, any false, all true); max/min/argmax/argmin have none and refuse it, as NumPy
does. A float32 sum over more than WIDE_FROM elements accumulates in float64 and is rounded
once by a second, elementwise generic (`wide_accumulator`); when it reduces the last axis with
others, the last axis is summed first (`split_last`). When its last reduced axis is long, it
is summed by blocks instead: float32 partials, combined in float64 (`blocked_sum`). prod stays in its dtype, as NumPy's
(no pairwise product there either): its error grows like a sum's, but a long float32 product
over- or underflows long before that matters.

argmax/argmin: design decision. They take `axes` like the other reductions (not a single
`axis`) and return the index into the row-major flattening of the reduced axes. A single
axis is NumPy's `axis=k`; all axes is NumPy's `axis=None` (the index into `x.ravel()`), so
that needs no reshape and no copy of a strided input. The combiner is order independent (the
smaller index wins a tie, a NaN beats any number and the first NaN wins), so the result is
NumPy's first occurrence whatever order a later pass iterates in.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from mlir import ir
from mlir.dialects import arith, complex as cx

from .. import lax
from ..lowering import LowerCall, dim_value, empty, fill, generic, identity_map, index_cast, linalg_index
from ..batching import axes_rule
from ..registry import OPS, ShapeError, defop
from ..types import TensorSpec, element_type

REDUCE_ATTRS = {"axes": "ints", "keepdims": "bool"}
I64 = np.dtype(np.int64)


# ---------------------------------------------------------------- shape rule (all reductions)
def reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> tuple[int, ...]:
    """`shape` with `axes` removed (or set to 1 when `keepdims`)."""
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


def reduced_extent(shape: tuple[int | None, ...], axes: tuple[int, ...]) -> int | None:
    """How many elements each output element combines (None: a dynamic dim is reduced,
    unless a static 0 makes it 0)."""
    dims = [shape[a] for a in axes]
    if None in dims:
        return 0 if 0 in dims else None
    return int(np.prod(dims, dtype=np.int64))


def check_axes(x: TensorSpec, axes: tuple[int, ...]) -> None:
    """The frontend's contract: sorted, distinct, in range."""
    axes = tuple(axes)
    if list(axes) != sorted(set(axes)):
        raise ShapeError(f"axes {axes} must be sorted and distinct")
    if axes and (axes[0] < 0 or axes[-1] >= x.ndim):
        raise ShapeError(f"axes {axes} out of range for rank {x.ndim}")


def reify_reduced(call: LowerCall) -> list[list]:
    """Result dims of a reduction over `axes`: the kept dims of x (1 where keepdims)."""
    x = call.in_specs[0]
    axes, keepdims = tuple(call.attrs["axes"]), call.attrs["keepdims"]
    dims = [n if n is not None else dim_value(call.operands[0], i) for i, n in enumerate(x.shape)]
    return [[1 if i in axes else d for i, d in enumerate(dims) if keepdims or i not in axes]] * len(call.out_specs)


def _reduce_infer(kinds: str, has_identity: bool, result: np.dtype | None = None) -> Callable:
    def infer(specs: list[TensorSpec], axes: tuple[int, ...], keepdims: bool) -> list[TensorSpec]:
        (x,) = specs
        check_axes(x, axes)
        if x.dtype.kind not in kinds:
            raise ShapeError(f"dtype {x.dtype.name} is not accepted (kinds: {kinds})")
        if not has_identity and reduced_extent(x.shape, axes) == 0:
            raise ShapeError(f"zero-size reduction over axes {tuple(axes)} of shape {x.shape} "
                             f"has no identity")
        return [TensorSpec(reduced_shape(x.shape, axes, keepdims), result or x.dtype)]

    return infer


# ---------------------------------------------------------------- lowering (all reductions)
def _out_map(rank: int, axes: tuple[int, ...], keepdims: bool) -> ir.AffineMap:
    """Loop indices -> output indices: reduced dims vanish (or read index 0 under keepdims)."""
    exprs = []
    for d in range(rank):
        if d not in axes:
            exprs.append(ir.AffineDimExpr.get(d))
        elif keepdims:
            exprs.append(ir.AffineConstantExpr.get(0))
    return ir.AffineMap.get(rank, 0, exprs)


def _iterators(rank: int, axes: tuple[int, ...]) -> list[str]:
    return ["reduction" if d in axes else "parallel" for d in range(rank)]


def _lower_reduce(call: LowerCall, init: Any, combine: Callable) -> list[ir.Value]:
    """One linalg.generic: out = fill(init); out[kept] = combine(out[kept], x[all]).

    A long float32 sum accumulates in float64 (`wide_accumulator`), then rounds once."""
    (x,) = call.in_specs
    axes, keepdims = tuple(call.attrs["axes"]), call.attrs["keepdims"]
    out = call.out
    acc = wide_accumulator(call.op.operation.name, x, axes) or out.dtype
    if acc != out.dtype and blocked(x, axes):
        return [blocked_sum(call.operands, [x.dtype], [identity_map(x.ndim)], x, axes, keepdims,
                            lambda a: a, out)]
    first, first_keep = (x.ndim - 1,), True
    if not (acc != out.dtype and split_last(x.shape, axes)):
        first, first_keep = axes, keepdims
    part = TensorSpec(reduced_shape(x.shape, first, first_keep), acc)
    res = generic(call.operands, [x.dtype], [identity_map(x.ndim)], [fill(part, init)], [acc],
                  [_out_map(x.ndim, first, first_keep)], _iterators(x.ndim, first),
                  lambda a, accum: combine(accum, widen(a, acc)))[0]
    return [finish_wide(res, part, axes if first != axes else None, keepdims, acc, out)]


# ---------------------------------------------------------------- wide accumulators
# Why: one float32 accumulator stops growing at 2**24 (np.ones(2**25, float32).sum() gave
# 16777216.0) and a chain of n additions loses ~sqrt(n) ulps (1e7 uniform values: 3e-5
# relative). float64 partial sums are exact for 2**29 ones and ~1e-9 off after 1e7 values,
# whatever order LLVM's vectorizer picks, and cost little: the loop reads float32 and
# converts in registers (vcvtps2pd); the extra pass rounds only the (smaller) result.
# NumPy's pairwise summation gets ~1e-7 here. A long last reduced axis is summed by blocks
# instead (`blocked_sum`, below): float32 partials, float64 only for combining them.
# A sum of at most WIDE_FROM float32 terms stays one float32 chain, as each block of
# `blocked_sum` is (COL_BLOCK): the same error bound (~sqrt(256) ulps typical), without a
# float64 buffer and a rounding pass (they cost 6% of a small RNN step, whose sums run over 50
# to 100 terms). The same bound holds for products' K (linalg.py, theanir-wide-products).
WIDE_FROM = 256
F64 = np.dtype(np.float64)


def wide_accumulator(name: str, x: TensorSpec, axes: tuple[int, ...]) -> np.dtype | None:
    """float64 for a float32 `tn.reduce_sum` over more than WIDE_FROM elements, else None."""
    if name != "tn.reduce_sum" or x.dtype != np.float32:
        return None
    n = reduced_extent(x.shape, axes)
    return F64 if n is None or n > WIDE_FROM else None  # dynamic: maybe long


def widen(v: ir.Value, acc: np.dtype) -> ir.Value:
    """An element in the accumulator's type (extf to f64; anything else unchanged)."""
    if np.dtype(acc) == F64 and isinstance(v.type, ir.F32Type):
        return arith.ExtFOp(ir.F64Type.get(), v).result
    return v


SPLIT_FROM = 64


def split_last(shape: tuple[int, ...], axes: tuple[int, ...]) -> bool:
    """Reduce the last axis alone first? When it is reduced with others and is long.

    Why: a reduction into one value per row block (x.sum() of a matrix) made LLVM keep the
    accumulator's store in the inner loop, a scalar chain (4096x8192: 49 ms; NumPy 10 ms);
    a row reduction (axis=1) vectorizes (8 ms). The partial sums are 1/shape[-1] of x."""
    return len(axes) >= 2 and axes[-1] == len(shape) - 1 and shape[-1] is not None and shape[-1] >= SPLIT_FROM


def finish_wide(partial: ir.Value, part: TensorSpec, axes: tuple[int, ...] | None, keepdims: bool,
                acc: np.dtype, out: TensorSpec) -> ir.Value:
    """After a first reduction into `partial` (of spec `part`): when `axes` is given (the
    first step reduced only the last axis, keeping it as 1), sum the other `axes` too, in the
    accumulator's type; then round to the result dtype."""
    if axes is not None:
        rank = len(part.shape)
        partial = generic([partial], [acc], [identity_map(rank)],
                          [fill(TensorSpec(out.shape, acc), 0)], [acc],
                          [_out_map(rank, axes, keepdims)], _iterators(rank, axes),
                          lambda a, s: _add(s, a))[0]
    return narrow(partial, acc, out)


def narrow(acc_tensor: ir.Value, acc: np.dtype, out: TensorSpec) -> ir.Value:
    """The accumulated tensor rounded to the result dtype (an elementwise truncf generic)."""
    if np.dtype(acc) == out.dtype:
        return acc_tensor
    return generic([acc_tensor], [acc], [identity_map(out.ndim)], [empty(out)], [out.dtype],
                   [identity_map(out.ndim)], ["parallel"] * out.ndim,
                   lambda a, _: arith.TruncFOp(element_type(out.dtype), a).result)[0]


# ---------------------------------------------------------------- blocked float32 sums
# Why: the float64 accumulator halves the vector lanes and, for column sums, doubles the
# traffic of the output row that the inner loop adds into (4096x8192 axis=0, 1 thread: 8.6 ms
# in float32, 13.1 in float64). So a long float32 sum adds float32 partial sums over blocks
# of its last reduced axis and combines those in float64; the partials are 1/B of the input.
# The error is bounded by the longest float32 chain, not by the length of the axis:
# - that axis is an outer loop (column sums): each partial is one chain of B <= COL_BLOCK;
# - it is the innermost loop (row sums): the vectorizer splits a block into 32 chains
#   (8 lanes x 4 accumulators at opt_level 2), <= ROW_BLOCK / 32 each; unvectorized
#   (opt_level 0/1) one chain of <= ROW_BLOCK, ~1e-6 relative for positive data, ~1e-8 after
#   the float64 combine of many blocks. Row blocks are larger because each block ends in a
#   horizontal add and a store: 200-element blocks cost +30% on 1000x1000 (x*x).sum(1).
COL_BLOCK = 256
ROW_BLOCK = 1024
BLOCK_FROM = 64  # a shorter last reduced axis makes partials nearly as large as the input


def block_size(k: int, innermost: bool) -> int:
    """The block for a last reduced axis of length k: all of it when it fits; else the
    largest divisor from a quarter of the limit (no remainder to sum apart), for a row a
    multiple of the vector loop's 32 steps (else each block ends in scalar adds: 125-element
    blocks made a row sum 3.5x slower); else the limit and a remainder summed apart."""
    most, step = (ROW_BLOCK, 32) if innermost else (COL_BLOCK, 1)
    if k <= most:
        return k
    fits = [b for b in range(most // 4, most + 1, step) if k % b == 0]
    return max(fits) if fits else most


def blocked(x: TensorSpec, axes: tuple[int, ...]) -> bool:
    """Sum `x` over `axes` by blocks (`blocked_sum`)? When the last reduced axis is long."""
    # blocks are laid out statically: a dynamic axis sums in float64 throughout
    return bool(axes) and x.is_static and x.shape[axes[-1]] >= BLOCK_FROM


def _zeros_const(shape: tuple[int, ...], dtype: np.dtype) -> ir.Value:
    """A splat constant: a global after bufferization, no allocation per call."""
    t = ir.RankedTensorType.get(list(shape), element_type(dtype))
    return arith.ConstantOp(t, ir.DenseElementsAttr.get_splat(t, ir.FloatAttr.get(element_type(dtype), 0.0))).result


def _block_partials(inputs: list[ir.Value], in_dtypes: list[np.dtype], in_maps: list[ir.AffineMap],
                    loop: TensorSpec, a: int, offset: int, nb: int, b: int,
                    element: Callable) -> tuple[ir.Value, TensorSpec]:
    """float32 sums of `element` over nb blocks of b along axis `a`, from index `offset`.

    Loop dims: those of `loop` with `a` split into (block, within): index offset + block*b +
    within, so the innermost loop stays the old one (contiguous rows or columns). The partials
    have `loop`'s shape with nb along `a`. A (b,) operand whose value is never read gives the
    `within` dim its extent (linalg infers loop ranges only from plain dims)."""
    rank = loop.ndim
    d = ir.AffineDimExpr.get
    subst = ir.AffineMap.get(rank + 1, 0, [
        d(e) if e < a else d(e + 1) if e > a else d(a) * b + d(a + 1) + offset for e in range(rank)])
    maps = [ir.AffineMap.get(rank + 1, 0, [r.compose(subst) for r in m.results]) for m in in_maps]
    extent = _zeros_const((b,), loop.dtype)
    shape = tuple(nb if e == a else n for e, n in enumerate(loop.shape))
    part = TensorSpec(shape, loop.dtype)
    out_map = ir.AffineMap.get(rank + 1, 0, [d(e) for e in range(rank + 1) if e != a + 1])
    iters = ["reduction" if e == a + 1 else "parallel" for e in range(rank + 1)]
    n_in = len(inputs)
    res = generic([*inputs, extent], [*in_dtypes, loop.dtype], [*maps, ir.AffineMap.get(rank + 1, 0, [d(a + 1)])],
                  [fill(part, 0)], [loop.dtype], [out_map], iters,
                  lambda *args: _add(args[-1], element(*args[:n_in])))[0]
    return res, part


def blocked_sum(inputs: list[ir.Value], in_dtypes: list[np.dtype], in_maps: list[ir.AffineMap],
                loop: TensorSpec, axes: tuple[int, ...], keepdims: bool, element: Callable,
                out: TensorSpec) -> ir.Value:
    """sum of `element(*input scalars)` over `axes` of the iteration space `loop` (float32):
    float32 partials over blocks of the last reduced axis (`block_size`; one more partial for
    a remainder), summed in float64 over all `axes`, rounded once."""
    a = axes[-1]
    b = block_size(loop.shape[a], a == loop.ndim - 1)
    nb, tail = divmod(loop.shape[a], b)
    parts = [_block_partials(inputs, in_dtypes, in_maps, loop, a, 0, nb, b, element)]
    if tail:
        parts.append(_block_partials(inputs, in_dtypes, in_maps, loop, a, nb * b, 1, tail, element))
    total = fill(TensorSpec(out.shape, F64), 0)
    for partial, part in parts:
        total = generic([partial], [part.dtype], [identity_map(loop.ndim)], [total], [F64],
                        [_out_map(loop.ndim, axes, keepdims)], _iterators(loop.ndim, axes),
                        lambda v, s: _add(s, widen(v, F64)))[0]
    return narrow(total, F64, out)


def _is_float(v: ir.Value) -> bool:
    return isinstance(v.type, (ir.F32Type, ir.F64Type))


def _is_i1(v: ir.Value) -> bool:
    return isinstance(v.type, ir.IntegerType) and ir.IntegerType(v.type).width == 1


def _lowest(dtype: np.dtype) -> Any:
    """The identity of max: -inf, the smallest int, False."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return -np.inf
    return False if dt == np.bool_ else int(np.iinfo(dt).min)


def _highest(dtype: np.dtype) -> Any:
    """The identity of min: +inf, the largest int, True."""
    dt = np.dtype(dtype)
    if dt.kind == "f":
        return np.inf
    return True if dt == np.bool_ else int(np.iinfo(dt).max)


def _add(a, b):
    """Float sums may be reassociated (partial sums, as NumPy's pairwise sum also reorders):
    without the flag LLVM keeps the strict order and the reduction loop stays scalar."""
    if _is_float(a):
        return arith.AddFOp(a, b, fastmath=ir.Attribute.parse("#arith.fastmath<reassoc>")).result
    if isinstance(a.type, ir.ComplexType):
        return cx.AddOp(a, b).result
    return arith.AddIOp(a, b).result


def _mul(a, b):
    if isinstance(a.type, ir.ComplexType):
        return cx.MulOp(a, b).result
    return (arith.MulFOp if _is_float(a) else arith.MulIOp)(a, b).result


def _max(a, b):  # maximumf propagates NaN like np.max; bool max is `or`
    if _is_float(a):
        return arith.MaximumFOp(a, b).result
    return (arith.OrIOp if _is_i1(a) else arith.MaxSIOp)(a, b).result


def _min(a, b):
    if _is_float(a):
        return arith.MinimumFOp(a, b).result
    return (arith.AndIOp if _is_i1(a) else arith.MinSIOp)(a, b).result


def _or(a, b):
    return arith.OrIOp(a, b).result


def _and(a, b):
    return arith.AndIOp(a, b).result


# ---------------------------------------------------------------- jvp helpers
def _emit_reduce(name: str, x, axes: tuple[int, ...], keepdims: bool):
    """A tn reduction on a Value with the op's own dtype (no promotion)."""
    return lax.reduce(name.removeprefix("tn."), x, axes, keepdims)


def keepdims_view(y, in_shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool):
    """A reduction's result in its keepdims shape, so it broadcasts against the input.

    `tn.reshape` (shape family) inserts the unit dims: a view, linear, with a transpose.
    """
    kept = reduced_shape(in_shape, axes, True)  # dynamic dims: int64 scalar Values
    if keepdims or tuple(y.shape) == tuple(n if isinstance(n, int) else None for n in kept):
        return y
    return lax.reshape(y, kept)


def _expand(y, in_shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool):
    """Broadcast a reduction's result back to the input's shape."""
    return lax.broadcast_to(keepdims_view(y, in_shape, axes, keepdims), in_shape)


def _weighted_sum(t, w, axes: tuple[int, ...], keepdims: bool):
    """sum(t * w over axes): the only ops touching the tangent are mul and reduce_sum, both
    linear with transpose rules, so reverse mode works through every jvp below."""
    return _emit_reduce("tn.reduce_sum", t * w, axes, keepdims)


def _chooser_jvp(primals, tangents, outs, axes, keepdims):
    """max/min: the tangent averaged over the positions that attain the extremum.

    Ties share equally (JAX's rule): d max = sum(t * [x == max]) / count(x == max), so the
    gradient of max([a, a]) is [1/2, 1/2], a symmetric subgradient. Where the result is NaN
    no position compares equal and the tangent is NaN (0/0).
    """
    (x,), (t,), (y,) = primals, tangents, outs
    if t is None or x.dtype.kind != "f":
        return [None]
    hit = lax.convert(x == _expand(y, lax.shape_of(x), axes, keepdims), x.dtype)
    count = _emit_reduce("tn.reduce_sum", hit, axes, True)
    w = hit / lax.broadcast_to(count, lax.shape_of(x))
    return [_weighted_sum(t, w, axes, keepdims)]


def _prod_jvp(primals, tangents, outs, axes, keepdims):
    """d prod = sum_i t_i * prod_{j != i} x_j, zero-safe.

    With z zeros among the reduced elements and p the product of the non-zero ones:
    z = 0 -> prod_{j != i} = p / x_i; z = 1 -> p at the zero, 0 elsewhere; z >= 2 -> 0.
    (p / x_i rounds once more than the exact product of the others, and is 0 where p
    underflows; infinite or NaN elements give non-finite weights.)
    """
    (x,), (t,), _ = primals, tangents, outs
    if t is None or x.dtype.kind not in "fc":
        return [None]
    zero = x == 0
    safe = lax.where(zero, lax.ones_like(x), x)
    p = lax.broadcast_to(_emit_reduce("tn.reduce_prod", safe, axes, True), lax.shape_of(x))
    z = lax.broadcast_to(_emit_reduce("tn.reduce_sum", lax.convert(zero, x.dtype), axes, True), lax.shape_of(x))
    w = lax.where(z == 0, p / safe, lax.where((z == 1) & zero, p, lax.zeros_like(x)))
    return [_weighted_sum(t, w, axes, keepdims)]


# ---------------------------------------------------------------- the reduce_* op table
# (name, accepted kinds, NumPy reference, identity(dtype) or None, scalar combiner, jvp)
def _np_reduce(fn: Callable, keep_dtype: bool) -> Callable:
    def reference(x: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
        kw = {"dtype": x.dtype} if keep_dtype else {}
        return np.asarray(fn(x, axis=tuple(axes), keepdims=keepdims, **kw))
    reference.__name__ = f"np.{fn.__name__}"
    return reference


REDUCTIONS = [
    ("reduce_sum", "fic", _np_reduce(np.sum, True), lambda dt: 0, _add, None),
    ("reduce_prod", "fic", _np_reduce(np.prod, True), lambda dt: 1, _mul, _prod_jvp),
    ("reduce_max", "fib", _np_reduce(np.max, False), None, _max, _chooser_jvp),
    ("reduce_min", "fib", _np_reduce(np.min, False), None, _min, _chooser_jvp),
    ("reduce_any", "b", _np_reduce(np.any, False), lambda dt: False, _or, None),
    ("reduce_all", "b", _np_reduce(np.all, False), lambda dt: True, _and, None),
]
_MAX_MIN_INIT = {"reduce_max": _lowest, "reduce_min": _highest}


def _register(name: str, kinds: str, reference: Callable, identity: Callable | None,
              combine: Callable, jvp: Callable | None):
    op = defop(f"tn.{name}", ["x"], attrs=dict(REDUCE_ATTRS), differentiable="f" in kinds,
               doc=f"{reference.__name__} over `axes` in the input dtype; keepdims keeps them as 1s.")
    op.def_infer(_reduce_infer(kinds, identity is not None))
    op.def_reify(reify_reduced)
    op.def_reference(reference)
    init = identity or _MAX_MIN_INIT[name]
    op.def_lower(lambda call: _lower_reduce(call, init(call.out.dtype), combine))
    if jvp is not None:
        op.def_jvp(jvp)
    return op


REDUCE_OPS = {row[0]: _register(*row) for row in REDUCTIONS}


# ---------------------------------------------------------------- tn.reduce_sum: linear
# sum(t) is linear in t: its jvp is itself and its transpose broadcasts the cotangent back.
reduce_sum = REDUCE_OPS["reduce_sum"]


@reduce_sum.def_jvp
def _sum_jvp(primals, tangents, outs, axes, keepdims):
    (t,) = tangents
    if t is None or primals[0].dtype.kind not in "fc":
        return [None]
    return [_emit_reduce("tn.reduce_sum", t, axes, keepdims)]


@reduce_sum.def_transpose
def _sum_transpose(cts, primals, axes, keepdims):
    (ct,) = cts
    if ct is None:
        return [None]
    return [_expand(ct, lax.shape_of(primals[0]), tuple(axes), keepdims)]


# ---------------------------------------------------------------- tn.argmax, tn.argmin
def _arg_infer(name: str) -> Callable:
    def infer(specs: list[TensorSpec], axes: tuple[int, ...], keepdims: bool) -> list[TensorSpec]:
        (x,) = specs
        check_axes(x, axes)
        if reduced_extent(x.shape, axes) == 0:
            raise ShapeError(f"attempt to get {name} of an empty sequence "
                             f"(axes {tuple(axes)} of shape {x.shape})")
        return [TensorSpec(reduced_shape(x.shape, axes, keepdims), I64)]

    return infer


def _np_arg(fn: Callable) -> Callable:
    """NumPy reference: move the reduced axes last, flatten them row-major, then reduce."""
    def reference(x: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
        axes = tuple(axes)
        kept = [d for d in range(x.ndim) if d not in axes]
        moved = np.transpose(x, kept + list(axes))
        flat = moved.reshape(moved.shape[: len(kept)] + (-1,))
        idx = fn(flat, axis=-1).astype(I64)
        return idx.reshape(reduced_shape(x.shape, axes, keepdims))
    return reference


def _flat_index(shape: tuple, axes: tuple[int, ...]) -> ir.Value:
    """Row-major index over the reduced axes, as i64: ((i_a0 * n_a1) + i_a1) * n_a2 + ...
    (a dim is an int or an index value read before the loop: a dynamic size)."""
    idx = arith.ConstantOp(ir.IndexType.get(), ir.IntegerAttr.get(ir.IndexType.get(), 0)).result
    for a in axes:
        n = shape[a] if isinstance(shape[a], ir.Value) else \
            arith.ConstantOp(ir.IndexType.get(), ir.IntegerAttr.get(ir.IndexType.get(), shape[a])).result
        idx = arith.AddIOp(arith.MulIOp(idx, n).result, linalg_index(a)).result
    return index_cast(idx, ir.IntegerType.get_signless(64))


def _beats(better: str) -> Callable:
    """Does candidate (x, j) replace the running (m, i)? Order independent: NaN beats numbers,
    the strictly better value wins, and the smaller index wins a tie (first occurrence)."""
    def build(x, m, j, i):
        earlier = arith.CmpIOp(arith.CmpIPredicate.slt, j, i).result
        if _is_float(x):
            fp = arith.CmpFPredicate
            strict = arith.CmpFOp(fp.OGT if better == "max" else fp.OLT, x, m).result
            equal = arith.CmpFOp(fp.OEQ, x, m).result
            x_nan = arith.CmpFOp(fp.UNO, x, x).result
            m_num = arith.CmpFOp(fp.ORD, m, m).result
            # m is a number: x wins if NaN, larger, or equal and earlier; m is NaN: only an
            # earlier NaN wins.
            wins_num = _or(x_nan, _or(strict, _and(equal, earlier)))
            return _or(_and(m_num, wins_num), _and(x_nan, earlier))
        ip = arith.CmpIPredicate
        if _is_i1(x):
            pred = ip.ugt if better == "max" else ip.ult
        else:
            pred = ip.sgt if better == "max" else ip.slt
        strict = arith.CmpIOp(pred, x, m).result
        equal = arith.CmpIOp(ip.eq, x, m).result
        return _or(strict, _and(equal, earlier))

    return build


def _lower_arg(call: LowerCall, better: str) -> list[ir.Value]:
    """A two-output generic carrying (best value, its index); only the index is the result."""
    (x,) = call.in_specs
    axes, keepdims = tuple(call.attrs["axes"]), call.attrs["keepdims"]
    out = call.out
    val_spec = TensorSpec(out.shape, x.dtype)
    init = (_lowest if better == "max" else _highest)(x.dtype)
    beats = _beats(better)
    out_map = _out_map(x.ndim, axes, keepdims)

    sizes = [n if n is not None else dim_value(call.operands[0], d) for d, n in enumerate(x.shape)]

    def body(a, m, i):
        j = _flat_index(sizes, axes)
        take = beats(a, m, j, i)
        return [arith.SelectOp(take, a, m).result, arith.SelectOp(take, j, i).result]

    results = generic(call.operands, [x.dtype], [identity_map(x.ndim)],
                      [fill(val_spec, init), fill(out, int(np.iinfo(I64).max))],
                      [x.dtype, I64], [out_map, out_map], _iterators(x.ndim, axes), body)
    return [results[1]]


for _name, _better, _fn in (("argmax", "max", np.argmax), ("argmin", "min", np.argmin)):
    _op = defop(f"tn.{_name}", ["x"], attrs=dict(REDUCE_ATTRS), differentiable=False,
                doc=f"int64 index of the {_better} over `axes` (row-major over the reduced axes; "
                    f"first occurrence; NaN wins).")
    _op.def_infer(_arg_infer(_name))
    _op.def_reify(reify_reduced)
    _op.def_reference(_np_arg(_fn))
    _op.def_lower(lambda call, b=_better: _lower_arg(call, b))


# ---------------------------------------------------------------- batching rules (vmap)
# A reduction of batched x reduces the same axes, one further right: the batch axis leads.
for _name in [*REDUCE_OPS, "argmax", "argmin"]:
    OPS[f"tn.{_name}"].def_batch(axes_rule(f"tn.{_name}"))
