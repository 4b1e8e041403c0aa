"""NumPy's shape functions on traced tensors: reshape, transpose, indexing, joining, take.

Everything NumPy resolves at the Python level (negative axes, -1 in a shape, slice objects,
negative constant indices, Ellipsis/None in an index) is resolved here, so the tn ops in
`dialects/tn/ops/shape.py` only see explicit static attributes. Composite functions
(expand_dims, squeeze, stack, ravel, moveaxis ...) are reshapes, transposes and
concatenations. Errors name the function, the shapes and the user's source line.
"""
from __future__ import annotations

import operator
from typing import Any, Sequence

import numpy as np
from mlir import ir

from theanir.dialects.tn import lax as tn_lax
from theanir.dialects.tn.builder import describe_location, emit1
from theanir.dialects.tn.lax import Value
from theanir.dialects.tn.registry import ShapeError

from .np_base import as_tensor, astype, broadcast_to, clip, constant, refine, result_type, where
from .np_select import bool_mask, masked_getitem
from .np_slicing import dynamic_slice, is_traced_bound, length_error, slice_length, static_bound
from .tensor import Tensor
from .np_select import constant_mask_index  # noqa: E402,I001  (x[mask] with a NumPy mask)

__all__ = [
    "reshape", "transpose", "swapaxes", "moveaxis", "expand_dims", "squeeze", "ravel", "flip",
    "concatenate", "stack", "hstack", "vstack", "take", "take_along_axis", "getitem", "shape",
]


def shape(x: Any) -> tuple[Any, ...]:
    """np.shape, with each dynamic dim as a traced int64 scalar (`tn.dim`) instead of an int.

    Under `th.jit(f, dynamic_shapes=True)` `x.shape` reports what is known while tracing (None
    for a dynamic dim, as the tensor's type does); `th.shape(x)[i]` is the size itself, which
    the creation functions, `reshape` and `arange` accept (`th.zeros((th.shape(x)[0], 3))`),
    so one compile serves every size (docs/dynamic-shapes-ops.md)."""
    if not isinstance(x, Tensor):
        return np.shape(x)
    return tuple(n if isinstance(n, int) else Tensor(n.value) for n in tn_lax.shape_of(x))

AxisError = np.exceptions.AxisError


# ------------------------------------------------------------------ helpers
def _at() -> str:
    return f"at {describe_location()}"


def _op(name: str, xs: Sequence[Tensor], weak: bool = False, **attrs: Any) -> Tensor:
    return Tensor(emit1(name, [x.value for x in xs], attrs), weak=weak)


def _axis(fn: str, axis: Any, ndim: int, shape: tuple[int, ...]) -> int:
    """A NumPy axis (negative counts from the end) -> 0 <= axis < ndim, or AxisError."""
    try:
        a = operator.index(axis)
    except TypeError:
        raise TypeError(f"{fn}: axis must be an integer, got {axis!r} {_at()}") from None
    if not -ndim <= a < ndim:
        raise AxisError(f"{fn}: axis {a} is out of bounds for a tensor of rank {ndim} "
                        f"(shape {shape}) {_at()}")
    return a % ndim


def _axes(fn: str, axes: Any, ndim: int, shape: tuple[int, ...]) -> tuple[int, ...]:
    """An axis or a sequence of axes, normalized; repeats are refused as NumPy does."""
    seq = (axes,) if np.ndim(axes) == 0 and not isinstance(axes, (tuple, list)) else tuple(axes)
    out = tuple(_axis(fn, a, ndim, shape) for a in seq)
    if len(set(out)) != len(out):
        raise ValueError(f"{fn}: repeated axis in {tuple(seq)} for shape {shape} {_at()}")
    return out


def _shape_tuple(fn: str, shape: Any) -> tuple[int, ...]:
    try:
        if np.ndim(shape) == 0 and not isinstance(shape, (tuple, list)):
            return (operator.index(shape),)
        return tuple(operator.index(s) for s in shape)
    except TypeError:
        raise TypeError(f"{fn}: a shape must be static Python ints, got {shape!r} {_at()}") from None


def _slice(x: Tensor, starts: Sequence[int], sizes: Sequence[int], steps: Sequence[int]) -> Tensor:
    """tn.slice, skipped when it selects all of x."""
    full = all(b == 0 and k == n and s == 1 for b, k, s, n in zip(starts, sizes, steps, x.shape))
    if full:
        return x
    return _op("tn.slice", [x], x.weak, starts=tuple(starts), sizes=tuple(sizes), steps=tuple(steps))


