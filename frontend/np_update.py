"""Writing into part of a traced tensor: `x.at[idx].set(y)` and Theano's set/inc_subtensor.

Traced tensors are values, so a write makes a new tensor: `index_update(x, idx, y, mode)` is
x with the part `x[idx]` replaced by `mode` of that part and y (y broadcast to the part's
shape and cast to x's dtype within its kind: float64 into float32 or int into float is
fine, float into int is refused rather than truncated). Any index `getitem` accepts works, and
the route follows what the index is:

- basic (ints, static slices with any step, None, Ellipsis): the part is one strided slab,
  written back with `tn.update_slice` (an insert_slice, in place after bufferization);
- one integer array or traced integer on one axis, full slices elsewhere (`emb[idx]`,
  `h[t]`): whole rows, `tn.index_set` / `tn.index_add` along that axis;
- anything else (several arrays, arrays mixed with slices or ints, traced slice bounds):
  the positions the index selects are found by indexing an iota of x's flat positions with
  the same index through `getitem`, so every rule of indexing (NumPy's placement of advanced
  dimensions, traced-index clamping) is getitem's own; then one element-wise update of the
  flattened x.

Repeated indices: "add" (and "subtract") accumulate (np.add.at, Theano's inc_subtensor);
"set" writes in index order, so the last update of a position wins (NumPy's `x[i] = y` in
practice); "multiply"/"divide"/"min"/"max" combine every update of a position
(`tn.index_reduce`, JAX's semantics; divide multiplies by 1/y, as JAX does). "power" combines
the old value with the update, then sets, so a repeated constant index is refused for it.
Traced indices out of range (after a negative one wraps once) are dropped, JAX's rule for
updates: the update at such a position leaves x as it was (`_drop_out_of_range`); reading
`x[i]` or `x.at[i].get()` clamps them instead, JAX's rule for reads. (Known limit: a "set"
dropped this way writes back the clamped position's old value, so a valid "set" of that same
position in one call may lose to it. With dynamic dims, out-of-range updates still clamp.)
Gradients come from the ops' own rules: with respect to x they are zero where "set" wrote
and pass through "add"; with respect to y they gather the written positions.
"""
from __future__ import annotations

import operator
from typing import Any, Callable

import numpy as np

from theanir.dialects.tn import lax as tn_lax
from theanir.dialects.tn.builder import describe_location, emit1
from theanir.dialects.tn.registry import ShapeError

from .np_base import (as_tensor, astype, broadcast_to, constant, logical_and, maximum, minimum, ones_like, power,
                      where, zeros_like)
from .np_shape import _FAR, _bounds_entry, _expand_entries, _index_tensor, _slice_params, getitem, reshape
from .np_creation import iota
from .tensor import Tensor

__all__ = ["index_update"]  # (fit_value: frontend/subtensor.py)

# mode -> how the original part and the update combine (None: the update replaces the part)
COMBINE: dict[str, Callable[[Any, Any], Any] | None] = {
    "set": None, "add": operator.add, "subtract": operator.sub, "multiply": operator.mul,
    "divide": operator.truediv, "power": power, "min": minimum, "max": maximum,
}


def _at() -> str:
    return f"at {describe_location()}"


def _op(name: str, xs: list[Tensor], **attrs: Any) -> Tensor:
    return Tensor(emit1(name, [x.value for x in xs], attrs))


def fit_value(fn: str, y: Tensor, shape: tuple[int, ...], x: Tensor, sizes: tuple | None = None) -> Tensor:
    """y broadcast to the indexed part's shape (leading length-1 axes of y may be dropped,
    as NumPy's assignment allows), or a ShapeError naming both shapes. `sizes`: the part's
    dims with dynamic ones as traced sizes (dynamic shapes)."""
    ys = y.shape
    while len(ys) > len(shape) and ys[0] == 1:
        ys = ys[1:]
    ok = len(ys) <= len(shape) and all(a in (1, b) or a is None or b is None for a, b in zip(ys[::-1], shape[::-1]))
    if not ok:
        raise ShapeError(f"{fn}: the value of shape {y.shape} cannot be broadcast to the indexed "
                         f"part's shape {shape} (x has shape {x.shape}) {_at()}")
    if sizes is not None:  # y's static dims stand for dynamic ones of the part (combining checks them)
        sizes, off = list(sizes), len(shape) - len(ys)
        for k, a in enumerate(ys):
            if a is not None and a != 1 and shape[off + k] is None:
                sizes[off + k] = a
    return broadcast_to(reshape(y, ys) if ys != y.shape else y, sizes if sizes is not None else shape)


def _combined(mode: str, part: Tensor, y: Tensor) -> Tensor:
    combine = COMBINE[mode]
    return y if combine is None else astype(combine(part, y), part.dtype)


