"""T.grad's options (consider_constant, known_grads, disconnected_inputs, return_disconnected),
T.Lop/T.jacobian/T.hessian consider_constant, and theanir.gradient (disconnected_grad,
zero_grad, grad_clip, grad_scale, consider_constant, DisconnectedType, verify_grad); every
gradient compared with NumPy formulas or central differences."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T
from theanir.gradient import (DisconnectedInputError, DisconnectedType, consider_constant,
                              disconnected_grad, grad_clip, grad_scale, verify_grad, zero_grad)
from support import assert_close

FLOATS = [np.float32, np.float64]


def _numeric_grad(f, x, eps=1e-6):
    """Central differences of the scalar NumPy function f at x (float64)."""
    x = np.asarray(x, np.float64)
    g = np.zeros_like(x)
    for i in np.ndindex(x.shape):
        d = np.zeros_like(x)
        d[i] = eps
        g[i] = (f(x + d) - f(x - d)) / (2 * eps)
    return g


def _vars(dtype):
    pre = {np.float32: "f", np.float64: "d"}[dtype]
    return getattr(T, pre + "vector")("x"), getattr(T, pre + "matrix")("W")


@pytest.mark.parametrize("dtype", FLOATS)
def test_consider_constant_matches_finite_differences(rng, dtype):
    # cost = sum(h * tanh(V x)), h = tanh(W x) held constant: d/dx only through tanh(V x)
    x, W = _vars(dtype)
    V = rng.normal(size=(3, 4)).astype(dtype)
    h = T.tanh(T.dot(W, x))
    cost = T.sum(h * T.tanh(T.dot(V, x)))
    f = th.function([x, W], T.grad(cost, x, consider_constant=[h]))
    xv, Wv = rng.normal(size=4).astype(dtype), rng.normal(size=(3, 4)).astype(dtype)
    h0 = np.tanh(Wv.astype(np.float64) @ xv)
    expected = _numeric_grad(lambda z: np.sum(h0 * np.tanh(V @ z)), xv)
    got = f(xv, Wv)
    assert got.dtype == dtype
    np.testing.assert_allclose(got, expected, rtol=1e-3 if dtype == np.float32 else 1e-7, atol=1e-5)
    # without it, the gradient also flows through h
    full = th.function([x, W], T.grad(cost, x))(xv, Wv)
    assert not np.allclose(full, got)


def test_consider_constant_disconnects_what_is_behind_it():
    x, W = _vars(np.float64)
    h = T.tanh(T.dot(W, x))
    with pytest.raises(DisconnectedInputError, match="does not depend on"):
        T.grad(h.sum(), x, consider_constant=[h])
    g = T.grad(h.sum(), [x, W], consider_constant=[h], disconnected_inputs="ignore")
    out = th.function([x, W], g)(np.ones(4), np.ones((3, 4)))
    assert_close(out[0], np.zeros(4))
    assert_close(out[1], np.zeros((3, 4)))


def test_consider_constant_on_a_wrt_variable_keeps_its_own_gradient(rng):
    # Theano: consider_constant stops the gradient *behind* a variable, not at it
    x, W = _vars(np.float64)
    y = T.dot(W, x)
    g = T.grad((y ** 2).sum(), [y, x], consider_constant=[y], disconnected_inputs="ignore")
    xv, Wv = rng.normal(size=4), rng.normal(size=(3, 4))
    gy, gx = th.function([x, W], g)(xv, Wv)
    assert_close(gy, 2 * Wv @ xv)
    assert_close(gx, np.zeros(4))


def test_grad_wrt_an_intermediate_and_its_input(rng):
    # d cost/d h (partial) and d cost/d x (total, through h) in one sweep
    x, W = _vars(np.float64)
    h = T.tanh(T.dot(W, x))
    cost = (h ** 2).sum() + (x ** 3).sum()
    xv, Wv = rng.normal(size=4), rng.normal(size=(3, 4))
    gh, gx = th.function([x, W], T.grad(cost, [h, x]))(xv, Wv)
    hv = np.tanh(Wv @ xv)
    assert_close(gh, 2 * hv)
    assert_close(gx, Wv.T @ (2 * hv * (1 - hv ** 2)) + 3 * xv ** 2)


def test_known_grads_seed_and_override(rng):
    x, W = _vars(np.float64)
    y = T.dot(W, x)
    g_y = T.dvector("g_y")
    xv, Wv, gv = rng.normal(size=4), rng.normal(size=(3, 4)), rng.normal(size=3)
    # no cost: the gradient of x from a gradient known on y (backprop through one layer)
    f = th.function([x, W, g_y], T.grad(None, x, known_grads={y: g_y}))
    assert_close(f(xv, Wv, gv), Wv.T @ gv)
    # with a cost, a known variable's gradient is the one given (what flows back is ignored)
    c = (y ** 2).sum() + (x ** 2).sum()
    f2 = th.function([x, W, g_y], T.grad(c, x, known_grads={y: g_y}))
    assert_close(f2(xv, Wv, gv), Wv.T @ gv + 2 * xv)
    # known gradient of the wrt variable itself
    f3 = th.function([x, g_y], T.grad((x ** 2).sum(), x, known_grads={x: T.ones_like(x)}),
                     on_unused_input="ignore")
    assert_close(f3(xv, gv), np.ones(4))


def test_known_grads_bad_input():
    x, W = _vars(np.float64)
    y = T.dot(W, x)
    with pytest.raises(ValueError, match="known_grads is empty"):
        T.grad(None, x)
    with pytest.raises(TypeError, match="dict"):
        T.grad(None, x, known_grads=[(y, y)])
    f = th.function([x, W], T.grad(None, x, known_grads={y: T.ones((5,))}))
    with pytest.raises(ValueError, match="shape"):
        f(np.ones(4), np.ones((3, 4)))


def test_return_disconnected():
    x, W = _vars(np.float64)
    cost = (x ** 2).sum()
    gz = T.grad(cost, [x, W], disconnected_inputs="ignore", return_disconnected="zero")
    assert_close(th.function([x, W], gz, on_unused_input="ignore")(np.ones(4), np.ones((3, 4)))[1],
                 np.zeros((3, 4)))
    gn = T.grad(cost, [x, W], disconnected_inputs="ignore", return_disconnected="None")
    assert gn[1] is None and gn[0] is not None
    gd = T.grad(cost, [x, W], disconnected_inputs="ignore", return_disconnected="Disconnected")
    assert gd[1].type == DisconnectedType() and isinstance(gd[1].type, DisconnectedType)
    with pytest.warns(UserWarning, match="does not depend"):
        T.grad(cost, W, disconnected_inputs="warn")
    with pytest.raises(ValueError, match="return_disconnected"):
        T.grad(cost, x, return_disconnected="nothing")


@pytest.mark.parametrize("dtype", FLOATS)
def test_disconnected_grad_and_zero_grad(rng, dtype):
    x, W = _vars(dtype)
    y = T.dot(W, x)
    cost = (T.tanh(y) * disconnected_grad(y)).sum()
    xv, Wv = rng.normal(size=4).astype(dtype), rng.normal(size=(3, 4)).astype(dtype)
    got = th.function([x, W], T.grad(cost, x))(xv, Wv)
    y0 = Wv.astype(np.float64) @ xv
    expected = _numeric_grad(lambda z: np.sum(np.tanh(Wv @ z) * y0), xv)
    np.testing.assert_allclose(got, expected, rtol=1e-3 if dtype == np.float32 else 1e-7, atol=1e-5)
    # forward value unchanged
    assert_close(th.function([x, W], cost)(xv, Wv), np.sum(np.tanh(y0) * y0).astype(dtype))
    # only through disconnected_grad: disconnected; only through zero_grad: zeros, no error
    with pytest.raises(DisconnectedInputError):
        T.grad(disconnected_grad(x).sum(), x)
    gz = th.function([x], T.grad(zero_grad(x).sum(), x))(xv)
    assert_close(gz, np.zeros(4, dtype))
    with pytest.warns(DeprecationWarning):
        c = consider_constant(x)
    assert_close(th.function([x], T.grad((c * x).sum(), x))(xv), xv)


@pytest.mark.parametrize("dtype", FLOATS)
def test_grad_clip_and_grad_scale(rng, dtype):
    x, W = _vars(dtype)
    xv = rng.normal(size=4).astype(dtype)
    w = np.array([-3.0, -0.2, 0.3, 4.0], dtype)
    out = grad_clip(x, -1.0, 1.0)
    f = th.function([x], [out, T.grad((out * w).sum(), x)])
    val, g = f(xv)
    assert_close(val, xv)
    assert_close(g, np.clip(w, -1, 1).astype(dtype))
    gs = th.function([x], T.grad((grad_scale(x, -2.0) * w).sum(), x))(xv)
    assert_close(gs, -2 * w)


def test_lop_jacobian_hessian_consider_constant(rng):
    x = T.dvector("x")
    h = T.sin(x)
    y = h * x
    xv = rng.normal(size=3)
    u = T.dvector("u")
    lop = th.function([x, u], T.Lop(y, x, u, consider_constant=[h]))
    uv = rng.normal(size=3)
    assert_close(lop(xv, uv), uv * np.sin(xv))
    jac = th.function([x], T.jacobian(y, x, consider_constant=[h]))(xv)
    assert_close(jac, np.diag(np.sin(xv)))
    cost = (h * x ** 2).sum()
    hes = th.function([x], T.hessian(cost, x, consider_constant=[h]))(xv)
    assert_close(hes, np.diag(2 * np.sin(xv)))


@pytest.mark.parametrize("dtype", FLOATS)
def test_theano_verify_grad(rng, dtype):
    # Theano's spelling: verify_grad(fun, pt, n_tests, rng) on T operations
    pt = [rng.uniform(0.5, 2, size=(3,)).astype(dtype), rng.normal(size=(3,)).astype(dtype)]
    verify_grad(lambda a, b: T.xlogx.xlogx(a) * T.tanh(b), pt, rng=np.random.RandomState(1))
    T.verify_grad(lambda a, b: T.nnet.softmax(a * b) * b, pt, n_tests=1)
    with pytest.raises(th.GradientError):
        verify_grad(lambda a, b: T.sum(zero_grad(a) * b), pt)


def test_consider_constant_on_a_scan_output_rbm_style(rng):
    # the RBM tutorial: cost = F(v) - F(chain_end), chain_end sampled by a scan that reads W,
    # T.grad(cost, W, consider_constant=[chain_end]): the scan is not differentiated
    v = T.dvector("v")
    W = th.shared(rng.normal(size=(4, 4)) * 0.3, name="W")
    chain, _ = th.scan(lambda x: T.nnet.sigmoid(T.dot(W, x)), outputs_info=v, n_steps=3)
    chain_end = chain[-1]
    free = lambda x: -T.sum(T.nnet.softplus(T.dot(W, x)))
    cost = free(v) - free(chain_end)
    f = th.function([v], T.grad(cost, W, consider_constant=[chain_end]))
    vv = rng.uniform(size=4)
    x = vv
    for _ in range(3):
        x = 1 / (1 + np.exp(-W.get_value() @ x))
    Wv = W.get_value()
    sig = lambda z: 1 / (1 + np.exp(-z))
    expected = -np.outer(sig(Wv @ vv), vv) + np.outer(sig(Wv @ x), x)
    assert_close(f(vv), expected)
    text = f.lower(vv).as_text("tn")
    assert text.count('"tn.scan"') == 1  # the forward chain only: no tangent or transposed loop
