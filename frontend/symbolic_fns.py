"""Tensor-level functions that symbolic Variable methods record (`x.dimshuffle`, `x.norm`,
`x.shape`, ...): each runs on traced Tensors when th.function evaluates the graph."""
from __future__ import annotations

from typing import Any

from . import numpy_api as tnp
from .tensor import Tensor


def dimshuffle(x: Tensor, *pattern: Any) -> Tensor:
    """Theano's dimshuffle: ints pick and order axes, 'x' inserts a broadcastable axis; axes
    left out must have length 1 (they are dropped)."""
    if len(pattern) == 1 and isinstance(pattern[0], (list, tuple)):
        pattern = tuple(pattern[0])
    keep = [p for p in pattern if p != "x"]
    if sorted(keep) != sorted(set(keep)) or any(not 0 <= p < x.ndim for p in keep):
        raise ValueError(f"dimshuffle{pattern}: invalid pattern for a {x.ndim}-d tensor")
    dropped = [i for i in range(x.ndim) if i not in keep]
    if any(x.shape[i] != 1 for i in dropped):
        raise ValueError(f"dimshuffle{pattern}: cannot drop axes {dropped} of shape {x.shape} "
                         f"(only length-1 axes can be dropped)")
    remaining = [i for i in range(x.ndim) if i not in dropped]
    x = tnp.reshape(x, tuple(x.shape[i] for i in remaining))
    x = tnp.transpose(x, tuple(remaining.index(p) for p in keep))
    sizes = iter(x.shape)
    return tnp.reshape(x, tuple(1 if p == "x" else next(sizes) for p in pattern))


def _norm(x: Tensor, L: float = 2, axis: Any = None) -> Tensor:
    if L == 1:
        return tnp.sum(tnp.abs(x), axis=axis)
    if L == 2:
        return tnp.sqrt(tnp.sum(tnp.square(x), axis=axis))
    return tnp.power(tnp.sum(tnp.power(tnp.abs(x), L), axis=axis), 1.0 / L)


def _shape(x: Any) -> tuple[Any, ...]:
    """x.shape while tracing: ints, and an int64 scalar (tn.dim) for each dynamic dim."""
    return tnp.shape(tnp.as_tensor(x))


def _size(x: Any) -> int:
    return tnp.as_tensor(x).size


def _identity(x: Any) -> Any:
    return x


def _transpose(x: Any, *axes: Any) -> Tensor:
    axes = axes[0] if len(axes) == 1 and not isinstance(axes[0], int) else (axes or None)
    return tnp.transpose(x, axes)
