"""The reference for random programs: NumPy in float64, each value with a bound on its error.

Each Tracked value carries, next to its float64 value, a first-order bound on the error that
a correctly working implementation may make computing it in the program's dtype: each op adds
its own rounding (a few units of roundoff u, relative to the exact result and, for
transcendental functions, to the argument) to the propagated bound |f'(x)| * err(x); sums
add what good (pairwise/blocked) summation loses, dot products what any order loses. A
result outside `SAFETY` times the bound is a real bug, not noise, so the tolerances need no
tuning per program. `RefNamespace` mirrors the th functions the generator emits.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

SAFETY = 4.0         # allowed error = SAFETY * the propagated bound
K_TRANSCENDENTAL = 4.0  # ulps a vectorized exp/log/tanh/sin... may be off (MLIR's math approximations)


def unit_roundoff(dt: np.dtype) -> float:
    return float(np.finfo(dt).eps) / 2


def sum_error_factor(n: int) -> float:
    """Ulps of sum(|x|) that a good float summation of n terms may lose: pairwise/blocked
    summation (NumPy: 8-way unrolled blocks of 128, then pairwise) stays within ~16 + log2 n;
    one running accumulator can lose n ulps (issue 12, item 1), which this refuses."""
    return 16.0 + 2.0 * math.log2(max(n, 1))


class Tracked:
    """A float64 value, a bound on the error of the same value computed in `dt`, and `dt`."""

    __array_priority__ = 1000

    def __init__(self, v: Any, e: Any, dt: np.dtype, weak: bool = False):
        self.v = np.asarray(v, np.float64) if np.dtype(dt).kind == "f" else np.asarray(v)
        self.e = np.broadcast_to(np.asarray(e, np.float64), self.v.shape).copy()
        self.dt = np.dtype(dt)
        self.weak = weak  # a Python scalar: takes the other operand's dtype (NEP 50)

    @property
    def shape(self) -> tuple[int, ...]:
        return self.v.shape

    def __getitem__(self, idx):
        return Tracked(self.v[idx], self.e[idx], self.dt)

    def __add__(self, o): return REF.add(self, o)
    def __radd__(self, o): return REF.add(o, self)
    def __sub__(self, o): return REF.subtract(self, o)
    def __rsub__(self, o): return REF.subtract(o, self)
    def __mul__(self, o): return REF.multiply(self, o)
    def __rmul__(self, o): return REF.multiply(o, self)
    def __truediv__(self, o): return REF.divide(self, o)
    def __rtruediv__(self, o): return REF.divide(o, self)
    def __matmul__(self, o): return REF.matmul(self, o)
    def __neg__(self): return REF.negative(self)
    def __gt__(self, o): return REF.greater(self, o)
    def __lt__(self, o): return REF.less(self, o)

    @property
    def T(self):  # noqa: N802
        return REF.transpose(self)

    def reshape(self, shape): return REF.reshape(self, shape)
    def sum(self): return REF.sum(self)
    def mean(self): return REF.mean(self)
    def max(self): return REF.max(self)
    def min(self): return REF.min(self)


def _t(x: Any) -> Tracked:
    if isinstance(x, Tracked):
        return x
    return Tracked(np.float64(x), 0.0, np.float64, weak=True)


def _dtype2(a: Tracked, b: Tracked) -> np.dtype:
    if a.weak and not b.weak:
        return b.dt
    if b.weak and not a.weak:
        return a.dt
    return np.result_type(a.dt, b.dt)


def norm_axes(axis: Any, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    axis = (axis,) if isinstance(axis, int) else tuple(axis)
    return tuple(a % ndim for a in axis)


def element_count(shape: tuple[int, ...], axes: tuple[int, ...]) -> int:
    return int(np.prod([shape[a] for a in axes], dtype=np.int64))


# f, f', exact (no rounding of its own), domain check on the float64 argument
_UNARY = {
    "exp": (np.exp, np.exp, False),
    "expm1": (np.expm1, np.exp, False),
    "log": (np.log, lambda v: 1 / v, False),
    "log1p": (np.log1p, lambda v: 1 / (1 + v), False),
    "sqrt": (np.sqrt, lambda v: 0.5 / np.sqrt(v), False),
    "rsqrt": (lambda v: 1 / np.sqrt(v), lambda v: 0.5 * v ** -1.5, False),
    "tanh": (np.tanh, lambda v: 1 - np.tanh(v) ** 2, False),
    "sigmoid": (lambda v: 1 / (1 + np.exp(-v)), lambda v: np.exp(-v) / (1 + np.exp(-v)) ** 2, False),
    "softplus": (lambda v: np.logaddexp(0, v), lambda v: 1 / (1 + np.exp(-v)), False),
    "sin": (np.sin, np.cos, False),
    "cos": (np.cos, np.sin, False),
    "square": (np.square, lambda v: 2 * np.abs(v), False),
    "abs": (np.abs, lambda v: np.ones_like(v), True),
    "negative": (np.negative, lambda v: np.ones_like(v), True),
    "relu": (lambda v: np.maximum(v, 0), lambda v: np.ones_like(v), True),
}
_DISCONTINUOUS = {"floor": np.floor, "ceil": np.ceil, "sign": np.sign, "round": np.round}


class RefNamespace:
    """The th functions a program uses, on Tracked values (float64 + error bound)."""

    def __getattr__(self, name: str):
        if name in _UNARY:
            return lambda x: self._unary(name, _t(x))
        if name in _DISCONTINUOUS:
            return lambda x: self._discontinuous(name, _t(x))
        raise AttributeError(name)

    # -- elementwise
    def _unary(self, name: str, x: Tracked) -> Tracked:
        f, df, exact = _UNARY[name]
        u = unit_roundoff(x.dt)
        with np.errstate(all="ignore"):
            v, d = f(x.v), np.abs(df(x.v))
            e = d * x.e if exact else d * (x.e + K_TRANSCENDENTAL * u * np.abs(x.v)) + K_TRANSCENDENTAL * u * np.abs(v)
        if name == "square":
            e = d * x.e + x.e ** 2 + u * np.abs(v)
        return Tracked(v, e, x.dt)

    def _discontinuous(self, name: str, x: Tracked) -> Tracked:
        assert not np.any(x.e), f"th.{name} is only drawn on exact inputs"
        return Tracked(_DISCONTINUOUS[name](x.v), 0.0, x.dt)

    def add(self, a, b):
        a, b = _t(a), _t(b)
        dt = _dtype2(a, b)
        v = a.v + b.v
        return Tracked(v, a.e + b.e + unit_roundoff(dt) * np.abs(v), dt)

    def subtract(self, a, b):
        a, b = _t(a), _t(b)
        dt = _dtype2(a, b)
        v = a.v - b.v
        return Tracked(v, a.e + b.e + unit_roundoff(dt) * np.abs(v), dt)

    def multiply(self, a, b):
        a, b = _t(a), _t(b)
        dt = _dtype2(a, b)
        v = a.v * b.v
        e = np.abs(a.v) * b.e + np.abs(b.v) * a.e + a.e * b.e + unit_roundoff(dt) * np.abs(v)
        return Tracked(v, e, dt)

    def divide(self, a, b):
        a, b = _t(a), _t(b)
        dt = _dtype2(a, b)
        v = a.v / b.v  # the generator divides by x**2 + 1 (or a constant >= 1)
        lo = np.abs(b.v) - b.e  # <= 0 only where b's bound is already unbounded (inf): so is this one
        e = np.where(lo > 0, (a.e + np.abs(v) * b.e) / np.where(lo > 0, lo, 1.0), np.inf) + unit_roundoff(dt) * np.abs(v)
        return Tracked(v, e, dt)

    def maximum(self, a, b):
        a, b = _t(a), _t(b)
        return Tracked(np.maximum(a.v, b.v), np.maximum(a.e, b.e), _dtype2(a, b))

    def minimum(self, a, b):
        a, b = _t(a), _t(b)
        return Tracked(np.minimum(a.v, b.v), np.maximum(a.e, b.e), _dtype2(a, b))

    def greater(self, a, b):
        a, b = _t(a), _t(b)
        assert not (np.any(a.e) or np.any(b.e)), "comparisons are only drawn on exact inputs"
        return Tracked(a.v > b.v, 0.0, np.bool_)

    def less(self, a, b):
        return self.greater(b, a)

    def where(self, c, a, b):
        c, a, b = _t(c), _t(a), _t(b)
        cv = c.v.astype(bool)
        return Tracked(np.where(cv, a.v, b.v), np.where(cv, a.e, b.e), _dtype2(a, b))

    # -- reductions
    def sum(self, x, axis=None, keepdims=False):
        x = _t(x)
        n = element_count(x.shape, norm_axes(axis, x.v.ndim))
        v = np.sum(x.v, axis=axis, keepdims=keepdims)
        err = np.sum(x.e, axis=axis, keepdims=keepdims)
        err = err + sum_error_factor(n) * unit_roundoff(x.dt) * np.sum(np.abs(x.v), axis=axis, keepdims=keepdims)
        return Tracked(v, err, x.dt)

    def mean(self, x, axis=None, keepdims=False):
        x = _t(x)
        n = element_count(x.shape, norm_axes(axis, x.v.ndim))
        s = self.sum(x, axis, keepdims)
        with np.errstate(all="ignore"):
            v = s.v / n
            return Tracked(v, s.e / n + unit_roundoff(x.dt) * np.abs(v), x.dt)

    def var(self, x, axis=None, keepdims=False):
        x = _t(x)
        d = x - self.mean(x, axis, keepdims=True)
        return self.mean(d * d, axis, keepdims)

    def std(self, x, axis=None, keepdims=False):
        return self.sqrt(self.var(x, axis, keepdims))

    def max(self, x, axis=None, keepdims=False):
        x = _t(x)
        return Tracked(np.max(x.v, axis=axis, keepdims=keepdims), np.max(x.e, axis=axis, keepdims=keepdims), x.dt)

    def min(self, x, axis=None, keepdims=False):
        x = _t(x)
        return Tracked(np.min(x.v, axis=axis, keepdims=keepdims), np.max(x.e, axis=axis, keepdims=keepdims), x.dt)

    def _lse_parts(self, x: Tracked, axis):
        """m, lse (keepdims), softmax p, sum(p * e), the rounding of computing them (keepdims)."""
        n = element_count(x.shape, norm_axes(axis, x.v.ndim))
        u = unit_roundoff(x.dt)
        m = np.max(x.v, axis=axis, keepdims=True) if x.v.size else np.zeros([1] * x.v.ndim)
        s = np.sum(np.exp(x.v - m), axis=axis, keepdims=True)
        with np.errstate(all="ignore"):
            lse = m + np.log(s)
            p = np.exp(x.v - lse)
        pe = np.sum(p * x.e, axis=axis, keepdims=True)
        spread = np.sum(p * np.abs(x.v - m), axis=axis, keepdims=True)
        rounding = K_TRANSCENDENTAL * u * (spread + sum_error_factor(n) + 4 + np.abs(m) + np.abs(lse))
        return m, lse, p, pe, rounding

    def logsumexp(self, x, axis=None, keepdims=False):
        x = _t(x)
        m, lse, p, pe, rounding = self._lse_parts(x, axis)
        v, e = lse, pe + rounding
        if not keepdims:
            ax = norm_axes(axis, x.v.ndim)
            v, e = np.squeeze(v, ax), np.squeeze(e, ax)
        return Tracked(v, e, x.dt)

    def softmax(self, x, axis=-1):
        x = _t(x)
        m, lse, p, pe, rounding = self._lse_parts(x, axis)
        u = unit_roundoff(x.dt)
        e = p * (x.e + pe) + p * (rounding + K_TRANSCENDENTAL * u * np.abs(x.v - m))
        return Tracked(p, e, x.dt)

    def log_softmax(self, x, axis=-1):
        x = _t(x)
        m, lse, p, pe, rounding = self._lse_parts(x, axis)
        v = x.v - lse
        u = unit_roundoff(x.dt)
        return Tracked(v, x.e + pe + rounding + K_TRANSCENDENTAL * u * (np.abs(x.v - m) + np.abs(v)), x.dt)

    # -- linear algebra and shapes
    def matmul(self, a, b):
        a, b = _t(a), _t(b)
        dt = _dtype2(a, b)
        k = a.shape[-1]
        v = a.v @ b.v
        aa, ab = np.abs(a.v), np.abs(b.v)
        # gamma_k: a dot product of length k in any summation order (BLAS blocks, FMA) loses <= k ulps
        e = aa @ b.e + a.e @ ab + a.e @ b.e + (k + 2) * unit_roundoff(dt) * (aa @ ab)
        return Tracked(v, e, dt)

    def reshape(self, x, shape):
        x = _t(x)
        return Tracked(np.reshape(x.v, shape), np.reshape(x.e, shape), x.dt)

    def transpose(self, x, axes=None):
        x = _t(x)
        return Tracked(np.transpose(x.v, axes), np.transpose(x.e, axes), x.dt)

    def expand_dims(self, x, axis):
        x = _t(x)
        return Tracked(np.expand_dims(x.v, axis), np.expand_dims(x.e, axis), x.dt)

    def squeeze(self, x, axis=None):
        x = _t(x)
        return Tracked(np.squeeze(x.v, axis), np.squeeze(x.e, axis), x.dt)

    def concatenate(self, xs, axis=0):
        xs = [_t(x) for x in xs]
        dt = np.result_type(*[x.dt for x in xs])
        return Tracked(np.concatenate([x.v for x in xs], axis), np.concatenate([x.e for x in xs], axis), dt)

    def broadcast_to(self, x, shape):
        x = _t(x)
        return Tracked(np.broadcast_to(x.v, shape), np.broadcast_to(x.e, shape), x.dt)


REF = RefNamespace()


def run_reference(source: str, args: list[np.ndarray]) -> Any:
    fn = compile_program(source, REF)
    with np.errstate(all="ignore"):  # NaN (mean of nothing) and inf * 0 in bounds are expected
        return fn(*[Tracked(a, 0.0, a.dtype) for a in args])


def compile_program(source: str, namespace: Any):
    scope: dict[str, Any] = {"th": namespace}
    exec(compile(source, "<random program>", "exec"), scope)  # noqa: S102 (our own generated text)
    return scope["f"]
