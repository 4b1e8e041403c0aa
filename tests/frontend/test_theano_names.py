"""Theano namespace names the classic tutorials use: T.xlogx, softmax of a vector as a row,
theanir.scalar.upcast, and the logistic-regression idiom end to end."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T
from theanir.scalar import upcast
from theanir.tensor.xlogx import xlogx, xlogy0
from support import assert_close

FLOATS = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", [(0,), (1,), (5,), (2, 3)])
def test_xlogx_values_and_gradient(rng, dtype, shape):
    x = T.tensor(dtype, (False,) * len(shape))
    xv = rng.uniform(0.1, 2, size=shape).astype(dtype)
    if xv.size:
        xv.flat[0] = 0
    f = th.function([x], [xlogx(x), T.grad(xlogx(x).sum(), x)])
    val, g = f(xv)
    with np.errstate(divide="ignore", invalid="ignore"):
        ref = np.where(xv == 0, 0, xv * np.log(xv))
        dref = np.where(xv == 0, 0, 1 + np.log(xv))
    assert val.dtype == dtype
    assert_close(val, ref.astype(dtype))
    assert_close(g, dref.astype(dtype))
    assert T.xlogx.xlogx is xlogx


@pytest.mark.parametrize("dtype", FLOATS)
def test_xlogy0_values_and_gradient(rng, dtype):
    x, y = T.tensor(dtype, (False,)), T.tensor(dtype, (False,))
    xv = np.array([0, 0, 0, 0.5, 2.0], dtype)
    yv = np.array([0, 2.0, -1.0, 0.3, 3.0], dtype)
    val, gx, gy = th.function([x, y], [xlogy0(x, y)] + T.grad(xlogy0(x, y).sum(), [x, y]))(xv, yv)
    assert_close(val, np.array([0, 0, 0, 0.5 * np.log(0.3), 2 * np.log(3.0)], dtype))
    assert_close(gx, np.array([0, np.log(2.0), 0, np.log(0.3), np.log(3.0)], dtype))
    assert_close(gy, np.array([0, 0, 0, 0.5 / 0.3, 2 / 3.0], dtype))
    # away from zero: central differences in both arguments
    th.verify_grad(lambda a, b: xlogy0(a, b), [rng.uniform(0.5, 2, 4), rng.uniform(0.5, 2, 4)])


def test_softmax_of_a_vector_is_a_row():
    v = T.dvector("v")
    f = th.function([v], [T.nnet.softmax(v), T.nnet.logsoftmax(v)])
    s, ls = f(np.array([1.0, 2.0, 3.0]))
    e = np.exp([1.0, 2.0, 3.0])
    assert s.shape == (1, 3) and ls.shape == (1, 3)
    assert_close(s, (e / e.sum())[None])
    assert_close(ls, np.log(e / e.sum())[None])
    m = T.dmatrix("m")
    assert th.function([m], T.nnet.softmax(m))(np.zeros((2, 4))).shape == (2, 4)


def test_upcast_follows_theano_and_floatx():
    old = th.config.floatX
    try:
        th.config.floatX = "float32"
        assert upcast("int32", "float32") == "float32"
        assert upcast("float32", "float64") == "float64"
        assert upcast("int64", "float32") == "float32"
        assert upcast(np.int32, "int64") == "int64"
        th.config.floatX = "float64"
        assert upcast("int32", "float32") == "float64"
        assert upcast("float32") == "float32"
        assert upcast("int8", "int32") == "int32"
    finally:
        th.config.floatX = old
    with pytest.raises(TypeError, match="not a dtype"):
        upcast("floaty")


def test_logistic_regression_idiom(rng):
    # the deeplearning.net tutorial's names, end to end
    x, y = T.matrix("x"), T.ivector("y")
    idx = T.lscalar("idx")
    W = th.shared(np.zeros((5, 3), th.config.floatX), name="W")
    b = th.shared(np.zeros(3, th.config.floatX), name="b")
    p_y = T.nnet.softmax(T.dot(x, W) + b)
    y_pred = T.argmax(p_y, axis=1)
    nll = -T.mean(T.log(p_y)[T.arange(y.shape[0]), y])
    cce = T.nnet.categorical_crossentropy(p_y, y).mean()
    errors = T.mean(T.neq(y_pred, y))
    gW, gb = T.grad(nll, [W, b])
    train = th.function([x, y, idx], [nll, cce, errors],
                        updates=[(W, W - T.cast(0.5, W.dtype) * gW), (b, b - 0.5 * gb)],
                        on_unused_input="ignore")
    xv = rng.normal(size=(40, 5)).astype(th.config.floatX)
    yv = np.argmax(xv[:, :3], axis=1).astype(np.int32)
    first = train(xv, yv, 0)
    assert_close(first[0], np.log(3.0))
    assert_close(first[1], first[0])
    for _ in range(30):
        last = train(xv, yv, 0)
    assert last[0] < first[0] and last[2] < 0.5
    for name in ["sqr", "tanh", "concatenate", "zeros_like", "as_tensor_variable", "iscalar",
                 "itensor3", "nnet", "xlogx", "consider_constant", "verify_grad"]:
        assert hasattr(T, name), name


@pytest.mark.parametrize("dtype", FLOATS)
def test_small_tensor_names_match_numpy(rng, dtype):
    pre = {np.float32: "f", np.float64: "d"}[dtype]
    x, v = getattr(T, pre + "matrix")("x"), getattr(T, pre + "vector")("v")
    A, B = getattr(T, pre + "tensor3")("A"), getattr(T, pre + "tensor3")("B")
    xv = (rng.normal(size=(2, 3)) * 3).astype(dtype)
    vv = rng.normal(size=3).astype(dtype)
    Av, Bv = rng.normal(size=(4, 2, 3)).astype(dtype), rng.normal(size=(4, 3, 5)).astype(dtype)
    cases = [
        (T.fill(x, 2.0), np.full((2, 3), 2.0, dtype)), (T.second(x, 1.5), np.full((2, 3), 1.5, dtype)),
        (T.iround(x), np.round(xv).astype(np.int64)),
        (T.vertical_stack(x, x), np.vstack([xv, xv])), (T.horizontal_stack(x, x), np.hstack([xv, xv])),
        (T.batched_dot(A, B), np.einsum("bij,bjk->bik", Av, Bv)), (T.batched_dot(x, x), (xv * xv).sum(1)),
        (T.identity_like(x), np.eye(2, 3, dtype=dtype)),
        (T.isinf(T.log(T.abs_(x) * 0)), np.ones((2, 3), bool)),
        (T.tile(x, (2, 3)), np.tile(xv, (2, 3))), (T.tile(v, 2), np.tile(vv, 2)),
        (T.repeat(x, 2, axis=1), np.repeat(xv, 2, axis=1)), (T.repeat(v, 3), np.repeat(vv, 3)),
        (T.diag(v), np.diag(vv)), (T.diag(x), np.diag(xv)),
        (T.scalar_from_tensor(v[0]), vv[0]), (T.tensor_from_scalar(v[1]), vv[1]),
    ]
    f = th.function([x, v, A, B], [c for c, _ in cases], on_unused_input="ignore")
    for got, (_, ref) in zip(f(xv, vv, Av, Bv), cases):
        assert got.shape == ref.shape and got.dtype == ref.dtype, (got.shape, ref.shape, got.dtype, ref.dtype)
        assert_close(got, ref)


def test_small_tensor_names_gradients(rng):
    a, b = rng.normal(size=(3, 2)), rng.normal(size=(3, 2, 4))
    th.verify_grad(lambda x: T.tile(x, (2, 1)) * 1.5, [a])
    th.verify_grad(lambda x: T.repeat(x, 3, axis=0), [a])
    th.verify_grad(lambda x: T.diag(x) + T.diag(x[:, 0]).sum(), [a])
    th.verify_grad(lambda x, y: T.batched_dot(x, y), [a, b])
    u = T.dvector("u")
    with pytest.raises(ValueError, match="batch axis"):
        th.function([u], T.batched_dot(u, u))(np.ones(2))
