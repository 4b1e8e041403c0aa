"""`theanir.tensor.nnet` (`T.nnet`): Theano's neural-network helpers, lifted to graph nodes.

    from theanir.tensor.nnet import sigmoid, softmax
    p = T.nnet.softmax(T.dot(x, W) + b)
"""
from __future__ import annotations

from typing import Any

from . import numpy_api as tnp
from .lift import lift
from .tensor import Tensor


def _relu(x: Any, alpha: float = 0) -> Tensor:
    if alpha == 0:
        return tnp.relu(x)
    x = tnp.as_tensor(x)
    return tnp.where(x > 0, x, alpha * x)


def _hard_sigmoid(x: Any) -> Tensor:
    return tnp.clip(0.2 * tnp.as_tensor(x) + 0.5, 0.0, 1.0)


def _softmax_with_bias(x: Any, b: Any) -> Tensor:
    return tnp.softmax(tnp.add(x, b), axis=-1)


def _rows(x: Any) -> Tensor:
    """Theano's softmax family treats a vector as one row: (n,) -> (1, n)."""
    x = tnp.as_tensor(x)
    return tnp.reshape(x, (1,) + x.shape) if x.ndim == 1 else x


def _softmax(x: Any, axis: int = -1) -> Tensor:
    return tnp.softmax(_rows(x), axis=axis)


def _log_softmax(x: Any, axis: int = -1) -> Tensor:
    return tnp.log_softmax(_rows(x), axis=axis)


_FUNCTIONS = {
    "sigmoid": lift("sigmoid"), "ultra_fast_sigmoid": lift("sigmoid"),
    "hard_sigmoid": lift("hard_sigmoid", _hard_sigmoid), "softplus": lift("softplus"),
    "softmax": lift("softmax", _softmax), "log_softmax": lift("log_softmax", _log_softmax),
    "logsoftmax": lift("log_softmax", _log_softmax), "softmax_with_bias": lift("softmax_with_bias", _softmax_with_bias),
    "relu": lift("relu", _relu), "categorical_crossentropy": lift("categorical_crossentropy"),
    "crossentropy_categorical_1hot": lift("categorical_crossentropy"),
    "binary_crossentropy": lift("binary_crossentropy"),
}
# issue 19: convolution (frontend/conv.py)
from .conv_symbolic import conv2d as _conv2d  # noqa: E402
_FUNCTIONS["conv2d"] = _conv2d
for _name, _fn in _FUNCTIONS.items():
    _fn.__name__ = _name
globals().update(_FUNCTIONS)
__all__ = sorted(_FUNCTIONS)
