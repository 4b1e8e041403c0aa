"""NumPy's reductions on traced tensors: sum, mean, max/min, prod, any/all, argmax/argmin,
var/std, and `sum_to_shape` (the adjoint of broadcasting, used by autodiff).

The `tn.reduce_*` ops take sorted non-negative `axes` and never promote; this module does
NumPy's part: the `axis` argument (int, tuple, negative, None), the result dtype (sum/prod
of bool and int32 give int64, NumPy's default int on Linux; mean of ints gives float64) and
the trace-time refusal of a zero-size reduction without identity, naming the function.

This module defines `sum`, `max`, `min`, `any`, `all`: the builtins are spelled
`builtins.x` here.
"""
from __future__ import annotations

import builtins
import operator
from typing import Any, Sequence

import numpy as np

from theanir.dialects.tn import lax as tn_lax
from theanir.dialects.tn.builder import describe_location, emit1
from theanir.dialects.tn.ops.reduction import reduced_extent
from theanir.dialects.tn.types import check_dtype

from .np_base import add, as_tensor, astype, divide, maximum, sqrt, square, subtract
from .tensor import Tensor

__all__ = ["sum", "mean", "max", "min", "amax", "amin", "prod", "any", "all", "argmax",
           "argmin", "var", "std", "sum_to_shape"]

Axis = int | Sequence[int] | None
DEFAULT_INT = np.dtype(np.int64)


# ------------------------------------------------------------------ axis and dtype rules
def normalize_axes(fname: str, ndim: int, axis: Axis, scalar_axis_ok: bool = True) -> tuple[int, ...]:
    """NumPy's `axis` -> sorted non-negative axes; None means all of them.

    `scalar_axis_ok`: NumPy's ufunc reductions (sum, max, argmax, ...) accept axis 0 or -1
    on a 0-d array and reduce over nothing; mean/var/std refuse it. We do the same.
    """
    if axis is None:
        return tuple(range(ndim))
    if isinstance(axis, Tensor):
        raise TypeError(f"th.{fname}: axis must be a Python int or tuple, not a traced tensor, "
                        f"at {describe_location()}")
    many = isinstance(axis, (tuple, list))
    items = list(axis) if many else [axis]
    try:
        items = [operator.index(a) for a in items]
    except TypeError:
        raise TypeError(f"th.{fname}: axis must be an int or a tuple of ints, got {axis!r}, "
                        f"at {describe_location()}") from None
    if ndim == 0 and scalar_axis_ok and builtins.all(a in (0, -1) for a in items):
        return ()
    out = []
    for a in items:
        if not -ndim <= a < ndim:
            raise np.exceptions.AxisError(a, ndim, f"th.{fname} (at {describe_location()})")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"th.{fname}: duplicate value in 'axis' {axis!r}, at {describe_location()}")
    return tuple(sorted(out))


def _accumulator_dtype(x: Tensor, dtype: Any) -> np.dtype:
    """sum/prod: NumPy's default result dtype (bool and small ints widen to int64)."""
    if dtype is not None:
        return check_dtype(dtype)
    if x.dtype.kind in "bi":
        return DEFAULT_INT
    return x.dtype


def _reduce(name: str, x: Tensor, axes: tuple[int, ...], keepdims: bool) -> Tensor:
    return Tensor(emit1(f"tn.{name}", [x.value], {"axes": axes, "keepdims": bool(keepdims)}))


def _refuse_empty(fname: str, x: Tensor, axes: tuple[int, ...], what: str) -> None:
    """max/min/argmax/argmin of nothing is undefined: refuse at trace time, as NumPy does."""
    if reduced_extent(x.shape, axes) == 0:
        raise ValueError(f"th.{fname}: {what} (axes {axes} of shape {x.shape}), "
                         f"at {describe_location()}")