def index_update(x: Any, idx: Any, y: Any, mode: str = "set", fn: str = "at[].set") -> Tensor:
    """x with x[idx] replaced by `mode` of it and y (see the module docstring).

    `fn` names the caller in error messages (`set_subtensor`, `at[].add`, ...).
    """
    if mode not in COMBINE:
        raise ValueError(f"{fn}: unknown update mode {mode!r}; one of {sorted(COMBINE)}")
    x = as_tensor(x)
    y = as_tensor(y)
    if not np.can_cast(y.dtype, x.dtype, casting="same_kind"):
        raise TypeError(f"{fn}: cannot write {y.dtype.name} values into a {x.dtype.name} tensor "
                        f"(NumPy's same_kind casting: the values would be truncated); cast them "
                        f"first, e.g. y.astype('{x.dtype.name}') {_at()}")
    y = astype(y, x.dtype)
    part = getitem(x, idx)
    items = _expand_entries(x, idx)
    if None in x.shape and _is_basic(items):
        y = fit_value(fn, y, part.shape, x, tn_lax.shape_of(part))
        return _update_dynamic(x, items, part, y, mode)
    y = fit_value(fn, y, part.shape, x, tn_lax.shape_of(part) if None in part.shape else None)
    y = _drop_out_of_range(items, x, part, y, mode)
    if _is_basic(items):
        return _update_basic(x, items, part, y, mode)
    axis = _row_axis(x, items)
    if axis is not None:
        return _update_rows(fn, x, items, axis, part, y, mode)
    return _update_positions(fn, x, idx, part, y, mode)


# ------------------------------------------------------------------ out-of-range updates
def _drop_out_of_range(items: list, x: Tensor, part: Tensor, y: Tensor, mode: str) -> Tensor:
    """y with the updates at out-of-range traced indices replaced by ones that change nothing
    (the old value for set/min/max, 0 for add/subtract, 1 for multiply/divide/power): the
    writes below clamp those indices, as reads do, so they land on a clamped position."""
    arrays = [(pos, d, v) for pos, (d, (k, v, _)) in enumerate(_axes(items)) if k == "array"]
    traced = [(d, v) for _, d, v in arrays if isinstance(v, Tensor)]
    if not traced or None in x.shape:
        return y
    valid = None
    for d, t in traced:
        n = x.shape[d]
        ok = logical_and(t >= -n, t < n)
        valid = ok if valid is None else logical_and(valid, ok)
    shape = tuple(np.broadcast_shapes(*(np.shape(v) if not isinstance(v, Tensor) else v.shape
                                        for _, _, v in arrays)))
    positions = [pos for pos, _, _ in arrays]
    adjacent = positions == list(range(positions[0], positions[0] + len(positions)))
    before = sum(k in ("slice", "none") for k, _, _ in items[:positions[0]]) if adjacent else 0
    valid = reshape(broadcast_to(valid, shape), (1,) * before + shape
                    + (1,) * (part.ndim - before - len(shape)))
    neutral = part if mode in ("set", "min", "max") else (
        zeros_like(y) if mode in ("add", "subtract") else ones_like(y))
    return where(broadcast_to(valid, part.shape), y, neutral)


def _axes(items: list) -> list[tuple[int, tuple]]:
    """(axis of x, item) for each item (None entries take no axis: -1)."""
    out, d = [], 0
    for item in items:
        out.append((-1 if item[0] == "none" else d, item))
        d += item[0] != "none"
    return out


# ------------------------------------------------------------------ basic indices
def _is_basic(items: list[tuple[str, Any, int]]) -> bool:
    def static(s: slice) -> bool:
        return not any(isinstance(v, Tensor) for v in (s.start, s.stop, s.step))

    return all(k in ("none", "int") or (k == "slice" and static(v)) for k, v, _ in items)


def _update_dynamic(x: Tensor, items: list, part: Tensor, y: Tensor, mode: str) -> Tensor:
    """Basic indices of a tensor with dynamic dims: the new values padded to x's dims
    (tn.dynamic_pad_slice, positions by Python's slice rules at run time) and chosen where a
    padded mask is set; differentiable like its parts."""
    starts, stops, steps, slab = [], [], [], []
    d, p = 0, 0
    for kind, value, _ in items:
        if kind == "none":
            p += 1
            continue
        entry = _bounds_entry(kind, value, x.shape[d], d, x.shape)
        b, e, s, _k = entry if entry is not None else (0, _FAR, 1, None)
        starts.append(b)
        stops.append(e)
        steps.append(s)
        slab.append(1 if kind == "int" else part.shape[p])
        p += kind != "int"
        d += 1
    new = reshape(_combined(mode, part, y), tuple(slab))
    dims = [n for n in tn_lax.shape_of(x) if not isinstance(n, int)]
    attrs = {"steps": tuple(steps), "shape": tuple(-1 if n is None else n for n in x.shape)}

    def padded(t: Tensor) -> Tensor:
        bounds = [constant(np.asarray(v, np.int64)).value for v in (starts, stops)]
        return Tensor(emit1("tn.dynamic_pad_slice", [t.value, *bounds, *[n.value for n in dims]], attrs))

    mask = padded(astype(ones_like(new), np.float32) if new.dtype != np.float32 else ones_like(new))
    return where(mask != 0, padded(new), x)


