"""Theano's T.set_subtensor / T.inc_subtensor on symbolic variables: values against NumPy,
gradients w.r.t. x and y, repeated indices, traced scalars, updates and scan, errors."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T
from support import FLOATS, assert_close, rand
from theanir.dialects.tn.registry import ShapeError

A = np.array


def _np_set(x, idx, y):
    out = x.copy()
    out[idx] = y
    return out


def _np_inc(x, idx, y):
    out = x.copy()
    np.add.at(out, idx, y)
    return out


# (index as a function of the symbolic x and an int-vector input i, the NumPy index for i, y shape)
CASES = [
    (lambda x, i: x[1], lambda i: 1, (3,)),
    (lambda x, i: x[-1, ::-2], lambda i: (-1, slice(None, None, -2)), (2,)),
    (lambda x, i: x[1:3], lambda i: slice(1, 3), (3,)),
    (lambda x, i: x[:, 1:], lambda i: (slice(None), slice(1, None)), (4, 2)),
    (lambda x, i: x[i], lambda i: i, (3,)),
    (lambda x, i: x[i, 2], lambda i: (i, 2), ()),
    (lambda x, i: x[i, i % 3], lambda i: (i, i % 3), (len(A([0, 3, 0])),)),
    (lambda x, i: x[1:, i % 3], lambda i: (slice(1, None), i % 3), (3, 3)),
]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("case", range(len(CASES)))
def test_set_and_inc_against_numpy(case, dtype, rng):
    sub, np_idx, y_shape = CASES[case]
    x, y = T.matrix("x", dtype=dtype), T.tensor(dtype, (False,) * len(y_shape), "y")
    i = T.lvector("i")
    f = th.function([x, y, i], [T.set_subtensor(sub(x, i), y), T.inc_subtensor(sub(x, i), y)],
                    on_unused_input="ignore")
    xv, yv, iv = rand(rng, (4, 3), dtype), rand(rng, y_shape, dtype), A([0, 3, 0])
    got_set, got_inc = f(xv, yv, iv)
    assert_close(got_set, _np_set(xv, np_idx(iv), yv))
    assert_close(got_inc, _np_inc(xv, np_idx(iv), yv))


@pytest.mark.parametrize("case", range(len(CASES)))
def test_gradients_wrt_x_and_y(case, rng):
    """T.grad of a weighted sum against NumPy: set zeroes x's gradient where it wrote (a
    repeated position's y gradient goes to its last write), inc passes it through."""
    sub, np_idx, y_shape = CASES[case]
    x, y, i = T.dmatrix("x"), T.tensor("float64", (False,) * len(y_shape), "y"), T.lvector("i")
    w = np.arange(1.0, 13.0).reshape(4, 3)
    outs = []
    for fn in (T.set_subtensor, T.inc_subtensor):
        cost = (fn(sub(x, i), y) * w).sum()
        outs += T.grad(cost, [x, y])
    f = th.function([x, y, i], outs, on_unused_input="ignore")
    xv, yv, iv = rand(rng, (4, 3), np.float64), rand(rng, y_shape, np.float64), A([0, 3, 0])
    gx_set, gy_set, gx_inc, gy_inc = f(xv, yv, iv)
    idx = np_idx(iv)
    pos = np.arange(12).reshape(4, 3)[idx]
    written = np.zeros(12, bool)
    written[np.ravel(pos)] = True
    assert_close(gx_set, np.where(written.reshape(4, 3), 0.0, w))
    assert_close(gx_inc, w)
    last = np.zeros(np.shape(pos), bool)  # the last write of each position gets its gradient
    flat = np.ravel(pos)
    last.reshape(-1)[[max(np.flatnonzero(flat == p)) for p in np.unique(flat)]] = True
    picked = np.broadcast_to(w.ravel()[pos], np.shape(pos))
    gy_want_set = np.where(last, picked, 0.0)
    lead = np.ndim(pos) - len(y_shape)
    assert_close(gy_set, gy_want_set.sum(axis=tuple(range(lead))).reshape(y_shape)
                 if lead else _sum_to(gy_want_set, y_shape))
    assert_close(gy_inc, _sum_to(picked, y_shape))


def _sum_to(a, shape):
    a = np.asarray(a)
    while a.ndim > len(shape):
        a = a.sum(axis=0)
    for d, n in enumerate(shape):
        if n == 1 and a.shape[d] != 1:
            a = a.sum(axis=d, keepdims=True)
    return a


