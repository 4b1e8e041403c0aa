"""Slices with traced bounds and a static length: tn.dynamic_slice and its transpose.

`x[i * b:(i + 1) * b]` with a traced `i` (Theano's minibatch idiom) has a length the compiler
knows although its bounds are only known when the code runs: the frontend proves that stop -
start is a constant (`frontend/np_slicing.py`), so one compile serves every `i`. The bounds
are operands (int64 vectors, one entry per dimension) and follow Python's slice rules at run
time (a negative bound counts from the end, then both are clamped into the dimension); the
slice must then have exactly the static length `sizes`. Python would return a shorter slice
near the end of the dimension, which a static shape cannot be: the generated code checks the
length and the call fails with an IndexError naming the bounds and the dimension size
(dialects/tn/checks.py). The offsets it reads at are clamped as well, so the failing path
never reads outside `x`.

    %s = "tn.dynamic_slice"(%x, %starts, %stops) {sizes = array<i64: 4, 3>, steps = array<i64: 1, 1>}
           : (tensor<100x3xf32>, tensor<2xi64>, tensor<2xi64>) -> tensor<4x3xf32>
    %p = "tn.dynamic_pad_slice"(%s, %starts, %stops) {steps = array<i64: 1, 1>, shape = array<i64: 100, 3>}
           : (tensor<4x3xf32>, tensor<2xi64>, tensor<2xi64>) -> tensor<100x3xf32>   // zeros, s written back

Both are linear in their first operand and each other's transpose (as tn.slice and
tn.pad_slice, which they equal for constant bounds).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from mlir import ir
from mlir.dialects import arith, tensor

from .. import lax
from ..checks import INDEX_ERROR, emit_check
from ..lowering import LowerCall, dim_value, empty, fill, operand_sizes, result_type
from .. import batching as vb
from ..registry import ShapeError, defop
from ..types import TensorSpec, fill_dynamic
from .shape import _reversed_dims

_DYN = -(2**63)  # MLIR's kDynamic: an offset given as an SSA value


# ------------------------------------------------------------------ shared rules
def _check_bounds_specs(shape: Sequence[int], starts: TensorSpec, stops: TensorSpec,
                        sizes: Sequence[int], steps: Sequence[int]) -> None:
    rank = len(shape)
    if rank == 0:
        raise ShapeError("cannot slice a 0-d tensor")
    for what, b in (("starts", starts), ("stops", stops)):
        if b.dtype != np.dtype(np.int64) or b.shape != (rank,):
            raise ShapeError(f"{what} must be an int64 vector of length {rank} (one per dimension), got {b}")
    if not len(sizes) == len(steps) == rank:
        raise ShapeError(f"sizes {tuple(sizes)} and steps {tuple(steps)} need one entry per dimension of {tuple(shape)}")
    for d, (n, k, s) in enumerate(zip(shape, sizes, steps)):
        k = -1 if k is None else k
        if s == 0 or k < -1:
            raise ShapeError(f"dimension {d}: step must be nonzero and size >= 0 (-1: dynamic), got step {s}, size {k}")
        if k > 0 and n is not None and n >= 0 and abs(s) * (k - 1) + 1 > n:
            raise ShapeError(f"dimension {d} of size {n} cannot hold {k} elements at step {s}")


def python_slice(n: int, start: int, stop: int, step: int) -> tuple[int, int]:
    """Python's slice rules for one dimension -> (first position, length)."""
    first, last, s = slice(int(start), int(stop), int(step)).indices(n)
    return first, len(range(first, last, s))


def bounds_error(n: int, start: int, stop: int, step: int, size: int, axis: int, shape: Sequence[int]) -> str:
    """The message of a failed length check (the reference's and, with {0}{1}{2}, the code's)."""
    step_text = "" if step == 1 else f":{step}"
    _, got = python_slice(n, start, stop, step) if n >= 0 else (0, 0)
    return (f"getitem: the slice {start}:{stop}{step_text} along axis {axis} of a tensor of shape "
            f"{tuple(shape)} selects {got} elements, but the compiled slice has the static length "
            f"{size}: its bounds must lie within the dimension of size {n}")


def _positions(x_shape, starts, stops, sizes, steps) -> list[np.ndarray]:
    """The positions read along each dimension; IndexError when a length differs."""
    out = []
    for d, (n, b, e, k, s) in enumerate(zip(x_shape, starts, stops, sizes, steps)):
        first, got = python_slice(n, b, e, s)
        if got != k:
            raise IndexError(bounds_error(n, int(b), int(e), s, k, d, x_shape))
        out.append(first + s * np.arange(k))
    return out


