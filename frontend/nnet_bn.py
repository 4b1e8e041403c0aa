"""`theanir.tensor.nnet.bn`: Theano's batch normalization, as compositions of existing ops.

    from theanir.tensor.nnet import bn
    out, mean, invstd, new_rm, new_rv = bn.batch_normalization_train(
        x, gamma, beta, axes="spatial", running_mean=rm, running_var=rv)
    y = bn.batch_normalization_test(x, gamma, beta, rm, rv, axes="spatial")
    z = bn.batch_normalization(x, gamma, beta, mean, std)           # (x - mean) * gamma / std + beta

Outputs are Theano's: training returns the normalized output, the batch mean and the inverse
standard deviation 1/sqrt(var + epsilon) (and, given running averages, their updates: the
running variance uses the unbiased batch variance, m/(m-1)·var), each with the parameters'
number of dimensions (the normalized axes dropped when gamma was given without them). Built
from mean, var, sqrt and broadcasting, so gradients come from autodiff (no fused kernel).
"""
from __future__ import annotations

from typing import Any, Sequence

from . import tensor_module as T
from .tensor import Tensor

__all__ = ["batch_normalization", "batch_normalization_train", "batch_normalization_test"]


def batch_normalization(inputs: Any, gamma: Any, beta: Any, mean: Any, std: Any, mode: str = "low_mem") -> Any:
    """(inputs - mean) * (gamma / std) + beta, broadcasting as Theano does (both modes compute
    the same; `mode` only chose Theano's memory/speed trade-off)."""
    if mode not in ("low_mem", "high_mem"):
        raise ValueError(f'batch_normalization: mode must be "low_mem" or "high_mem", got {mode!r}')
    return (inputs - mean) * (gamma / std) + beta


def _axes(axes: Any, ndim: int, who: str) -> tuple[int, ...]:
    if isinstance(axes, str):
        if axes == "per-activation":
            return (0,)
        if axes == "spatial":
            return (0,) + tuple(range(2, ndim))
        raise ValueError(f'{who}: axes must be "per-activation", "spatial" or a tuple of ints, got {axes!r}')
    try:
        out = tuple(int(a) for a in axes)
    except TypeError:
        raise ValueError(f"{who}: axes must be a string or a tuple of ints, got {axes!r}") from None
    if not out or len(set(out)) != len(out) or min(out) < 0 or max(out) >= ndim:
        raise ValueError(f"{who}: invalid axes {axes!r} for inputs of ndim {ndim}")
    return tuple(sorted(out))


def _pattern(axes: Sequence[int], ndim: int) -> list:
    """The dimshuffle that puts a parameter without the normalized axes back to ndim."""
    pat, k = [], 0
    for i in range(ndim):
        if i in axes:
            pat.append("x")
        else:
            pat.append(k)
            k += 1
    return pat


def _var(x: Any) -> Any:
    """A symbolic Variable, or a traced Tensor as it is (inside th.jit and verify_grad)."""
    return x if isinstance(x, Tensor) else T.as_tensor_variable(x)


def _shuffle(x: Any, pattern: Sequence) -> Any:
    """Theano's dimshuffle for inserting or dropping size-1 axes (a reshape for a Tensor)."""
    if not isinstance(x, Tensor):
        return x.dimshuffle(*pattern)
    return x.reshape(tuple(1 if p == "x" else x.shape[p] for p in pattern))


def _param(p: Any, axes: Sequence[int], ndim: int, name: str, who: str) -> Any:
    p = _var(p)
    if p.ndim == ndim:
        return p
    if p.ndim != ndim - len(axes):
        raise ValueError(f"{who}: {name} must have ndim {ndim} (size 1 along the axes {tuple(axes)}) "
                         f"or {ndim - len(axes)} (without them), got ndim {p.ndim}")
    return _shuffle(p, _pattern(axes, ndim))


def batch_normalization_train(inputs: Any, gamma: Any, beta: Any, axes: Any = "per-activation",
                              epsilon: float = 1e-4, running_average_factor: float = 0.1,
                              running_mean: Any = None, running_var: Any = None) -> tuple:
    """Theano's: (out, mean, invstd) or, with running averages, (out, mean, invstd,
    new_running_mean, new_running_var); out = (x - mean) * invstd * gamma + beta."""
    who = "batch_normalization_train"
    inputs = _var(inputs)
    ndim = inputs.ndim
    ax = _axes(axes, ndim, who)
    if (running_mean is None) != (running_var is None):
        raise ValueError(f"{who}: running_mean and running_var must be given together")
    params_ndim = _var(gamma).ndim
    g, b = _param(gamma, ax, ndim, "gamma", who), _param(beta, ax, ndim, "beta", who)
    mean = inputs.mean(axis=ax, keepdims=True)
    var = inputs.var(axis=ax, keepdims=True)
    invstd = T.inv(T.sqrt(var + epsilon))
    out = (inputs - mean) * (invstd * g) + b
    results = [out, mean, invstd]
    if running_mean is not None:
        rm = _param(running_mean, ax, ndim, "running_mean", who)
        rv = _param(running_var, ax, ndim, "running_var", who)
        m = T.cast(T.prod([inputs.shape[a] for a in ax]), var.dtype)
        f = running_average_factor
        results.append(rm * (1.0 - f) + mean * f)
        results.append(rv * (1.0 - f) + (m / (m - 1)) * var * f)
    if params_ndim != ndim:  # the statistics without the normalized axes, as gamma was given
        keep = [i for i in range(ndim) if i not in ax]
        results = [results[0]] + [_shuffle(r, keep) for r in results[1:]]
    return tuple(results)


def batch_normalization_test(inputs: Any, gamma: Any, beta: Any, mean: Any, var: Any,
                             axes: Any = "per-activation", epsilon: float = 1e-4) -> Any:
    """Theano's: (x - mean) * gamma / sqrt(var + epsilon) + beta with given statistics."""
    who = "batch_normalization_test"
    inputs = _var(inputs)
    ndim = inputs.ndim
    ax = _axes(axes, ndim, who)
    g, b = _param(gamma, ax, ndim, "gamma", who), _param(beta, ax, ndim, "beta", who)
    mu, v = _param(mean, ax, ndim, "mean", who), _param(var, ax, ndim, "var", who)
    return (inputs - mu) * (g / T.sqrt(v + epsilon)) + b
