"""`th.scipy.linalg`: SciPy's spellings of th.linalg (frontend/linalg.py): `cholesky`
returns the UPPER factor by default (lower=False), as SciPy's does; `cho_factor`/`cho_solve`."""
from __future__ import annotations

from typing import Any

from .. import linalg as _la
from .. import numpy_api as tnp
from ..eager import eager
from ..tensor import Tensor

__all__ = ["cholesky", "solve_triangular", "cho_factor", "cho_solve", "solve", "inv", "det", "eigh",
           "qr", "svd"]

solve_triangular = _la.solve_triangular
inv, det, svd = _la.inv, _la.det, _la.svd


def _cholesky(a: Any, lower: bool = False, overwrite_a: bool = False, check_finite: bool = True) -> Tensor:
    L = _la._cholesky(a)
    return L if lower else tnp.swapaxes(L, -1, -2)


def cho_factor(a: Any, lower: bool = False, overwrite_a: bool = False, check_finite: bool = True) -> tuple[Tensor, bool]:
    """(the Cholesky factor, lower): the flag stays a Python bool (static), as SciPy's."""
    return cholesky(a, lower=lower), lower


def _cho_solve(c_and_lower: Any, b: Any, overwrite_b: bool = False, check_finite: bool = True) -> Tensor:
    """x with (c c^T) x = b (lower) or (c^T c) x = b (upper), from cho_factor's pair."""
    c, lower = c_and_lower
    y = _la._solve_triangular(c, b, trans=0 if lower else 1, lower=lower)
    return _la._solve_triangular(c, y, trans=1 if lower else 0, lower=lower)


def _solve(a: Any, b: Any, lower: bool = False, overwrite_a: bool = False, overwrite_b: bool = False,
           check_finite: bool = True, assume_a: str = "gen") -> Tensor:
    if assume_a == "pos":
        return _cho_solve((_la._cholesky(a), True), b)
    return _la._solve(a, b)


def _eigh(a: Any, b: Any = None, lower: bool = True, eigvals_only: bool = False, **kw: Any) -> Any:
    if b is not None:
        raise NotImplementedError("th.scipy.linalg.eigh: the generalized problem (b) is not supported")
    w, v = _la._eigh(a)
    return w if eigvals_only else (w, v)


def _qr(a: Any, overwrite_a: bool = False, lwork: Any = None, mode: str = "full", pivoting: bool = False,
        check_finite: bool = True) -> Any:
    if pivoting:
        raise NotImplementedError("th.scipy.linalg.qr: pivoting is not supported")
    return _la._qr(a, {"full": "complete", "economic": "reduced", "r": "r"}[mode])


def _public(fn: Any, name: str) -> Any:
    fn.__name__ = fn.__qualname__ = name
    return eager(fn)


cholesky = _public(_cholesky, "cholesky")
cho_solve = _public(_cho_solve, "cho_solve")
solve = _public(_solve, "solve")
eigh = _public(_eigh, "eigh")
qr = _public(_qr, "qr")
