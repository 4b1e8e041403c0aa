"""Neural-network functions: softmax family (tn ops), one_hot and Theano's cross-entropies.

`softmax`, `log_softmax` and `logsumexp` emit the `tn` ops of the same names (see
`dialects/tn/ops/nn.py` for why they are ops); the rest are compositions. Integer and bool
inputs are promoted to float as NumPy's float functions do. (`sigmoid`, `relu` and
`softplus` are elementwise ops in `numpy_api`.)
"""
from __future__ import annotations

import operator
from typing import Any, Sequence

import numpy as np

from theanir.dialects.tn.builder import describe_location, emit1
from theanir.dialects.tn.types import check_dtype

from . import np_creation, np_reduce, np_shape
from .np_base import _to_float_dtype, as_tensor, astype, equal, log, where
from .tensor import Tensor

__all__ = ["softmax", "log_softmax", "logsumexp", "one_hot", "categorical_crossentropy",
           "binary_crossentropy", "logsoftmax_crossentropy"]

Axis = int | Sequence[int] | None


def _float(x: Any) -> Tensor:
    x = as_tensor(x)
    return x if x.dtype.kind == "f" else astype(x, _to_float_dtype(x.dtype))


def _axes(name: str, axis: Axis, ndim: int) -> tuple[int, ...]:
    """Normalized axes (None = all), refusing out-of-range and repeated ones."""
    if axis is None:
        return tuple(range(ndim))
    raw = (axis,) if isinstance(axis, (int, np.integer)) else tuple(axis)
    out = []
    for a in raw:
        a = operator.index(a)
        if not -ndim <= a < ndim:
            raise ValueError(f"{name}: axis {a} is out of bounds for a tensor of rank {ndim} "
                             f"at {describe_location()}")
        out.append(a % ndim)
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: repeated axis in {raw} at {describe_location()}")
    return tuple(sorted(out))


# ------------------------------------------------------------------ softmax family
def softmax(x: Any, axis: Axis = -1) -> Tensor:
    """exp(x) / sum(exp(x), axis), stable (max shift); `axis` may be a tuple or None."""
    x = _float(x)
    return Tensor(emit1("tn.softmax", [x.value], {"axes": _axes("softmax", axis, x.ndim)}))


def log_softmax(x: Any, axis: Axis = -1) -> Tensor:
    """x - logsumexp(x, axis, keepdims=True), stable."""
    x = _float(x)
    return Tensor(emit1("tn.log_softmax", [x.value], {"axes": _axes("log_softmax", axis, x.ndim)}))


def logsumexp(x: Any, axis: Axis = None, keepdims: bool = False) -> Tensor:
    """log(sum(exp(x), axis)) without overflow: logsumexp([1000, 1000]) = 1000 + log 2."""
    x = _float(x)
    attrs = {"axes": _axes("logsumexp", axis, x.ndim), "keepdims": bool(keepdims)}
    return Tensor(emit1("tn.logsumexp", [x.value], attrs))


# ------------------------------------------------------------------ one-hot and losses
def one_hot(indices: Any, num_classes: int, dtype: Any = np.float64) -> Tensor:
    """out[..., c] = (indices[...] == c); indices outside [0, num_classes) give a zero row."""
    idx = as_tensor(indices)
    if idx.dtype.kind not in "iu":
        raise TypeError(f"one_hot: indices must be integers, got {idx.dtype.name} at {describe_location()}")
    n = operator.index(num_classes)
    classes = np_creation.arange(n, dtype=idx.dtype)
    hot = equal(np_shape.reshape(idx, idx.shape + (1,)), classes)
    return astype(hot, check_dtype(np.float64 if dtype is None else dtype))


def _picked(name: str, dist: Tensor, labels: Tensor) -> Tensor:
    """dist[..., labels[...]] for integer labels of rank dist.ndim - 1 (a mask-and-sum gather)."""
    if labels.shape != dist.shape[:-1]:
        raise ValueError(f"{name}: integer labels of shape {labels.shape} do not index the last "
                         f"axis of shape {dist.shape} at {describe_location()}")
    mask = one_hot(labels, dist.shape[-1], dtype=np.bool_)
    return np_reduce.sum(where(mask, dist, np_creation.zeros((), dist.dtype)), axis=-1)


def categorical_crossentropy(coding_dist: Any, true_dist: Any) -> Tensor:
    """Theano's: -sum(true_dist * log(coding_dist), axis=-1), or -log(coding_dist[..., true_dist])
    when `true_dist` holds integer class indices (one rank less).

    The index form picks before the log, so zero probabilities of other classes are harmless.
    """
    coding, true = _float(coding_dist), as_tensor(true_dist)
    if true.ndim == coding.ndim - 1 and true.dtype.kind in "iu":
        return -log(_picked("categorical_crossentropy", coding, true))
    if true.ndim != coding.ndim:
        raise ValueError(f"categorical_crossentropy: true_dist of shape {true.shape} must have the "
                         f"shape of coding_dist {coding.shape}, or be integer class indices of shape "
                         f"{coding.shape[:-1]} at {describe_location()}")
    return -np_reduce.sum(true * log(coding), axis=-1)


def binary_crossentropy(output: Any, target: Any) -> Tensor:
    """Theano's: -(target * log(output) + (1 - target) * log(1 - output)), elementwise."""
    output = _float(output)
    return -(target * log(output) + (1.0 - target) * log(1.0 - output))


def logsoftmax_crossentropy(logits: Any, labels: Any) -> Tensor:
    """categorical_crossentropy(softmax(logits), labels) computed stably through log_softmax.

    `labels` are probabilities of the logits' shape, or integer class indices (one rank less).
    """
    logits, labels = _float(logits), as_tensor(labels)
    logp = log_softmax(logits, axis=-1)
    if labels.ndim == logits.ndim - 1 and labels.dtype.kind in "iu":
        return -_picked("logsoftmax_crossentropy", logp, labels)
    if labels.ndim != logits.ndim:
        raise ValueError(f"logsoftmax_crossentropy: labels of shape {labels.shape} must have the "
                         f"shape of logits {logits.shape}, or be integer class indices of shape "
                         f"{logits.shape[:-1]} at {describe_location()}")
    return -np_reduce.sum(labels * logp, axis=-1)
