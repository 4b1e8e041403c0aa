"""Elementwise ops against NumPy: every row of the op table over shapes, dtypes, layouts."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th
from support import BROADCAST_PAIRS, FLOATS, SHAPES, assert_close, noncontiguous, rand

# (theanir function, NumPy reference, input domain); float-only unless kinds say otherwise
UNARY = [
    (th.negative, np.negative, (-3, 3)),
    (th.abs, np.abs, (-3, 3)),
    (th.sign, np.sign, (-3, 3)),
    (th.exp, np.exp, (-3, 3)),
    (th.expm1, np.expm1, (-3, 3)),
    (th.log, np.log, (0.1, 5)),
    (th.log1p, np.log1p, (-0.9, 5)),
    (th.sqrt, np.sqrt, (0, 5)),
    (th.rsqrt, lambda x: (1 / np.sqrt(x)).astype(x.dtype), (0.1, 5)),
    (th.square, np.square, (-3, 3)),
    (th.tanh, np.tanh, (-3, 3)),
    (th.sigmoid, lambda x: (1 / (1 + np.exp(-x))).astype(x.dtype), (-8, 8)),
    (th.softplus, lambda x: np.logaddexp(np.zeros((), x.dtype), x), (-8, 8)),
    (th.relu, lambda x: np.maximum(x, 0), (-3, 3)),
    (th.sin, np.sin, (-3, 3)),
    (th.cos, np.cos, (-3, 3)),
    (th.floor, np.floor, (-3, 3)),
    (th.ceil, np.ceil, (-3, 3)),
    (th.round, np.round, (-3, 3)),
    (th.isnan, np.isnan, (-3, 3)),
]

BINARY = [
    (th.add, np.add, (-3, 3)),
    (th.subtract, np.subtract, (-3, 3)),
    (th.multiply, np.multiply, (-3, 3)),
    (th.divide, np.divide, (0.5, 3)),
    (th.power, np.power, (0.5, 2)),
    (th.maximum, np.maximum, (-3, 3)),
    (th.minimum, np.minimum, (-3, 3)),
    (th.floor_divide, np.floor_divide, (0.5, 3)),
    (th.mod, np.mod, (-3, 3)),
    (th.equal, np.equal, (-1, 1)),
    (th.not_equal, np.not_equal, (-1, 1)),
    (th.less, np.less, (-3, 3)),
    (th.less_equal, np.less_equal, (-1, 1)),
    (th.greater, np.greater, (-3, 3)),
    (th.greater_equal, np.greater_equal, (-1, 1)),
]


def _ids(table):
    return [row[0].__name__ for row in table]


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("fn,ref,domain", UNARY, ids=_ids(UNARY))
def test_unary(fn, ref, domain, shape, dtype, rng):
    x = rand(rng, shape, dtype, domain)
    assert_close(th.jit(fn)(x), ref(x), dtype)


@pytest.mark.parametrize("fn,ref,domain", UNARY, ids=_ids(UNARY))
def test_unary_noncontiguous(fn, ref, domain, rng):
    x = rand(rng, (3, 4), np.float64, domain)
    assert_close(th.jit(fn)(noncontiguous(x)), ref(x))


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
@pytest.mark.parametrize("fn,ref,domain", BINARY, ids=_ids(BINARY))
def test_binary_broadcasting(fn, ref, domain, shapes, dtype, rng):
    a = rand(rng, shapes[0], dtype, domain)
    b = rand(rng, shapes[1], dtype, domain)
    assert_close(th.jit(fn)(a, b), ref(a, b), dtype)


@pytest.mark.parametrize("fn,ref,domain", BINARY, ids=_ids(BINARY))
def test_binary_noncontiguous(fn, ref, domain, rng):
    a = rand(rng, (3, 4), np.float64, domain)
    b = rand(rng, (3, 4), np.float64, domain)
    assert_close(th.jit(fn)(noncontiguous(a), b.T.copy().T), ref(a, b))


INT_BINARY = [(th.add, np.add), (th.subtract, np.subtract), (th.multiply, np.multiply),
              (th.floor_divide, np.floor_divide), (th.mod, np.mod), (th.maximum, np.maximum),
              (th.minimum, np.minimum), (th.less, np.less), (th.equal, np.equal),
              (th.divide, np.divide)]


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("fn,ref", INT_BINARY, ids=[r[0].__name__ for r in INT_BINARY])
def test_int_binary(fn, ref, dtype):
    a = np.array([-7, -3, 0, 3, 7, 5, np.iinfo(dtype).min], dtype)
    b = np.array([2, -2, 3, -1, 0, 5, -1], dtype)
    with np.errstate(all="ignore"):
        want = ref(a, b)
    assert_close(th.jit(fn)(a, b), want)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("shapes", BROADCAST_PAIRS, ids=str)
def test_int_power(dtype, shapes, rng):
    """Square-and-multiply, wrapping like NumPy (exponents up to 40 overflow int32 and int64);
    negative exponents: tests/reliability/test_inputs.py."""
    a = rand(rng, shapes[0], dtype, (-9, 9))
    b = rand(rng, shapes[1], dtype, (0, 40))
    with np.errstate(all="ignore"):
        want = np.power(a, b)
    assert_close(th.jit(th.power)(a, b), want)
    if a.ndim:
        assert_close(th.jit(th.power)(noncontiguous(a), b), want)


def test_float_floor_divide_and_mod_match_numpy_edge_cases():
    a = np.array([1.0, -1.0, 7.5, -7.5, 0.0, 1.0, np.inf], np.float64)
    b = np.array([0.1, 0.1, -2.0, 2.0, -3.0, 0.0, 2.0], np.float64)
    with np.errstate(all="ignore"):
        assert_close(th.jit(th.floor_divide)(a, b), np.floor_divide(a, b))
        assert_close(th.jit(th.mod)(a, b), np.mod(a, b))


@pytest.mark.parametrize("fn,ref", [(th.logical_and, np.logical_and), (th.logical_or, np.logical_or),
                                    (th.logical_xor, np.logical_xor)])
def test_logical(fn, ref, rng):
    a, b = rng.random((3, 4)) < 0.5, rng.random((4,)) < 0.5
    assert_close(th.jit(fn)(a, b), ref(a, b))
    assert_close(th.jit(th.logical_not)(a), np.logical_not(a))


def test_where_broadcasts_and_promotes(rng):
    c = rng.random((3, 1)) < 0.5
    a = rand(rng, (3, 4), np.float32)
    assert_close(th.jit(lambda c, a: th.where(c, a, 0.5))(c, a), np.where(c, a, np.float32(0.5)))
    b = rand(rng, (4,), np.float64)
    assert_close(th.jit(th.where)(c, a, b), np.where(c, a, b))


@pytest.mark.parametrize("src", [np.float32, np.float64, np.int32, np.int64, np.bool_])
@pytest.mark.parametrize("dst", [np.float32, np.float64, np.int32, np.int64, np.bool_])
def test_cast(src, dst, rng):
    x = rand(rng, (2, 3), src)
    assert_close(th.jit(lambda x: x.astype(dst))(x), x.astype(dst))


def test_nep50_promotion_with_python_scalars(rng):
    x32 = rand(rng, (3,), np.float32)
    assert th.jit(lambda x: x * 2.0 + 1)(x32).dtype == np.float32
    i32 = np.arange(3, dtype=np.int32)
    assert th.jit(lambda x: x + 1)(i32).dtype == np.int32
    assert th.jit(lambda x: x + 1.5)(i32).dtype == np.float64
    assert th.jit(lambda x, y: x + y)(i32, x32).dtype == np.float64
    assert_close(th.jit(lambda x, s: x * s)(x32, 3.0), x32 * 3.0)


def test_numpy_ufuncs_dispatch_to_theanir(rng):
    x = rand(rng, (3,), np.float64)
    assert_close(th.jit(lambda x: np.exp(x) + np.ones(3))(x), np.exp(x) + 1)


def test_nan_semantics():
    x = np.array([np.nan, 1.0, -2.0])
    assert_close(th.jit(th.sign)(x), np.sign(x))
    assert_close(th.jit(lambda a: th.maximum(a, 0.0))(x), np.maximum(x, 0.0))
    assert_close(th.jit(lambda a: a != a)(x), x != x)


def test_float32_log_is_within_one_ulp_and_keeps_ieee_special_values():
    """float32 log is a polynomial (vectorizes, unlike libm's logf): check it over every
    binade, subnormals and values near 1 against float64, and log's special values."""
    rng = np.random.default_rng(0)
    bits = rng.integers(1, 0x7F800000, 200_000, dtype=np.int64).astype(np.uint32).view(np.float32)
    near_one = (1 + rng.uniform(-0.3, 0.3, 100_000)).astype(np.float32)
    edges = np.array([1.0, 2.0, 0.5, np.nextafter(1, 2), np.nextafter(1, 0), 1e-45, 1.1754944e-38,
                      np.finfo(np.float32).max], np.float32)
    x = np.concatenate([bits, near_one, edges])
    got = np.asarray(th.jit(th.log)(x)).astype(np.float64)
    want = np.log(x.astype(np.float64))
    ulp = np.spacing(np.abs(want).astype(np.float32)).astype(np.float64)
    assert np.max(np.abs(got - want) / ulp) < 1.0
    assert np.asarray(th.jit(th.log)(np.float32(1.0))) == 0.0
    special = np.array([0.0, -0.0, -1.0, -np.inf, np.inf, np.nan], np.float32)
    with np.errstate(all="ignore"):
        np.testing.assert_array_equal(np.asarray(th.jit(th.log)(special)), np.log(special))
