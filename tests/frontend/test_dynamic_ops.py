"""The NumPy frontend under `th.jit(f, dynamic_shapes=True)` (issue 16): functions that compute
with shapes (reshape with -1, slicing, concatenate, creation from traced sizes, the softmax
family, where, clip, argmax). Each runs on several sizes against NumPy and asserts that one
compile served them all (`cache_size`)."""
from __future__ import annotations

import numpy as np
import pytest
import scipy.special as sp

import theanir as th

SIZES = (3, 7, 12)


def _check(fn, ref, make, sizes=SIZES, tol=1e-12):
    f = th.jit(fn, dynamic_shapes=True)
    for n in sizes:
        args = make(n)
        got, want = f(*args), ref(*args)
        got = got if isinstance(got, tuple) else (got,)
        want = want if isinstance(want, tuple) else (want,)
        for g, w in zip(got, want):
            w = np.asarray(w)
            assert np.shape(g) == w.shape, (n, np.shape(g), w.shape)
            np.testing.assert_allclose(np.asarray(g), w, rtol=tol, atol=tol)
    assert f.cache_size == 1, f"{f.cache_size} compiles for sizes {sizes}"
    return f


def _matrix(n):
    return (np.random.default_rng(n).standard_normal((n, n + 2)),)


def _vector(n):
    return (np.random.default_rng(n).standard_normal(n),)


@pytest.mark.parametrize("name, fn, ref", [
    ("ravel", lambda x: x.reshape(-1), lambda x: x.reshape(-1)),
    ("keep-first", lambda x: x.reshape(x.shape[0], -1), lambda x: x.reshape(x.shape[0], -1)),
    ("traced-first", lambda x: x.reshape((th.shape(x)[0], -1)), lambda x: x.reshape((x.shape[0], -1))),
    ("unit-dim", lambda x: x.reshape(x.shape[0], 1, -1), lambda x: x.reshape(x.shape[0], 1, -1)),
    ("T", lambda x: x.T, lambda x: x.T),
    ("tail", lambda x: x[1:], lambda x: x[1:]),
    ("column", lambda x: x[:, 0], lambda x: x[:, 0]),
    ("last-row", lambda x: x[-1], lambda x: x[-1]),
    ("reversed", lambda x: x[::-1], lambda x: x[::-1]),
    ("strided", lambda x: x[::-2, 1:-1], lambda x: x[::-2, 1:-1]),
    ("newaxis", lambda x: x[None, 2:, :3], lambda x: x[None, 2:, :3]),
    ("flip", lambda x: th.flip(x, axis=1), lambda x: np.flip(x, axis=1)),
    ("concatenate", lambda x: th.concatenate([x, x[1:] * 2], axis=0),
     lambda x: np.concatenate([x, x[1:] * 2], axis=0)),
    ("concatenate-1", lambda x: th.concatenate([x, x[:, :1]], axis=1), lambda x: np.concatenate([x, x[:, :1]], axis=1)),
    ("stack", lambda x: th.stack([x, -x], axis=1), lambda x: np.stack([x, -x], axis=1)),
    ("hstack", lambda x: th.hstack([x, x]), lambda x: np.hstack([x, x])),
    ("zeros_like", lambda x: th.zeros_like(x) + 1, lambda x: np.zeros_like(x) + 1),
    ("ones_like", lambda x: th.ones_like(x[0], dtype=np.int64), lambda x: np.ones_like(x[0], dtype=np.int64)),
    ("full_like", lambda x: th.full_like(x, 2.5), lambda x: np.full_like(x, 2.5)),
    ("softmax", lambda x: th.softmax(x, axis=-1), lambda x: sp.softmax(x, axis=-1)),
    ("log_softmax", lambda x: th.log_softmax(x, axis=0), lambda x: sp.log_softmax(x, axis=0)),
    ("logsumexp", lambda x: th.logsumexp(x, axis=1), lambda x: sp.logsumexp(x, axis=1)),
    ("where", lambda x: th.where(x > 0, x, x[0] * 2), lambda x: np.where(x > 0, x, x[0] * 2)),
    ("clip", lambda x: th.clip(x, -0.5, 0.5), lambda x: np.clip(x, -0.5, 0.5)),
    ("argmax", lambda x: th.argmax(x, axis=1), lambda x: np.argmax(x, axis=1)),
    ("argmax-all", lambda x: th.argmax(x), lambda x: np.argmax(x)),
    ("matmul", lambda x: x @ x.T, lambda x: x @ x.T),
    ("tensordot", lambda x: th.tensordot(x, x, axes=([1], [1])), lambda x: np.tensordot(x, x, axes=([1], [1]))),
    ("outer", lambda x: th.outer(x[0], x[:, 0]), lambda x: np.outer(x[0], x[:, 0])),
    ("squeeze", lambda x: th.squeeze(x[:, None]), lambda x: np.squeeze(x[:, None])),
    ("vstack", lambda x: th.vstack([x, x[0]]), lambda x: np.vstack([x, x[0]])),
    ("tril", lambda x: th.tril(x, 1), lambda x: np.tril(x, 1)),
    ("mean-var", lambda x: (x.mean(axis=0), x.var(axis=1)), lambda x: (x.mean(axis=0), x.var(axis=1))),
])
def test_matrix_functions(name, fn, ref):
    _check(fn, ref, _matrix)


