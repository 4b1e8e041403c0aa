"""The JAX-style test table of issue 20's new functions: each row is one function, run eagerly
on concrete arrays (th.Array results) and under th.jit, against NumPy/SciPy, over shapes
(empty, one element, broadcasting, a non-contiguous view) and float32/float64, with
th.verify_grad on the first case (float64) where the function is differentiable."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
import pytest
import scipy.special as sp
import scipy.stats as st

import theanir as th
from support import TOL

UNARY = (((3, 4),), ((0,),), ((1,),), ((2, 1, 3),))
BINARY = (((2, 3), (3,)), ((3, 1), (1, 4)), ((0, 3), (1, 3)), ((1,), (1,)))


@dataclass(frozen=True)
class Row:
    name: str
    fn: Callable[..., Any]
    ref: Callable[..., Any]
    cases: Sequence[tuple] = UNARY
    domain: tuple[float, float] = (-3.0, 3.0)
    grad: bool = True
    dtypes: Sequence[Any] = (np.float32, np.float64)
    rtol: float | None = None
    extra: dict = field(default_factory=dict)


def _same(ref):
    return lambda *xs: np.asarray(ref(*[x.astype(np.float64) for x in xs])).astype(xs[0].dtype)


ROWS = [
    Row("tan", th.tan, np.tan, domain=(-1.2, 1.2)),
    Row("arcsin", th.arcsin, np.arcsin, domain=(-0.9, 0.9)),
    Row("arccos", th.arccos, np.arccos, domain=(-0.9, 0.9)),
    Row("arctan", th.arctan, np.arctan),
    Row("sinh", th.sinh, np.sinh),
    Row("cosh", th.cosh, np.cosh),
    Row("arcsinh", th.arcsinh, np.arcsinh),
    Row("arccosh", th.arccosh, np.arccosh, domain=(1.1, 4)),
    Row("arctanh", th.arctanh, np.arctanh, domain=(-0.9, 0.9)),
    Row("arctan2", th.arctan2, np.arctan2, BINARY, domain=(0.3, 2)),
    Row("hypot", th.hypot, np.hypot, BINARY),
    Row("logaddexp", th.logaddexp, np.logaddexp, BINARY),
    Row("log2", th.log2, np.log2, domain=(0.1, 5)),
    Row("log10", th.log10, np.log10, domain=(0.1, 5)),
    Row("exp2", th.exp2, np.exp2),
    Row("erf", th.erf, _same(sp.erf)),
    Row("erfc", th.erfc, _same(sp.erfc)),
    Row("erfinv", th.erfinv, _same(sp.erfinv), domain=(-0.95, 0.95), rtol=1e-4),
    Row("sinc", th.sinc, np.sinc),
    Row("cumsum", lambda x: th.cumsum(x, axis=-1), lambda x: np.cumsum(x, axis=-1)),
    Row("cumprod", lambda x: th.cumprod(x, axis=0), lambda x: np.cumprod(x, axis=0), domain=(0.5, 1.5)),
    Row("sort", lambda x: th.sort(x, axis=-1), lambda x: np.sort(x, axis=-1)),
    Row("argsort", lambda x: th.argsort(x, axis=-1), lambda x: np.argsort(x, axis=-1, kind="stable"), grad=False),
    Row("tile", lambda x: th.tile(x, (2, 1)), lambda x: np.tile(x, (2, 1))),
    Row("repeat", lambda x: th.repeat(x, 2, axis=0), lambda x: np.repeat(x, 2, axis=0)),
    Row("pad", lambda x: th.pad(x, 1, mode="reflect") if min(x.shape, default=2) >= 2 else th.pad(x, 2),
        lambda x: np.pad(x, 1, mode="reflect") if min(x.shape, default=2) >= 2 else np.pad(x, 2)),
    Row("roll", lambda x: th.roll(x, 2, axis=-1), lambda x: np.roll(x, 2, axis=-1)),
    Row("diag", lambda x: th.diag(th.reshape(x, (-1,)), 1), lambda x: np.diag(x.reshape(-1), 1)),
    Row("trace", lambda x: th.trace(th.reshape(x, (x.shape[0], -1))), lambda x: np.trace(x.reshape(x.shape[0], -1)),
        (((3, 4),), ((1,),), ((2, 1, 3),))),
    Row("einsum", lambda a, b: th.einsum("ij,j->i", a, b), lambda a, b: np.einsum("ij,j->i", a, b),
        (((2, 3), (3,)), ((0, 3), (3,)), ((1, 1), (1,)))),
    Row("isclose", lambda a, b: th.isclose(a, b), lambda a, b: np.isclose(a, b), BINARY, grad=False),
    Row("nn.elu", th.nn.elu, lambda x: np.where(x > 0, x, np.expm1(x))),
    Row("nn.selu", th.nn.selu, lambda x: 1.0507009873554805 * np.where(x > 0, x, 1.6732632423543772 * np.expm1(x))),
    Row("nn.gelu", lambda x: th.nn.gelu(x, approximate=False), _same(lambda x: x * sp.ndtr(x))),
    Row("nn.leaky_relu", th.nn.leaky_relu, lambda x: np.where(x >= 0, x, 0.01 * x)),
    Row("nn.silu", th.nn.silu, _same(lambda x: x * sp.expit(x))),
    Row("nn.softmax", th.nn.softmax, _same(lambda x: sp.softmax(x, axis=-1)), UNARY[:1] + UNARY[2:]),
    Row("nn.log_softmax", th.nn.log_softmax, _same(lambda x: sp.log_softmax(x, axis=-1)), UNARY[:1] + UNARY[2:]),
    Row("nn.standardize", th.nn.standardize,
        lambda x: (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-5), cases=UNARY[:1] + UNARY[3:]),
    Row("special.logsumexp", lambda x: th.scipy.special.logsumexp(x, axis=-1), _same(lambda x: sp.logsumexp(x, axis=-1))),
    Row("special.expit", th.scipy.special.expit, _same(sp.expit)),
    Row("special.gammaln", th.scipy.special.gammaln, _same(sp.gammaln), domain=(0.1, 8), rtol=1e-9),
    Row("special.digamma", th.scipy.special.digamma, _same(sp.digamma), domain=(0.3, 8), rtol=1e-9),
    Row("special.xlogy", th.scipy.special.xlogy, _same(sp.xlogy), BINARY, domain=(0.1, 3)),
    Row("stats.norm.logpdf", lambda x: th.scipy.stats.norm.logpdf(x, 0.5, 2.0), _same(lambda x: st.norm.logpdf(x, 0.5, 2.0))),
    Row("stats.norm.pdf", th.scipy.stats.norm.pdf, _same(st.norm.pdf)),
    Row("stats.norm.cdf", lambda x: th.scipy.stats.norm.cdf(x, 1.0, 0.5), _same(lambda x: st.norm.cdf(x, 1.0, 0.5))),
]


def _inputs(row: Row, shapes: tuple, dtype: Any, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.uniform(*row.domain, size=s).astype(dtype) for s in shapes]


def _check(got: Any, want: Any, dtype: Any, row: Row) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, (got.shape, want.shape)
    if want.dtype.kind in "bi":
        np.testing.assert_array_equal(got, want)
        return
    assert got.dtype == np.dtype(dtype), (got.dtype, dtype)
    rtol, atol = TOL[np.dtype(dtype)]
    if row.rtol is not None:
        rtol = max(rtol, row.rtol)
    np.testing.assert_allclose(got, want, rtol=rtol * 10, atol=max(atol, rtol) * 10)


@pytest.mark.parametrize("row", ROWS, ids=[r.name for r in ROWS])
@pytest.mark.parametrize("dtype", [np.float32, np.float64], ids=["f32", "f64"])
def test_forward_against_reference(row: Row, dtype):
    for k, shapes in enumerate(row.cases):
        xs = _inputs(row, shapes, dtype, k)
        want = row.ref(*xs)
        eager = row.fn(*xs)
        assert isinstance(eager, th.Array)
        _check(eager, want, dtype, row)
        if k == 0:  # traced too, and on a non-contiguous view
            _check(th.jit(row.fn)(*xs), want, dtype, row)
            views = [np.asfortranarray(x) if x.ndim > 1 else x for x in xs]
            _check(th.jit(row.fn)(*views), want, dtype, row)


@pytest.mark.parametrize("row", [r for r in ROWS if r.grad], ids=[r.name for r in ROWS if r.grad])
def test_gradient_by_finite_differences(row: Row):
    xs = _inputs(row, row.cases[0], np.float64, 7)
    th.verify_grad(lambda *a: row.fn(*a), xs)
