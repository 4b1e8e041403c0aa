"""Pooling (issue 19): theanir.tensor.signal.pool.pool_2d against a direct loop written after
Theano's Pool.perform (every mode, ignore_border, stride, pad, float32/float64), gradients by
th.verify_grad (max pooling's routes to the argmax), and th.lax.reduce_window. The tn ops' own
rows are in tests/op_rows.py."""
from __future__ import annotations

import operator

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T
from theanir.tensor.signal import pool
from support import assert_close


def theano_pool(x, ws, ignore_border, stride, pad, mode):
    """Theano's Pool.perform over the last two axes."""
    x = np.asarray(x)
    h, w = x.shape[-2:]
    outs = []
    for n, k, s, p in zip((h, w), ws, stride, pad):
        if ignore_border:
            outs.append((n + 2 * p - k) // s + 1)
        elif s >= k:
            outs.append((n - 1) // s + 1)
        else:
            outs.append(max(0, (n - 1 - k + s) // s) + 1)
    rows, cols = h + 2 * pad[0], w + 2 * pad[1]
    y = np.zeros(x.shape[:-2] + (rows, cols), x.dtype)
    y[..., pad[0]:pad[0] + h, pad[1]:pad[1] + w] = x
    out = np.zeros(x.shape[:-2] + tuple(outs), x.dtype)
    inc = mode == "average_inc_pad"
    for r in range(outs[0]):
        r0, r1 = r * stride[0], min(r * stride[0] + ws[0], rows)
        if not inc:
            r0, r1 = max(r0, pad[0]), min(r1, h + pad[0])
        for c in range(outs[1]):
            c0, c1 = c * stride[1], min(c * stride[1] + ws[1], cols)
            if not inc:
                c0, c1 = max(c0, pad[1]), min(c1, w + pad[1])
            win = y[..., r0:r1, c0:c1]
            red = {"max": np.max, "sum": np.sum}.get(mode, np.mean)
            out[..., r, c] = red(win, axis=(-2, -1))
    return out


CASES = [  # (shape, ws, ignore_border, stride, pad)
    ((2, 3, 8, 8), (2, 2), True, None, (0, 0)),
    ((2, 3, 7, 6), (3, 2), False, (2, 2), (0, 0)),
    ((1, 2, 7, 9), (3, 3), True, (2, 3), (1, 2)),
    ((2, 1, 5, 5), (2, 2), False, (1, 1), (0, 0)),
    ((3, 5, 4), (2, 3), False, (3, 1), (0, 0)),  # 3-D input: pooled over the last two axes
    ((5, 7), (3, 2), True, (1, 2), (1, 1)),
    ((1, 1, 1, 1), (1, 1), True, None, (0, 0)),
]
MODES = ["max", "sum", "average_inc_pad", "average_exc_pad"]


@pytest.mark.parametrize("dtype", [np.float64, np.float32])
@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES, ids=[str(i) for i in range(len(CASES))])
def test_pool_2d_matches_theano(case, mode, dtype):
    shape, ws, ib, st, pad = case
    rng = np.random.default_rng(0)
    x = rng.standard_normal(shape).astype(dtype)
    want = theano_pool(x, ws, ib, st or ws, pad, mode)
    got = th.jit(lambda x: pool.pool_2d(x, ws, ignore_border=ib, stride=st, pad=pad, mode=mode))(x)
    assert_close(got, want, dtype, rtol=1e-5 if dtype == np.float32 else None, atol=1e-6)
    X = T.TensorType(np.dtype(dtype).name, (False,) * len(shape))("x")
    f = th.function([X], pool.pool_2d(X, ws, ignore_border=ib, stride=st, pad=pad, mode=mode))
    assert_close(f(x), want, dtype, rtol=1e-5 if dtype == np.float32 else None, atol=1e-6)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("case", CASES[:4], ids=[str(i) for i in range(4)])
def test_pool_2d_verify_grad(case, mode):
    shape, ws, ib, st, pad = case
    rng = np.random.default_rng(1)
    x = rng.permutation(np.arange(np.prod(shape))).reshape(shape) * 0.1  # distinct: no ties at the max
    th.verify_grad(lambda x: pool.pool_2d(x, ws, ignore_border=ib, stride=st, pad=pad, mode=mode), [x], rng=rng)


def test_max_pool_gradient_routes_to_the_first_argmax():
    x = np.array([[[[1.0, 3.0, 3.0, 0.0], [2.0, 3.0, -1.0, 5.0]]]])
    g = th.jit(th.grad(lambda x: pool.pool_2d(x, (2, 2), ignore_border=True).sum()))(x)
    want = np.array([[[[0.0, 1.0, 0.0, 0.0], [0.0, 0.0, 0.0, 1.0]]]])
    assert_close(g, want, np.float64)


@pytest.mark.parametrize("shape,window", [((2, 3, 6, 4), (2, 2)), ((1, 2, 6, 4), (3, 2)), ((2, 1, 5, 4), (2, 2))])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_pool_lowerings_agree(monkeypatch, shape, window, dtype):
    """The tap-operand lowerings (windows that tile x: one pass per op; (5, 4) with 2x2 windows
    leaves a row out and takes the strided-slab scatter) against the references and against
    pooling_nchw_max + the slab scatter (MAX_TAPS = 0): ties, -inf and NaN windows included."""
    from theanir.dialects.tn.builder import emit1
    from theanir.dialects.tn.ops import pool as pool_ops

    rng = np.random.default_rng(7)
    x = rng.integers(0, 3, shape).astype(dtype)  # many ties: the first argmax wins
    x[0, 0, :window[0], :window[1]] = -np.inf
    x[-1, -1, :window[0], :window[1]] = np.nan
    x[-1, -1, 0, window[1]] = np.nan  # a window holding a NaN and real values
    g = rng.standard_normal((shape[0], shape[1], shape[2] // window[0], shape[3] // window[1])).astype(dtype)
    attrs = {"window": window, "strides": window, "padding": (0, 0, 0, 0)}

    def run(slab: bool):
        f = th.jit(lambda x, g: (th.Tensor(emit1("tn.max_pool2d", [th.as_tensor(x).value], attrs)),
                                 th.Tensor(emit1("tn.max_pool2d_scatter", [th.as_tensor(x).value,
                                                                           th.as_tensor(g).value], attrs))))
        assert ("linalg.pooling_nchw_max" in f.lower(x, g).as_text("linalg")) == slab
        return [np.asarray(v) for v in f(x, g)]

    monkeypatch.setattr(th.config, "cache", False)  # the disk cache keys on the tn module
    y, dx = run(False)
    monkeypatch.setattr(pool_ops, "MAX_TAPS", 0)
    y0, dx0 = run(True)
    np.testing.assert_array_equal(y, y0)
    np.testing.assert_array_equal(dx, dx0)
    finite = np.isfinite(x).all(axis=(2, 3))  # np.argmax picks a NaN: compare real images only
    want_y = pool_ops.max_pool2d_np(x, window, window, (0, 0, 0, 0))
    np.testing.assert_array_equal(y[finite], want_y[finite])
    want_dx = pool_ops.scatter_np(x, g, window, window, (0, 0, 0, 0))
    np.testing.assert_array_equal(dx[finite], want_dx[finite])


def test_theano_grad_of_lenet_layer():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((2, 1, 10, 10)), rng.standard_normal((3, 1, 3, 3))
    X, W = T.tensor4("x"), T.tensor4("w")
    cost = T.sum(T.tanh(pool.pool_2d(T.nnet.conv2d(X, W), (2, 2), ignore_border=True)))
    gw = th.function([X, W], T.grad(cost, W))(x, w)
    th.verify_grad(lambda w: th.tanh(pool.pool_2d(T.nnet.conv2d(x, w), (2, 2), ignore_border=True)).sum(), [w])
    jw = th.jit(th.grad(lambda w: th.tanh(pool.pool_2d(T.nnet.conv2d(x, w), (2, 2), ignore_border=True)).sum()))(w)
    assert_close(gw, np.asarray(jw), np.float64, rtol=1e-10)


def test_pool_errors():
    x = np.ones((1, 1, 4, 4))
    with pytest.raises(ValueError, match=r"pool_2d: ws must be two ints >= 1, got \(0, 2\) at .*test_pooling.py:\d+"):
        th.jit(lambda x: pool.pool_2d(x, (0, 2), ignore_border=True))(x)
    with pytest.raises(ValueError, match=r"pool_2d: stride must be two ints >= 1, got \(-1, 1\) at .*test_pooling.py"):
        th.jit(lambda x: pool.pool_2d(x, (2, 2), ignore_border=True, stride=(-1, 1)))(x)
    with pytest.raises(NotImplementedError, match=r"padding works only with ignore_border=True"):
        th.jit(lambda x: pool.pool_2d(x, (2, 2), ignore_border=False, pad=(1, 1)))(x)
    with pytest.raises(ValueError, match=r"pool_2d: ws \(5, 5\) is larger than the input \(4, 4\) at .*test_pooling.py"):
        th.jit(lambda x: pool.pool_2d(x, (5, 5), ignore_border=True))(x)
    with pytest.raises(ValueError, match=r"pool_2d: mode must be one of"):
        th.jit(lambda x: pool.pool_2d(x, (2, 2), ignore_border=True, mode="min"))(x)
    with pytest.warns(UserWarning, match="ignore_border=None"):
        th.jit(lambda x: pool.pool_2d(x, (2, 2)))(x)


def test_dynamic_batch_compiles_once():
    X = T.matrix("x")
    y = pool.pool_2d(X.reshape((X.shape[0], 2, 4, 4)), (2, 2), ignore_border=True)
    f = th.function([X], [y, T.grad(T.sum(y * y), X)])
    rng = np.random.default_rng(3)
    for n in (2, 5):
        x = rng.standard_normal((n, 32))
        got, gx = f(x)
        assert_close(got, theano_pool(x.reshape(n, 2, 4, 4), (2, 2), True, (2, 2), (0, 0), "max"), np.float64)
        jx = th.jit(th.grad(lambda x: (pool.pool_2d(x.reshape(n, 2, 4, 4), (2, 2), ignore_border=True) ** 2).sum()))(x)
        assert_close(gx, np.asarray(jx), np.float64)
    assert f.dynamic_error is None and f._jit.cache_size == 1


# ------------------------------------------------------------------ JAX: lax.reduce_window
def _np_reduce_window(x, init, kind, win, strides, pads):
    fill = -np.inf if kind == "max" else 0.0
    xp = np.pad(x, pads, constant_values=fill)
    out_shape = [(n - k) // s + 1 for n, k, s in zip(xp.shape, win, strides)]
    out = np.empty(out_shape)
    for idx in np.ndindex(*out_shape):
        sl = tuple(slice(i * s, i * s + k) for i, s, k in zip(idx, strides, win))
        red = xp[sl].max() if kind == "max" else xp[sl].sum()
        out[idx] = max(red, init) if kind == "max" else red + init
    return out


@pytest.mark.parametrize("kind,init,op", [("max", -np.inf, max), ("add", 0.0, operator.add), ("add", 1.5, operator.add)])
@pytest.mark.parametrize("shape,win,strides,padding", [
    ((2, 6, 6, 3), (1, 2, 2, 1), (1, 2, 2, 1), "VALID"),       # NHWC
    ((2, 3, 7, 5), (1, 1, 3, 2), (1, 1, 2, 1), "SAME"),
    ((7, 5), (3, 2), (2, 2), ((1, 1), (0, 1))),
    ((9,), (3,), (2,), "VALID"),
])
def test_reduce_window(kind, init, op, shape, win, strides, padding):
    rng = np.random.default_rng(4)
    x = rng.standard_normal(shape)
    if isinstance(padding, str):
        if padding == "VALID":
            pads = [(0, 0)] * len(shape)
        else:
            pads = []
            for n, k, s in zip(shape, win, strides):
                total = max((-(-n // s) - 1) * s + k - n, 0)
                pads.append((total // 2, total - total // 2))
    else:
        pads = list(padding)
    want = _np_reduce_window(x, init, kind, win, strides, pads)
    got = th.jit(lambda x: th.lax.reduce_window(x, init, op, win, strides, padding))(x)
    assert_close(got, want, np.float64, rtol=1e-10)
    th.verify_grad(lambda x: th.lax.reduce_window(x, init, op, win, strides, padding), [x], rng=rng)


def test_reduce_window_errors():
    x = np.ones((2, 3, 4, 4))
    with pytest.raises(NotImplementedError, match=r"reduce_window: at most two windowed axes"):
        th.jit(lambda x: th.lax.reduce_window(x, 0.0, operator.add, (1, 2, 2, 2), (1, 1, 1, 1), "VALID"))(x)
    with pytest.raises(NotImplementedError, match=r"reduce_window: computation must be add or max"):
        th.jit(lambda x: th.lax.reduce_window(x, 1.0, operator.mul, (1, 1, 2, 2), (1, 1, 1, 1), "VALID"))(x)
    with pytest.raises(ValueError, match=r"reduce_window: window_dimensions .* one int >= 1 per axis"):
        th.jit(lambda x: th.lax.reduce_window(x, 0.0, operator.add, (2, 2), (1, 1), "VALID"))(x)
