"""`th.nn`: jax.nn's activations and helpers (traced, or computed eagerly on concrete arrays),
and `th.nn.initializers` (frontend/nn_init.py).

    h = th.nn.gelu(x @ w + b)
    w = th.nn.initializers.glorot_normal()(key, (784, 512))
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import nn_init as initializers  # noqa: F401  (th.nn.initializers)
from . import numpy_api as tnp
from .eager import eager
from .tensor import Tensor

__all__ = ["relu", "relu6", "elu", "celu", "gelu", "selu", "leaky_relu", "silu", "swish", "sigmoid",
           "log_sigmoid", "softplus", "soft_sign", "hard_tanh", "hard_sigmoid", "hard_swish", "softmax",
           "log_softmax", "logsumexp", "one_hot", "standardize", "normalize", "initializers", "glu", "mish"]

_SELU_ALPHA = 1.6732632423543772
_SELU_SCALE = 1.0507009873554805


def _float(x: Any) -> Tensor:
    t = tnp.as_tensor(x)
    return t if t.dtype.kind == "f" else tnp.astype(t, np.float64)


def _relu(x: Any) -> Tensor:
    return tnp.relu(x)


def _relu6(x: Any) -> Tensor:
    return tnp.minimum(tnp.relu(x), 6)


def _elu(x: Any, alpha: float = 1.0) -> Tensor:
    """x for x > 0, alpha (exp(x) - 1) below (expm1 of the clipped x: no overflow)."""
    x = _float(x)
    return tnp.where(x > 0, x, alpha * tnp.expm1(tnp.minimum(x, 0)))


def _celu(x: Any, alpha: float = 1.0) -> Tensor:
    x = _float(x)
    return tnp.where(x > 0, x, alpha * tnp.expm1(tnp.minimum(x, 0) / alpha))


def _selu(x: Any) -> Tensor:
    return _SELU_SCALE * _elu(x, _SELU_ALPHA)


def _gelu(x: Any, approximate: bool = True) -> Tensor:
    """x Phi(x); approximate=True (JAX's default): the tanh form
    x/2 (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x = _float(x)
    if approximate:
        return 0.5 * x * (1 + tnp.tanh(float(np.sqrt(2 / np.pi)) * (x + 0.044715 * x * x * x)))
    return 0.5 * x * tnp.erfc(-x / float(np.sqrt(2)))


def _leaky_relu(x: Any, negative_slope: float = 0.01) -> Tensor:
    x = _float(x)
    return tnp.where(x >= 0, x, negative_slope * x)


def _silu(x: Any) -> Tensor:
    x = _float(x)
    return x * tnp.sigmoid(x)


def _mish(x: Any) -> Tensor:
    x = _float(x)
    return x * tnp.tanh(tnp.softplus(x))


def _sigmoid(x: Any) -> Tensor:
    return tnp.sigmoid(_float(x))


def _log_sigmoid(x: Any) -> Tensor:
    return -tnp.softplus(-_float(x))


def _softplus(x: Any) -> Tensor:
    return tnp.softplus(_float(x))


def _soft_sign(x: Any) -> Tensor:
    x = _float(x)
    return x / (tnp.abs(x) + 1)


def _hard_tanh(x: Any) -> Tensor:
    return tnp.clip(_float(x), -1.0, 1.0)


def _hard_sigmoid(x: Any) -> Tensor:
    return _relu6(_float(x) + 3.0) / 6.0


def _hard_swish(x: Any) -> Tensor:
    x = _float(x)
    return x * _hard_sigmoid(x)


def _glu(x: Any, axis: int = -1) -> Tensor:
    """The first half of `axis` gated by the sigmoid of the second."""
    y = tnp.moveaxis(_float(x), axis, -1)
    n = y.shape[-1] // 2
    return tnp.moveaxis(y[..., :n] * tnp.sigmoid(y[..., n:]), -1, axis)


def _softmax(x: Any, axis: Any = -1, where: Any = None) -> Tensor:
    return tnp.softmax(_float(x), axis=axis)


def _log_softmax(x: Any, axis: Any = -1, where: Any = None) -> Tensor:
    return tnp.log_softmax(_float(x), axis=axis)


def _logsumexp(a: Any, axis: Any = None, b: Any = None, keepdims: bool = False, return_sign: bool = False) -> Any:
    from .scipy.special import _logsumexp as lse
    return lse(a, axis, b, keepdims, return_sign)


def _one_hot(x: Any, num_classes: int, dtype: Any = np.float64, axis: int = -1) -> Tensor:
    """out[..., c] = (x == c) (a zero row for classes out of range, as JAX)."""
    out = tnp.one_hot(x, num_classes, dtype=dtype)
    return out if axis in (-1, out.ndim - 1) else tnp.moveaxis(out, -1, axis)


def _standardize(x: Any, axis: Any = -1, mean: Any = None, variance: Any = None,
                 epsilon: float = 1e-5, where: Any = None) -> Tensor:
    """(x - mean) / sqrt(variance + epsilon) over `axis` (the statistics computed when not given)."""
    x = _float(x)
    if mean is None:
        mean = tnp.mean(x, axis=axis, keepdims=True)
    if variance is None:
        variance = tnp.mean(tnp.square(x - mean), axis=axis, keepdims=True)
    return (x - mean) * tnp.rsqrt(variance + epsilon)


def _public(fn: Any, name: str) -> Any:
    fn.__name__ = fn.__qualname__ = name
    return eager(fn)


relu = _public(_relu, "relu")
relu6 = _public(_relu6, "relu6")
elu = _public(_elu, "elu")
celu = _public(_celu, "celu")
selu = _public(_selu, "selu")
gelu = _public(_gelu, "gelu")
leaky_relu = _public(_leaky_relu, "leaky_relu")
silu = swish = _public(_silu, "silu")
mish = _public(_mish, "mish")
sigmoid = _public(_sigmoid, "sigmoid")
log_sigmoid = _public(_log_sigmoid, "log_sigmoid")
softplus = _public(_softplus, "softplus")
soft_sign = _public(_soft_sign, "soft_sign")
hard_tanh = _public(_hard_tanh, "hard_tanh")
hard_sigmoid = _public(_hard_sigmoid, "hard_sigmoid")
hard_swish = _public(_hard_swish, "hard_swish")
glu = _public(_glu, "glu")
softmax = _public(_softmax, "softmax")
log_softmax = _public(_log_softmax, "log_softmax")
logsumexp = _public(_logsumexp, "logsumexp")
one_hot = _public(_one_hot, "one_hot")
standardize = normalize = _public(_standardize, "standardize")
