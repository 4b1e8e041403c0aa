"""th.function compiles once per input types (Theano's rule): the non-broadcastable dims of its
inputs are dynamic, shared variables keep their shapes (docs/dynamic-shapes.md)."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T


def _regression(dtype: str, dynamic: bool = True):
    x, y = T.matrix("x", dtype=dtype), T.matrix("y", dtype=dtype)
    rng = np.random.default_rng(0)
    W = th.shared(rng.standard_normal((4, 3)).astype(dtype), name="W")
    b = th.shared(np.zeros(3, dtype), name="b")
    h = T.tanh(T.dot(x, W) + b)
    cost = T.mean(T.sum((h - y) ** 2, axis=1))
    gW, gb = T.grad(cost, [W, b])
    train = th.function([x, y], cost, updates=[(W, W - 0.1 * gW), (b, b - 0.1 * gb)],
                        dynamic_shapes=dynamic)  # False: the static path, for the reference run
    return train, W, b


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_compile_for_every_batch_size_and_the_same_numbers(dtype):
    dyn, W1, _ = _regression(dtype)
    ref, W2, _ = _regression(dtype, dynamic=False)
    rng = np.random.default_rng(1)
    for n in (1, 7, 60, 7, 2):
        xv, yv = rng.standard_normal((n, 4)).astype(dtype), rng.standard_normal((n, 3)).astype(dtype)
        a, b = float(dyn(xv, yv)), float(ref(xv, yv))
        assert a == pytest.approx(b, rel=1e-5 if dtype == "float32" else 1e-12)
    # the two compiles sum in different orders (kernel blocks chosen in the call vs per shape):
    # float32 weights of size ~1 agree to a few eps, also where an entry is near zero
    np.testing.assert_allclose(W1.get_value(), W2.get_value(), rtol=1e-5 if dtype == "float32" else 1e-12,
                               atol=1e-6 if dtype == "float32" else 0)
    assert dyn.dynamic_shapes and dyn.dynamic_error is None
    assert dyn.compile_count == 1 and ref.compile_count == 4 and not ref.dynamic_shapes


def test_broadcastable_dims_stay_static():
    r = T.row("r")  # (True, False): dim 0 is 1
    m = T.matrix("m")
    f = th.function([r, m], r + m)
    for n in (2, 5):
        rv, mv = np.arange(n, dtype=th.config.floatX)[None], np.ones((3, n), th.config.floatX)
        np.testing.assert_array_equal(np.asarray(f(rv, mv)), rv + mv)
    assert f.compile_count == 1 and f.dynamic_shapes


def test_a_shape_mismatch_raises_and_leaves_the_shared_variables():
    train, W, b = _regression("float64")
    before = W.get_value().copy()
    with pytest.raises(ValueError, match=r"dim 1 of a tensor of shape \(\?, \?\) is 5, where 4 is required"):
        train(np.ones((3, 5)), np.ones((3, 3)))
    np.testing.assert_array_equal(W.get_value(), before)
    train(np.ones((3, 4)), np.ones((3, 3)))  # and the function still runs
    assert not np.array_equal(W.get_value(), before)


def test_graphs_without_dynamic_lowerings_compile_per_shape():
    # whatever a graph needs that has no dynamic lowering yet, the function stays correct:
    # it compiles per shape and says why (f.dynamic_error)
    x = T.matrix("x")
    y = T.ivector("y")
    p = T.nnet.softmax(x)
    nll = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
    f = th.function([x, y], nll)
    rng = np.random.default_rng(2)
    for n in (3, 8, 3):
        xv = rng.standard_normal((n, 5)).astype(th.config.floatX)
        yv = rng.integers(0, 5, n).astype(np.int32)
        e = np.exp(xv - xv.max(1, keepdims=True))
        ref = -np.mean(np.log(e / e.sum(1, keepdims=True))[np.arange(n), yv])
        assert float(f(xv, yv)) == pytest.approx(ref, rel=1e-5)
    if f.dynamic_shapes:
        assert f.compile_count == 1
    else:
        assert f.compile_count == 2 and f.dynamic_error


def test_a_hot_shape_gets_a_static_specialization():
    th.config.specialize_after, default = 32, th.config.specialize_after
    try:
        _hot_shape_gets_a_static_specialization()
    finally:
        th.config.specialize_after = default


def _hot_shape_gets_a_static_specialization():
    train, W, _ = _regression("float32")
    ref, W2, _ = _regression("float32", dynamic=False)
    rng = np.random.default_rng(5)
    for n in (3, 9, 4):  # a few shapes once: the dynamic code
        xv, yv = rng.standard_normal((n, 4)).astype("float32"), rng.standard_normal((n, 3)).astype("float32")
        assert float(train(xv, yv)) == pytest.approx(float(ref(xv, yv)), rel=1e-5)
    assert train.compile_count == 1
    xv, yv = rng.standard_normal((10, 4)).astype("float32"), rng.standard_normal((10, 3)).astype("float32")
    for _ in range(th.config.specialize_after + 3):  # one shape again and again: static code
        assert float(train(xv, yv)) == pytest.approx(float(ref(xv, yv)), rel=1e-4)
    assert train.compile_count == 2 and train.dynamic_shapes
    np.testing.assert_allclose(W.get_value(), W2.get_value(), rtol=1e-4)
    th.config.specialize_after, before = 0, th.config.specialize_after
    try:  # 0: never specialize
        f, _, _ = _regression("float32")
        for _ in range(40):
            f(xv, yv)
        assert f.compile_count == 1
    finally:
        th.config.specialize_after = before


def test_the_nll_gather_idiom_trains_with_one_compile():
    # logistic regression as the Theano tutorial writes it: log(p)[arange(n), y] with n and
    # the batch dynamic (a gather over dynamic dims; its gradient adds rows into zeros)
    def build(dynamic):
        x, y = T.matrix("x"), T.ivector("y")
        W = th.shared(np.zeros((5, 3), th.config.floatX), name="W")
        b = th.shared(np.zeros(3, th.config.floatX), name="b")
        p = T.nnet.softmax(T.dot(x, W) + b)
        nll = -T.mean(T.log(p)[T.arange(y.shape[0]), y])
        gW, gb = T.grad(nll, [W, b])
        return th.function([x, y], nll, updates=[(W, W - 0.5 * gW), (b, b - 0.5 * gb)],
                           dynamic_shapes=dynamic), W
    dyn, W1 = build(True)
    ref, W2 = build(False)
    rng = np.random.default_rng(6)
    for n in (4, 11, 1, 7):
        xv = rng.standard_normal((n, 5)).astype(th.config.floatX)
        yv = rng.integers(0, 3, n).astype(np.int32)
        assert float(dyn(xv, yv)) == pytest.approx(float(ref(xv, yv)), rel=1e-5)
    np.testing.assert_allclose(W1.get_value(), W2.get_value(), rtol=1e-5, atol=1e-7)
    assert dyn.dynamic_shapes and dyn.compile_count == 1


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_updates_of_rows_at_traced_indices_compile_once(dtype):
    """inc_subtensor / set_subtensor of x[i] (a traced scalar) and x[v] (a traced vector) on a
    matrix of dynamic dims: one compile, values and gradients as NumPy's."""
    x, i, v = T.matrix("x", dtype=dtype), T.lscalar("i"), T.lvector("v")
    w = th.shared(np.arange(3, dtype=dtype), name="w")
    inc = T.inc_subtensor(x[i], w)
    put = T.set_subtensor(x[v], 2.0)
    cost = (inc ** 2).sum() + (put * x).sum()
    gx, gw = T.grad(cost, [x, w])
    f = th.function([x, i, v], [inc, put, gx, gw])
    rng = np.random.default_rng(3)
    for n in (2, 5, 9):
        xv = rng.standard_normal((n, 3)).astype(dtype)
        iv, vv = n - 1, np.array([0, n - 1, 0], np.int64)
        a, b, ga, gb = (np.asarray(r) for r in f(xv, iv, vv))
        want_inc = xv.copy(); want_inc[iv] += np.arange(3, dtype=dtype)
        want_put = xv.copy(); want_put[vv] = 2.0
        rows = np.zeros(n, bool); rows[vv] = True
        # d/dx sum(put * x) = put + x * dput/dx: 2 on the rows put overwrites, 2x elsewhere
        want_gx = 2 * want_inc + np.where(rows[:, None], 2.0, 2 * xv)
        np.testing.assert_allclose(a, want_inc, rtol=1e-6)
        np.testing.assert_allclose(b, want_put, rtol=1e-6)
        np.testing.assert_allclose(ga, want_gx, rtol=1e-5)
        np.testing.assert_allclose(gb, 2 * want_inc[iv], rtol=1e-5)
    assert f.dynamic_error is None and f.dynamic_shapes and f.compile_count == 1
