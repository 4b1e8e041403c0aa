"""th.linalg and th.scipy.linalg/stats against NumPy/SciPy (float32/float64, batched,
1x1 and empty-free sizes), derivatives by finite differences (th.verify_grad), bad input."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.linalg as sl
import scipy.stats as st

import theanir as th

RNG = np.random.default_rng(3)


def _spd(n, batch=(), dtype=np.float64):
    a = RNG.normal(size=batch + (n, n))
    return (a @ np.swapaxes(a, -1, -2) + n * np.eye(n)).astype(dtype)


def _close(got, want, dtype, tol64=1e-9, tol32=2e-4):
    tol = tol64 if np.dtype(dtype) == np.float64 else tol32
    got = np.asarray(got)
    assert got.shape == np.shape(want), (got.shape, np.shape(want))
    assert got.dtype == np.dtype(dtype), got.dtype
    np.testing.assert_allclose(got, want, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n,batch", [(1, ()), (4, ()), (3, (2,))])
def test_factorizations_and_solves(dtype, n, batch):
    s = _spd(n, batch, dtype)
    a = (RNG.normal(size=batch + (n, n)) + n * np.eye(n)).astype(dtype)
    b = RNG.normal(size=batch + (n, 2)).astype(dtype)
    _close(th.linalg.cholesky(s), np.linalg.cholesky(s), dtype)
    _close(th.linalg.solve(a, b), np.linalg.solve(a, b), dtype)
    _close(th.linalg.inv(a), np.linalg.inv(a), dtype)
    _close(th.linalg.det(a), np.linalg.det(a), dtype, 1e-9, 1e-3)
    sign, logdet = th.linalg.slogdet(a)
    want_sign, want_logdet = np.linalg.slogdet(a)
    _close(sign, want_sign, dtype)
    _close(logdet, want_logdet, dtype)
    w, v = th.linalg.eigh(s)
    _close(w, np.linalg.eigh(s)[0], dtype, 1e-9, 1e-3)
    _close(np.asarray(v) @ (np.asarray(w)[..., :, None] * np.swapaxes(np.asarray(v), -1, -2)), s, dtype, 1e-9, 1e-3)
    low = np.tril(a)
    _close(th.linalg.solve_triangular(low, b, lower=True), np.linalg.solve(low, b), dtype, 1e-9, 1e-3)


@pytest.mark.parametrize("shape", [(5, 3), (3, 5), (4, 4), (1, 1)])
def test_qr_svd_norms_pinv(shape):
    m = RNG.normal(size=shape)
    q, r = th.linalg.qr(m)
    q2, r2 = np.linalg.qr(m)
    np.testing.assert_allclose(q, q2, atol=1e-10)
    np.testing.assert_allclose(r, r2, atol=1e-10)
    u, s, vh = th.linalg.svd(m, full_matrices=False)
    np.testing.assert_allclose(s, np.linalg.svd(m, compute_uv=False), atol=1e-10)
    np.testing.assert_allclose(np.asarray(u) * np.asarray(s) @ np.asarray(vh), m, atol=1e-10)
    np.testing.assert_allclose(th.linalg.pinv(m), np.linalg.pinv(m), atol=1e-9)
    for ord in (None, "fro", 1, -1, np.inf, 2, "nuc"):
        np.testing.assert_allclose(th.linalg.norm(m, ord), np.linalg.norm(m, ord), rtol=1e-10)
    v = m.reshape(-1)
    for ord in (None, 0, 1, 2, 3, np.inf, -np.inf):
        np.testing.assert_allclose(th.linalg.norm(v, ord), np.linalg.norm(v, ord), rtol=1e-10)
    np.testing.assert_allclose(th.linalg.norm(m, axis=0, keepdims=True), np.linalg.norm(m, axis=0, keepdims=True))


def test_lax_triangular_solve_sides():
    low = np.tril(RNG.normal(size=(3, 3))) + 3 * np.eye(3)
    b = RNG.normal(size=(2, 3))
    np.testing.assert_allclose(th.linalg.triangular_solve(low, b, left_side=False, lower=True),
                               b @ np.linalg.inv(low), atol=1e-12)
    np.testing.assert_allclose(th.linalg.triangular_solve(low, b.T, left_side=True, lower=True),
                               np.linalg.solve(low, b.T), atol=1e-12)
    np.testing.assert_allclose(th.linalg.triangular_solve(low, b.T, left_side=True, lower=True, transpose_a=True),
                               np.linalg.solve(low.T, b.T), atol=1e-12)


def test_scipy_linalg_and_stats():
    s = _spd(3)
    x = RNG.normal(size=(4, 3))
    np.testing.assert_allclose(th.scipy.linalg.cholesky(s), sl.cholesky(s), atol=1e-12)  # upper by default
    np.testing.assert_allclose(th.scipy.linalg.cholesky(s, lower=True), sl.cholesky(s, lower=True), atol=1e-12)
    for lower in (False, True):
        np.testing.assert_allclose(th.scipy.linalg.cho_solve(th.scipy.linalg.cho_factor(s, lower=lower), x.T),
                                   sl.cho_solve(sl.cho_factor(s, lower=lower), x.T), atol=1e-12)
    np.testing.assert_allclose(th.scipy.linalg.solve_triangular(np.triu(s), x.T), sl.solve_triangular(np.triu(s), x.T))
    mean = np.arange(3.0)
    np.testing.assert_allclose(th.scipy.stats.multivariate_normal.logpdf(x, mean, s),
                               st.multivariate_normal.logpdf(x, mean, s), rtol=1e-12)
    np.testing.assert_allclose(th.scipy.stats.multivariate_normal.pdf(x[0], mean, s),
                               st.multivariate_normal.pdf(x[0], mean, s), rtol=1e-12)
    np.testing.assert_allclose(th.scipy.stats.norm.logcdf(x, 0.5, 2.0), st.norm.logcdf(x, 0.5, 2.0), rtol=1e-12)
    np.testing.assert_allclose(th.scipy.stats.norm.ppf(np.array([0.1, 0.7]), 1.0, 2.0),
                               st.norm.ppf([0.1, 0.7], 1.0, 2.0), rtol=1e-9)


def _sym(x):
    return (x + th.swapaxes(x, -1, -2)) / 2


GRADS = {
    "cholesky": (lambda a: th.sum(th.sin(th.linalg.cholesky(_sym(a)))), lambda: [_spd(3)]),
    "solve": (lambda a, b: th.sum(th.linalg.solve(a, b) ** 2), lambda: [_spd(3), RNG.normal(size=3)]),
    "inv": (lambda a: th.sum(th.linalg.inv(a)), lambda: [_spd(3)]),
    "det": (lambda a: th.linalg.det(a), lambda: [RNG.normal(size=(3, 3))]),
    "slogdet": (lambda a: th.linalg.slogdet(a)[1], lambda: [_spd(3)]),
    "solve_triangular": (lambda a, b: th.sum(th.linalg.solve_triangular(th.tril(a) + 3 * th.eye(3), b, lower=True)),
                         lambda: [RNG.normal(size=(3, 3)), RNG.normal(size=(3, 2))]),
    "eigh": (lambda a: th.sum(th.linalg.eigh(a)[0] * th.arange(3.0)), lambda: [_spd(3)]),
    "svd": (lambda a: th.sum(th.linalg.svd(a, compute_uv=False) * th.arange(2.0)), lambda: [RNG.normal(size=(3, 2))]),
    "qr": (lambda a: th.sum(th.sin(th.linalg.qr(a)[1])), lambda: [RNG.normal(size=(3, 2))]),
    "norm": (lambda a: th.linalg.norm(a) + th.linalg.norm(a, 1), lambda: [RNG.normal(size=(3, 2))]),
    "mvn.logpdf": (lambda x, c: th.sum(th.scipy.stats.multivariate_normal.logpdf(x, th.zeros(2), c @ c.T + th.eye(2))),
                   lambda: [RNG.normal(size=(3, 2)), RNG.normal(size=(2, 2))]),
}


@pytest.mark.parametrize("name", list(GRADS))
def test_linalg_gradients(name):
    f, args = GRADS[name]
    th.verify_grad(f, args())


def test_bad_input_names_the_function():
    with pytest.raises(th.ShapeError, match=r"cholesky: needs square matrices .* \(2, 3\)"):
        th.linalg.cholesky(np.ones((2, 3)))
    with pytest.raises(th.ShapeError, match="solve: a has shape"):
        th.linalg.solve(np.eye(3), np.ones(4))
    with pytest.raises(TypeError):  # ShapeError is a TypeError too (JAX raises TypeError)
        th.linalg.inv(np.ones(3))
    assert np.isnan(np.asarray(th.linalg.cholesky(-np.eye(2)))).any()  # not positive definite: NaN, as JAX