def _update_basic(x: Tensor, items: list, part: Tensor, y: Tensor, mode: str) -> Tensor:
    starts, sizes, steps = [0] * x.ndim, list(x.shape), [1] * x.ndim
    d = 0
    for kind, value, _ in items:
        if kind == "none":
            continue
        if kind == "slice":
            starts[d], sizes[d], steps[d] = _slice_params(value, x.shape[d])
        else:  # an int: getitem checked the range
            starts[d], sizes[d] = value % x.shape[d], 1
        d += 1
    new = reshape(_combined(mode, part, y), tuple(sizes))
    if 0 in sizes:
        return x
    if all(b == 0 and s == 1 for b, s in zip(starts, steps)) and tuple(sizes) == x.shape:
        return new if new is not x else Tensor(x.value)
    return _op("tn.update_slice", [x, new], starts=tuple(starts), steps=tuple(steps))


# ------------------------------------------------------------------ whole rows
def _row_axis(x: Tensor, items: list) -> int | None:
    """The axis of the one integer array when every other entry is a full slice, else None."""
    arrays = [i for i, (k, _, _) in enumerate(items) if k == "array"]
    if len(arrays) != 1 or any(k in ("none", "int") for k, _, _ in items):
        return None
    for d, (kind, value, _) in enumerate(items):
        if kind == "slice" and not _full(value, x.shape[d]):
            return None
    return arrays[0]


def _full(s: slice, n: int | None) -> bool:
    """Whether slice `s` takes every position of a dim of size `n` (None: known at run time,
    where only `:` and `::1` are known to)."""
    if any(isinstance(v, Tensor) for v in (s.start, s.stop, s.step)):
        return False
    if n is None:
        return s.start in (None, 0) and s.stop is None and s.step in (None, 1)
    return _slice_params(s, n) == (0, n, 1)


def _update_rows(fn: str, x: Tensor, items: list, axis: int, part: Tensor, y: Tensor,
                 mode: str) -> Tensor:
    indices = _index_tensor(fn, x, items[axis][1], axis)
    return _scatter(fn, mode, x, part, y, indices, axis, items[axis][1])


_REDUCE = {"multiply": "mul", "min": "min", "max": "max"}


def _scatter(fn: str, mode: str, x: Tensor, part: Tensor, y: Tensor, indices: Tensor, axis: int,
             index: Any) -> Tensor:
    """x with rows `indices` of `axis` updated by `mode` of the (broadcast) y: set and add,
    and multiply/min/max over every update of a repeated row (JAX's scatter_mul/min/max).
    `index` is the user's index (a Tensor or constant positions) for the repeat check."""
    if mode == "subtract":
        mode, y = "add", -y
    if mode == "divide" and x.dtype.kind == "f":
        mode, y = "multiply", astype(1.0 / y, x.dtype)  # JAX's rule: x * (1 / y) per update
    if mode == "add":
        return _op("tn.index_add", [x, y, indices], axis=axis)
    if mode == "set":
        return _op("tn.index_set", [x, y, indices], axis=axis)
    if mode in _REDUCE:
        return _op("tn.index_reduce", [x, y, indices], axis=axis, kind=_REDUCE[mode])
    _refuse_repeats(fn, mode, index, x.shape[axis])  # power, integer divide: combine, then set
    return _op("tn.index_set", [x, _combined(mode, part, y), indices], axis=axis)


def _refuse_repeats(fn: str, mode: str, index: Any, n: int) -> None:
    """A repeated constant index under a combining mode would keep only the last update."""
    if isinstance(index, Tensor):
        return
    rows = np.asarray(index).reshape(-1) % max(n, 1)
    if len(np.unique(rows)) != rows.size:
        raise NotImplementedError(
            f"{fn}: the index {np.asarray(index).tolist()} repeats a position; updates with "
            f"mode {mode!r} at repeated positions are not combined (only 'add' accumulates "
            f"and 'set' keeps the last): use unique indices {_at()}")


# ------------------------------------------------------------------ any other index
def _update_positions(fn: str, x: Tensor, idx: Any, part: Tensor, y: Tensor, mode: str) -> Tensor:
    flat = reshape(x, (x.size,))
    where = getitem(reshape(iota((x.size,), 0, np.int64), x.shape), idx)  # flat positions of x[idx]
    static = _static_positions(x, idx) if mode in ("power", "divide") else None  # repeat check
    index = where if static is None else static
    flat_part, flat_y = reshape(part, (part.size,)), reshape(y, (y.size,))
    out = _scatter(fn, mode, flat, flat_part, flat_y, reshape(where, (where.size,)), 0, index)
    return reshape(out, x.shape)


def _static_positions(x: Tensor, idx: Any) -> np.ndarray | None:
    """The flat positions x[idx] selects when the index holds no traced value, else None."""
    entries = idx if isinstance(idx, tuple) else (idx,)
    if any(isinstance(e, Tensor) or (isinstance(e, slice) and any(
            isinstance(v, Tensor) for v in (e.start, e.stop, e.step))) for e in entries):
        return None
    return np.arange(x.size).reshape(x.shape)[idx]


index_update.indexes = True  # eager calls keep the numbers of a tuple index dynamic (frontend/eager.py)