def _shown(shape: Sequence) -> tuple:
    return tuple("?" if not isinstance(n, int) else n for n in shape)


def _low_offsets(call: LowerCall, shape: Sequence, sizes: Sequence, steps: Sequence[int],
                 starts: ir.Value, stops: ir.Value, what: str,
                 shown: Sequence[int | None]) -> tuple[list[ir.Value], list[ir.Value]]:
    """Per dimension: Python's slice length of the bounds; where the slice has a length
    (`sizes`: an int or an index value) it is checked (a failed check fails the call), where
    it is None the length is free (a dynamic result dim). Returns the lowest position read
    per dimension, clamped into the dimension, and the lengths (index values). `shape` holds
    ints or index values (dynamic dims read at run time); `shown` is the shape for messages."""
    i64, idx = ir.IntegerType.get_signless(64), ir.IndexType.get()

    def c(v: int) -> ir.Value:
        return arith.ConstantOp(i64, v).result

    def wide(v) -> ir.Value:
        return c(v) if isinstance(v, int) else arith.IndexCastOp(i64, v).result

    def clamp(v: ir.Value, lo: ir.Value, hi: ir.Value) -> ir.Value:
        return arith.MinSIOp(arith.MaxSIOp(v, lo).result, hi).result

    def python_bound(v: ir.Value, n: ir.Value, s: int) -> ir.Value:
        lo, hi = (c(0), n) if s > 0 else (c(-1), arith.SubIOp(n, c(1)).result)
        neg = arith.CmpIOp(arith.CmpIPredicate.slt, v, c(0)).result
        wrapped = arith.MaxSIOp(arith.AddIOp(v, n).result, lo).result
        return arith.SelectOp(neg, wrapped, arith.MinSIOp(v, hi).result).result

    # no source line in the text: artifacts are shared by traces that differ only in locations
    offsets, counts = [], []
    for d, (n_, k, s) in enumerate(zip(shape, sizes, steps)):
        n = wide(n_)
        b = tensor.ExtractOp(starts, [arith.ConstantOp(idx, d).result]).result
        e = tensor.ExtractOp(stops, [arith.ConstantOp(idx, d).result]).result
        first, last = python_bound(b, n, s), python_bound(e, n, s)
        span = arith.SubIOp(last, first).result if s > 0 else arith.SubIOp(first, last).result
        # len(range(first, last, s)) = ceil(span / |s|) when span > 0, else 0
        count = arith.DivSIOp(arith.AddIOp(span, c(abs(s) - 1)).result, c(abs(s))).result
        count = arith.MaxSIOp(count, c(0)).result
        if k is not None:
            ok = arith.CmpIOp(arith.CmpIPredicate.eq, count, wide(k)).result
            step_text = "" if s == 1 else f":{s}"
            length = k if isinstance(k, int) else "of the tensor written back"
            message = (f"{what}: the slice {{0}}:{{1}}{step_text} along axis {d} of a tensor of shape "
                       f"{_shown(shown)} selects {{2}} elements, but the compiled slice has the static "
                       f"length {length}: its bounds must lie within the dimension of size "
                       f"{n_ if isinstance(n_, int) else '?'}")
            emit_check(call.op, ok, INDEX_ERROR, message, [b, e, count])
            count = wide(k)
        if isinstance(n_, int) and isinstance(k, int):  # static: the bounds are constants
            low = first if s > 0 else arith.AddIOp(first, c(s * (k - 1))).result
            hi = c(max(n_ - abs(s) * (k - 1) - 1, 0))
        else:
            steps_before = arith.MaxSIOp(arith.SubIOp(count, c(1)).result, c(0)).result
            low = first if s > 0 else arith.AddIOp(first, arith.MulIOp(c(s), steps_before).result).result
            reach = arith.MulIOp(c(abs(s)), steps_before).result
            hi = arith.MaxSIOp(arith.SubIOp(arith.SubIOp(n, reach).result, c(1)).result, c(0)).result
        offsets.append(arith.IndexCastOp(idx, clamp(low, c(0), hi)).result)
        counts.append(arith.IndexCastOp(idx, count).result)
    return offsets, counts


