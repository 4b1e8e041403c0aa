"""Creation functions against NumPy: filled arrays, arange/linspace lengths and values, eye/tri."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th
from support import assert_close, noncontiguous, rand

ALL_DTYPES = [np.float32, np.float64, np.int32, np.int64, np.bool_]
FILL_SHAPES = [(), (0,), (3,), (2, 3), (2, 0, 3), 4]


def _jit0(fn):
    """Run a function of no traced arguments."""
    return th.jit(fn)()


@pytest.mark.parametrize("dtype", ALL_DTYPES)
@pytest.mark.parametrize("shape", FILL_SHAPES, ids=str)
def test_filled(shape, dtype):
    got = _jit0(lambda: (th.zeros(shape, dtype), th.ones(shape, dtype), th.empty(shape, dtype),
                         th.full(shape, 1, dtype)))
    want = (np.zeros(shape, dtype), np.ones(shape, dtype), np.zeros(shape, dtype), np.full(shape, 1, dtype))
    for g, w in zip(got, want):
        assert_close(g, w)


def test_filled_default_dtypes():
    got = _jit0(lambda: (th.zeros(3), th.ones((2,)), th.full(2, 7), th.full(2, 2.5), th.full(2, True),
                         th.full((2, 2), np.float32(1.5)), th.full((2, 3), [1, 2, 3])))
    want = (np.zeros(3), np.ones((2,)), np.full(2, 7), np.full(2, 2.5), np.full(2, True),
            np.full((2, 2), np.float32(1.5)), np.full((2, 3), [1, 2, 3]))
    for g, w in zip(got, want):
        assert_close(g, w)


def test_full_with_traced_fill_value(rng):
    v = rand(rng, (3,), np.float32)
    assert_close(th.jit(lambda v: th.full((2, 3), v))(v), np.full((2, 3), v))
    assert_close(th.jit(lambda s: th.full((2,), s, np.int32))(4.0), np.full((2,), 4, np.int32))


ARANGE = [
    (5,), (0,), (-3,), (2, 10), (10, 2), (10, 2, -3), (-5, 5, 3), (0, 1, 0.1), (0.1, 1, 0.1),
    (1, 0, -0.25), (0.5, 5.2, 0.7), (1.0, 1.0), (3, 3, 1), (np.int32(7),), (np.float32(1), 4),
    (0, 1e-3, 1e-4),
]
ARANGE_DTYPED = [((0.5, 5.2, 0.7), np.int64), ((0, 1, 0.1), np.float32), ((0.1, 1, 0.1), np.float32),
                 ((0, 10, 3), np.float64), ((10,), np.int32), ((-2.5, 3, 0.5), np.float32),
                 ((5, -5, -1), np.int32)]


@pytest.mark.parametrize("args", ARANGE, ids=str)
def test_arange(args):
    assert_close(_jit0(lambda: th.arange(*args)), np.arange(*args))


@pytest.mark.parametrize("args,dtype", ARANGE_DTYPED, ids=str)
def test_arange_dtype(args, dtype):
    assert_close(_jit0(lambda: th.arange(*args, dtype=dtype)), np.arange(*args, dtype=dtype))


def test_arange_is_not_a_dense_constant():
    text = th.jit(lambda: th.arange(1_000_000) * 2).lower().as_text("tn")
    assert "tn.iota" in text and len(text) < 2000
    got = _jit0(lambda: th.arange(1_000_000) * 2)
    assert_close(got, np.arange(1_000_000) * 2)


def test_arange_refusals():
    with pytest.raises(ValueError, match="step must not be zero"):
        th.jit(lambda: th.arange(0, 5, 0)).lower()
    with pytest.raises(TypeError, match="traced bounds must be int scalars"):
        th.jit(lambda n: th.arange(n)).lower(np.float64(3))
    with pytest.raises(TypeError, match="static Python numbers"):
        th.jit(lambda n: th.arange(0, 5, n)).lower(np.int64(3))


def test_arange_of_a_traced_length():
    """A traced int bound (issue 16): the length is known when the code runs, one compile."""
    f = th.jit(lambda n: th.arange(2, n, 3) * 2)
    for n in (0, 2, 3, 11):
        assert_close(f(np.int64(n)), np.arange(2, n, 3) * 2)
    assert f.cache_size == 1


LINSPACE = [
    ((0, 1, 5), {}), ((0, 1, 5), {"endpoint": False}), ((1, 0, 7), {}), ((0, 1, 1), {}),
    ((0, 1, 0), {}), ((2, 2, 4), {}), ((-1, 1), {}), ((0, 10, 6), {"dtype": np.int64}),
    ((np.float32(0), np.float32(1), 9), {}), ((0, 1, 4), {"dtype": np.float32}),
    ((3, 1e-310, 3), {}), ((0, 1, 1), {"endpoint": False}),
]


@pytest.mark.parametrize("args,kw", LINSPACE, ids=str)
def test_linspace(args, kw):
    assert_close(_jit0(lambda: th.linspace(*args, **kw)), np.linspace(*args, **kw))


def test_linspace_refusals():
    with pytest.raises(ValueError, match="non-negative"):
        th.jit(lambda: th.linspace(0, 1, -1)).lower()
    with pytest.raises(NotImplementedError, match="only scalar start and stop"):
        th.jit(lambda: th.linspace(0, [1, 2], 3)).lower()


EYE = [((3,), {}), ((3, 4), {}), ((4, 3), {}), ((3, 4), {"k": 1}), ((3, 4), {"k": -2}),
       ((3, 3), {"k": 5}), ((0,), {}), ((3, 0), {}), ((3,), {"dtype": np.int32}),
       ((2, 3), {"k": -1, "dtype": np.bool_}), ((1,), {"dtype": np.float32})]


@pytest.mark.parametrize("args,kw", EYE, ids=str)
def test_eye_and_tri(args, kw):
    got = _jit0(lambda: (th.eye(*args, **kw), th.tri(*args, **kw)))
    assert_close(got[0], np.eye(*args, **kw))
    assert_close(got[1], np.tri(*args, **kw))


def test_identity():
    assert_close(_jit0(lambda: th.identity(4)), np.identity(4))
    assert_close(_jit0(lambda: th.identity(2, dtype=np.int64)), np.identity(2, dtype=np.int64))


@pytest.mark.parametrize("k", [-1, 0, 2])
@pytest.mark.parametrize("shape", [(3, 4), (4, 3), (2, 3, 4), (3,), (0, 2)], ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.int32, np.bool_])
def test_tril_triu(shape, k, dtype, rng):
    x = rand(rng, shape, dtype)
    got = th.jit(lambda x: (th.tril(x, k), th.triu(x, k)))(x)
    assert_close(got[0], np.tril(x, k))
    assert_close(got[1], np.triu(x, k))


def test_tril_triu_noncontiguous(rng):
    x = rand(rng, (3, 4), np.float64)
    got = th.jit(lambda x: (th.tril(x), th.triu(x, 1)))(noncontiguous(x))
    assert_close(got[0], np.tril(x))
    assert_close(got[1], np.triu(x, 1))


def test_shape_refusals():
    with pytest.raises(ValueError, match="negative dimensions"):
        th.jit(lambda: th.zeros((2, -1))).lower()
    with pytest.raises(ValueError, match="negative dimensions"):
        th.jit(lambda: th.eye(-2)).lower()
    with pytest.raises(TypeError, match="static Python numbers"):
        th.jit(lambda x: th.ones(x.shape[0] + x)).lower(np.ones(2))
    with pytest.raises(ValueError, match="at least 1-D"):
        th.jit(lambda x: th.tril(x)).lower(np.float64(1.0))


@pytest.mark.parametrize("shape,dim,dtype", [((4,), 0, np.float32), ((2, 3), 1, np.int32), ((2, 3), 0, np.int64),
                                             ((0, 3), 1, np.float64)], ids=str)
def test_iota_reference_matches_compiled(shape, dim, dtype):
    from theanir.dialects.tn.registry import lookup
    from theanir.frontend.np_creation import iota

    want = lookup("tn.iota").reference(shape=shape, dimension=dim, dtype=np.dtype(dtype))
    assert_close(_jit0(lambda: iota(shape, dim, dtype)), want)
    assert_close(want, np.broadcast_to(np.arange(shape[dim]).reshape([-1 if i == dim else 1 for i in range(len(shape))]),
                                       shape).astype(dtype))
