"""Slices with traced bounds: `x[i:i + n]` in th.jit, Theano's minibatch idiom in th.function.

Bounds that differ by a constant compile once (tn.dynamic_slice, dialects/tn/ops/dynamic.py);
other lengths specialize th.function's trace (frontend/symbolic_slicing.py) and are a clear
TypeError inside th.jit; a slice that would come out shorter than compiled (out of range)
fails the call with an IndexError naming getitem, the bounds and the dimension size.
"""
from __future__ import annotations

import re

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T
from theanir.dialects.tn.registry import OPS


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def _i(v: int) -> np.ndarray:
    return np.int64(v)


# ------------------------------------------------------------------ the program
def test_minibatch_givens_regression(rng):
    """Issue 14: `givens={x: train_x[index * bs:(index + 1) * bs]}` raised
    `TypeError: getitem: slice bounds must be static ints`; now one compile serves every index."""
    n, d, bs = 60, 5, 12
    data_x, data_y = rng.standard_normal((n, d)), rng.standard_normal(n)
    train_x, train_y = th.shared(data_x), th.shared(data_y)
    w = th.shared(np.zeros(d))
    x, y, index = T.matrix("x"), T.vector("y"), T.lscalar()
    cost = ((T.dot(x, w) - y) ** 2).mean()
    g = T.grad(cost, w)
    train = th.function([index], cost, updates=[(w, w - 0.1 * g)],
                        givens={x: train_x[index * bs:(index + 1) * bs],
                                y: train_y[index * bs:(index + 1) * bs]})
    ref_w = np.zeros(d)
    for epoch in range(2):
        for k in range(n // bs):
            xb, yb = data_x[k * bs:(k + 1) * bs], data_y[k * bs:(k + 1) * bs]
            ref_cost = np.mean((xb @ ref_w - yb) ** 2)
            ref_w = ref_w - 0.1 * (2 / bs) * xb.T @ (xb @ ref_w - yb)
            np.testing.assert_allclose(float(train(k)), ref_cost, rtol=1e-12)
    np.testing.assert_allclose(w.get_value(), ref_w, rtol=1e-12)
    assert train.cache_size == 1  # one compile over every index value


def test_minibatch_out_of_range_raises(rng):
    train_x = th.shared(rng.standard_normal((50, 3)))
    index = T.lscalar()
    f = th.function([index], train_x[index * 20:(index + 1) * 20].sum())
    np.testing.assert_allclose(float(f(1)), train_x.get_value()[20:40].sum(), rtol=1e-12)
    with pytest.raises(IndexError, match=r"getitem: the slice 40:60 along axis 0 .* selects 10 elements.*"
                                         r"static length 20.*dimension of size 50"):
        float(f(2))  # Python would return the 10 last rows: a static shape cannot
    np.testing.assert_allclose(float(f(0)), train_x.get_value()[:20].sum(), rtol=1e-12)


def test_failed_check_leaves_updated_variables_as_they_were(rng):
    """A call with updates and a failed check raises at the call (it runs inline) and the
    shared variables keep their values: the training loop can go on."""
    data = rng.standard_normal((40, 3))
    train_x, w = th.shared(data), th.shared(np.ones(3))
    index = T.lscalar()
    cost = T.sum(T.dot(train_x[index * 10:(index + 1) * 10], w) ** 2)
    step = th.function([index], cost, updates=[(w, w - 0.01 * T.grad(cost, w))])
    float(step(0))
    before = w.get_value().copy()
    with pytest.raises(IndexError, match=r"the slice 40:50 along axis 0 .* dimension of size 40"):
        step(4)
    np.testing.assert_array_equal(w.get_value(), before)
    for _ in range(2):  # the warm (C++) path too
        with pytest.raises(IndexError, match="getitem"):
            step(-1)  # x[-10:0] is empty in Python
        np.testing.assert_array_equal(w.get_value(), before)
    xb = data[30:40]
    np.testing.assert_allclose(float(step(3)), np.sum((xb @ before) ** 2), rtol=1e-12)


# ------------------------------------------------------------------ th.jit
def test_jit_slices_compile_once():
    x = np.arange(60, dtype=np.float32).reshape(20, 3)
    f = th.jit(lambda x, i: x[i:i + 4] * 2)
    g = th.jit(lambda x, i: x[i * 5:(i + 1) * 5].sum(axis=0))
    for i in [0, 3, 16, -5, -20, -7]:
        np.testing.assert_array_equal(np.asarray(f(x, _i(i))), x[i:i + 4] * 2)
    for i in [0, 1, 3, -4]:
        np.testing.assert_allclose(np.asarray(g(x, _i(i))), x[i * 5:(i + 1) * 5].sum(axis=0))
    assert f.cache_size == 1 and g.cache_size == 1


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_jit_2d_steps_and_negative_steps(dtype):
    x = np.arange(90.0).reshape(9, 10)
    two_d = th.jit(lambda x, a, c: x[a:a + 2, c - 3:c])
    stepped = th.jit(lambda x, i: x[i:i + 6:2, 1])
    backwards = th.jit(lambda x, i: x[i:i - 3:-1, ::-2])
    for a, c in [(0, 3), (7, 10), (-3, -1), (3, 5)]:
        np.testing.assert_array_equal(np.asarray(two_d(x, dtype(a), dtype(c))), x[a:a + 2, c - 3:c])
    for i in [0, 3, -7]:
        np.testing.assert_array_equal(np.asarray(stepped(x, dtype(i))), x[i:i + 6:2, 1])
    for i in [3, 8, -1]:
        np.testing.assert_array_equal(np.asarray(backwards(x, dtype(i))), x[i:i - 3:-1, ::-2])
    with pytest.raises(IndexError, match=r"getitem: the slice 1:-2:-1 along axis 0"):
        np.asarray(backwards(x, dtype(1)))  # x[1:-2:-1] is empty in Python
    np.testing.assert_array_equal(np.asarray(stepped(x, dtype(4))), x[4:10:2, 1])  # Python: still 3 rows
    with pytest.raises(IndexError, match=re.escape("the slice 5:11:2 along axis 0 of a tensor of shape (9, 10) "
                                                   "selects 2 elements")):
        np.asarray(stepped(x, dtype(5)))  # x's own shape, although x[..., 1] is sliced too


def test_empty_and_one_element():
    x = np.arange(5.0)
    empty = th.jit(lambda x, i: x[i:i])
    one = th.jit(lambda x, i: x[i:i + 1])
    for i in [0, 4, -5, 9]:  # an empty slice has length 0 wherever it is
        assert np.asarray(empty(x, _i(i))).shape == (0,)
    for i in [0, 4, -2, -5]:
        np.testing.assert_array_equal(np.asarray(one(x, _i(i))), x[i:i + 1])
    np.testing.assert_array_equal(np.asarray(one(np.array([3.0]), _i(0))), [3.0])
    with pytest.raises(IndexError, match=r"the slice -1:0 along axis 0 of a tensor of shape \(5,\) selects 0"):
        np.asarray(one(x, _i(-1)) * 0 + one(x, _i(-1)))  # Python: x[-1:0] is empty, not x[4]


def test_out_of_range_inline_call_raises_at_the_call():
    x = np.arange(10.0)
    f = th.jit(lambda x, i: x[i:i + 3])
    old = th.config.sync
    th.config.sync = True
    try:
        with pytest.raises(IndexError, match=re.escape("getitem: the slice 8:11 along axis 0 of a tensor of "
                                                       "shape (10,) selects 2 elements, but the compiled slice "
                                                       "has the static length 3")):
            f(x, _i(8))
        np.testing.assert_array_equal(np.asarray(f(x, _i(7))), x[7:])  # the next call is fine
    finally:
        th.config.sync = old


def test_out_of_range_through_the_engine_route():
    old = th.config.codegen
    th.config.codegen = "engine"
    try:
        f = th.jit(lambda x, i: x[i:i + 3] + 1.0)
        x = np.arange(6.0)
        np.testing.assert_array_equal(np.asarray(f(x, _i(2))), x[2:5] + 1)
        with pytest.raises(IndexError, match="dimension of size 6"):
            np.asarray(f(x, _i(5)))
    finally:
        th.config.codegen = old


def test_out_of_range_inside_a_loop():
    """A check inside a loop body (th.lax.scan over traced positions): the failing step
    fails the call."""
    x = np.arange(12.0)

    def f(x, starts):
        def step(acc, i):
            return acc + x[i:i + 3].sum(), None
        return th.lax.scan(step, 0.0, starts)[0]

    g = th.jit(f)
    np.testing.assert_allclose(float(g(x, np.arange(10))), sum(x[i:i + 3].sum() for i in range(10)))
    with pytest.raises(IndexError, match="the slice 10:13 along axis 0"):
        float(g(x, np.arange(11)[::-1].copy()))
    assert g.cache_size == 2  # one per length of `starts`


def test_length_that_depends_on_traced_values_is_a_type_error():
    x = np.arange(10.0)
    with pytest.raises(TypeError, match=r"getitem: the slice <traced>:<traced> has traced bounds and a "
                                        r"length that depends on their values"):
        th.jit(lambda x, i, j: x[i:j])(x, _i(1), _i(3))
    with pytest.raises(TypeError, match=r"getitem: the slice :<traced>"):
        th.jit(lambda x, i: x[:i])(x, _i(1))
    with pytest.raises(TypeError, match=r"the step of a slice must be known while tracing"):
        th.jit(lambda x, i: x[::i])(x, _i(2))
    with pytest.raises(TypeError, match=r"a traced slice start must be a 0-d integer tensor"):
        th.jit(lambda x, i: x[i:i + 2])(x, np.array([1, 2]))
    with pytest.raises(IndexError, match=r"always selects 12 elements.*size 10"):
        th.jit(lambda x, i: x[i:i + 12])(x, _i(0))


def test_static_bounds_known_while_tracing_stay_static():
    x = np.arange(10.0)
    f = th.jit(lambda x: x[th.zeros((), np.int64) + 2:th.zeros((), np.int64) + 5])  # folded: a tn.slice
    assert "tn.dynamic_slice" not in f.lower(x).as_text("tn")
    np.testing.assert_array_equal(np.asarray(f(x)), x[2:5])


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grad_through_a_traced_slice(dtype, rng):
    x = rng.standard_normal((8, 3)).astype(dtype)
    w = rng.standard_normal((3, 3)).astype(dtype)
    loss = th.jit(lambda x, i: (th.tanh(x[i:i + 3, :]) * w).sum())
    dx = th.grad(loss, argnums=0)
    for i in [0, 2, 5, -4]:
        ref = np.zeros_like(x)
        ref[i:i + 3] = (1 - np.tanh(x[i:i + 3]) ** 2) * w
        np.testing.assert_allclose(np.asarray(dx(x, _i(i))), ref, rtol=1e-5 if dtype == np.float32 else 1e-12)
    with pytest.raises(IndexError, match="getitem"):  # the gradient alone checks the bounds too
        np.asarray(dx(x, _i(6)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_verify_grad_dynamic_slice(dtype, rng):
    def f(x):
        i = (x[0, 0] * 0).astype(np.int64) + 1  # a traced bound
        return th.sin(x[i:i + 2, i - 1:i + 1]) * x[i + 1:i + 3, :2]
    th.verify_grad(f, [rng.standard_normal((4, 3)).astype(dtype)])


def test_theano_grad_of_minibatch_slice(rng):
    data = rng.standard_normal((30, 4))
    train_x = th.shared(data)
    w = T.vector("w")
    index = T.lscalar("index")
    cost = T.sum(T.dot(train_x[index * 10:(index + 1) * 10], w) ** 2)
    gw, gx = T.grad(cost, [w, train_x])
    f = th.function([w, index], [gw, gx])
    wv = rng.standard_normal(4)
    for k in range(3):
        xb = data[k * 10:(k + 1) * 10]
        got_w, got_x = f(wv, k)
        np.testing.assert_allclose(np.asarray(got_w), 2 * xb.T @ (xb @ wv), rtol=1e-12)
        ref_x = np.zeros_like(data)
        ref_x[k * 10:(k + 1) * 10] = 2 * np.outer(xb @ wv, wv)
        np.testing.assert_allclose(np.asarray(got_x), ref_x, rtol=1e-12)
    assert f.cache_size == 1


# ------------------------------------------------------------------ th.function's fallback
def test_function_specializes_lengths_that_vary():
    x, i, j, k = T.vector("x"), T.lscalar("i"), T.lscalar("j"), T.lscalar("k")
    v = np.arange(10.0)
    f = th.function([x, i, j], x[i:j].sum())
    assert float(f(v, 2, 5)) == v[2:5].sum() and float(f(v, 2, 5)) == v[2:5].sum()
    assert float(f(v, 1, 9)) == v[1:9].sum() and float(f(v, -3, 10)) == v[-3:].sum()
    assert f.cache_size == 3  # one compile per distinct pair of bounds (until dynamic shapes)
    g = th.function([x, k], x[::k])
    np.testing.assert_array_equal(np.asarray(g(v, 3)), v[::3])
    np.testing.assert_array_equal(np.asarray(g(v, -2)), v[::-2])
    h = th.function([x, i], x[i:i + 3] * 2)  # constant length: not specialized
    np.testing.assert_array_equal(np.asarray(h(v, 4)), v[4:7] * 2)
    np.testing.assert_array_equal(np.asarray(h(v, -5)), v[-5:-2] * 2)
    assert h.cache_size == 1


def test_symbolic_analysis_of_slice_bounds():
    from theanir.frontend.symbolic_slicing import slice_static_inputs

    x, i, j = T.vector("x"), T.lscalar("i"), T.iscalar("j")
    constant_length = [x[i * np.int64(4):(i + 1) * np.int64(4)], x[T.add(i, 2):T.add(i, 5)],
                       x[-i - 3:-i], x[i:i + T.constant(3)], x[2 * i:2 * i + 1:2]]
    for e in constant_length:
        assert slice_static_inputs(e.owner) == []
    assert slice_static_inputs(x[i:j].owner) == [i, j]
    assert slice_static_inputs(x[i:].owner) == [i]
    assert slice_static_inputs(x[::j].owner) == [j]
    stop = i + T.constant(2.5)  # not an integer form: both bounds
    assert slice_static_inputs(x[i:stop].owner) == [i, stop]


def test_slice_inside_a_symbolic_scan():
    x, ks = T.vector("x"), T.lvector("ks")
    out, _ = th.scan(lambda k, acc, xx: acc + xx[k:k + 2].sum(), sequences=[ks],
                     outputs_info=[T.constant(0.0)], non_sequences=[x])
    f = th.function([x, ks], out[-1])
    v = np.arange(10.0)
    assert float(f(v, np.arange(5))) == sum(v[k:k + 2].sum() for k in range(5))
    with pytest.raises(IndexError, match="the slice 9:11 along axis 0"):
        float(f(v, np.array([0, 9])))


# ------------------------------------------------------------------ the op's reference
def test_reference_follows_python_and_refuses_other_lengths():
    ref = OPS["tn.dynamic_slice"].reference
    x = np.arange(20.0).reshape(5, 4)
    got = ref(x, np.array([-3, 1]), np.array([-1, 4]), sizes=(2, 3), steps=(1, 1))
    np.testing.assert_array_equal(got, x[-3:-1, 1:4])
    np.testing.assert_array_equal(ref(x, np.array([4, 0]), np.array([0, 4]), sizes=(2, 2), steps=(-2, 3)),
                                  x[4:0:-2, 0:4:3])
    with pytest.raises(IndexError, match=r"the slice 4:6 along axis 0 .* selects 1 elements"):
        ref(x, np.array([4, 0]), np.array([6, 4]), sizes=(2, 4), steps=(1, 1))
    pad = OPS["tn.dynamic_pad_slice"].reference
    out = pad(np.ones((2, 2)), np.array([1, -2]), np.array([3, 4]), steps=(1, 1), shape=(5, 4))
    expect = np.zeros((5, 4))
    expect[1:3, -2:] = 1
    np.testing.assert_array_equal(out, expect)
