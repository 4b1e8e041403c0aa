"""More of NumPy's elementwise math (issue 20): trigonometric and hyperbolic functions and
their inverses, arctan2, the error functions, log2/log10/exp2, hypot, logaddexp, isclose.

The trigonometric, hyperbolic and error functions are `tn` ops (dialects/tn/ops/elementwise.py
rows: a math-dialect op lowered to libm, a jvp rule); the rest are compositions of them, with
the numerically careful form written down beside each.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .np_base import (abs, as_tensor, astype, binary, divide, equal, exp, isnan, less_equal, log,
                      logical_and, logical_not, logical_or, maximum, minimum, multiply, result_type,
                      sqrt, square, unary, where, _to_float_dtype)
from .np_complex import imag, real
from .np_reduce import all as _all
from .tensor import Tensor

__all__ = ["tan", "arcsin", "arccos", "arctan", "sinh", "cosh", "arcsinh", "arccosh", "arctanh",
           "asin", "acos", "atan", "asinh", "acosh", "atanh", "arctan2", "atan2", "erf", "erfc", "erfinv",
           "log2", "log10", "exp2", "hypot", "logaddexp", "logaddexp2", "deg2rad", "rad2deg", "radians",
           "degrees", "isclose", "allclose", "isfinite", "isinf", "sinc"]


def tan(x: Any) -> Tensor: return unary("tan", x, float_only=True)
def arcsin(x: Any) -> Tensor: return unary("asin", x, float_only=True)
def arccos(x: Any) -> Tensor: return unary("acos", x, float_only=True)
def arctan(x: Any) -> Tensor: return unary("atan", x, float_only=True)
def sinh(x: Any) -> Tensor: return unary("sinh", x, float_only=True)
def cosh(x: Any) -> Tensor: return unary("cosh", x, float_only=True)
def arcsinh(x: Any) -> Tensor: return unary("asinh", x, float_only=True)
def arccosh(x: Any) -> Tensor: return unary("acosh", x, float_only=True)
def arctanh(x: Any) -> Tensor: return unary("atanh", x, float_only=True)
def erf(x: Any) -> Tensor: return unary("erf", x, float_only=True)
def erfc(x: Any) -> Tensor: return unary("erfc", x, float_only=True)


def arctan2(x1: Any, x2: Any) -> Tensor:
    """The angle of (x2, x1) in (-pi, pi], NumPy's argument order (y first)."""
    return binary("atan2", x1, x2, float_only=True)


asin, acos, atan, asinh, acosh, atanh, atan2 = arcsin, arccos, arctan, arcsinh, arccosh, arctanh, arctan2

_LN2 = 0.6931471805599453
_LN10 = 2.302585092994046


def _float(x: Any) -> Tensor:
    t = as_tensor(x)
    return t if t.dtype.kind == "f" else astype(t, _to_float_dtype(t.dtype))


def log2(x: Any) -> Tensor:
    return divide(log(_float(x)), _LN2)


def log10(x: Any) -> Tensor:
    return divide(log(_float(x)), _LN10)


def exp2(x: Any) -> Tensor:
    return exp(multiply(_float(x), _LN2))


def hypot(x1: Any, x2: Any) -> Tensor:
    """sqrt(x1² + x2²) without overflow or underflow in the squares: m * sqrt(1 + (s / m)²)
    with m = max(|x1|, |x2|), s = min(...); m = 0 gives 0, an infinite side gives inf."""
    dt = _to_float_dtype(result_type(x1, x2))
    a, b = abs(astype(as_tensor(x1), dt)), abs(astype(as_tensor(x2), dt))
    m, s = maximum(a, b), minimum(a, b)
    safe = where(m == 0, 1.0, m)
    r = m * sqrt(1 + square(s / safe))
    return where(logical_or(equal(a, np.inf), equal(b, np.inf)), np.inf, where(m == 0, 0.0, r))


def logaddexp(x1: Any, x2: Any) -> Tensor:
    """log(exp(x1) + exp(x2)) = m + log(exp(x1 - m) + exp(x2 - m)) with m = max(x1, x2) held
    constant for the derivative (which is then exactly the softmax weights: 1/2 each at a
    tie); an infinite m is the answer itself."""
    from .np_grad import stop_gradient
    dt = _to_float_dtype(result_type(x1, x2))
    a, b = astype(as_tensor(x1), dt), astype(as_tensor(x2), dt)
    m = maximum(a, b)
    shift = stop_gradient(where(isfinite(m), m, 0.0))
    return where(isinf(m), m, shift + log(exp(a - shift) + exp(b - shift)))


