"""Creation functions with NumPy's shapes, lengths and default dtypes (float64, like NumPy).

Shapes and ranges are static Python numbers (they decide the traced shapes). Filled arrays
are a 0-d constant broadcast to the shape, and index-based ones (arange, linspace, eye, tri)
start from `tn.iota`, so neither becomes a giant dense constant in the IR.
"""
from __future__ import annotations

import math
import operator
from typing import Any, Sequence

import numpy as np

from theanir.dialects.tn import lax as tn_lax
from theanir.dialects.tn.builder import describe_location, emit1
from theanir.dialects.tn.types import check_dtype

from .bfloat16 import is_bfloat16
from .np_base import as_tensor, astype, broadcast_to, constant, floor, maximum, where
from .tensor import Tensor

__all__ = ["zeros", "ones", "full", "empty", "arange", "linspace", "eye", "identity",
           "tri", "tril", "triu"]

Shape = int | Sequence[int]


def _static(name: str, *values: Any) -> None:
    for v in values:
        if isinstance(v, Tensor):
            raise TypeError(f"{name}: sizes and ranges must be static Python numbers, got a traced "
                            f"tensor (mark the argument static with static_argnums) at {describe_location()}")


def _traced_size(name: str, n: Tensor) -> Tensor:
    """A traced size (an int scalar, e.g. `th.shape(x)[0]`) as int64, negative clamped to 0."""
    if n.ndim != 0 or n.dtype.kind not in "iu":
        raise TypeError(f"{name}: a traced size must be an int scalar, got {n.dtype.name}{list(n.shape)} "
                        f"at {describe_location()}")
    return maximum(astype(n, np.int64), 0)


def _shape(name: str, shape: Shape) -> tuple[Any, ...]:
    """Static ints, or traced int scalars for dynamic sizes (docs/dynamic-shapes-ops.md)."""
    if isinstance(shape, Tensor):
        if shape.ndim == 0:
            return (_traced_size(name, shape),)
        _static(name, shape)
    dims = (shape,) if isinstance(shape, (int, np.integer)) else tuple(shape)
    if any(isinstance(n, Tensor) for n in dims):
        return tuple(_traced_size(name, n) if isinstance(n, Tensor) else _shape(name, n)[0] for n in dims)
    try:
        out = tuple(operator.index(n) for n in dims)
    except TypeError:
        raise TypeError(f"{name}: shape must be an int or a sequence of ints, got {shape!r}") from None
    if any(n < 0 for n in out):
        raise ValueError(f"{name}: negative dimensions are not allowed, got {out} at {describe_location()}")
    return out


def iota(shape: Sequence[Any], dimension: int, dtype: Any) -> Tensor:
    """The index along `dimension`, broadcast over `shape` (the `tn.iota` op); a dim may be a
    traced int64 scalar (a dynamic size)."""
    dims = [n for n in shape if isinstance(n, Tensor)]
    attrs = {"shape": tuple(-1 if isinstance(n, Tensor) else int(n) for n in shape),
             "dimension": int(dimension), "dtype": check_dtype(dtype)}
    return Tensor(emit1("tn.iota", [d.value for d in dims], attrs))


def _dtype(dtype: Any) -> np.dtype:
    """NumPy's default for creation functions: float64 (np.dtype objects are falsy: test None)."""
    return check_dtype(np.float64 if dtype is None else dtype)


def _scalar(value: Any, dtype: np.dtype) -> Tensor:
    """A typed 0-d constant (not weak: it must keep int32 in int32 arithmetic)."""
    return constant(np.asarray(value, dtype))


def _filled(shape: tuple[int, ...], value: Any, dtype: np.dtype) -> Tensor:
    return broadcast_to(constant(np.asarray(value, dtype)), shape)


# ------------------------------------------------------------------ filled arrays
def zeros(shape: Shape, dtype: Any = np.float64) -> Tensor:
    if is_bfloat16(dtype):  # float32 values, returned as bfloat16 (frontend/bfloat16.py)
        return astype(zeros(shape, dtype=np.float32), dtype)
    return _filled(_shape("zeros", shape), 0, _dtype(dtype))


