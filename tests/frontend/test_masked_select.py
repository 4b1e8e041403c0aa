"""Data-dependent shapes inside compiled code (issue 16): x[mask], nonzero, argwhere,
flatnonzero, against NumPy; in plain th.jit (static inputs), under dynamic_shapes=True, in
Theano graphs (th.function) and through gradients (docs/data-dependent-shapes.md)."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T
from theanir.codegen.native import STATS

DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]


def sample(shape, dtype, rng, p_true=0.5):
    """Values of `dtype` with about half of them > 0 (True for bool)."""
    x = rng.uniform(-1, 1, size=shape) + (p_true - 0.5) * 2
    if np.dtype(dtype) == np.bool_:
        return x > 0
    if np.dtype(dtype).kind == "i":
        return np.round(x * 3).astype(dtype)
    return x.astype(dtype)


def positive(x):
    return x if x.dtype == np.bool_ else x > 0


def check(got, want):
    got = np.asarray(got)
    assert got.shape == want.shape and got.dtype == want.dtype, (got.shape, got.dtype, want.shape, want.dtype)
    np.testing.assert_array_equal(got, want)


# ------------------------------------------------------------------ x[mask]
SHAPES = [(7,), (3, 4), (2, 3, 2), (1,), (0,), (0, 3)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_mask_of_the_whole_shape(dtype, rng):
    f = th.jit(lambda *xs: tuple(x[positive(x)] for x in xs))  # every shape in one compile
    for p in (0.5, -1.0, 2.0):  # about half, none (empty results), all
        xs = [sample(shape, dtype, rng, p) for shape in SHAPES]
        for got, x in zip(f(*xs), xs):
            check(got, x[positive(x)])


@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int64, np.bool_])
def test_mask_of_the_leading_dims(dtype, rng):
    x = sample((5, 3, 2), dtype, rng)
    m1 = rng.uniform(size=5) > 0.5
    m2 = rng.uniform(size=(5, 3)) > 0.5
    f = th.jit(lambda x, m1, m2: (x[m1], x[m2], x[m2, ...]))
    a, b, c = f(x, m1, m2)
    check(a, x[m1])
    check(b, x[m2])
    check(c, x[m2])
    none = np.zeros(5, bool)
    check(f(x, none, m2)[0], x[none])  # (0, 3, 2)


def test_one_element_and_non_contiguous_inputs(rng):
    f = th.jit(lambda x: x[x > 0])
    check(f(np.array([2.5])), np.array([2.5]))
    check(f(np.array([-2.5])), np.zeros(0))
    base = rng.standard_normal((6, 8))
    for view in (base[::2], base[:, ::3], base.T, base[::-1, 1::2]):
        check(f(view), view[view > 0])
    g = th.jit(lambda x: x[x[:, 0] > 0])
    for view in (base.T[:, ::2], base[1::2, ::-1]):
        check(g(view), view[view[:, 0] > 0])


def test_with_static_results_and_later_ops(rng):
    @th.jit
    def f(x, w):
        pos = x[x > 0]
        return pos, pos.sum(), (pos * 2.0 + 1.0).max(), x @ w, th.exp(pos).mean()

    x, w = rng.standard_normal((4, 5)), rng.standard_normal((5, 2))
    pos, s, mx, y, m = f(x, w)
    ref = x[x > 0]
    check(pos, ref)
    np.testing.assert_allclose(s, ref.sum(), rtol=1e-12)
    np.testing.assert_allclose(mx, (ref * 2 + 1).max(), rtol=1e-12)
    np.testing.assert_allclose(y, x @ w, rtol=1e-12)
    np.testing.assert_allclose(m, np.exp(ref).mean(), rtol=1e-12)
    assert float(f(-np.abs(x), w)[1]) == 0.0  # an empty selection sums to 0


def test_a_constant_mask_keeps_a_static_shape():
    m = np.array([True, False, True])
    f = th.jit(lambda x: x[m] * 2)
    assert "?" not in f.lower(np.ones((3, 2))).as_text("tn").split("return")[-1]
    check(f(np.arange(6.0).reshape(3, 2)), np.arange(6.0).reshape(3, 2)[m] * 2)


def test_one_compile_serves_every_size_and_count(rng):
    f = th.jit(lambda x: (x[x > 0], x[x > 0].sum()), dynamic_shapes=True)
    before = STATS["llvm_compiles"] + STATS["engine_compiles"]
    for n in (2, 7, 60, 0, 13):
        x = rng.standard_normal((n, 3))
        pos, s = f(x)
        check(pos, x[x > 0])
        np.testing.assert_allclose(s, x[x > 0].sum(), rtol=1e-12, atol=1e-12)
    assert f.cache_size == 1
    assert STATS["llvm_compiles"] + STATS["engine_compiles"] - before <= 1


def test_mask_mismatch_errors_name_the_shapes_and_line():
    with pytest.raises(IndexError, match=r"boolean index did not match.*size of axis is 3 but size of "
                                         r"corresponding boolean axis is 4.*test_masked_select.py"):
        th.jit(lambda x, m: x[m])(np.ones(3), np.ones(4, bool))
    g = th.jit(lambda x, m: x[m], dynamic_shapes=True)
    line = inspect.currentframe().f_lineno - 1
    with pytest.raises(ValueError, match=rf"tn.masked_select: the mask has 4 along dim 0, x has 3.*"
                                         rf"test_masked_select.py:{line}"):
        np.asarray(g(np.ones(3), np.ones(4, bool)))  # asynchronous: the error comes at the read
    check(g(np.ones(4), np.ones(4, bool)), np.ones(4))  # still works after a failure


# ------------------------------------------------------------------ gradients
def test_mask_gradient_scatters_back_into_zeros(rng):
    x = rng.standard_normal((4, 3))
    g = th.jit(th.grad(lambda x: (th.sin(x[x > 0]) * x[x > 0]).sum()))
    want = np.where(x > 0, np.sin(x) + x * np.cos(x), 0.0)
    np.testing.assert_allclose(g(x), want, rtol=1e-12)
    g_rows = th.jit(th.grad(lambda x: (x[x.sum(axis=1) > 0] ** 2).sum()))
    np.testing.assert_allclose(g_rows(x), np.where((x.sum(1) > 0)[:, None], 2 * x, 0.0), rtol=1e-12)
    np.testing.assert_array_equal(np.asarray(g(-np.abs(x))), np.zeros_like(x))  # nothing selected


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_verify_grad_of_masked_selections(dtype, rng):
    x = rng.uniform(0.2, 1.0, size=(5, 4)) * rng.choice([-1, 1], size=(5, 4))  # away from the mask's edge
    x = x.astype(dtype)
    th.verify_grad(lambda x: x[x > 0], [x])
    th.verify_grad(lambda x: th.tanh(x[x[:, 0] > 0]) * 3.0, [x])
    th.verify_grad(lambda x: (x[x < 0] ** 2).sum() + x.sum(), [x])


def test_gradient_under_dynamic_shapes(rng):
    g = th.jit(th.grad(lambda x: (x[x > 0] ** 3).mean()), dynamic_shapes=True)
    for n in (3, 8, 20):
        x = rng.standard_normal((n, 2))
        k = (x > 0).sum()
        np.testing.assert_allclose(g(x), np.where(x > 0, 3 * x ** 2 / k, 0.0), rtol=1e-12)
    assert g.cache_size == 1


# ------------------------------------------------------------------ nonzero family
def _with_zeros(shape, dtype, rng, p):
    if np.dtype(dtype) == np.bool_:
        return sample(shape, dtype, rng, p)
    return np.where(sample(shape, np.bool_, rng, p), sample(shape, dtype, rng, 2.0), 0).astype(dtype)


@pytest.mark.parametrize("dtype", DTYPES)
def test_nonzero_argwhere_flatnonzero(dtype, rng):
    shapes = SHAPES[:-1] + [(2, 0)]
    f = th.jit(lambda *xs: [(th.nonzero(x), th.argwhere(x), th.flatnonzero(x)) for x in xs])
    for p in (0.5, -1.0, 2.0):
        xs = [_with_zeros(shape, dtype, rng, p) for shape in shapes]
        for (nz, aw, fz), x in zip(f(*xs), xs):
            assert len(nz) == x.ndim
            for got, want in zip(nz, np.nonzero(x)):
                check(got, want.astype(np.int64))
            check(aw, np.argwhere(x).astype(np.int64))
            check(fz, np.flatnonzero(x).astype(np.int64))


def test_nonzero_counts_nan_and_negative_zero_as_numpy_does():
    x = np.array([0.0, -0.0, np.nan, 1.0, -np.inf])
    check(th.jit(th.flatnonzero)(x), np.flatnonzero(x).astype(np.int64))


def test_nonzero_under_dynamic_shapes_and_of_0d(rng):
    f = th.jit(lambda x: (th.nonzero(x > 0.5), th.argwhere(x > 0.5)), dynamic_shapes=True)
    for n in (3, 9):
        x = rng.uniform(size=(n, 4))
        (r, c), aw = f(x)
        check(r, np.nonzero(x > 0.5)[0])
        check(c, np.nonzero(x > 0.5)[1])
        check(aw, np.argwhere(x > 0.5))
    assert f.cache_size == 1
    with pytest.raises(ValueError, match="nonzero on 0d arrays"):
        th.jit(th.nonzero)(np.float64(3.0))
    for v in (0.0, 2.0):
        check(th.jit(th.argwhere)(np.float64(v)), np.argwhere(np.float64(v)))


def test_indices_feed_a_gather():
    x = np.array([[0.0, 2.0], [3.0, 0.0]])
    f = th.jit(lambda x: th.flatnonzero(x).sum() + th.nonzero(x)[1].sum())
    assert int(f(x)) == np.flatnonzero(x).sum() + np.nonzero(x)[1].sum()


def test_eager_calls_on_arrays():
    x = np.array([1.0, 0.0, -2.0])
    check(th.flatnonzero(x), np.array([0, 2]))
    a = th.exp(x)
    check(np.asarray(a[a > 1]), np.exp(x)[np.exp(x) > 1])


# ------------------------------------------------------------------ Theano graphs
def test_theano_graphs():
    x = T.dmatrix("x")
    X = np.array([[1.0, 0.0, -2.0], [0.0, 3.0, 4.0]])
    check(th.function([x], x[T.gt(x, 0)])(X), X[X > 0])
    rows, cols = th.function([x], T.nonzero(x))(X)
    check(rows, np.nonzero(X)[0])
    check(cols, np.nonzero(X)[1])
    check(th.function([x], T.nonzero(x, return_matrix=True))(X), np.array(np.nonzero(X)))
    check(th.function([x], T.nonzero_values(x))(X), X[X != 0])
    check(th.function([x], T.flatnonzero(x))(X), np.flatnonzero(X))
    np.testing.assert_allclose(th.function([x], T.grad((x[T.gt(x, 0)] ** 2).sum(), x))(X),
                               np.where(X > 0, 2 * X, 0.0))
    cost = th.function([x], [x[T.gt(x, 0)].sum(), x.sum()])
    np.testing.assert_allclose(cost(X), [X[X > 0].sum(), X.sum()])


def test_one_value_returned_twice_is_two_buffers():
    # passes/lower/dynamic_results.py: the runtime adopts each slot's buffer, so a value in two
    # slots is copied for the second (it was freed twice: a heap corruption)
    x = np.array([1.0, -2.0, 3.0])
    for f in (th.jit(lambda x: (x[x > 0], x[x > 0])), th.jit(lambda x: (x * 2, x * 2), dynamic_shapes=True)):
        a, b = f(x)
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        del a
        np.testing.assert_array_equal(np.asarray(b), np.asarray(f(x)[0]))


# ------------------------------------------------------------------ unique
def _unique_cases(dtype, rng):
    if np.dtype(dtype) == np.bool_:
        return [rng.uniform(size=9) > 0.5, np.zeros(0, bool), np.ones(4, bool), np.array([False])]
    ints = rng.integers(-3, 4, size=(4, 5)).astype(dtype)
    cases = [ints, ints[::2, ::-2], np.zeros(0, dtype), np.array([7], dtype), np.arange(20, dtype=dtype)[::-1]]
    if np.dtype(dtype).kind == "f":
        cases.append(np.array([3.0, np.nan, -0.0, 0.0, np.nan, -np.inf, 3.0], dtype))
    return cases


@pytest.mark.parametrize("dtype", DTYPES)
def test_unique_matches_numpy(dtype, rng):
    f = th.jit(lambda x: th.unique(x, return_index=True, return_inverse=True, return_counts=True))
    plain = th.jit(th.unique)
    for x in _unique_cases(dtype, rng):
        want = np.unique(x, return_index=True, return_inverse=True, return_counts=True)
        got = f(x)
        np.testing.assert_array_equal(np.asarray(got[0]), want[0])
        assert np.asarray(got[0]).dtype == x.dtype
        for g, w in zip(got[1:], want[1:]):
            check(g, w.astype(np.int64))
        np.testing.assert_array_equal(np.asarray(plain(x)), want[0])


def test_unique_under_dynamic_shapes_and_feeding_later_ops(rng):
    f = th.jit(lambda x: (th.unique(x), th.unique(x).sum(), th.unique(x, return_counts=True)[1].max()),
               dynamic_shapes=True)
    for n in (5, 40, 0):
        x = rng.integers(0, 6, size=n).astype(np.float64)
        vals, s, _ = f(x)
        np.testing.assert_array_equal(np.asarray(vals), np.unique(x))
        assert float(s) == np.unique(x).sum()
    assert f.cache_size == 1
    with pytest.raises(NotImplementedError, match="axis=None"):
        th.jit(lambda x: th.unique(x, axis=0))(np.ones((2, 2)))


def test_unique_is_not_differentiable_and_says_so():
    with pytest.raises(Exception, match=r"tn.unique.*test_masked_select.py.*no derivative rule"):
        th.jit(th.grad(lambda x: th.unique(x).sum()))(np.ones(3))