def logaddexp2(x1: Any, x2: Any) -> Tensor:
    return divide(logaddexp(multiply(_float(x1), _LN2), multiply(_float(x2), _LN2)), _LN2)


def deg2rad(x: Any) -> Tensor:
    return multiply(_float(x), np.pi / 180)


def rad2deg(x: Any) -> Tensor:
    return multiply(_float(x), 180 / np.pi)


radians, degrees = deg2rad, rad2deg


def sinc(x: Any) -> Tensor:
    """sin(pi x) / (pi x), 1 at 0."""
    from .np_base import sin
    x = _float(x)
    safe = where(x == 0, 1.0, x)
    return where(x == 0, 1.0, sin(safe * np.pi) / (safe * np.pi))


def isfinite(x: Any) -> Tensor:
    t = as_tensor(x)
    if t.dtype.kind == "c":
        return logical_and(isfinite(real(t)), isfinite(imag(t)))
    if t.dtype.kind != "f":
        return equal(t, t)
    return logical_not(logical_or(isnan(t), equal(abs(t), np.inf)))


def isinf(x: Any) -> Tensor:
    t = as_tensor(x)
    if t.dtype.kind == "c":
        return logical_or(isinf(real(t)), isinf(imag(t)))
    if t.dtype.kind != "f":
        return logical_not(equal(t, t))
    return equal(abs(t), np.inf)


def erfinv(x: Any) -> Tensor:
    """The inverse error function on (-1, 1) (±inf at ±1, NaN outside): Giles' single-
    precision polynomial as a first guess, then two Newton steps on erf(y) = x
    (erf'(y) = 2/sqrt(pi) exp(-y²)), which bring float64 to full precision. Differentiable:
    d erfinv(x) = sqrt(pi)/2 exp(erfinv(x)²)."""
    x = _float(x)
    w = -log((1.0 - x) * (1.0 + x))
    small = w < 5.0
    ws = where(small, w, 5.0) - 2.5
    wl = sqrt(where(small, 5.0, w)) - 3.0
    p_s = _poly(ws, (2.81022636e-08, 3.43273939e-07, -3.5233877e-06, -4.39150654e-06, 0.00021858087,
                     -0.00125372503, -0.00417768164, 0.246640727, 1.50140941))
    p_l = _poly(wl, (-0.000200214257, 0.000100950558, 0.00134934322, -0.00367342844, 0.00573950773,
                     -0.0076224613, 0.00943887047, 1.00167406, 2.83297682))
    y = where(small, p_s, p_l) * x
    for _ in range(2):
        err = erf(y) - x
        y = y - err / (1.1283791670955126 * exp(-y * y))
    edge = equal(abs(x), 1.0)
    return where(edge, x * np.inf, where(abs(x) > 1, np.nan, y))


def _poly(w: Tensor, coeffs: tuple[float, ...]) -> Tensor:
    p = as_tensor(coeffs[0]) * 1.0
    for c in coeffs[1:]:
        p = p * w + c
    return p


def isclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """|a - b| <= atol + rtol |b| elementwise (NumPy's rule); infinities are close only to
    themselves; NaNs to NaNs with equal_nan."""
    dt = result_type(a, b)
    if dt.kind != "f":
        return equal(a, b)
    x, y = astype(as_tensor(a), dt), astype(as_tensor(b), dt)
    finite = logical_and(isfinite(x), isfinite(y))
    close = less_equal(abs(x - y), atol + rtol * abs(y))
    out = logical_or(equal(x, y), logical_and(finite, close))
    if equal_nan:
        out = logical_or(out, logical_and(isnan(x), isnan(y)))
    return out


def allclose(a: Any, b: Any, rtol: float = 1e-05, atol: float = 1e-08, equal_nan: bool = False) -> Tensor:
    """Whether every element is close (`isclose`): a bool scalar array, as JAX returns."""
    return _all(isclose(a, b, rtol, atol, equal_nan))

