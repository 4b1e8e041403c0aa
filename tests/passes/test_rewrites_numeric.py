"""tn-canonicalize and tn-stabilize end to end: values and gradients through `th.jit`.

Each stabilization case runs twice: optimized (fast_run) it is finite and matches a stable
NumPy formula, value and gradient; at fast_compile (no rewrites) the naive form really is
inf/NaN (or, for log1p/expm1, inaccurate), so the rewrite is what made the difference.
Canonicalization is checked on the tn-opt text (what was folded or removed) and on values:
random inputs through a few composite functions agree with NumPy with and without the
optimizer.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import pytest

import theanir as th


def optimized(f: Callable) -> Callable:
    return th.jit(lambda *a: f(*a), optimizer="fast_run")


def naive(f: Callable) -> Callable:
    return th.jit(lambda *a: f(*a), optimizer="fast_compile")


def tn_opt(f: Callable, *args) -> str:
    return th.jit(lambda *a: f(*a), optimizer="fast_run").lower(*args).as_text("tn-opt")


def _sigmoid(x):  # stable NumPy sigmoid
    return np.exp(-np.logaddexp(0, -x))


def _log_softmax(z):
    m = z.max(axis=-1, keepdims=True)
    return z - m - np.log(np.exp(z - m).sum(axis=-1, keepdims=True))


# ------------------------------------------------------------------ stabilization cases
# name -> (f, args, value, gradient w.r.t. args[0] of sum(f)); the naive form is non-finite
X_SIG_LO = np.array([-800.0, 0.0, 3.0])
X_SIG_HI = np.array([800.0, 0.0, -3.0])
Z = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 5.0]])
Y = np.array([[0.0, 1.0, 0.0], [0.5, 0.0, 0.5]])
X_LSE = np.array([1000.0, 1000.0])
X_LSE2 = np.array([[1000.0, 1000.0, -5.0], [-1e4, 0.0, 1e4]])

UNSTABLE = {
    "log_sigmoid": (lambda x: th.log(th.sigmoid(x)), (X_SIG_LO,),
                    -np.logaddexp(0, -X_SIG_LO), _sigmoid(-X_SIG_LO)),
    "log_one_minus_sigmoid": (lambda x: th.log(1 - th.sigmoid(x)), (X_SIG_HI,),
                              -np.logaddexp(0, X_SIG_HI), -_sigmoid(X_SIG_HI)),
    "softmax_cross_entropy": (lambda z, y: -th.sum(y * th.log(th.softmax(z))), (Z, Y),
                              -np.sum(Y * _log_softmax(Z)),
                              np.exp(_log_softmax(Z)) * Y.sum(axis=-1, keepdims=True) - Y),
    "logsumexp": (lambda x: th.log(th.sum(th.exp(x))), (X_LSE,),
                  1000.0 + np.log(2.0), np.array([0.5, 0.5])),
    "logsumexp_axis": (lambda x: th.log(th.sum(th.exp(x), axis=1)), (X_LSE2,),
                       (X_LSE2 - _log_softmax(X_LSE2))[:, 0], np.exp(_log_softmax(X_LSE2))),
}

X_LOG1P = np.array([1e-10, 1e-20, -1e-17, 0.5])
X_EXPM1 = np.array([1e-12, -1e-15, 1e-30, 0.3])
INACCURATE = {  # naive forms that are finite but lose the small x entirely
    "log1p": (lambda x: th.log(1 + x), (X_LOG1P,), np.log1p(X_LOG1P), 1 / (1 + X_LOG1P)),
    "log1p_x_plus_1": (lambda x: th.log(x + 1), (X_LOG1P,), np.log1p(X_LOG1P), 1 / (1 + X_LOG1P)),
    "expm1": (lambda x: th.exp(x) - 1, (X_EXPM1,), np.expm1(X_EXPM1), np.exp(X_EXPM1)),
}
CASES = {**UNSTABLE, **INACCURATE}


def _grad(f: Callable) -> Callable:
    return th.grad(lambda *a: th.sum(f(*a)))


@pytest.mark.parametrize("name", CASES)
def test_stabilized_value(name):
    f, args, value, _ = CASES[name]
    out = optimized(f)(*args)
    assert np.all(np.isfinite(out))
    np.testing.assert_allclose(out, value, rtol=1e-13, atol=0)


@pytest.mark.parametrize("name", CASES)
def test_stabilized_gradient(name):
    f, args, _, grad = CASES[name]
    g = optimized(_grad(f))(*args)
    assert np.all(np.isfinite(g))
    np.testing.assert_allclose(g, grad, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("name", UNSTABLE)
def test_naive_form_is_not_finite(name):
    """Without the optimizer the same functions give inf/NaN: the rewrites are what fix them."""
    f, args, _, _ = UNSTABLE[name]
    with np.errstate(all="ignore"):
        assert not np.all(np.isfinite(naive(f)(*args)))
        assert not np.all(np.isfinite(naive(_grad(f))(*args)))


@pytest.mark.parametrize("name", INACCURATE)
def test_naive_form_is_inaccurate(name):
    f, args, value, _ = INACCURATE[name]
    rel = np.abs(naive(f)(*args) - value) / np.abs(value)
    assert rel.max() > 1e-9


def test_stabilized_float32():
    x = np.array([-80.0, 0.0, 90.0], np.float32)
    f = optimized(lambda x: th.log(th.sigmoid(x)) + th.log(1 - th.sigmoid(x)))
    expect = -np.logaddexp(0, -x.astype(np.float64)) - np.logaddexp(0, x.astype(np.float64))
    out = f(x)
    assert out.dtype == np.float32
    np.testing.assert_allclose(out, expect, rtol=1e-6)
    with np.errstate(all="ignore"):
        assert not np.all(np.isfinite(naive(lambda x: th.log(th.sigmoid(x)) + th.log(1 - th.sigmoid(x)))(x)))


def test_rewrite_keeps_other_uses():
    """log(1 + x) with 1 + x also returned: the log becomes log1p, the sum stays for its user."""
    f = lambda x: (th.log(1 + x), 1 + x)  # noqa: E731
    text = tn_opt(f, X_LOG1P)
    assert "tn.log1p" in text and "tn.add" in text and '"tn.log"' not in text
    a, b = optimized(f)(X_LOG1P)
    np.testing.assert_allclose(a, np.log1p(X_LOG1P), rtol=1e-15)
    np.testing.assert_array_equal(b, 1 + X_LOG1P)


# ------------------------------------------------------------------ canonicalization
def test_constant_folding():
    c = np.array([0.5, 1.0, 2.0])
    f = lambda x: x * (th.exp(c) * 2 + th.ones(3) - th.log(c))  # noqa: E731
    text = tn_opt(f, c)
    assert text.count('"tn.constant"') == 1
    for name in ("tn.exp", "tn.log", "tn.add", "tn.sub"):
        assert name not in text
    x = np.array([1.0, -2.0, 3.0])
    np.testing.assert_allclose(optimized(f)(x), x * (np.exp(c) * 2 + 1 - np.log(c)), rtol=1e-15)


def test_identities():
    f = lambda x: -(-(((x + 0) * 1 - 0) / 1))  # noqa: E731
    x = np.array([1.5, -0.0, np.inf, np.nan])
    text = tn_opt(f, x)
    for name in ("tn.add", "tn.sub", "tn.mul", "tn.div", "tn.neg"):
        assert name not in text
    np.testing.assert_array_equal(optimized(f)(x), x)


def test_matmul_identity_and_sum_of_broadcast():
    f = lambda x: th.sum(th.broadcast_to(x @ th.eye(3), (5, 2, 3)), axis=0)  # noqa: E731
    x = np.arange(6.0).reshape(2, 3)
    text = tn_opt(f, x)
    assert "tn.matmul" not in text and "tn.reduce_sum" not in text
    np.testing.assert_array_equal(optimized(f)(x), 5 * x)


@pytest.fixture
def fast_math(monkeypatch):
    monkeypatch.setattr(th.config, "cache", False)  # the compile cache key has no fast_math
    def set_(on: bool) -> None:
        monkeypatch.setattr(th.config, "fast_math", on)
    return set_


def test_sub_self_keeps_nan_by_default(fast_math):
    fast_math(False)
    x = np.array([1.0, np.inf, np.nan])
    assert "tn.sub" in tn_opt(lambda x: x - x, x)
    out = optimized(lambda x: x - x)(x)
    np.testing.assert_array_equal(out, [0.0, np.nan, np.nan])


def test_sub_self_is_zero_under_fast_math(fast_math):
    fast_math(True)
    x = np.array([1.0, np.inf, np.nan])
    assert "tn.sub" not in tn_opt(lambda x: x - x, x)
    np.testing.assert_array_equal(optimized(lambda x: x - x)(x), [0.0, 0.0, 0.0])


def test_sub_self_int_always_zero(fast_math):
    fast_math(False)
    x = np.array([3, -4], np.int32)
    assert "tn.sub" not in tn_opt(lambda x: x - x, x)
    np.testing.assert_array_equal(optimized(lambda x: x - x)(x), [0, 0])


# ------------------------------------------------------------------ results unchanged
def _mlp(x, w, b, y):
    h = th.tanh(x @ w + b)
    p = th.exp(h) / th.sum(th.exp(h), axis=1, keepdims=True)
    return -th.sum(y * th.log(p)) / x.shape[0] + th.sum(th.log(1 + th.exp(-th.abs(h))))


def _mlp_np(x, w, b, y):
    h = np.tanh(x @ w + b)
    p = np.exp(h) / np.sum(np.exp(h), axis=1, keepdims=True)
    return -np.sum(y * np.log(p)) / x.shape[0] + np.sum(np.log(1 + np.exp(-np.abs(h))))


def _shapes(x, w, b, y):
    t = th.transpose(th.transpose(x)) * 1.0 + 0.0
    s = th.sum(th.broadcast_to(b, (7, 3)), axis=0) + th.reshape(th.reshape(w, (12,)), (4, 3))[0]
    return th.sum(t @ w, axis=0) * s - (-(-s)) + th.exp(x[:, :3]).sum(axis=0) - 1


def _shapes_np(x, w, b, y):
    s = 7 * b + w.reshape(12).reshape(4, 3)[0]
    return (x @ w).sum(axis=0) * s - s + np.exp(x[:, :3]).sum(axis=0) - 1


COMPOSITES = {"mlp": (_mlp, _mlp_np), "shapes": (_shapes, _shapes_np)}


@pytest.mark.parametrize("name", COMPOSITES)
def test_results_unchanged(name, rng):
    f, ref = COMPOSITES[name]
    args = (rng.standard_normal((5, 4)), rng.standard_normal((4, 3)), rng.standard_normal(3),
            np.eye(3)[rng.integers(0, 3, 5)])
    expect = ref(*args)
    np.testing.assert_allclose(optimized(f)(*args), expect, rtol=1e-12)
    np.testing.assert_allclose(naive(f)(*args), expect, rtol=1e-12)
    g = th.grad(lambda *a: th.sum(f(*a)), argnums=(0, 1, 2))
    for a, b in zip(optimized(g)(*args), naive(g)(*args)):
        np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-12)