@pytest.mark.parametrize("dtype", FLOATS)
def test_verify_grad(dtype, rng):
    """Finite differences through the Theano functions on traced tensors (inside th.jit a
    subtensor remembers its base and index)."""
    x, y = rand(rng, (4, 3), dtype), rand(rng, (2, 3), dtype)
    idx = A([3, 1])
    th.verify_grad(lambda a, b: T.set_subtensor(a[idx], b) ** 2, [x, y])
    th.verify_grad(lambda a, b: T.inc_subtensor(a[1:3], b) ** 2, [x, y])
    th.verify_grad(lambda a, b: T.set_subtensor(a[idx, 1:], b[:, :2]) * a, [x, y])


def test_repeated_indices():
    """inc_subtensor accumulates repeats (Theano); set_subtensor keeps the last write."""
    from theanir.tensor.subtensor import advanced_inc_subtensor1, advanced_set_subtensor1
    x, y, i = T.dvector("x"), T.dvector("y"), T.lvector("i")
    f = th.function([x, y, i], [T.inc_subtensor(x[i], y), T.set_subtensor(x[i], y),
                                T.inc_subtensor(x[i], y, set_instead_of_inc=True),
                                advanced_inc_subtensor1(x, y, i), advanced_set_subtensor1(x, y, i)])
    inc, set_, set2, inc1, set1 = f(np.zeros(3), A([1.0, 2.0, 4.0]), A([2, 0, 2]))
    assert np.asarray(inc).tolist() == np.asarray(inc1).tolist() == [2.0, 0.0, 5.0]
    assert np.asarray(set_).tolist() == np.asarray(set1).tolist() == [2.0, 0.0, 4.0]
    assert np.asarray(set2).tolist() == [2.0, 0.0, 4.0]


def test_traced_scalar_index_and_broadcast(rng):
    """An integer scalar input as the index; y broadcasts to the indexed part; empty parts;
    Theano's keyword arguments are accepted."""
    x, t, s = T.dmatrix("x"), T.lscalar("t"), T.dscalar("s")
    f = th.function([x, t, s], [T.set_subtensor(x[t], s, inplace=True),
                                T.inc_subtensor(x[t, 1:], s, tolerate_inplace_aliasing=True),
                                T.set_subtensor(x[2:2], s)])
    xv = rand(rng, (4, 3), np.float64)
    for tv in (0, 3, -1):
        a, b, c = f(xv, tv, 7.0)
        assert_close(a, _np_set(xv, tv, 7.0))
        assert_close(b, _np_inc(xv, (tv, slice(1, None)), 7.0))
        assert_close(c, xv)


def test_one_element_and_float32(rng):
    x, y = T.fvector("x"), T.fscalar("y")
    out = T.inc_subtensor(x[0], y)
    assert out.dtype == np.float32 and out.ndim == 1
    m = T.lmatrix("m")  # the type is the indexed variable's, for any index
    assert T.set_subtensor(m[5, [0, 7]], 1).type == m.type
    assert T.inc_subtensor(m[3:9:2], m[0]).type == m.type
    f = th.function([x, y], [out, T.grad(out.sum(), y)])
    got, gy = f(A([1.5], np.float32), np.float32(2.0))
    assert_close(got, A([3.5], np.float32))
    assert_close(gy, np.float32(1.0))


def test_embedding_update_in_updates(rng):
    """The sparse-update idiom: take the gradient w.r.t. the rows used and write only them."""
    emb0 = rand(rng, (6, 4), np.float64)
    emb = th.shared(emb0.copy(), name="emb")
    idx, target = T.lvector("idx"), T.dmatrix("target")
    rows = emb[idx]
    cost = ((rows - target) ** 2).sum()
    g = T.grad(cost, rows)
    lr = 0.1
    train = th.function([idx, target], cost, updates=[(emb, T.inc_subtensor(rows, -lr * g))])
    iv, tv = A([1, 4, 1]), rand(rng, (3, 4), np.float64)
    train(iv, tv)
    want = emb0.copy()
    np.add.at(want, iv, -lr * 2 * (emb0[iv] - tv))
    assert_close(emb.get_value(), want)
    train(iv, tv)  # the second step starts from the updated table
    want2 = want.copy()
    np.add.at(want2, iv, -lr * 2 * (want[iv] - tv))
    assert_close(emb.get_value(), want2)


def test_reshaped_subtensor(rng):
    """Theano's reshape case: y given in the layout of emb[idxs].reshape(...) (the window
    embedding of the RNN tutorials); the result is the updated table, with gradients."""
    emb, idxs, y = T.dmatrix("emb"), T.lmatrix("idxs"), T.dmatrix("y")
    window = emb[idxs].reshape((idxs.shape[0], 2 * 3))
    out = T.inc_subtensor(window, y)
    flat = T.set_subtensor(emb[1:3].flatten(), 7.0)
    g = T.grad((out * out).sum(), y)
    f = th.function([emb, idxs, y], [out, flat, g])
    ev, iv, yv = rand(rng, (4, 3), np.float64), A([[0, 1], [1, 3]]), rand(rng, (2, 6), np.float64)
    got, got_flat, gy = f(ev, iv, yv)
    want = _np_inc(ev, iv, yv.reshape(2, 2, 3))
    assert_close(got, want)
    assert_close(got_flat, _np_set(ev, slice(1, 3), 7.0))
    assert_close(gy, (2 * want[iv]).reshape(2, 6))