def _dims_of(v: ir.Value, shape: Sequence[int | None]) -> list:
    return [n if n is not None else dim_value(v, d) for d, n in enumerate(shape)]


def _sizes_attr(shape: Sequence[int | None]) -> tuple[int, ...]:
    return tuple(-1 if n is None else int(n) for n in shape)


# ------------------------------------------------------------------ tn.dynamic_slice
dynamic_slice = defop(
    "tn.dynamic_slice", ["x", "starts", "stops"], attrs={"sizes": "ints", "steps": "ints"},
    doc="x[starts:stops:steps] per dimension, bounds traced (int64 vectors, Python's slice rules "
        "at run time) and static steps; the slice must have exactly the static length `sizes` "
        "(else the call fails with IndexError).",
)


@dynamic_slice.def_infer
def _dynamic_slice_infer(specs: list[TensorSpec], sizes, steps) -> list[TensorSpec]:
    x, starts, stops = specs
    _check_bounds_specs(x.shape, starts, stops, sizes, steps)
    return [TensorSpec(tuple(None if k == -1 else k for k in sizes), x.dtype)]


@dynamic_slice.def_reference
def _dynamic_slice_reference(x: np.ndarray, starts: np.ndarray, stops: np.ndarray, sizes, steps) -> np.ndarray:
    free = [python_slice(n, b, e, st)[1] for n, b, e, st in zip(x.shape, starts, stops, steps)]
    sizes = [f if k == -1 else k for f, k in zip(free, sizes)]
    return x[np.ix_(*_positions(x.shape, starts, stops, sizes, steps))]


@dynamic_slice.def_lower
def _dynamic_slice_lower(call: LowerCall) -> list[ir.Value]:
    x_spec = call.in_specs[0]
    x, starts, stops = call.operands
    sizes = [None if k == -1 else k for k in call.attrs["sizes"]]
    steps = list(call.attrs["steps"])
    offsets, counts = _low_offsets(call, _dims_of(x, x_spec.shape), sizes, steps, starts, stops,
                                   "getitem", x_spec.shape)
    if call.out.size == 0:
        return [empty(call.out)]
    rank = x_spec.ndim
    dyn = [n for k, n in zip(sizes, counts) if k is None]
    slab = tensor.ExtractSliceOp(result_type(call.out), x, offsets, dyn, [], [_DYN] * rank,
                                 [_DYN if k is None else k for k in sizes],
                                 [abs(s) for s in steps]).result
    neg = [d for d, s in enumerate(steps) if s < 0]
    return [_reversed_dims(slab, call.out, neg) if neg else slab]


@dynamic_slice.def_jvp
def _dynamic_slice_jvp(primals, tangents, outs, sizes, steps):
    t = tangents[0]
    if t is None or np.dtype(outs[0].dtype).kind not in "fc":
        return [None]
    return [lax.emit("tn.dynamic_slice", [t, primals[1], primals[2]], sizes=sizes, steps=steps)]


@dynamic_slice.def_transpose
def _dynamic_slice_transpose(cts, primals, sizes, steps):
    (ct,) = cts
    if ct is None:
        return [None, None, None]
    x, starts, stops = primals
    dims = [n for n in lax.shape_of(x) if not isinstance(n, int)]
    return [lax.emit("tn.dynamic_pad_slice", [ct, starts, stops, *dims], steps=steps,
                     shape=_sizes_attr(x.shape)), None, None]


def _with_batch_bounds(starts, stops, n):
    """Bounds vectors with the batch axis's full range [0, n) in front."""
    zero = lax.constant(np.zeros(1, np.int64))
    end = lax.constant(np.array([n], np.int64)) if isinstance(n, int) else lax.reshape(n, (1,))
    return (lax.emit("tn.concatenate", [zero, starts], axis=0),
            lax.emit("tn.concatenate", [end, stops], axis=0))


@dynamic_slice.def_batch
def _dynamic_slice_batch(args, batched, size, sizes, steps):
    """x batched, bounds shared: slice the full batch axis too. Bounds that differ per example:
    a loop over the examples (a gather of strided windows would need a new op)."""
    if any(batched[1:]):
        return vb.loop_rule("tn.dynamic_slice")(args, batched, size, sizes=sizes, steps=steps)
    x, starts, stops = args
    n = lax.dim(x, 0)
    starts, stops = _with_batch_bounds(starts, stops, n)
    return [lax.emit("tn.dynamic_slice", [x, starts, stops], sizes=(-1 if x.shape[0] is None else x.shape[0],)
                     + tuple(sizes), steps=(1,) + tuple(steps))]


