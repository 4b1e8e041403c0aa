"""grad/value_and_grad/vjp/jvp/jacobian/hessian/hvp and their composition with jit."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th
from support import assert_close


def f(x):
    return th.sum(th.sin(x) * x)


def df(x):
    return np.cos(x) * x + np.sin(x)


def test_grad_and_value_and_grad(rng):
    x = rng.normal(size=5)
    assert_close(th.grad(f)(x), df(x))
    v, g = th.value_and_grad(f)(x)
    assert_close(v, np.sum(np.sin(x) * x))
    assert_close(g, df(x))


def test_grad_argnums_pytrees_and_aux(rng):
    params = {"w": rng.normal(size=3), "b": np.float64(0.5)}
    x = rng.normal(size=3)

    def loss(p, x):
        y = p["w"] * x + p["b"]
        return th.sum(y * y), y

    (val, aux), g = th.value_and_grad(loss, has_aux=True)(params, x)
    y = params["w"] * x + params["b"]
    assert_close(val, np.sum(y * y))
    assert_close(aux, y)
    assert_close(g["w"], 2 * y * x)
    assert_close(g["b"], np.sum(2 * y))
    gx = th.grad(lambda p, x: loss(p, x)[0], argnums=(0, 1))(params, x)
    assert_close(gx[1], 2 * y * params["w"])


def test_grad_only_follows_the_chosen_argument(rng):
    x = rng.normal(size=3)
    assert_close(th.grad(lambda a, b: th.sum(a * b))(x, x), x)


def test_grad_of_grad_and_jit_composition(rng):
    x = rng.normal(size=4)
    g2 = th.grad(lambda x: th.sum(th.grad(f)(x)))(x)
    # d/dx sum(cos x * x + sin x) = -sin x * x + 2 cos x
    assert_close(g2, -np.sin(x) * x + 2 * np.cos(x))
    assert_close(th.jit(th.grad(f))(x), df(x))
    assert_close(th.grad(th.jit(f))(x), df(x))


def test_jvp_vjp_and_inner_product_identity(rng):
    x, v = rng.normal(size=4), rng.normal(size=4)
    g = lambda x: th.tanh(x) * th.exp(x)  # noqa: E731
    y, t = th.jvp(g, (x,), (v,))
    assert_close(y, np.tanh(x) * np.exp(x))
    jac_diag = (1 - np.tanh(x) ** 2) * np.exp(x) + np.tanh(x) * np.exp(x)
    assert_close(t, jac_diag * v)
    out, pullback = th.vjp(g, x)
    u = rng.normal(size=4)
    (ct,) = pullback(u)
    assert_close(ct, jac_diag * u)
    assert np.isclose(np.dot(ct, v), np.dot(u, t))


def test_jacobian_hessian_hvp(rng):
    x = rng.normal(size=3)
    g = lambda x: th.sin(x) * x[::-1]  # noqa: E731  (a non-diagonal Jacobian)
    J = th.jacobian(g)(x)
    expected = np.diag(np.cos(x) * x[::-1]) + np.diag(np.sin(x))[:, ::-1]
    assert_close(J, expected)
    assert_close(th.jacfwd(g)(x), expected)
    Jf = th.jacfwd(lambda x: th.sin(x) * x)(x)
    assert_close(Jf, np.diag(np.cos(x) * x + np.sin(x)))
    H = th.hessian(f)(x)
    assert_close(H, np.diag(-np.sin(x) * x + 2 * np.cos(x)))
    v = rng.normal(size=3)
    assert_close(th.hvp(f, (x,), (v,)), (-np.sin(x) * x + 2 * np.cos(x)) * v)


def test_grad_errors():
    with pytest.raises(TypeError, match="scalar"):
        th.grad(lambda x: x * 2)(np.ones(3))
    with pytest.raises(TypeError, match="float"):
        th.grad(lambda x: th.sum(x))(np.ones(3, np.int64))
    assert_close(th.grad(lambda x, y: th.sum(y * 2.0))(np.ones(2), np.ones(2)), np.zeros(2))
