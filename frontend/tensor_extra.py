"""Small `T.*` names of Theano's tensor module that the classic tutorials use, composed from
numpy_api functions and lifted to graph nodes (frontend/tensor_module.py re-exports them).

    T.fill(model, 0.0)           # Theano's `second`: value broadcast to model's shape
    T.iround(x)                  # round half to even, int64
    T.batched_dot(A, B)          # per-row matrix products
    T.tile(x, (2, 3)); T.repeat(x, 2, axis=0); T.diag(v); T.identity_like(M)
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from . import numpy_api as tnp
from .gradient import zero_grad
from .lift import lift
from .tensor import Tensor


def _fill(model: Any, value: Any) -> Tensor:
    m, v = tnp.as_tensor(model), tnp.as_tensor(value)
    return tnp.broadcast_to(tnp.astype(v, tnp.result_type(m, v)), m.shape)


def _iround(x: Any) -> Tensor:
    return tnp.astype(tnp.round(x), np.int64)


def _vertical_stack(*xs: Any) -> Tensor:
    return tnp.concatenate(list(xs), axis=0)


def _horizontal_stack(*xs: Any) -> Tensor:
    return tnp.concatenate(list(xs), axis=1)


def _batched_dot(a: Any, b: Any) -> Tensor:
    # Theano: out[i] = dot(a[i], b[i]); batches of vectors give their inner products
    a, b = tnp.as_tensor(a), tnp.as_tensor(b)
    if a.ndim < 2 or b.ndim < 2:
        raise ValueError(f"batched_dot: both arguments need a batch axis and at least one more, got "
                         f"shapes {a.shape} and {b.shape}")
    if a.ndim == 2 and b.ndim == 2:
        return tnp.sum(a * b, axis=1)
    if a.ndim == 2:
        a = tnp.reshape(a, (a.shape[0], 1, a.shape[1]))
        return tnp.reshape(tnp.matmul(a, b), (a.shape[0],) + b.shape[2:])
    if b.ndim == 2:
        b = tnp.reshape(b, b.shape + (1,))
        return tnp.reshape(tnp.matmul(a, b), a.shape[:-1])
    return tnp.matmul(a, b)


def _identity_like(x: Any) -> Tensor:
    x = tnp.as_tensor(x)
    if x.ndim != 2:
        raise ValueError(f"identity_like: needs a matrix, got shape {x.shape}")
    return tnp.eye(x.shape[0], x.shape[1], dtype=x.dtype)


def _isinf(x: Any) -> Tensor:
    x = tnp.as_tensor(x)
    if x.dtype.kind != "f":
        return tnp.zeros_like(x, dtype=np.bool_)
    return tnp.abs(x) == np.inf


def _tile(x: Any, reps: Sequence[int] | int, ndim: int | None = None) -> Tensor:
    x = tnp.as_tensor(x)
    reps = (int(reps),) if np.ndim(reps) == 0 else tuple(int(r) for r in reps)
    n = max(len(reps), x.ndim, ndim or 0)
    reps = (1,) * (n - len(reps)) + reps
    x = tnp.reshape(x, (1,) * (n - x.ndim) + x.shape)
    # x[None, :, None, :] broadcast to (r0, s0, r1, s1) then merged: NumPy's tile
    expanded = tnp.reshape(x, tuple(d for s in x.shape for d in (1, s)))
    big = tnp.broadcast_to(expanded, tuple(d for r, s in zip(reps, x.shape) for d in (r, s)))
    return tnp.reshape(big, tuple(r * s for r, s in zip(reps, x.shape)))


def _repeat(x: Any, repeats: int, axis: int | None = None) -> Tensor:
    x = tnp.as_tensor(x)
    if np.ndim(repeats) != 0:
        raise NotImplementedError("repeat: only an int number of repeats is supported (the result "
                                  "shape must be static)")
    r = int(repeats)
    if axis is None:
        x, axis = tnp.reshape(x, (-1,)), 0
    axis = axis % x.ndim
    shape = x.shape
    expanded = tnp.reshape(x, shape[:axis + 1] + (1,) + shape[axis + 1:])
    big = tnp.broadcast_to(expanded, shape[:axis + 1] + (r,) + shape[axis + 1:])
    return tnp.reshape(big, shape[:axis] + (shape[axis] * r,) + shape[axis + 1:])


def _diag(x: Any, k: int = 0) -> Tensor:
    """Theano's diag: a vector becomes a diagonal matrix, a matrix gives its main diagonal."""
    x = tnp.as_tensor(x)
    if k != 0:
        raise NotImplementedError("diag: only the main diagonal (k=0) is supported")
    if x.ndim == 1:
        return tnp.eye(x.shape[0], dtype=x.dtype) * x
    if x.ndim == 2:
        n = min(x.shape)
        return tnp.sum(x[:n, :n] * tnp.eye(n, dtype=x.dtype), axis=1)
    raise ValueError(f"diag: needs a vector or a matrix, got shape {x.shape}")


def _same(x: Any) -> Any:
    return x


_FUNCTIONS = {
    "fill": lift("fill", _fill), "second": lift("second", _fill), "iround": lift("iround", _iround),
    "vertical_stack": lift("vertical_stack", _vertical_stack),
    "horizontal_stack": lift("horizontal_stack", _horizontal_stack),
    "batched_dot": lift("batched_dot", _batched_dot), "identity_like": lift("identity_like", _identity_like),
    "isinf": lift("isinf", _isinf), "tile": lift("tile", _tile), "repeat": lift("repeat", _repeat),
    "diag": lift("diag", _diag), "scalar_from_tensor": lift("scalar_from_tensor", _same),
    "tensor_from_scalar": lift("tensor_from_scalar", _same),
    # th.stop_gradient's symbolic spelling: zero_grad, so T.grad knows the zero is intended
    "stop_gradient": zero_grad,
}
for _name, _fn in _FUNCTIONS.items():
    if _fn is not zero_grad:
        _fn.__name__ = _name
globals().update(_FUNCTIONS)
__all__ = sorted(_FUNCTIONS)