def test_rnn_buffer_in_scan(rng):
    """An RNN writing its hidden state into a buffer row per step (T.set_subtensor at a
    traced step counter), trained by T.grad through the scan."""
    xs, W = T.dmatrix("xs"), th.shared(rand(rng, (3, 3), np.float64) * 0.5, name="W")

    def step(x_t, t, buf):
        h = T.tanh(x_t + T.dot(buf[t - 1], W))
        return [t + 1, T.set_subtensor(buf[t], h)]

    t0 = T.constant(np.int64(1))
    (_, bufs), _ = th.scan(step, sequences=xs, outputs_info=[t0, T.zeros((6, 3), dtype="float64")])
    cost = (bufs[-1] ** 2).sum()
    f = th.function([xs], [bufs[-1], cost, T.grad(cost, W)])
    xv = rand(rng, (5, 3), np.float64)
    buf, c, gW = f(xv)
    Wv = W.get_value()
    want = np.zeros((6, 3))
    for t in range(5):
        want[t + 1] = np.tanh(xv[t] + want[t] @ Wv)
    assert_close(buf, want)
    eps, num = 1e-6, np.zeros_like(Wv)
    cost_of = th.function([xs], cost)
    for k in np.ndindex(*Wv.shape):
        for sign in (1, -1):
            Wp = Wv.copy()
            Wp[k] += sign * eps
            W.set_value(Wp)
            num[k] += sign * float(cost_of(xv)) / (2 * eps)
    W.set_value(Wv)
    np.testing.assert_allclose(gW, num, rtol=1e-5, atol=1e-8)


def test_inside_jit_on_tensors(rng):
    xv = rand(rng, (4, 3), np.float64)
    got = th.jit(lambda a: (T.set_subtensor(a[1:, 0], 0.0), T.inc_subtensor(a[:][2], 1.0)))(xv)
    assert_close(got[0], _np_set(xv, (slice(1, None), 0), 0.0))
    assert_close(got[1], _np_inc(xv, 2, 1.0))


# ------------------------------------------------------------------ errors
def test_first_argument_must_be_a_subtensor():
    x = T.dmatrix("x")
    with pytest.raises(TypeError, match=r"set_subtensor: the first argument must be a subtensor .*'x'"):
        T.set_subtensor(x, 1.0)
    with pytest.raises(TypeError, match=r"inc_subtensor: .*subtensor"):
        T.inc_subtensor(x + 1, 1.0)
    with pytest.raises(TypeError, match=r"not made by indexing.*x\.at\[idx\]"):
        th.jit(lambda a: T.set_subtensor(a * 2, 1.0))(np.zeros(3))
    with pytest.raises(TypeError, match="subtensor"):
        T.set_subtensor(np.zeros(3), 1.0)


def test_float_into_int_refused():
    x = T.lvector("x")
    f = th.function([x], T.inc_subtensor(x[1:], 0.5))
    with pytest.raises(TypeError, match="inc_subtensor: cannot write float.* into a int64 tensor"):
        f(np.arange(3))
    g = th.function([x], T.inc_subtensor(x[1:], 2))
    assert np.asarray(g(np.arange(3))).tolist() == [0, 3, 4]


def test_shape_mismatch_names_shapes_and_line():
    x, y = T.dmatrix("x"), T.dvector("y")
    out = T.set_subtensor(x[1:3], y)  # the line the error points to
    line = test_shape_mismatch_names_shapes_and_line.__code__.co_firstlineno + 2
    f = th.function([x, y], out, dynamic_shapes=False)  # static shapes: refused while tracing
    with pytest.raises(ShapeError, match=rf"set_subtensor: .*shape \(4,\).*\(2, 3\).*\(5, 3\).*test_subtensor\.py:{line}"):
        f(np.zeros((5, 3)), np.zeros(4))
    g = th.function([x, y], out)  # dynamic dims (the default): the generated code checks
    with pytest.raises(ValueError, match=rf"tn.broadcast_to: dim 0 of the operand \(float64\[\?\]\) is 4 but "
                                         rf"the target dim 1 is 3 at .*test_subtensor\.py:{line}"):
        np.asarray(g(np.zeros((5, 3)), np.zeros(4)))
