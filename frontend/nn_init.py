"""`th.nn.initializers`: jax.nn.initializers. Each factory returns `init(key, shape, dtype)`.

    w = th.nn.initializers.he_normal()(key, (fan_in, fan_out))
    b = th.nn.initializers.zeros(key, (fan_out,))

variance_scaling follows JAX: fan_in = shape[in_axis] times the receptive field (the product
of the other axes than in_axis and out_axis), fan_out likewise; "truncated_normal" draws a
standard normal truncated to [-2, 2] rescaled by its stddev 0.87962566103423978.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np

from . import random

__all__ = ["zeros", "ones", "constant", "normal", "uniform", "truncated_normal", "variance_scaling",
           "glorot_normal", "glorot_uniform", "xavier_normal", "xavier_uniform", "he_normal", "he_uniform",
           "kaiming_normal", "kaiming_uniform", "lecun_normal", "lecun_uniform", "orthogonal"]

Init = Callable[..., Any]


class _Eager:
    """The th namespace, looked up at call time: its functions trace inside a trace and
    compute on concrete arrays outside one (initializers are mostly called outside)."""

    def __getattr__(self, name: str) -> Any:
        import sys
        return getattr(sys.modules["theanir.frontend"], name)


tnp = _Eager()


def _dtype(dtype: Any) -> Any:
    return np.float64 if dtype is None else dtype


def zeros(key: Any, shape: Sequence[int], dtype: Any = None) -> Any:
    return tnp.zeros(tuple(shape), _dtype(dtype))


def ones(key: Any, shape: Sequence[int], dtype: Any = None) -> Any:
    return tnp.ones(tuple(shape), _dtype(dtype))


def constant(value: Any, dtype: Any = None) -> Init:
    def init(key: Any, shape: Sequence[int], dtype: Any = dtype) -> Any:
        return tnp.full(tuple(shape), value, _dtype(dtype))
    return init


def normal(stddev: float = 1e-2, dtype: Any = None) -> Init:
    def init(key: Any, shape: Sequence[int], dtype: Any = dtype) -> Any:
        return random.normal(key, tuple(shape), _dtype(dtype)) * stddev
    return init


def uniform(scale: float = 1e-2, dtype: Any = None) -> Init:
    """Uniform on [0, scale), as JAX's."""
    def init(key: Any, shape: Sequence[int], dtype: Any = dtype) -> Any:
        return random.uniform(key, tuple(shape), _dtype(dtype)) * scale
    return init


def truncated_normal(stddev: float = 1e-2, dtype: Any = None, lower: float = -2.0, upper: float = 2.0) -> Init:
    def init(key: Any, shape: Sequence[int], dtype: Any = dtype) -> Any:
        return random.truncated_normal(key, lower, upper, tuple(shape), _dtype(dtype)) * stddev
    return init


def _fans(shape: Sequence[int], in_axis: int, out_axis: int) -> tuple[float, float]:
    shape = tuple(shape)
    if len(shape) < 1:
        return 1.0, 1.0
    if len(shape) == 1:
        return float(shape[0]), float(shape[0])
    ia, oa = in_axis % len(shape), out_axis % len(shape)
    receptive = float(np.prod([n for i, n in enumerate(shape) if i not in (ia, oa)]))
    return shape[ia] * receptive, shape[oa] * receptive


def variance_scaling(scale: float, mode: str, distribution: str, in_axis: int = -2, out_axis: int = -1,
                     dtype: Any = None) -> Init:
    if mode not in ("fan_in", "fan_out", "fan_avg"):
        raise ValueError(f"variance_scaling: mode must be fan_in, fan_out or fan_avg, got {mode!r}")

    def init(key: Any, shape: Sequence[int], dtype: Any = dtype) -> Any:
        fan_in, fan_out = _fans(shape, in_axis, out_axis)
        denom = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}[mode]
        variance = scale / max(denom, 1.0)
        dt = _dtype(dtype)
        if distribution == "truncated_normal":
            stddev = np.sqrt(variance) / 0.87962566103423978
            return random.truncated_normal(key, -2.0, 2.0, tuple(shape), dt) * stddev
        if distribution == "normal":
            return random.normal(key, tuple(shape), dt) * np.sqrt(variance)
        if distribution == "uniform":
            limit = np.sqrt(3 * variance)
            return random.uniform(key, tuple(shape), dt, -limit, limit)
        raise ValueError(f"variance_scaling: distribution must be truncated_normal, normal or uniform, "
                         f"got {distribution!r}")
    return init


def glorot_normal(in_axis: int = -2, out_axis: int = -1, dtype: Any = None) -> Init:
    return variance_scaling(1.0, "fan_avg", "truncated_normal", in_axis, out_axis, dtype)


def glorot_uniform(in_axis: int = -2, out_axis: int = -1, dtype: Any = None) -> Init:
    return variance_scaling(1.0, "fan_avg", "uniform", in_axis, out_axis, dtype)


def he_normal(in_axis: int = -2, out_axis: int = -1, dtype: Any = None) -> Init:
    return variance_scaling(2.0, "fan_in", "truncated_normal", in_axis, out_axis, dtype)


def he_uniform(in_axis: int = -2, out_axis: int = -1, dtype: Any = None) -> Init:
    return variance_scaling(2.0, "fan_in", "uniform", in_axis, out_axis, dtype)


def lecun_normal(in_axis: int = -2, out_axis: int = -1, dtype: Any = None) -> Init:
    return variance_scaling(1.0, "fan_in", "truncated_normal", in_axis, out_axis, dtype)


def lecun_uniform(in_axis: int = -2, out_axis: int = -1, dtype: Any = None) -> Init:
    return variance_scaling(1.0, "fan_in", "uniform", in_axis, out_axis, dtype)


xavier_normal, xavier_uniform = glorot_normal, glorot_uniform
kaiming_normal, kaiming_uniform = he_normal, he_uniform


def orthogonal(scale: float = 1.0, column_axis: int = -1, dtype: Any = None) -> Init:
    """A (semi-)orthogonal matrix: Q of the QR of a normal draw, columns sign-fixed by R's
    diagonal (th.linalg.qr)."""
    def init(key: Any, shape: Sequence[int], dtype: Any = dtype) -> Any:
        shape = tuple(shape)
        n_cols = shape[column_axis]
        n_rows = int(np.prod(shape)) // n_cols
        a = random.normal(key, (max(n_rows, n_cols), min(n_rows, n_cols)), _dtype(dtype))
        q, r = tnp.linalg.qr(a)
        q = q * tnp.sign(tnp.diagonal(r))
        if n_rows < n_cols:
            q = tnp.swapaxes(q, 0, 1)
        return tnp.moveaxis(tnp.reshape(q, tuple(n for i, n in enumerate(shape) if i != column_axis % len(shape))
                                        + (n_cols,)), -1, column_axis) * scale
    return init