# ------------------------------------------------------------------ tn.dynamic_pad_slice
dynamic_pad_slice = defop(
    "tn.dynamic_pad_slice", ["x", "starts", "stops", "dims*"], attrs={"steps": "ints", "shape": "ints"},
    doc="Zeros of `shape` with out[starts:stops:steps] = x (bounds as tn.dynamic_slice's, the "
        "sizes are x's shape): the transpose of tn.dynamic_slice. A -1 in `shape` is a dynamic "
        "dim sized by the next int64 scalar of `dims`.",
)


@dynamic_pad_slice.def_infer
def _dynamic_pad_slice_infer(specs: list[TensorSpec], steps, shape) -> list[TensorSpec]:
    x, starts, stops, *dims = specs
    target = tuple(None if n == -1 else n for n in shape)
    if len(dims) != target.count(None) or any(d.shape != () or d.dtype != np.int64 for d in dims):
        raise ShapeError(f"shape {tuple(shape)} needs one int64 scalar size per -1, got {len(dims)}")
    _check_bounds_specs(target, starts, stops, x.shape, steps)
    return [TensorSpec(target, x.dtype)]


@dynamic_pad_slice.def_reference
def _dynamic_pad_slice_reference(x: np.ndarray, starts: np.ndarray, stops: np.ndarray, *dims: np.ndarray,
                                 steps, shape) -> np.ndarray:
    shape = fill_dynamic(shape, (int(d) for d in dims))
    out = np.zeros(shape, x.dtype)
    out[np.ix_(*_positions(tuple(shape), starts, stops, x.shape, steps))] = x
    return out


@dynamic_pad_slice.def_lower
def _dynamic_pad_slice_lower(call: LowerCall) -> list[ir.Value]:
    x_spec = call.in_specs[0]
    x, starts, stops, *dims = call.operands
    steps = list(call.attrs["steps"])
    shape = operand_sizes(call.attrs["shape"], dims)
    x_dims = _dims_of(x, x_spec.shape)
    offsets, _ = _low_offsets(call, shape, x_dims, steps, starts, stops, "getitem (gradient)",
                              call.out.shape)
    if call.out.size == 0:
        return [empty(call.out, shape)]
    zeros = fill(call.out, 0, shape)
    if x_spec.size == 0:
        return [zeros]
    neg = [d for d, s in enumerate(steps) if s < 0]
    if neg:
        x = _reversed_dims(x, x_spec, neg)
    return [tensor.InsertSliceOp(x, zeros, offsets, [n for n in x_dims if not isinstance(n, int)], [],
                                 [_DYN] * len(shape), [n if isinstance(n, int) else _DYN for n in x_dims],
                                 [abs(s) for s in steps]).result]


@dynamic_pad_slice.def_jvp
def _dynamic_pad_slice_jvp(primals, tangents, outs, steps, shape):
    t = tangents[0]
    if t is None or np.dtype(outs[0].dtype).kind not in "fc":
        return [None]
    return [lax.emit("tn.dynamic_pad_slice", [t, *primals[1:]], steps=steps, shape=shape)]


@dynamic_pad_slice.def_transpose
def _dynamic_pad_slice_transpose(cts, primals, steps, shape):
    (ct,) = cts
    if ct is None:
        return [None] * len(primals)
    x, starts, stops = primals[:3]
    return [lax.emit("tn.dynamic_slice", [ct, starts, stops], sizes=_sizes_attr(x.shape), steps=steps)] \
        + [None] * (len(primals) - 1)


@dynamic_pad_slice.def_batch
def _dynamic_pad_slice_batch(args, batched, size, steps, shape):
    vb.refuse_batched_sizes("tn.dynamic_pad_slice", args, batched, 3)
    if any(batched[1:3]):
        return vb.loop_rule("tn.dynamic_pad_slice")(args, batched, size, steps=steps, shape=shape)
    x, starts, stops, *dims = args
    n = lax.dim(x, 0)
    starts, stops = _with_batch_bounds(starts, stops, n)
    lead = [n] if isinstance(n, lax.Value) else []
    return [lax.emit("tn.dynamic_pad_slice", [x, starts, stops, *lead, *dims], steps=(1,) + tuple(steps),
                     shape=(-1 if lead else n,) + tuple(shape))]