def _slice_params(s: slice, n: int) -> tuple[int, int, int]:
    """Python's slice rules for a dimension of size n -> (start, size, step), in range."""
    try:
        start, stop, step = s.indices(n)
    except ValueError as e:
        raise ValueError(f"getitem: {e} (slice {s}) {_at()}") from None
    size = len(range(start, stop, step))
    return (start, size, step) if size > 0 else (0, 0, 1)


def _traced_slice(s: slice, n: int, axis: int) -> tuple[Any, Any, int, int] | None:
    """A slice with a traced bound -> (start, stop, step, static length) for
    `np_slicing.dynamic_slice`; None when every bound is known while tracing (then `s`'s
    bounds are static: see `_static_slice`)."""
    start, stop = static_bound(s.start, "start"), static_bound(s.stop, "stop")
    step = static_bound(s.step, "step")
    if isinstance(step, Tensor):
        raise TypeError(f"getitem: the step of a slice must be known while tracing, got a traced "
                        f"value in {s} (th.function specializes on the inputs it depends on; "
                        f"inside th.jit mark it static) {_at()}")
    if not (is_traced_bound(start) or is_traced_bound(stop)):
        return None
    step = 1 if step is None else step
    if step == 0:
        raise ValueError(f"getitem: slice step cannot be zero {_at()}")
    k = None if start is None or stop is None else slice_length(start, stop, step)
    if k is None and n is None:  # a dynamic dim: the length too is known when the code runs
        start = (0 if step > 0 else _FAR) if start is None else start
        stop = (_FAR if step > 0 else -_FAR) if stop is None else stop
        return start, stop, step, None
    if k is None:
        raise length_error(s)
    if k > 0 and n is not None and abs(step) * (k - 1) + 1 > n:
        raise IndexError(f"getitem: the slice {s} along axis {axis} always selects {k} elements "
                         f"(stop - start is a constant), more than the dimension of size {n} holds {_at()}")
    return start, stop, step, k


def _static_slice(s: slice) -> slice:
    """`s` with traced bounds whose value is known while tracing replaced by ints."""
    return slice(*(static_bound(v, w) for v, w in ((s.start, "start"), (s.stop, "stop"), (s.step, "step"))))


def _has_tensor(s: slice) -> bool:
    return any(isinstance(v, Tensor) for v in (s.start, s.stop, s.step))


def _bool_index_error(fn: str, x: Tensor, mask_shape: tuple[int, ...]) -> TypeError:
    return TypeError(
        f"{fn}: boolean mask indexing (tensor shape {x.shape}, mask shape {mask_shape}) is "
        f"supported as x[mask] or x[mask, ...] with a mask of at least one dim over x's leading "
        f"dims; elsewhere use th.where(mask, x, fill) or th.nonzero(mask) {_at()}")


def _index_tensor(fn: str, x: Tensor, indices: Any, axis: int) -> Tensor:
    """Integer indices for `axis` of x as an int tensor.

    Constant indices are checked like NumPy (IndexError when out of range) and wrapped here;
    traced ones are wrapped and clamped by tn.take at run time (no error path there).
    """
    n = x.shape[axis]
    if isinstance(indices, Tensor):
        if indices.dtype == np.bool_:
            raise _bool_index_error(fn, x, indices.shape)
        if indices.dtype.kind != "i":
            raise TypeError(f"{fn}: indices must be integers, got {indices.dtype.name} {_at()}")
        return indices if not indices.weak else Tensor(indices.value)
    arr = np.asarray(indices)
    if arr.dtype == np.bool_:
        raise _bool_index_error(fn, x, arr.shape)
    if arr.size == 0:
        arr = arr.astype(np.int64)
    if arr.dtype.kind not in "iu":
        raise IndexError(f"{fn}: indices must be integers, got {arr.dtype.name} {_at()}")
    bad = arr[(arr < -n) | (arr >= n)]
    if bad.size:
        raise IndexError(f"{fn}: index {int(bad.flat[0])} is out of bounds for axis {axis} with "
                         f"size {n} (tensor shape {x.shape}) {_at()}")
    return constant(np.where(arr < 0, arr + n, arr).astype(np.int64))


