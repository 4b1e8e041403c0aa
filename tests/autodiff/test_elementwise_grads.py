"""Every differentiable elementwise op: vjp and jvp against finite differences (verify_grad)."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th

# (function, domain) in float64; shapes exercise broadcasting inside the differentiated code
UNARY = [
    (th.negative, (-2, 2)), (th.abs, (0.2, 2)), (th.exp, (-2, 2)), (th.expm1, (-2, 2)),
    (th.log, (0.2, 3)), (th.log1p, (-0.5, 3)), (th.sqrt, (0.2, 3)), (th.rsqrt, (0.2, 3)),
    (th.square, (-2, 2)), (th.tanh, (-2, 2)), (th.sigmoid, (-4, 4)), (th.softplus, (-4, 4)),
    (th.relu, (0.1, 2)), (th.sin, (-3, 3)), (th.cos, (-3, 3)),
]
BINARY = [
    (th.add, (-2, 2)), (th.subtract, (-2, 2)), (th.multiply, (-2, 2)), (th.divide, (0.5, 2)),
    (th.power, (0.5, 2)), (th.maximum, (-2, 2)), (th.minimum, (-2, 2)), (th.mod, (0.3, 2)),
]
SHAPE_PAIRS = [((3,), (3,)), ((2, 3), (3,)), ((2, 1), (1, 3)), ((), (4,))]


@pytest.mark.parametrize("fn,domain", UNARY, ids=[f.__name__ for f, _ in UNARY])
@pytest.mark.parametrize("shape", [(), (4,), (2, 3)])
def test_unary_grad(fn, domain, shape, rng):
    x = rng.uniform(*domain, size=shape)
    th.verify_grad(fn, [x], rng=rng)


@pytest.mark.parametrize("fn,domain", BINARY, ids=[f.__name__ for f, _ in BINARY])
@pytest.mark.parametrize("shapes", SHAPE_PAIRS, ids=str)
def test_binary_grad(fn, domain, shapes, rng):
    a = rng.uniform(*domain, size=shapes[0])
    b = rng.uniform(*domain, size=shapes[1])
    if fn in (th.maximum, th.minimum):  # keep away from the kink
        b = b + np.where(np.abs(a - b) < 0.1, 0.3, 0.0) if shapes[0] == shapes[1] else b
    th.verify_grad(fn, [a, b], rng=rng)


def test_where_and_cast_grads(rng):
    c = rng.random((2, 3)) < 0.5
    th.verify_grad(lambda a, b: th.where(c, a * a, th.exp(b)), [rng.normal(size=(2, 3)), rng.normal(size=(3,))])
    # through float32 and back: the function is linear, so a large eps is exact
    th.verify_grad(lambda a: (a.astype(np.float32) * 2).astype(np.float64), [rng.normal(size=3)],
                   eps=0.5, rtol=1e-6)


def test_float32_grad_checks(rng):
    th.verify_grad(lambda a, b: th.tanh(a) * b, [rng.normal(size=(3,)).astype(np.float32),
                                                   rng.normal(size=(3,)).astype(np.float32)])


def test_nondifferentiable_ops_give_zero_gradient():
    x = np.array([0.3, 1.7, -2.2])
    g = th.grad(lambda x: th.sum(th.floor(x) * 2.0 + th.sign(x)))(x)
    np.testing.assert_array_equal(g, np.zeros(3))
    g = th.grad(lambda x: th.sum(th.where(x > 0, x, 0.0)))(x)
    np.testing.assert_array_equal(g, (x > 0).astype(float))


def test_verify_grad_detects_a_wrong_rule(monkeypatch, rng):
    from theanir.dialects.tn.registry import OPS

    original = OPS["tn.sin"].jvp
    monkeypatch.setattr(OPS["tn.sin"], "jvp", lambda p, t, o: [t[0] * 2.0])
    with pytest.raises(th.GradientError):
        th.verify_grad(th.sin, [rng.normal(size=3)])
    monkeypatch.setattr(OPS["tn.sin"], "jvp", original)
