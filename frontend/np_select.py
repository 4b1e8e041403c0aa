"""Selections whose length depends on the data: `x[mask]`, nonzero, argwhere, flatnonzero.

Inside compiled code the result's first dim is `?` (known when the code runs: docs/
data-dependent-shapes.md); it leaves the function as a buffer the generated code allocated,
or feeds later ops (`x[x > 0].sum()`). A mask that is a constant (a NumPy bool array) is
turned into integer indices while tracing instead, so its result keeps a static shape.
The tn ops are in dialects/tn/ops/select.py.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from theanir.dialects.tn import lax
from theanir.dialects.tn.builder import describe_location, emit, emit1

from .np_base import as_tensor, not_equal
from .tensor import Tensor

__all__ = ["nonzero", "argwhere", "flatnonzero", "unique"]


def _at() -> str:
    return f"at {describe_location()}"


def _op(name: str, xs: list[Any], **attrs: Any) -> Tensor:
    return Tensor(emit1(name, [lax.value_of(x) for x in xs], attrs))


def _dims_text(shape: tuple) -> str:
    return "(" + ", ".join("?" if n is None else str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


# ------------------------------------------------------------------ x[mask]
def bool_mask(idx: Any) -> Any:
    """The mask of `x[mask]` / `x[mask, ...]` (a bool Tensor or bool array), else None."""
    entries = idx if isinstance(idx, tuple) else (idx,)
    if len(entries) == 2 and entries[1] is Ellipsis:
        entries = entries[:1]
    if len(entries) != 1:
        return None
    m = entries[0]
    if isinstance(m, Tensor):
        return m if m.dtype == np.bool_ and m.ndim > 0 else None
    if isinstance(m, (list, np.ndarray)):
        arr = np.asarray(m)
        return arr if arr.dtype == np.bool_ and arr.ndim > 0 else None
    return None


def _check_mask_shape(x: Tensor, shape: tuple) -> None:
    if len(shape) > x.ndim:
        raise IndexError(f"getitem: too many indices for a tensor of shape {_dims_text(x.shape)}: the "
                         f"boolean mask has {len(shape)} dims {_at()}")
    for d, (a, b) in enumerate(zip(x.shape, shape)):
        if a is not None and b is not None and a != b:
            raise IndexError(f"getitem: boolean index did not match the indexed tensor along axis {d}; "
                             f"size of axis is {a} but size of corresponding boolean axis is {b} "
                             f"(tensor shape {_dims_text(x.shape)}, mask shape {_dims_text(shape)}) {_at()}")


def masked_getitem(x: Any, mask: Tensor) -> Tensor:
    """x[mask] for a traced bool mask over x's leading dims (NumPy): (count, *x.shape[mask.ndim:])."""
    x = as_tensor(x)
    _check_mask_shape(x, tuple(mask.shape))
    return _op("tn.masked_select", [x, mask])


def constant_mask_index(x: Tensor, mask: np.ndarray) -> tuple[np.ndarray, ...]:
    """x[mask] for a constant mask as integer indices (getitem's gather): a static result."""
    _check_mask_shape(x, mask.shape)
    return tuple(np.nonzero(mask))


def masked_scatter(y: Any, mask: Any) -> Tensor:
    """Zeros of shape mask.shape + y.shape[1:] with y's rows at the True positions of mask."""
    return _op("tn.masked_scatter", [as_tensor(y), as_tensor(mask)])


# ------------------------------------------------------------------ nonzero family
def nonzero_column(a: Any, axis: int) -> Tensor:
    """np.nonzero(a)[axis] alone (Theano's T.nonzero builds its tuple from these)."""
    return _column(_nonzero_operand("nonzero", a), axis)


def _column(x: Tensor, axis: int) -> Tensor:
    """The coordinates along `axis` (-1: flat indices) of x's nonzero elements, shape (?,)."""
    m = _op("tn.nonzero", [x], axes=(axis,))
    return Tensor(lax.reshape(m, (lax.dim(m, 0),)).value)


def _nonzero_operand(fn: str, a: Any) -> Tensor:
    x = as_tensor(a)
    if x.ndim == 0:
        raise ValueError(f"{fn}: calling nonzero on 0d arrays is not allowed (NumPy 2); use "
                         f"th.atleast_1d(x) or x.reshape(1) first {_at()}")
    return x


def nonzero(a: Any) -> tuple[Tensor, ...]:
    """np.nonzero: the indices of the nonzero elements, one int64 array of length ? per dim."""
    x = _nonzero_operand("nonzero", a)
    return tuple(_column(x, d) for d in range(x.ndim))


def flatnonzero(a: Any) -> Tensor:
    """np.flatnonzero: indices of the nonzero elements of the flattened array, int64 (?,)."""
    x = as_tensor(a)
    if x.ndim == 0:
        x = Tensor(lax.reshape(x, (1,)).value)
    return _column(x, -1)


def argwhere(a: Any) -> Tensor:
    """np.argwhere: one row of coordinates per nonzero element, int64 (?, a.ndim)."""
    x = as_tensor(a)
    if x.ndim == 0:  # NumPy: shape (1, 0) or (0, 0)
        return _op("tn.nonzero", [Tensor(lax.reshape(x, (1,)).value)], axes=())
    return _op("tn.nonzero", [x], axes=tuple(range(x.ndim)))


def nonzero_values(a: Any) -> Tensor:
    """Theano's T.nonzero_values: the nonzero elements of the flattened array, in order."""
    x = as_tensor(a)
    flat = Tensor(lax.reshape(x, (_flat_size(x),)).value)
    return _op("tn.masked_select", [flat, _nonzero_mask(flat)])


def _flat_size(x: Tensor) -> Any:
    """x's element count: an int, or an int64 scalar Value when a dim is dynamic."""
    static, dyn = 1, None
    for d in lax.shape_of(x):
        if isinstance(d, lax.Value):
            dyn = d if dyn is None else lax.mul(dyn, d)
        else:
            static *= d
    if dyn is None:
        return static
    return dyn if static == 1 else lax.mul(dyn, lax.constant(np.int64(static)))


def _nonzero_mask(x: Tensor) -> Tensor:
    return x if x.dtype == np.bool_ else not_equal(x, 0)


# ------------------------------------------------------------------ unique
def unique(ar: Any, return_index: bool = False, return_inverse: bool = False,
           return_counts: bool = False, axis: Any = None, *, equal_nan: bool = True) -> Any:
    """np.unique (axis=None): the sorted distinct values of the flattened array, length ?;
    with return_index (first occurrences), return_inverse (ar's shape, NumPy 2) and
    return_counts, int64. NaNs collapse into one (equal_nan=True). Not differentiable."""
    if axis is not None:
        raise NotImplementedError(f"unique: only axis=None is supported, got axis={axis!r} {_at()}")
    if not equal_nan:
        raise NotImplementedError(f"unique: only equal_nan=True is supported {_at()}")
    x = as_tensor(ar)
    shape = lax.shape_of(x)
    flat = lax.reshape(x, (_flat_size(x),))
    values, index, inverse, counts = (Tensor(v) for v in emit("tn.unique", [lax.value_of(flat)]))
    extra = []
    if return_index:
        extra.append(index)
    if return_inverse:
        extra.append(Tensor(lax.reshape(inverse, shape).value))
    if return_counts:
        extra.append(counts)
    return (values, *extra) if extra else values