# ------------------------------------------------------------------ reshape family
def reshape(x: Any, shape: Any, order: str = "C") -> Tensor:
    """np.reshape: row-major; one -1 takes the remaining size."""
    x = as_tensor(x)
    if order != "C":
        raise NotImplementedError(f"reshape: only order='C' is supported, got {order!r} {_at()}")
    if None in x.shape or _has_traced_dims(shape):
        return _reshape_dynamic(x, shape)
    target = _shape_tuple("reshape", shape)
    if target.count(-1) > 1 or any(n < -1 for n in target):
        raise ValueError(f"reshape: invalid shape {target} (one -1 at most, no other negatives) {_at()}")
    if -1 in target:
        known = int(np.prod([n for n in target if n != -1], dtype=np.int64))
        if known == 0 or x.size % known:
            raise ShapeError(f"reshape: cannot reshape a tensor of shape {x.shape} (size {x.size}) "
                             f"into shape {target} {_at()}")
        target = tuple(x.size // known if n == -1 else n for n in target)
    if int(np.prod(target, dtype=np.int64)) != x.size:
        raise ShapeError(f"reshape: cannot reshape a tensor of shape {x.shape} (size {x.size}) "
                         f"into shape {target} (size {int(np.prod(target))}) {_at()}")
    if target == x.shape:
        return x
    return _op("tn.reshape", [x], x.weak, shape=target)


def _has_traced_dims(shape: Any) -> bool:
    return isinstance(shape, (tuple, list)) and any(isinstance(n, Value) or n is None for n in shape) \
        or isinstance(shape, Value)


def _reshape_dynamic(x: Tensor, shape: Any) -> Tensor:
    """reshape with dynamic dims (docs/dynamic-shapes.md). A target dim is an int, -1 (the
    rest), a traced int scalar (`th.shape(x)[0]`) or None: the next dynamic dim of x, in
    order (what x.shape holds for it: `x.reshape(x.shape[:1] + (1,) + x.shape[1:])` keeps
    x's dims). The element counts are compared when the code runs (tn.reshape's check)."""
    entries = list(shape) if isinstance(shape, (tuple, list)) else [shape]
    own = iter(tn_lax.dim(x, d) for d, n in enumerate(x.shape) if n is None)
    dims: list[Any] = []
    for n in entries:
        if n is None:
            n = next(own, None)
            if n is None:
                raise ValueError(f"reshape: the target {tuple(shape)} has more None dims than x "
                                 f"(shape {x.shape}) has dynamic dims {_at()}")
        elif isinstance(n, Value):
            if n.shape != () or n.dtype.kind not in "iu":
                raise TypeError(f"reshape: a traced size must be an int scalar, got {n.spec} {_at()}")
            n = tn_lax.convert(n, np.int64)
        else:
            n = operator.index(n)
            if n < -1:
                raise ValueError(f"reshape: invalid shape {tuple(shape)} (negative dims) {_at()}")
        dims.append(n)
    if sum(1 for n in dims if isinstance(n, int) and n == -1) > 1:
        raise ValueError(f"reshape: invalid shape {tuple(shape)} (one -1 at most) {_at()}")
    if any(isinstance(n, int) and n == -1 for n in dims):
        total: Any = 1
        for n in tn_lax.shape_of(x):
            total = total * n if isinstance(total, int) and isinstance(n, int) else _times(total, n)
        known: Any = 1
        for n in dims:
            if not (isinstance(n, int) and n == -1):
                known = known * n if isinstance(known, int) and isinstance(n, int) else _times(known, n)
        if isinstance(known, int) and known == 0:
            raise ShapeError(f"reshape: cannot infer -1 in {tuple(shape)} with a zero-size dim {_at()}")
        if isinstance(total, int) and isinstance(known, int):
            rest: Any = total // known
        else:
            # a zero divisor (a traced size of 0) would trap: divide by max(known, 1), and the
            # element-count check of tn.reshape refuses what does not fit
            divisor = tn_lax.emit("tn.maximum", [_i64(known), _i64(1)])
            rest = tn_lax.emit("tn.floor_divide", [_i64(total), divisor])
        dims = [rest if isinstance(n, int) and n == -1 else n for n in dims]
    if all(isinstance(n, int) for n in dims) and None not in x.shape:
        return reshape(x, tuple(dims))
    if [n if isinstance(n, int) else None for n in dims] == list(x.shape) and _same_dims(x, dims):
        return x
    return Tensor(tn_lax.reshape(x, dims).value, weak=x.weak)


def _i64(n: Any) -> Any:
    return tn_lax.constant(np.asarray(n, np.int64)) if isinstance(n, int) else n


def _times(a: Any, b: Any) -> Any:
    return tn_lax.emit("tn.mul", [_i64(a), _i64(b)])


def _same_dims(x: Tensor, dims: list[Any]) -> bool:
    """dims are x's own dims (each dynamic one a tn.dim of x along the same axis)."""
    for d, n in enumerate(dims):
        if isinstance(n, int):
            continue
        owner = n.value.owner
        op = getattr(owner, "operation", owner)
        if not (isinstance(op, ir.Operation) and op.name == "tn.dim" and op.operands[0] == x.value
                and ir.IntegerAttr(op.attributes["axis"]).value == d):
            return False
    return True


def ravel(x: Any, order: str = "C") -> Tensor:
    """np.ravel: the row-major 1-D view."""
    return reshape(x, (-1,), order)


def expand_dims(x: Any, axis: Any) -> Tensor:
    """np.expand_dims: insert size-1 dimensions at `axis` (int or tuple, of the result)."""
    x = as_tensor(x)
    count = 1 if np.ndim(axis) == 0 and not isinstance(axis, (tuple, list)) else len(axis)
    new = set(_axes("expand_dims", axis, x.ndim + count, x.shape))
    dims = iter(x.shape)
    return reshape(x, tuple(1 if d in new else next(dims) for d in range(x.ndim + count)))


def squeeze(x: Any, axis: Any = None) -> Tensor:
    """np.squeeze: drop size-1 dimensions (all of them, or those named by `axis`)."""
    x = as_tensor(x)
    if axis is None:
        return reshape(x, tuple(n for n in x.shape if n != 1))
    axes = _axes("squeeze", axis, x.ndim, x.shape)
    for a in axes:
        if x.shape[a] != 1:
            raise ValueError(f"squeeze: cannot select axis {a} to squeeze out: its size is "
                             f"{x.shape[a]}, not one (shape {x.shape}) {_at()}")
    return reshape(x, tuple(n for d, n in enumerate(x.shape) if d not in axes))


# ------------------------------------------------------------------ transposes
def transpose(x: Any, axes: Any = None) -> Tensor:
    """np.transpose: reverse the dimensions, or permute them by `axes`."""
    x = as_tensor(x)
    if axes is None:
        perm = tuple(range(x.ndim))[::-1]
    else:
        perm = _axes("transpose", axes, x.ndim, x.shape)
        if len(perm) != x.ndim:
            raise ValueError(f"transpose: axes {tuple(axes)} do not match a tensor of shape "
                             f"{x.shape} {_at()}")
    if perm == tuple(range(x.ndim)):
        return x
    return _op("tn.transpose", [x], x.weak, perm=perm)


def swapaxes(x: Any, axis1: int, axis2: int) -> Tensor:
    """np.swapaxes: exchange two dimensions."""
    x = as_tensor(x)
    a = _axis("swapaxes", axis1, x.ndim, x.shape)
    b = _axis("swapaxes", axis2, x.ndim, x.shape)
    perm = list(range(x.ndim))
    perm[a], perm[b] = b, a
    return transpose(x, perm)


def moveaxis(x: Any, source: Any, destination: Any) -> Tensor:
    """np.moveaxis: move dimensions to new positions, the others keep their order."""
    x = as_tensor(x)
    src = _axes("moveaxis", source, x.ndim, x.shape)
    dst = _axes("moveaxis", destination, x.ndim, x.shape)
    if len(src) != len(dst):
        raise ValueError(f"moveaxis: source {source} and destination {destination} must have "
                         f"the same number of elements {_at()}")
    order = [d for d in range(x.ndim) if d not in src]
    for d, s in sorted(zip(dst, src)):
        order.insert(d, s)
    return transpose(x, order)


def flip(x: Any, axis: Any = None) -> Tensor:
    """np.flip: reverse the order of elements along `axis` (all axes when None)."""
    x = as_tensor(x)
    axes = range(x.ndim) if axis is None else _axes("flip", axis, x.ndim, x.shape)
    if None in x.shape:
        return getitem(x, tuple(slice(None, None, -1) if a in axes else slice(None) for a in range(x.ndim)))
    starts, steps = [0] * x.ndim, [1] * x.ndim
    for a in axes:
        if x.shape[a] > 1:
            starts[a], steps[a] = x.shape[a] - 1, -1
    return _slice(x, starts, x.shape, steps)


# ------------------------------------------------------------------ joining
def concatenate(xs: Sequence[Any], axis: Any = 0, dtype: Any = None) -> Tensor:
    """np.concatenate: join along an existing axis (None: of the raveled inputs); promotes dtypes."""
    xs = list(xs)
    if not xs:
        raise ValueError(f"concatenate: need at least one tensor to concatenate {_at()}")
    dt = result_type(*xs) if dtype is None else dtype
    ts = [astype(as_tensor(x), dt) for x in xs]
    if axis is None:
        ts, axis = [ravel(t) for t in ts], 0
    if any(t.ndim == 0 for t in ts):
        raise ValueError(f"concatenate: zero-dimensional tensors cannot be concatenated "
                         f"(shapes {[t.shape for t in ts]}) {_at()}")
    a = _axis("concatenate", axis, ts[0].ndim, ts[0].shape)
    for t in ts[1:]:
        if t.ndim != ts[0].ndim or any(p != q for d, (p, q) in enumerate(zip(t.shape, ts[0].shape))
                                       if d != a and p is not None and q is not None):
            raise ShapeError(f"concatenate: shapes {[u.shape for u in ts]} must match except along "
                             f"axis {a} {_at()}")
    if any(None in t.shape for t in ts):  # a dynamic dim meeting a static one: checked at run time
        known = [next((t.shape[d] for t in ts if t.shape[d] is not None), None) for d in range(ts[0].ndim)]
        ts = [refine(t, tuple(None if d == a else n for d, n in enumerate(known))) for t in ts]
    pieces = [t for t in ts if t.shape[a] is None or t.shape[a] > 0] or ts[:1]  # empty pieces add nothing
    return Tensor(_join(pieces, a).value)


def _join(ts: list[Tensor], axis: int) -> Tensor:
    """A balanced tree of binary tn.concatenate (see its definition for why binary): each
    element is copied log2(n) times instead of up to n times by a left fold."""
    if len(ts) == 1:
        return ts[0]
    mid = len(ts) // 2
    return _op("tn.concatenate", [_join(ts[:mid], axis), _join(ts[mid:], axis)], axis=axis)


def stack(xs: Sequence[Any], axis: int = 0) -> Tensor:
    """np.stack: join same-shape tensors along a new axis."""
    ts = [as_tensor(x) for x in xs]
    if not ts:
        raise ValueError(f"stack: need at least one tensor to stack {_at()}")
    if any(t.shape != ts[0].shape for t in ts):
        raise ShapeError(f"stack: all inputs must have the same shape, got {[t.shape for t in ts]} {_at()}")
    a = _axis("stack", axis, ts[0].ndim + 1, ts[0].shape)
    return concatenate([expand_dims(t, a) for t in ts], axis=a)


def _atleast(x: Any, rank: int) -> Tensor:
    t = as_tensor(x)
    if t.ndim >= rank:
        return t
    return reshape(t, (1,) * (rank - t.ndim) + t.shape)


def hstack(xs: Sequence[Any]) -> Tensor:
    """np.hstack: along axis 1, or axis 0 for 1-D inputs (0-d inputs become 1-D)."""
    ts = [_atleast(x, 1) for x in xs]
    return concatenate(ts, axis=0 if ts and ts[0].ndim == 1 else 1)


def vstack(xs: Sequence[Any]) -> Tensor:
    """np.vstack: along axis 0 after making every input at least 2-D ((n,) -> (1, n))."""
    return concatenate([_atleast(x, 2) for x in xs], axis=0)


# ------------------------------------------------------------------ gathering
def take(x: Any, indices: Any, axis: Any = None) -> Tensor:
    """np.take. Constant indices out of range raise IndexError as in NumPy; traced indices
    wrap once if negative and are then clamped to the axis (JAX's behaviour)."""
    x = as_tensor(x)
    if axis is None:
        x, axis = ravel(x), 0
    a = _axis("take", axis, x.ndim, x.shape)
    idx = _index_tensor("take", x, indices, a)
    return _op("tn.take", [x, idx], axis=a)


def _wrap_and_clamp(i: Tensor, n: Any) -> Tensor:
    """Traced indices into an axis of length n: a negative one wraps once, then all clamp to
    [0, n) (JAX's rule; tn.take does the same for the indices it reads directly)."""
    return clip(where(i < 0, i + n, i), 0, n - 1)


def take_along_axis(arr: Any, indices: Any, axis: Any) -> Tensor:
    """np.take_along_axis, as one tn.take on the raveled (broadcast) input with linear indices.

    Index handling is take's: constant indices are checked, traced ones wrapped and clamped.
    """
    x = as_tensor(arr)
    if axis is None:
        x, axis = ravel(x), 0
    a = _axis("take_along_axis", axis, x.ndim, x.shape)
    idx = _index_tensor("take_along_axis", x, indices, a)
    if idx.ndim != x.ndim:
        raise ValueError(f"take_along_axis: indices of shape {idx.shape} and the tensor of shape "
                         f"{x.shape} must have the same rank {_at()}")
    n = x.shape[a]
    rest = [(p, q) for d, (p, q) in enumerate(zip(x.shape, idx.shape)) if d != a]
    try:
        others = np.broadcast_shapes(*zip(*rest)) if rest else ()
    except ValueError:
        raise ShapeError(f"take_along_axis: shapes {x.shape} and {idx.shape} do not broadcast "
                         f"outside axis {a} {_at()}") from None
    out_shape = others[:a] + (idx.shape[a],) + others[a:]
    src_shape = others[:a] + (n,) + others[a:]
    if isinstance(indices, Tensor) and n > 0:  # constant indices were checked and wrapped
        idx = _wrap_and_clamp(idx, n)
    strides = np.cumprod((src_shape + (1,))[:0:-1])[::-1]  # row-major strides of src_shape
    base = np.zeros(out_shape[:a] + (1,) + out_shape[a + 1:], np.int64)
    for d in range(len(out_shape)):
        if d != a:
            grid = np.arange(out_shape[d]).reshape([-1 if e == d else 1 for e in range(len(out_shape))])
            base = base + grid * int(strides[d])
    linear = broadcast_to(astype(idx, np.int64), out_shape) * int(strides[a]) + constant(base)
    return take(ravel(broadcast_to(x, src_shape)), linear, axis=0)


# ------------------------------------------------------------------ x[...]
def _classify(x: Tensor, e: Any) -> tuple[str, Any]:
    """One index entry -> (kind, value), kinds: none, ellipsis, slice, int, array."""
    if e is None:
        return "none", None
    if e is Ellipsis:
        return "ellipsis", None
    if isinstance(e, slice):
        return "slice", e
    if isinstance(e, (bool, np.bool_)):
        raise _bool_index_error("getitem", x, ())
    if isinstance(e, Tensor):
        if e.dtype == np.bool_:
            raise _bool_index_error("getitem", x, e.shape)
        if e.dtype.kind != "i":
            raise IndexError(f"getitem: index tensors must be integers, got {e.dtype.name} {_at()}")
        return "array", e
    if isinstance(e, (int, np.integer)):
        return "int", int(e)
    if isinstance(e, (list, np.ndarray)):
        arr = np.asarray(e)
        if arr.dtype == np.bool_:
            raise _bool_index_error("getitem", x, arr.shape)
        if arr.ndim == 0 and arr.dtype.kind in "iu":
            return "int", int(arr)
        if arr.dtype.kind in "iu" or arr.size == 0:
            return "array", arr
    raise IndexError(f"getitem: only integers, slices (`:`), ellipsis (`...`), None and integer "
                     f"arrays are valid indices, got {e!r} {_at()}")


def _expand_entries(x: Tensor, idx: Any) -> list[tuple[str, Any, int]]:
    """Classified entries with their tuple position; Ellipsis expands to full slices."""
    entries = idx if isinstance(idx, tuple) else (idx,)
    items = [(*_classify(x, e), pos) for pos, e in enumerate(entries)]
    used = sum(k in ("slice", "int", "array") for k, _, _ in items)
    if used > x.ndim:
        raise IndexError(f"getitem: too many indices for a tensor of shape {x.shape}: it is "
                         f"{x.ndim}-dimensional, but {used} were indexed {_at()}")
    kinds = [k for k, _, _ in items]
    if kinds.count("ellipsis") > 1:
        raise IndexError(f"getitem: an index can only have a single ellipsis ('...') {_at()}")
    fill = [("slice", slice(None), len(entries))] * (x.ndim - used)
    if "ellipsis" in kinds:
        i = kinds.index("ellipsis")
        return items[:i] + [("slice", slice(None), items[i][2])] * (x.ndim - used) + items[i + 1:]
    return items + fill


def _gather_arrays(y: Tensor, adv: list[tuple[int, Tensor]], traced: list[bool]) -> tuple[Tensor, tuple]:
    """y[i1, i2, ...] over the axes of `adv` (several integer arrays, NumPy's advanced
    indexing): the arrays broadcast to one shape B; the result is B + y's other axes in order.
    One gather from y with those axes moved first and flattened; each traced index is
    wrapped and clamped on its own axis (a flat index alone would clamp into the next row)."""
    axes = [d for d, _ in adv]
    if None in y.shape or any(None in t.shape for _, t in adv):
        return _gather_arrays_dynamic(y, adv)
    try:
        shape = tuple(np.broadcast_shapes(*(t.shape for _, t in adv)))
    except ValueError:
        raise IndexError(f"getitem: shape mismatch: indexing arrays could not be broadcast "
                         f"together with shapes {[t.shape for _, t in adv]} {_at()}") from None
    rest = [e for e in range(y.ndim) if e not in axes]
    moved = transpose(y, axes + rest)
    lengths = [y.shape[d] for d in axes]
    flat_rows = reshape(moved, (int(np.prod(lengths)),) + tuple(y.shape[e] for e in rest))
    linear = None
    stride = 1
    for (d, t), is_traced in reversed(list(zip(adv, traced))):
        n = y.shape[d]
        i = astype(t, np.int64)
        if is_traced and n > 0:
            i = _wrap_and_clamp(i, n)
        term = broadcast_to(i * stride if stride != 1 else i, shape)
        linear = term if linear is None else linear + term
        stride *= n
    return take(flat_rows, linear, axis=0), shape


def _gather_arrays_dynamic(y: Tensor, adv: list[tuple[int, Tensor]]) -> tuple[Tensor, tuple]:
    """`_gather_arrays` where y or an index array has dynamic dims (docs/dynamic-shapes.md):
    the index arrays broadcast with run-time checks, sizes and strides are int64 scalars read
    when the code runs, and every index wraps once and clamps into its axis (as traced indices
    do: a constant index cannot be checked against a dynamic length while tracing)."""
    from .np_base import prepare

    axes = [d for d, _ in adv]
    idx = prepare("getitem", [astype(t, np.int64) for _, t in adv], np.dtype(np.int64))
    shape = idx[0].shape
    sizes = [y.shape[d] if y.shape[d] is not None else Tensor(tn_lax.dim(y, d).value) for d in range(y.ndim)]
    rest = [e for e in range(y.ndim) if e not in axes]
    moved = transpose(y, axes + rest)
    rows: Any = 1
    for d in axes:
        rows = sizes[d] * rows if isinstance(rows, int) and rows == 1 else rows * sizes[d]
    flat_rows = reshape(moved, (rows,) + tuple(sizes[e] for e in rest))
    linear, stride = None, 1
    for d, i in reversed(list(zip(axes, idx))):
        i = _wrap_and_clamp(i, sizes[d])
        term = i * stride if not (isinstance(stride, int) and stride == 1) else i
        linear = term if linear is None else linear + term
        stride = sizes[d] * stride if isinstance(stride, int) and stride == 1 else stride * sizes[d]
    return take(flat_rows, linear, axis=0), shape


_FAR = 2**62  # a bound past either end of any dim: Python's slice rules clamp it


def _bounds_entry(kind: str, value: Any, n: int | None, axis: int,
                  shape: tuple) -> tuple[int, int, int, int | None] | None:
    """A static slice or int index of a tensor with dynamic dims as (start, stop, step, length)
    for tn.dynamic_slice (length None: dynamic, Python's rules at run time); None for `:`."""
    if kind == "int":
        if n is not None and not -n <= value < n:
            raise IndexError(f"getitem: index {value} is out of bounds for axis {axis} with size "
                             f"{n} (tensor shape {shape}) {_at()}")
        stop = _FAR if value == -1 else value + 1
        return value, stop, 1, 1  # a dynamic dim checks the length 1 (in range) at run time
    step = 1 if value.step is None else operator.index(value.step)
    if step == 0:
        raise ValueError(f"getitem: slice step cannot be zero {_at()}")
    if value.start is None and value.stop is None and step == 1:
        return None
    if n is not None:
        start, size, step = _slice_params(value, n)
        return start, start + step * size, step, size
    start = (0 if step > 0 else _FAR) if value.start is None else operator.index(value.start)
    stop = (_FAR if step > 0 else -_FAR) if value.stop is None else operator.index(value.stop)
    return start, stop, step, None


def getitem(x: Any, idx: Any) -> Tensor:
    """x[idx]: ints, slices (any step), None, Ellipsis, and integer arrays or traced int
    tensors (a 0-d traced int indexes dynamically; several arrays broadcast together, as in
    `logp[th.arange(n), ys]`). NumPy's placement rule holds: when the advanced indices
    (arrays and integers) are not adjacent, the index dimensions go first."""
    x = as_tensor(x)
    mask = bool_mask(idx)
    if isinstance(mask, np.ndarray):  # a constant mask: integer indices, a static result
        idx = constant_mask_index(x, mask)
    elif mask is not None:  # x[mask], x[mask, ...]: a data-dependent length (np_select.py)
        return masked_getitem(x, mask)
    items = _expand_entries(x, idx)
    starts, sizes, steps = [0] * x.ndim, list(x.shape), [1] * x.ndim
    layout: list[tuple[str, int]] = []  # result dims in entry order: ("dim", d), ("new", 0), ("adv", d)
    adv_positions, adv = [], None
    arrays: list[tuple[int, Tensor]] = []
    traced: list[bool] = []
    dynamic: dict[int, tuple[Any, Any, int, int | None]] = {}
    has_dynamic = None in x.shape  # then every slice goes through tn.dynamic_slice
    d = 0
    for kind, value, pos in items:
        if kind == "none":
            layout.append(("new", 0))
            continue
        n = x.shape[d]
        if has_dynamic and kind in ("slice", "int") and not (kind == "slice" and _has_tensor(value)):
            entry = _bounds_entry(kind, value, n, d, x.shape)
            if entry is not None:
                dynamic[d] = entry
            if kind == "slice":
                layout.append(("dim", d))
            else:
                adv_positions.append(pos)
            d += 1
            continue
        if kind == "slice":
            dyn = _traced_slice(value, n, d) if _has_tensor(value) else None
            if dyn is None:
                starts[d], sizes[d], steps[d] = _slice_params(_static_slice(value), n)
            else:  # sliced by one tn.dynamic_slice, before the static entries
                dynamic[d] = dyn
            layout.append(("dim", d))
        elif kind == "int":
            if not -n <= value < n:
                raise IndexError(f"getitem: index {value} is out of bounds for axis {d} with size "
                                 f"{n} (tensor shape {x.shape}) {_at()}")
            starts[d], sizes[d] = value % n, 1
            adv_positions.append(pos)
        else:
            adv = (d, _index_tensor("getitem", x, value, d))
            arrays.append(adv)
            traced.append(isinstance(value, Tensor))
            adv_positions.append(pos)
            if len(arrays) == 1:
                layout.append(("adv", d))
        d += 1
    y = x
    if dynamic:  # first, so that a failed bounds check names x's own shape
        y = dynamic_slice(x, dynamic)
        for a, (_, _, _, k) in dynamic.items():
            sizes[a] = k
    if not has_dynamic:
        y = _slice(y, starts, sizes, steps)
    if len(arrays) > 1:
        g, bshape = _gather_arrays(y, arrays, traced)
        adjacent = max(adv_positions) - min(adv_positions) + 1 == len(adv_positions)
        first = arrays[0][0]
        rest = [e for e in range(y.ndim) if e not in {a for a, _ in arrays}]
        if adjacent:  # the broadcast index dimensions replace the indexed axes in place
            k, before = len(bshape), sum(e < first for e in rest)
            g = transpose(g, list(range(k, k + before)) + list(range(k)) + list(range(k + before, g.ndim)))
        else:
            layout = [("adv", first)] + [item for item in layout if item[0] != "adv"]
        shape: list[int] = []
        for kind, v in layout:
            shape += list(bshape) if kind == "adv" else [1 if kind == "new" else sizes[v]]
        return reshape(g, tuple(shape))
    if adv is None:
        return reshape(y, tuple(1 if k == "new" else sizes[v] for k, v in layout))
    a, index = adv
    y = _op("tn.take", [y, index], x.weak, axis=a)
    k = index.ndim
    adjacent = max(adv_positions) - min(adv_positions) + 1 == len(adv_positions)
    if not adjacent:  # NumPy puts the advanced dimensions first
        y = transpose(y, list(range(a, a + k)) + [e for e in range(y.ndim) if not a <= e < a + k])
        layout = [("adv", a)] + [item for item in layout if item[0] != "adv"]
    shape: list[int] = []
    for kind, v in layout:
        shape += list(index.shape) if kind == "adv" else [1 if kind == "new" else sizes[v]]
    return reshape(y, tuple(shape))


getitem.indexes = True  # eager calls keep the numbers of a tuple index dynamic (frontend/eager.py)
