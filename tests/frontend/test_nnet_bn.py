"""theanir.tensor.nnet.bn: Theano's batch normalization against NumPy, with gradients."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T
from theanir.tensor.nnet import bn


def np_train(x, g, b, axes, eps, f, rm, rv):
    mu = x.mean(axes, keepdims=True)
    var = x.var(axes, keepdims=True)
    inv = 1.0 / np.sqrt(var + eps)
    out = (x - mu) * inv * g + b
    m = np.prod([x.shape[a] for a in axes])
    return out, mu, inv, rm * (1 - f) + mu * f, rv * (1 - f) + m / (m - 1) * var * f


def close(a, b, dtype):
    np.testing.assert_allclose(np.asarray(a), b, rtol=1e-5 if dtype == "float32" else 1e-12,
                               atol=1e-5 if dtype == "float32" else 1e-12)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("axes,shape", [("per-activation", (5, 3)), ("spatial", (4, 3, 2, 5)),
                                        ((0, 2), (3, 2, 4)), ("per-activation", (2, 1)),
                                        ("spatial", (2, 3, 1, 1))])
def test_train_full_ndim_params(dtype, axes, shape):
    rng = np.random.RandomState(1)
    nd = len(shape)
    ax = (0,) if axes == "per-activation" else (0,) + tuple(range(2, nd)) if axes == "spatial" else axes
    pshape = tuple(1 if i in ax else n for i, n in enumerate(shape))
    x = T.TensorType(dtype, (False,) * nd)("x")
    ps = [T.TensorType(dtype, tuple(n == 1 for n in pshape))(n) for n in ("g", "b", "rm", "rv")]
    outs = bn.batch_normalization_train(x, ps[0], ps[1], axes=axes, epsilon=1e-3, running_average_factor=0.3,
                                        running_mean=ps[2], running_var=ps[3])
    f = th.function([x] + ps, list(outs))
    X = rng.randn(*shape).astype(dtype)
    P = [(rng.rand(*pshape) + 0.5).astype(dtype) for _ in range(4)]
    got = f(X, *P)
    want = np_train(X, P[0], P[1], ax, 1e-3, 0.3, P[2], P[3])
    assert [np.asarray(r).shape for r in got] == [w.shape for w in want]
    for r, w in zip(got, want):
        close(r, w, dtype)


def test_train_params_without_normalized_axes_and_no_running():
    rng = np.random.RandomState(2)
    x, g, b = T.dtensor4("x"), T.dvector("g"), T.dvector("b")
    out, mean, invstd = bn.batch_normalization_train(x, g, b, axes="spatial")
    f = th.function([x, g, b], [out, mean, invstd])
    X, G, B = rng.randn(3, 2, 4, 4), rng.rand(2) + 1, rng.randn(2)
    o, mu, inv, _, _ = np_train(X, G[None, :, None, None], B[None, :, None, None], (0, 2, 3), 1e-4, 0.1, 0, 0)
    r = f(X, G, B)
    close(r[0], o, "float64")
    close(r[1], mu.ravel(), "float64")  # Theano drops the normalized axes, as gamma has none
    close(r[2], inv.ravel(), "float64")


def test_test_mode_and_plain_batch_normalization():
    rng = np.random.RandomState(3)
    x, g, b, m, v = T.dmatrix("x"), T.dvector("g"), T.dvector("b"), T.dvector("m"), T.dvector("v")
    y = bn.batch_normalization_test(x, g, b, m, v, epsilon=1e-2)
    z = bn.batch_normalization(x, g, b, m, T.sqrt(v), mode="high_mem")
    f = th.function([x, g, b, m, v], [y, z])
    X, G, B, M, V = rng.randn(4, 3), rng.rand(3), rng.randn(3), rng.randn(3), rng.rand(3) + 0.1
    r = f(X, G, B, M, V)
    close(r[0], (X - M) * G / np.sqrt(V + 1e-2) + B, "float64")
    close(r[1], (X - M) * (G / np.sqrt(V)) + B, "float64")


def test_empty_params_dimension():
    x, g, b = T.dmatrix("x"), T.dvector("g"), T.dvector("b")
    out, mean, invstd = bn.batch_normalization_train(x, g, b)
    f = th.function([x, g, b], [out, mean])
    r = f(np.zeros((3, 0)), np.zeros(0), np.zeros(0))
    assert np.asarray(r[0]).shape == (3, 0) and np.asarray(r[1]).shape == (0,)


def test_gradients():
    rng = np.random.RandomState(4)
    X, G, B = rng.randn(4, 3), rng.rand(3) + 0.5, rng.randn(3)
    th.verify_grad(lambda x, g, b: bn.batch_normalization_train(x, g, b, epsilon=1e-2)[0] ** 2,
                   [X, G, B], rng=rng)
    X4 = rng.randn(2, 2, 3, 2)
    th.verify_grad(lambda x, g, b: bn.batch_normalization_train(x, g, b, axes="spatial")[1:],
                   [X4, G[:2], B[:2]], rng=rng)
    M, V = rng.randn(3), rng.rand(3) + 0.5
    th.verify_grad(lambda x, g, b, m, v: bn.batch_normalization_test(x, g, b, m, v), [X, G, B, M, V], rng=rng)


def test_bad_arguments():
    x, g = T.dmatrix("x"), T.dvector("g")
    with pytest.raises(ValueError, match="axes"):
        bn.batch_normalization_train(x, g, g, axes="channel")
    with pytest.raises(ValueError, match="invalid axes"):
        bn.batch_normalization_train(x, g, g, axes=(0, 2))
    with pytest.raises(ValueError, match="given together"):
        bn.batch_normalization_train(x, g, g, running_mean=g)
    with pytest.raises(ValueError, match="gamma must have ndim"):
        bn.batch_normalization_train(T.dtensor4("y"), g, g, axes="per-activation")
    with pytest.raises(ValueError, match="mode"):
        bn.batch_normalization(x, g, g, g, g, mode="fast")
