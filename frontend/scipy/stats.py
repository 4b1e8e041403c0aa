"""`th.scipy.stats`: `norm` and `multivariate_normal` (logpdf, pdf, cdf ...), as jax.scipy.stats.

    th.scipy.stats.norm.logpdf(x, loc=0.0, scale=1.0)
    th.scipy.stats.multivariate_normal.logpdf(x, mean, cov)   # x (..., d), Cholesky of cov
"""
from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import numpy as np

from .. import linalg as _la
from .. import numpy_api as tnp
from ..eager import eager
from ..tensor import Tensor
from . import special as _sp

__all__ = ["norm", "multivariate_normal"]

_LOG_SQRT_2PI = 0.5 * float(np.log(2 * np.pi))


def _args(x: Any, loc: Any, scale: Any) -> tuple[Tensor, Tensor, Tensor]:
    ts = [tnp.as_tensor(v) for v in (x, loc, scale)]
    dt = tnp.result_type(*ts)
    dt = dt if dt.kind == "f" else np.dtype(np.float64)
    return tuple(tnp.astype(t, dt) for t in ts)


def _norm_logpdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Tensor:
    x, loc, scale = _args(x, loc, scale)
    z = (x - loc) / scale
    return -0.5 * z * z - _LOG_SQRT_2PI - tnp.log(scale)


def _norm_pdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Tensor:
    return tnp.exp(_norm_logpdf(x, loc, scale))


def _norm_cdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Tensor:
    x, loc, scale = _args(x, loc, scale)
    return _sp._ndtr((x - loc) / scale)


def _norm_logcdf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Tensor:
    x, loc, scale = _args(x, loc, scale)
    return _sp._log_ndtr((x - loc) / scale)


def _norm_sf(x: Any, loc: Any = 0.0, scale: Any = 1.0) -> Tensor:
    x, loc, scale = _args(x, loc, scale)
    return _sp._ndtr(-(x - loc) / scale)


def _norm_ppf(q: Any, loc: Any = 0.0, scale: Any = 1.0) -> Tensor:
    q, loc, scale = _args(q, loc, scale)
    return loc + scale * _sp._ndtri(q)


def _mvn_logpdf(x: Any, mean: Any, cov: Any, allow_singular: bool = False) -> Tensor:
    """log N(x; mean, cov) = -1/2 |L^-1 (x - mean)|^2 - sum log diag L - d/2 log 2 pi, with
    L the Cholesky factor of cov; x (..., d)."""
    x, mean, cov = _args(x, mean, cov)
    d = x.shape[-1]
    if cov.ndim == 0:
        cov = cov * tnp.eye(d, dtype=x.dtype)
    elif cov.ndim == 1:
        cov = tnp.diag(cov)
    L = _la._cholesky(cov)
    diff = x - mean
    flat = tnp.reshape(diff, (-1, d))
    z = _la._solve_triangular(L, tnp.swapaxes(flat, 0, 1), lower=True)  # (d, n)
    maha = tnp.reshape(tnp.sum(z * z, axis=0), diff.shape[:-1])
    half_logdet = tnp.sum(tnp.log(tnp.diagonal(L)))
    return -0.5 * maha - half_logdet - d * _LOG_SQRT_2PI


def _mvn_pdf(x: Any, mean: Any, cov: Any, allow_singular: bool = False) -> Tensor:
    return tnp.exp(_mvn_logpdf(x, mean, cov))


def _public(fn: Any, name: str) -> Any:
    fn.__name__ = fn.__qualname__ = name
    return eager(fn)


norm = SimpleNamespace(logpdf=_public(_norm_logpdf, "logpdf"), pdf=_public(_norm_pdf, "pdf"),
                       cdf=_public(_norm_cdf, "cdf"), logcdf=_public(_norm_logcdf, "logcdf"),
                       sf=_public(_norm_sf, "sf"), ppf=_public(_norm_ppf, "ppf"))
multivariate_normal = SimpleNamespace(logpdf=_public(_mvn_logpdf, "logpdf"), pdf=_public(_mvn_pdf, "pdf"))