def test_creation_from_traced_sizes():
    """th.shape(x)[i] is the size as a traced int64 scalar: zeros, arange, full and reshape
    take it, so the result's size follows x without a recompile."""
    def fn(x):
        n = th.shape(x)[0]
        return th.zeros((n, 3)), th.arange(n), th.arange(1, n, 2, dtype=np.float32), th.ones(n) * x, \
            th.full((2, th.shape(x)[0]), 7.0)

    def ref(x):
        n = x.shape[0]
        return np.zeros((n, 3)), np.arange(n), np.arange(1, n, 2, dtype=np.float32), np.ones(n) * x, \
            np.full((2, n), 7.0)

    f = _check(fn, ref, _vector, sizes=(3, 8, 0))
    assert f(np.ones(5))[1].dtype == np.int64


def test_shape_is_static_where_known():
    seen = []

    @th.jit(dynamic_shapes=True)
    def f(x):
        seen.append((x.shape, th.shape(x)))
        return x

    f(np.ones((4, 1)))
    (shape, traced), = seen
    assert shape == (None, 1)
    assert isinstance(traced[0], th.Tensor) and traced[0].dtype == np.int64 and traced[1] == 1


def test_gradients_through_slices_and_joins():
    def loss(x):
        y = th.concatenate([x[1:], x[::-1] * 2.0], axis=0)
        return (th.softmax(y, axis=-1) * y).sum() + th.logsumexp(x[:, 0])

    g = th.jit(th.grad(loss), dynamic_shapes=True)
    for n in (3, 6):
        x = np.random.default_rng(n).standard_normal((n, 4))
        th.verify_grad(loss, [x])
        want = th.jit(th.grad(loss))(x)
        np.testing.assert_allclose(np.asarray(g(x)), np.asarray(want), rtol=1e-12, atol=1e-12)
    assert g.cache_size == 1


def test_an_index_out_of_a_dynamic_dim_fails_the_call():
    f = th.jit(lambda x: x[:, 5], dynamic_shapes=True)
    assert np.asarray(f(np.ones((2, 7)))).shape == (2,)
    with pytest.raises(IndexError, match=r"getitem: the slice 5:6 along axis 1 .* selects 0 elements"):
        np.asarray(f(np.ones((2, 4))))
    assert f.cache_size == 1


def test_reshape_of_a_wrong_size_fails_the_call():
    f = th.jit(lambda x: x.reshape(-1, 4), dynamic_shapes=True)
    assert np.asarray(f(np.ones((3, 8)))).shape == (6, 4)
    with pytest.raises(ValueError, match=r"tn.reshape: cannot reshape 6 elements"):
        np.asarray(f(np.ones((2, 3))))


def test_concatenate_checks_the_other_dims():
    f = th.jit(lambda a, b: th.concatenate([a, b], axis=0), dynamic_shapes=True)
    assert np.asarray(f(np.ones((2, 3)), np.ones((4, 3)))).shape == (6, 3)
    with pytest.raises(ValueError, match=r"tn.concatenate: operand shapes differ along axis 1 \(3 vs 5\)"):
        np.asarray(f(np.ones((2, 3)), np.ones((4, 5))))


def _updated(x, which):
    y = x.copy()
    if which == "tail":
        y[1:] = 0.0
    elif which == "column":
        y[:, 0] += 1.0
    elif which == "reversed":
        y[::-1, 1:3] = x[:, :2] * 2
    else:
        y[-1] *= 3.0
    return y


@pytest.mark.parametrize("which, fn", [
    ("tail", lambda x: x.at[1:].set(0.0)),
    ("column", lambda x: x.at[:, 0].add(1.0)),
    ("reversed", lambda x: x.at[::-1, 1:3].set(x[:, :2] * 2)),
    ("last", lambda x: x.at[-1].multiply(3.0)),
])
def test_slice_updates(which, fn):
    """x.at[...] on dynamic dims: values padded to x's dims and chosen by a padded mask;
    the gradient equals the static-shape one."""
    _check(fn, lambda x: _updated(x, which), _matrix)
    g = th.jit(th.grad(lambda x: (fn(x) ** 2).sum()), dynamic_shapes=True)
    static = th.jit(th.grad(lambda x: (fn(x) ** 2).sum()))
    for n in (3, 5):
        x = _matrix(n)[0]
        np.testing.assert_allclose(np.asarray(g(x)), np.asarray(static(x)), rtol=1e-12)
    assert g.cache_size == 1


def test_len_of_a_dynamic_dim_is_refused_with_advice():
    f = th.jit(lambda x: x * len(x), dynamic_shapes=True)
    with pytest.raises(TypeError, match=r"len\(\) of a tensor whose dim 0 is dynamic.*th.shape\(x\)\[0\]"):
        f(np.ones((3, 2)))
