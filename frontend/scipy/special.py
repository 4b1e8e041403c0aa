"""`th.scipy.special`: logsumexp, expit/logit, the error functions, gammaln, digamma, xlogy ...

gammaln and digamma are compositions (no op): gammaln by Lanczos' approximation (g = 7, 9
terms; ~1e-15 relative) with the reflection formula below 1/2; digamma by the recurrence
psi(x) = psi(x + 10) - sum 1/(x + i) and the asymptotic series, with the reflection
psi(1 - x) - pi / tan(pi x) below 1/2. Their derivatives come from the compositions (the
derivative of this gammaln is this digamma's series to within its accuracy).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .. import numpy_api as tnp
from ..eager import eager
from ..tensor import Tensor

__all__ = ["logsumexp", "expit", "logit", "erf", "erfc", "erfinv", "gammaln", "digamma", "xlogy",
           "xlog1py", "ndtr", "ndtri", "log_ndtr", "softmax", "log_softmax", "entr", "betaln", "gamma"]


def _float(x: Any) -> Tensor:
    t = tnp.as_tensor(x)
    return t if t.dtype.kind == "f" else tnp.astype(t, np.float64)


def _logsumexp(a: Any, axis: Any = None, b: Any = None, keepdims: bool = False, return_sign: bool = False) -> Any:
    """log(sum(b * exp(a))) over `axis`, stable; with return_sign, (|result|'s log, sign)."""
    x = _float(a)
    if b is None and not return_sign:
        return tnp.logsumexp(x, axis=axis, keepdims=keepdims)
    w = tnp.ones_like(x) if b is None else tnp.broadcast_to(tnp.astype(tnp.as_tensor(b), x.dtype), x.shape)
    m = tnp.stop_gradient(tnp.max(tnp.where(w != 0, x, -np.inf), axis=axis, keepdims=True))
    m = tnp.where(tnp.isfinite(m), m, tnp.zeros_like(m))
    s = tnp.sum(w * tnp.exp(x - m), axis=axis, keepdims=True)
    out = tnp.log(tnp.abs(s)) + m
    sign = tnp.sign(s)
    if not keepdims:
        axes = tuple(range(x.ndim)) if axis is None else ((axis,) if np.ndim(axis) == 0 else tuple(axis))
        out, sign = tnp.squeeze(out, axis=axes), tnp.squeeze(sign, axis=axes)
    return (out, sign) if return_sign else out


def _expit(x: Any) -> Tensor:
    return tnp.sigmoid(_float(x))


def _logit(x: Any) -> Tensor:
    x = _float(x)
    return tnp.log(x / (1 - x))


_LANCZOS = (0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313,
            -176.61502916214059, 12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6,
            1.5056327351493116e-7)


def _gammaln_right(x: Tensor) -> Tensor:
    """log|Gamma(x)| for x >= 1/2 (Lanczos, g = 7)."""
    z = x - 1
    s = tnp.full_like(z, _LANCZOS[0])
    for i, c in enumerate(_LANCZOS[1:], start=1):
        s = s + c / (z + i)
    t = z + 7.5
    return 0.5 * float(np.log(2 * np.pi)) + (z + 0.5) * tnp.log(t) - t + tnp.log(s)


def _gammaln(x: Any) -> Tensor:
    """log|Gamma(x)|; +inf at 0 and the negative integers."""
    x = _float(x)
    left = x < 0.5
    xr = tnp.where(left, 1 - x, x)  # both branches see arguments >= 1/2
    right = _gammaln_right(xr)
    sin_pix = tnp.abs(tnp.sin(np.pi * tnp.where(left, x, tnp.full_like(x, 0.5))))
    reflected = float(np.log(np.pi)) - tnp.log(sin_pix) - right
    pole = tnp.logical_and(x <= 0, tnp.floor(x) == x)
    return tnp.where(pole, tnp.full_like(x, np.inf), tnp.where(left, reflected, right))


def _gamma(x: Any) -> Tensor:
    """Gamma(x) with its sign (exp of gammaln; negative between -2k-1 and -2k)."""
    x = _float(x)
    sign = tnp.where(tnp.logical_and(x < 0, tnp.mod(tnp.floor(x), 2) != 0), -1.0, 1.0)
    return sign * tnp.exp(_gammaln(x))


def _digamma_right(x: Tensor) -> Tensor:
    """psi(x) for x >= 1/2: ten steps of the recurrence, then the asymptotic series."""
    acc = tnp.zeros_like(x)
    for i in range(10):
        acc = acc + 1 / (x + i)
    y = x + 10
    inv2 = 1 / (y * y)
    series = inv2 * (1 / 12 - inv2 * (1 / 120 - inv2 * (1 / 252 - inv2 * (1 / 240 - inv2 / 132))))
    return tnp.log(y) - 0.5 / y - series - acc


def _digamma(x: Any) -> Tensor:
    x = _float(x)
    left = x < 0.5
    xr = tnp.where(left, 1 - x, x)
    right = _digamma_right(xr)
    tan_pix = tnp.tan(np.pi * tnp.where(left, x, tnp.full_like(x, 0.25)))
    pole = tnp.logical_and(x <= 0, tnp.floor(x) == x)
    value = tnp.where(left, right - np.pi / tan_pix, right)
    return tnp.where(pole, tnp.full_like(x, np.nan), value)


def _betaln(a: Any, b: Any) -> Tensor:
    return _gammaln(a) + _gammaln(b) - _gammaln(tnp.add(_float(a), _float(b)))


def _xlogy(x: Any, y: Any) -> Tensor:
    """x * log(y), 0 where x == 0 (also for y == 0)."""
    dt = tnp.result_type(_float(x), _float(y))
    x, y = tnp.astype(tnp.as_tensor(x), dt), tnp.astype(tnp.as_tensor(y), dt)
    safe = tnp.where(x == 0, tnp.ones_like(y), y)
    return tnp.where(x == 0, tnp.zeros_like(x), x * tnp.log(safe))


def _xlog1py(x: Any, y: Any) -> Tensor:
    dt = tnp.result_type(_float(x), _float(y))
    x, y = tnp.astype(tnp.as_tensor(x), dt), tnp.astype(tnp.as_tensor(y), dt)
    safe = tnp.where(x == 0, tnp.zeros_like(y), y)
    return tnp.where(x == 0, tnp.zeros_like(x), x * tnp.log1p(safe))


def _entr(x: Any) -> Tensor:
    x = _float(x)
    return tnp.where(x < 0, tnp.full_like(x, -np.inf), -_xlogy(x, x))


def _ndtr(x: Any) -> Tensor:
    return 0.5 * tnp.erfc(-_float(x) / float(np.sqrt(2)))


def _log_ndtr(x: Any) -> Tensor:
    """log Phi(x); below -37 (where erfc underflows in float64) as -z^2 + log(erfcx(z)) with
    erfcx's asymptotic expansion, so it stays finite far into the tail."""
    x = _float(x)
    z = -x / float(np.sqrt(2))
    tail = x < -37
    zt = tnp.where(tail, z, tnp.full_like(z, 30.0))
    inv = 1 / (2 * zt * zt)
    erfcx = (1 - inv + 3 * inv * inv - 15 * inv * inv * inv + 105 * inv ** 4) / (zt * float(np.sqrt(np.pi)))
    near = tnp.log(0.5 * tnp.erfc(tnp.where(tail, tnp.zeros_like(z), z)))
    return tnp.where(tail, -zt * zt + tnp.log(0.5 * erfcx), near)


def _ndtri(p: Any) -> Tensor:
    return float(np.sqrt(2)) * tnp.erfinv(2 * _float(p) - 1)


def _softmax(x: Any, axis: Any = None) -> Tensor:
    return tnp.softmax(_float(x), axis=axis)


def _log_softmax(x: Any, axis: Any = None) -> Tensor:
    return tnp.log_softmax(_float(x), axis=axis)


def _erf(x: Any) -> Tensor:
    return tnp.erf(x)


def _erfc(x: Any) -> Tensor:
    return tnp.erfc(x)


def _erfinv(x: Any) -> Tensor:
    return tnp.erfinv(x)


def _public(fn: Any, name: str) -> Any:
    fn.__name__ = fn.__qualname__ = name
    return eager(fn)


logsumexp = _public(_logsumexp, "logsumexp")
expit = _public(_expit, "expit")
logit = _public(_logit, "logit")
erf = _public(_erf, "erf")
erfc = _public(_erfc, "erfc")
erfinv = _public(_erfinv, "erfinv")
gammaln = _public(_gammaln, "gammaln")
gamma = _public(_gamma, "gamma")
digamma = _public(_digamma, "digamma")
betaln = _public(_betaln, "betaln")
xlogy = _public(_xlogy, "xlogy")
xlog1py = _public(_xlog1py, "xlog1py")
entr = _public(_entr, "entr")
ndtr = _public(_ndtr, "ndtr")
ndtri = _public(_ndtri, "ndtri")
log_ndtr = _public(_log_ndtr, "log_ndtr")
softmax = _public(_softmax, "softmax")
log_softmax = _public(_log_softmax, "log_softmax")