def ones(shape: Shape, dtype: Any = np.float64) -> Tensor:
    if is_bfloat16(dtype):  # float32 values, returned as bfloat16 (frontend/bfloat16.py)
        return astype(ones(shape, dtype=np.float32), dtype)
    return _filled(_shape("ones", shape), 1, _dtype(dtype))


def empty(shape: Shape, dtype: Any = np.float64) -> Tensor:
    """Like `zeros`: traced code has no uninitialized memory to hand out."""
    if is_bfloat16(dtype):  # float32 values, returned as bfloat16 (frontend/bfloat16.py)
        return astype(empty(shape, dtype=np.float32), dtype)
    return _filled(_shape("empty", shape), 0, _dtype(dtype))


def full(shape: Shape, fill_value: Any, dtype: Any = None) -> Tensor:
    """`fill_value` (a number, an array or a traced tensor) broadcast to `shape`."""
    if is_bfloat16(dtype):  # float32 values, returned as bfloat16 (frontend/bfloat16.py)
        return astype(full(shape, fill_value, dtype=np.float32), dtype)
    dims = _shape("full", shape)
    if isinstance(fill_value, Tensor):
        dt = check_dtype(dtype) if dtype is not None else fill_value.dtype
        return broadcast_to(astype(fill_value, dt), dims)
    arr = np.asarray(fill_value) if dtype is None else np.asarray(fill_value, check_dtype(dtype))
    return broadcast_to(constant(arr), dims)


# ------------------------------------------------------------------ ranges
def arange(start: Any, stop: Any = None, step: Any = 1, dtype: Any = None) -> Tensor:
    """NumPy's `arange`: ceil((stop - start) / step) values start + i * delta.

    As NumPy does, the first two values are `start` and `start + step` converted to the
    dtype, and delta is their difference in that dtype; without `dtype` the result is int64,
    or float64 when any argument is a float.
    """
    if stop is None:
        start, stop = 0, start
    if isinstance(start, Tensor) or isinstance(stop, Tensor):
        return _traced_arange(start, stop, step, dtype)
    _static("arange", start, stop, step)
    if step == 0:
        raise ValueError(f"arange: step must not be zero at {describe_location()}")
    if dtype is None:
        floats = any(isinstance(v, (float, np.floating)) for v in (start, stop, step))
        dt = np.dtype(np.float64 if floats else np.int64)
    else:
        dt = check_dtype(dtype)
    if dt == np.bool_:
        raise TypeError(f"arange: dtype bool is not supported at {describe_location()}")
    with np.errstate(all="ignore"):
        n = max(0, math.ceil((stop - start) / step))
        b0 = dt.type(start)
        delta = dt.type(start + step) - b0
    out = iota((n,), 0, dt)
    if delta != 1:
        out = out * _scalar(delta, dt)
    return out + _scalar(b0, dt) if b0 != 0 else out


def _traced_arange(start: Any, stop: Any, step: Any, dtype: Any) -> Tensor:
    """arange with traced int bounds (`th.arange(n)`, n = th.shape(x)[0]): one compile serves
    every n. The step stays a static int; the length is max(0, ceil((stop - start) / step))."""
    _static("arange", step)
    for v in (start, stop):
        if isinstance(v, Tensor) and (v.ndim != 0 or v.dtype.kind not in "iu"):
            raise TypeError(f"arange: traced bounds must be int scalars, got {v.dtype.name}{list(v.shape)} "
                            f"at {describe_location()}")
        if not isinstance(v, (Tensor, int, np.integer)):
            raise TypeError(f"arange: with a traced bound the other must be an int, got {v!r} at {describe_location()}")
    step = operator.index(step)
    if step == 0:
        raise ValueError(f"arange: step must not be zero at {describe_location()}")
    dt = np.dtype(np.int64) if dtype is None else check_dtype(dtype)
    lo, hi = astype(as_tensor(start), np.int64), astype(as_tensor(stop), np.int64)
    span = hi - lo if step > 0 else lo - hi
    n = (span + (abs(step) - 1)) // abs(step)
    out = iota((_traced_size("arange", n),), 0, np.int64) * step + lo
    return astype(out, dt)