# ------------------------------------------------------------------ sum, prod, any, all
def sum(x: Any, axis: Axis = None, dtype: Any = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """np.sum: bool/int32 accumulate in int64, floats in their own dtype; sum of nothing is 0."""
    x = as_tensor(x)
    axes = normalize_axes("sum", x.ndim, axis)
    dt = _accumulator_dtype(x, dtype)
    if dt == np.bool_:  # add on bools is `or`
        return any(x, axes, keepdims=keepdims)
    return _reduce("reduce_sum", astype(x, dt), axes, keepdims)


def prod(x: Any, axis: Axis = None, dtype: Any = None, keepdims: bool = False) -> Tensor:
    """np.prod: dtype rule of sum; the product of nothing is 1."""
    x = as_tensor(x)
    axes = normalize_axes("prod", x.ndim, axis)
    dt = _accumulator_dtype(x, dtype)
    if dt == np.bool_:  # multiply on bools is `and`
        return all(x, axes, keepdims=keepdims)
    return _reduce("reduce_prod", astype(x, dt), axes, keepdims)


def any(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """np.any: true where some element is non-zero (NaN counts as true); of nothing: False."""
    x = as_tensor(x)
    axes = normalize_axes("any", x.ndim, axis)
    return _reduce("reduce_any", astype(x, np.bool_), axes, keepdims)


def all(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """np.all: true where every element is non-zero; of nothing: True."""
    x = as_tensor(x)
    axes = normalize_axes("all", x.ndim, axis)
    return _reduce("reduce_all", astype(x, np.bool_), axes, keepdims)


# ------------------------------------------------------------------ max, min
def max(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """np.max: NaN propagates; the dtype is kept (bool max is `any`)."""
    x = as_tensor(x)
    axes = normalize_axes("max", x.ndim, axis)
    _refuse_empty("max", x, axes, "zero-size array to reduction operation maximum which has no identity")
    return _reduce("reduce_max", Tensor(x.value), axes, keepdims)


def min(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:  # noqa: A001
    """np.min: NaN propagates; the dtype is kept (bool min is `all`)."""
    x = as_tensor(x)
    axes = normalize_axes("min", x.ndim, axis)
    _refuse_empty("min", x, axes, "zero-size array to reduction operation minimum which has no identity")
    return _reduce("reduce_min", Tensor(x.value), axes, keepdims)


amax = max
amin = min


# ------------------------------------------------------------------ argmax, argmin
def _arg(fname: str, x: Any, axis: int | None, keepdims: bool) -> Tensor:
    x = as_tensor(x)
    if axis is not None and isinstance(axis, (tuple, list)):
        raise TypeError(f"th.{fname}: axis must be an int or None (NumPy takes one axis), got "
                        f"{axis!r}, at {describe_location()}")
    axes = normalize_axes(fname, x.ndim, axis)
    _refuse_empty(fname, x, axes, f"attempt to get {fname} of an empty sequence")
    # axis=None reduces over every axis: the op returns the index into x.ravel() directly.
    return _reduce(fname, x, axes, keepdims)


def argmax(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """np.argmax: int64 index of the first maximum; a NaN is the maximum (the first NaN)."""
    return _arg("argmax", x, axis, keepdims)


def argmin(x: Any, axis: int | None = None, keepdims: bool = False) -> Tensor:
    """np.argmin: int64 index of the first minimum; a NaN is the minimum (the first NaN)."""
    return _arg("argmin", x, axis, keepdims)


# ------------------------------------------------------------------ mean, var, std
def _float_dtype(x: Tensor, dtype: Any) -> np.dtype:
    """mean/var: floats keep their dtype, bool and ints compute in float64 (NumPy)."""
    if dtype is not None:
        return check_dtype(dtype)
    return x.dtype if x.dtype.kind in "fc" else np.dtype(np.float64)


def _count(x: Tensor, axes: tuple[int, ...]) -> int | Tensor:
    """How many elements each result combines: an int, or an int64 scalar for dynamic dims."""
    n = reduced_extent(x.shape, axes)
    if n is not None:
        return n
    count: Any = 1
    for a in axes:
        d = x.shape[a] if x.shape[a] is not None else Tensor(tn_lax.dim(x, a).value)
        count = d if isinstance(count, int) and count == 1 else count * d
    return count


def mean(x: Any, axis: Axis = None, dtype: Any = None, keepdims: bool = False) -> Tensor:
    """np.mean = sum / count; the mean of nothing is NaN (0 / 0), as NumPy's (with a warning)."""
    x = as_tensor(x)
    axes = normalize_axes("mean", x.ndim, axis, scalar_axis_ok=False)
    dt = _float_dtype(x, dtype)
    total = _reduce("reduce_sum", astype(x, dt), axes, keepdims)
    n = _count(x, axes)
    return divide(total, float(n) if isinstance(n, int) else astype(n, dt))


def _var(fname: str, x: Any, axis: Axis, dtype: Any, ddof: int, keepdims: bool) -> Tensor:
    x = as_tensor(x)
    axes = normalize_axes(fname, x.ndim, axis, scalar_axis_ok=False)
    xf = astype(x, _float_dtype(x, dtype))
    centered = subtract(xf, mean(xf, axes, keepdims=True))
    if centered.dtype.kind == "c":  # |z - mean|^2, real (NumPy's var of complex data)
        from .np_complex import imag, real
        squares = add(square(real(centered)), square(imag(centered)))
    else:
        squares = square(centered)
    total = _reduce("reduce_sum", squares, axes, keepdims)
    n = _count(x, axes)
    if not isinstance(n, int):
        return divide(total, astype(maximum(n - ddof, 0), total.dtype))
    return divide(total, float(builtins.max(n - ddof, 0)))


def var(x: Any, axis: Axis = None, dtype: Any = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """np.var = sum((x - mean)^2) / max(count - ddof, 0): the two-pass formula NumPy uses."""
    return _var("var", x, axis, dtype, ddof, keepdims)


def std(x: Any, axis: Axis = None, dtype: Any = None, ddof: int = 0, keepdims: bool = False) -> Tensor:
    """np.std = sqrt(var)."""
    return sqrt(_var("std", x, axis, dtype, ddof, keepdims))


# ------------------------------------------------------------------ the adjoint of broadcasting
def sum_to_shape(x: Any, shape: Sequence[int]) -> Tensor:
    """Sum `x` down to `shape`, undoing NumPy broadcasting of a `shape` array to `x.shape`.

    Leading extra dims are summed away, dims where `shape` has 1 are summed with keepdims;
    the result has exactly `shape` and the dtype of `x` (autodiff needs both). Bools combine
    with `or`.
    """
    x = as_tensor(x)
    shape = tuple(int(s) for s in shape)
    if x.shape == shape:
        return x
    lead = x.ndim - len(shape)
    fits = lead >= 0 and builtins.all(
        s == n or s == 1 for s, n in zip(shape, x.shape[lead:]))
    if not fits:
        raise ValueError(f"th.sum_to_shape: shape {shape} does not broadcast to {x.shape}, "
                         f"at {describe_location()}")
    name = "reduce_any" if x.dtype == np.bool_ else "reduce_sum"
    ones = tuple(lead + i for i, s in enumerate(shape) if s == 1 and x.shape[lead + i] != 1)
    out = _reduce(name, x, ones, True) if ones else x
    out = _reduce(name, out, tuple(range(lead)), False) if lead else out
    assert out.shape == shape, (out.shape, shape)
    return out