def linspace(start: Any, stop: Any, num: int = 50, endpoint: bool = True, dtype: Any = None) -> Tensor:
    """NumPy's `linspace` for scalar bounds, with NumPy's arithmetic (the last value is `stop`)."""
    _static("linspace", start, stop, num)
    if np.ndim(start) or np.ndim(stop):
        raise NotImplementedError(f"linspace: only scalar start and stop are supported, got shapes "
                                  f"{np.shape(start)} and {np.shape(stop)} at {describe_location()}")
    num = operator.index(num)
    if num < 0:
        raise ValueError(f"linspace: number of samples {num} must be non-negative at {describe_location()}")
    dt = np.result_type(start, stop)
    dt = check_dtype(dt if dt.kind == "f" else np.float64)
    div = num - 1 if endpoint else num
    with np.errstate(all="ignore"):
        delta = dt.type(stop) - dt.type(start)
        step = delta / dt.type(div) if div > 0 else None
    i = iota((num,), 0, dt)
    if step is None:
        y = i * _scalar(delta, dt)  # 0 or 1 sample: the step is undefined
    elif step == 0:
        y = i / _scalar(div, dt) * _scalar(delta, dt)  # NumPy's order for denormal steps (gh-5437)
    else:
        y = i * _scalar(step, dt)
    y = y + _scalar(start, dt)
    if endpoint and num > 1:
        y = where(iota((num,), 0, np.int64) == num - 1, _scalar(stop, dt), y)
    if dtype is None:
        return y
    out = check_dtype(dtype)
    return astype(floor(y) if out.kind == "i" else y, out)


# ------------------------------------------------------------------ diagonals and triangles
def _offsets(name: str, n: int, m: int | None) -> Tensor:
    """col - row over an (n, m) grid: diagonal k is where it equals k."""
    if not isinstance(n, Tensor):
        _static(name, n)
    m = n if m is None else m
    rows, cols = _shape(name, (n, m))
    shape = (rows, cols)
    return iota(shape, 1, np.int64) - iota(shape, 0, np.int64)


def eye(N: int, M: int | None = None, k: int = 0, dtype: Any = np.float64) -> Tensor:
    """Ones on diagonal `k` (k > 0 above the main diagonal), zeros elsewhere."""
    _static("eye", k)
    return astype(_offsets("eye", N, M) == int(k), _dtype(dtype))


def identity(n: int, dtype: Any = np.float64) -> Tensor:
    return eye(n, dtype=dtype)


def tri(N: int, M: int | None = None, k: int = 0, dtype: Any = np.float64) -> Tensor:
    """Ones at and below diagonal `k`: out[i, j] = j <= i + k."""
    _static("tri", k)
    return astype(_offsets("tri", N, M) <= int(k), _dtype(dtype))


def _triangle(name: str, m: Any, keep_lower: bool, k: int) -> Tensor:
    _static(name, k)
    m = as_tensor(m)
    if m.ndim == 0:
        raise ValueError(f"{name}: input must be at least 1-D, got a 0-d tensor at {describe_location()}")
    # NumPy uses tri(*m.shape[-2:]): a 1-D input broadcasts against an (n, n) mask
    sizes = tuple(d if isinstance(d, int) else Tensor(d.value) for d in tn_lax.shape_of(m))  # traced where dynamic
    n, cols = sizes[-2:] if m.ndim >= 2 else (sizes[-1], sizes[-1])
    offsets = _offsets(name, n, cols)
    mask = offsets <= int(k) if keep_lower else offsets >= int(k)
    return where(mask, m, zeros((), m.dtype))


def tril(m: Any, k: int = 0) -> Tensor:
    """Zero the entries above diagonal `k` of the last two axes."""
    return _triangle("tril", m, True, k)


def triu(m: Any, k: int = 0) -> Tensor:
    """Zero the entries below diagonal `k` of the last two axes."""
    return _triangle("triu", m, False, k)
