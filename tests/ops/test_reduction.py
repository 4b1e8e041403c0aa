"""Reductions against NumPy: every function over shapes (size-0 and size-1 dims), axes (None,
ints, negative, tuples, empty), keepdims, dtypes and layouts; NaN and tie rules; errors;
derivatives by finite differences (verify_grad, both modes).

Where NumPy raises (a size-0 reduction without identity, a bad axis), theanir must raise the
same exception class at trace time, naming the function.
"""
from __future__ import annotations

import warnings

import numpy as np
import pytest

import theanir as th
from support import FLOATS, assert_close, noncontiguous, rand

# (theanir function, NumPy reference, input domain): float32 results are compared with NumPy's
# own float32 results, which carry their own rounding, hence a tolerance scaled to the values
# (see _tol); accuracy against float64 is tested in tests/reliability/test_reductions.py.
REDUCERS = [
    (th.sum, np.sum, (-3, 3)),
    (th.prod, np.prod, (0.5, 1.5)),
    (th.max, np.max, (-3, 3)),
    (th.min, np.min, (-3, 3)),
    (th.any, np.any, (-1, 1)),
    (th.all, np.all, (-1, 1)),
    (th.mean, np.mean, (-3, 3)),
    (th.var, np.var, (-3, 3)),
    (th.std, np.std, (-3, 3)),
    (th.argmax, np.argmax, (-3, 3)),
    (th.argmin, np.argmin, (-3, 3)),
]
INT_REDUCERS = [r for r in REDUCERS if r[0] not in (th.std,)]
BOOL_REDUCERS = [r for r in REDUCERS if r[0] not in (th.var, th.std)]

# (shape, axis): every axis form, with size-0 and size-1 dims
CASES = [
    ((), None), ((), 0), ((5,), None), ((5,), 0), ((5,), -1), ((1,), 0), ((0,), None),
    ((3, 4), None), ((3, 4), 0), ((3, 4), 1), ((3, 4), -1), ((3, 4), (0, 1)), ((3, 4), (1, 0)),
    ((3, 4), ()), ((2, 0, 3), None), ((2, 0, 3), 0), ((2, 0, 3), 1), ((2, 0, 3), (0, 2)),
    ((2, 1, 3), -2), ((2, 1, 3), (0, 2)), ((2, 3, 4), (0, 2)), ((2, 3, 4), (-1, -3)),
]
INT_CASES = [((5,), None), ((3, 4), 0), ((3, 4), -1), ((2, 0, 3), 1), ((2, 0, 3), 0),
             ((2, 1, 3), (0, 2)), ((2, 3, 4), (0, 2)), ((2, 3, 4), None)]


def _ids(table):
    return [row[0].__name__ for row in table]


def _tol(fn, dtype):
    if np.dtype(dtype) == np.float32 and fn in (th.sum, th.mean, th.var, th.std):
        return {"rtol": 1e-5, "atol": 2e-5}
    return {}


def check(fn, ref, x, **kw):
    """th.jit(fn) agrees with NumPy on `x`, or raises what NumPy raises, naming `fn`."""
    try:
        with warnings.catch_warnings(), np.errstate(all="ignore"):
            warnings.simplefilter("ignore")
            want = ref(x, **kw)
    except (ValueError, TypeError) as e:
        with pytest.raises(type(e), match=rf"th\.{fn.__name__}"):
            th.jit(lambda a: fn(a, **kw))(x)
        return
    got = th.jit(lambda a: fn(a, **kw))(x)
    assert_close(got, want, **_tol(fn, np.asarray(x).dtype))


@pytest.mark.parametrize("keepdims", [False, True])
@pytest.mark.parametrize("shape,axis", CASES, ids=str)
@pytest.mark.parametrize("fn,ref,domain", REDUCERS, ids=_ids(REDUCERS))
def test_float64(fn, ref, domain, shape, axis, keepdims, rng):
    check(fn, ref, rand(rng, shape, np.float64, domain), axis=axis, keepdims=keepdims)


@pytest.mark.parametrize("shape,axis", CASES, ids=str)
@pytest.mark.parametrize("fn,ref,domain", REDUCERS, ids=_ids(REDUCERS))
def test_float32(fn, ref, domain, shape, axis, rng):
    check(fn, ref, rand(rng, shape, np.float32, domain), axis=axis)


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
@pytest.mark.parametrize("shape,axis", INT_CASES, ids=str)
@pytest.mark.parametrize("fn,ref,domain", INT_REDUCERS, ids=_ids(INT_REDUCERS))
def test_int(fn, ref, domain, shape, axis, dtype, rng):
    # integer values in a small range: many ties, which argmax/argmin must break like NumPy
    check(fn, ref, rand(rng, shape, dtype, (-3, 3)), axis=axis, keepdims=axis == 0)


@pytest.mark.parametrize("shape,axis", INT_CASES, ids=str)
@pytest.mark.parametrize("fn,ref,domain", BOOL_REDUCERS, ids=_ids(BOOL_REDUCERS))
def test_bool(fn, ref, domain, shape, axis, rng):
    check(fn, ref, rand(rng, shape, np.bool_), axis=axis)


@pytest.mark.parametrize("fn,ref,domain", REDUCERS, ids=_ids(REDUCERS))
def test_noncontiguous(fn, ref, domain, rng):
    x = rand(rng, (3, 4), np.float64, domain)
    for axis in (0, None):
        check(fn, ref, noncontiguous(x), axis=axis)
        check(fn, ref, x.T, axis=axis)


def test_float32_sum_of_many_elements(rng):
    # Long float32 sums accumulate in float64 and round once (issue 12): within 1e-6 of a
    # float64 reference (a float32 accumulator drifts like n * eps; NumPy's pairwise sum like
    # log(n) * eps).
    x = rand(rng, (4096,), np.float32, (0, 1))
    assert_close(th.jit(th.sum)(x), np.sum(x.astype(np.float64)).astype(np.float32), rtol=1e-6)
    assert_close(th.jit(th.mean)(x), np.mean(x.astype(np.float64)).astype(np.float32), rtol=1e-6)


# ------------------------------------------------------------------ dtype rules
@pytest.mark.parametrize("fn,ref", [(th.sum, np.sum), (th.prod, np.prod), (th.mean, np.mean),
                                    (th.var, np.var)], ids=["sum", "prod", "mean", "var"])
@pytest.mark.parametrize("src", [np.bool_, np.int32, np.int64, np.float32, np.float64])
def test_result_dtype_like_numpy(fn, ref, src, rng):
    x = rand(rng, (2, 3), src, (-3, 3))
    got = th.jit(lambda a: fn(a, axis=1))(x)
    assert_close(got, ref(x, axis=1), **_tol(fn, src))


@pytest.mark.parametrize("fn,ref", [(th.sum, np.sum), (th.prod, np.prod), (th.mean, np.mean)],
                         ids=["sum", "prod", "mean"])
@pytest.mark.parametrize("src,dst", [(np.int32, np.float64), (np.float64, np.int32),
                                     (np.int64, np.int32), (np.bool_, np.bool_),
                                     (np.float32, np.float64)], ids=str)
def test_dtype_argument(fn, ref, src, dst, rng):
    if fn is th.mean and np.dtype(dst).kind != "f":
        return  # NumPy's integer mean truncates through float: not a documented form
    x = rand(rng, (3, 4), src, (-3, 3))
    assert_close(th.jit(lambda a: fn(a, axis=0, dtype=dst))(x), ref(x, axis=0, dtype=dst))


def test_tensor_methods_and_numpy_dispatch(rng):
    x = rand(rng, (3, 4), np.float64)
    f = th.jit(lambda a: (a.sum(axis=1), a.mean(), a.max(axis=0, keepdims=True), a.min(),
                          a.prod(axis=-1), (a > 0).any(axis=1), (a > -4).all(), a.argmax(axis=1),
                          a.argmin(), np.sum(a, axis=0), np.mean(a, axis=1), np.max(a),
                          np.argmax(a, axis=0), np.std(a, ddof=1), np.var(a, axis=0),
                          np.amax(a, axis=1), th.amin(a, axis=0, keepdims=True)))
    want = (x.sum(axis=1), x.mean(), x.max(axis=0, keepdims=True), x.min(), x.prod(axis=-1),
            (x > 0).any(axis=1), (x > -4).all(), x.argmax(axis=1), x.argmin(), np.sum(x, axis=0),
            np.mean(x, axis=1), np.max(x), np.argmax(x, axis=0), np.std(x, ddof=1), np.var(x, axis=0),
            np.amax(x, axis=1), np.amin(x, axis=0, keepdims=True))
    got = f(x)
    assert len(got) == len(want)
    for g, w in zip(got, want):
        assert_close(g, w)


@pytest.mark.parametrize("ddof", [0, 1, 2])
@pytest.mark.parametrize("fn,ref", [(th.var, np.var), (th.std, np.std)], ids=["var", "std"])
def test_var_std_ddof(fn, ref, ddof, rng):
    x = rand(rng, (3, 4), np.float64)
    for axis in (None, 0, (0, 1)):
        assert_close(th.jit(lambda a: fn(a, axis=axis, ddof=ddof, keepdims=True))(x),
                     ref(x, axis=axis, ddof=ddof, keepdims=True))


def test_empty_reductions_give_identities():
    x = np.zeros((2, 0), np.float64)
    outs = th.jit(lambda a: (th.sum(a, axis=1), th.prod(a, axis=1), th.any(a, axis=1),
                             th.all(a, axis=1), th.sum(a.astype(np.int32))))(x)
    for g, w in zip(outs, (np.zeros(2), np.ones(2), np.zeros(2, bool), np.ones(2, bool),
                           np.int64(0))):
        assert_close(g, w)


# ------------------------------------------------------------------ NaN, ties, extremes
NAN_ROWS = np.array([[1.0, np.nan, 3.0, np.nan], [2.0, 5.0, 5.0, -1.0], [np.nan, 0.0, 9.0, 1.0]])


@pytest.mark.parametrize("dtype", FLOATS)
@pytest.mark.parametrize("fn,ref", [(th.max, np.max), (th.min, np.min), (th.argmax, np.argmax),
                                    (th.argmin, np.argmin), (th.sum, np.sum), (th.prod, np.prod),
                                    (th.any, np.any), (th.mean, np.mean)],
                         ids=["max", "min", "argmax", "argmin", "sum", "prod", "any", "mean"])
def test_nan_propagates_like_numpy(fn, ref, dtype):
    x = NAN_ROWS.astype(dtype)
    for axis in (None, 0, 1):
        check(fn, ref, x, axis=axis)
        check(fn, ref, np.ascontiguousarray(x[::-1, ::-1]), axis=axis)


def test_argmax_first_occurrence_and_extremes():
    cases = [
        (np.array([[3.0, 1.0, 3.0], [0.0, 3.0, 3.0]]), None),  # row-major first over all axes
        (np.array([[3.0, 1.0, 3.0], [0.0, 3.0, 3.0]]), 1),
        (np.full((2, 3), -np.inf), None),                      # ties with the init value
        (np.full((2, 3), np.inf), 0),
        (np.array([np.nan, np.nan, 1.0]), 0),                 # the first NaN
        (np.array([-0.0, 0.0, 0.0]), 0),
    ]
    for x, axis in cases:
        check(th.argmax, np.argmax, x, axis=axis)
        check(th.argmin, np.argmin, x, axis=axis)
    for dt in (np.int32, np.int64):
        info = np.iinfo(dt)
        for x in (np.full(4, info.min, dt), np.full(4, info.max, dt),
                  np.array([info.min, info.max, info.max, info.min], dt)):
            check(th.argmax, np.argmax, x)
            check(th.argmin, np.argmin, x)
            check(th.max, np.max, x)
            check(th.min, np.min, x)
    check(th.argmax, np.argmax, np.zeros(3, bool))
    check(th.argmin, np.argmin, np.ones(3, bool))


def test_argmax_over_all_axes_of_a_strided_view(rng):
    x = rand(rng, (4, 6), np.float64)
    check(th.argmax, np.argmax, x[::2, ::-3], keepdims=True)
    check(th.argmin, np.argmin, x[1:, ::2].T)


def test_reduction_fuses_with_elementwise_consumers(rng):
    # softmax: keepdims results broadcast back into elementwise ops (keepdims output maps)
    x = rand(rng, (3, 5), np.float32)

    def softmax(a):
        e = th.exp(a - a.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)

    e = np.exp(x - x.max(axis=1, keepdims=True))
    assert_close(th.jit(softmax)(x), e / e.sum(axis=1, keepdims=True))


# ------------------------------------------------------------------ errors
@pytest.mark.parametrize("fn,kw,exc,pattern", [
    (th.max, {"axis": 0}, ValueError, r"th\.max: zero-size array.*shape \(0, 3\)"),
    (th.min, {}, ValueError, r"th\.min: zero-size array"),
    (th.argmax, {"axis": 0}, ValueError, r"th\.argmax: attempt to get argmax of an empty"),
    (th.argmin, {}, ValueError, r"th\.argmin: attempt to get argmin"),
    (th.sum, {"axis": 2}, np.exceptions.AxisError, r"th\.sum.*axis 2 is out of bounds.*dimension 2"),
    (th.mean, {"axis": -3}, np.exceptions.AxisError, r"th\.mean.*axis -3 is out of bounds"),
    (th.sum, {"axis": (1, -1)}, ValueError, r"th\.sum: duplicate value in 'axis'"),
    (th.argmax, {"axis": (0, 1)}, TypeError, r"th\.argmax: axis must be an int or None"),
    (th.sum, {"axis": 1.0}, TypeError, r"th\.sum: axis must be an int"),
], ids=["max", "min", "argmax", "argmin", "range", "negative-range", "duplicate", "argmax-tuple",
        "float-axis"])
def test_errors_name_the_function(fn, kw, exc, pattern):
    x = np.zeros((0, 3), np.float64)
    with pytest.raises(exc, match=pattern) as info:
        th.jit(lambda a: fn(a, **kw))(x)
    assert "test_reduction.py" in str(info.value)  # the user's source line


def test_op_shape_rule_refuses_bad_axes():
    from theanir.dialects.tn.builder import emit1

    x = np.zeros((2, 3), np.float32)
    for attrs, pattern in [({"axes": (1, 0), "keepdims": False}, "sorted and distinct"),
                           ({"axes": (2,), "keepdims": False}, "out of range")]:
        with pytest.raises(th.ShapeError, match=rf"tn.reduce_sum: axes .*{pattern}"):
            th.jit(lambda a: th.Tensor(emit1("tn.reduce_sum", [a.value], attrs)))(x)
    with pytest.raises(th.ShapeError, match="tn.reduce_any: dtype float32 is not accepted"):
        th.jit(lambda a: th.Tensor(emit1("tn.reduce_any", [a.value], {"axes": (0,), "keepdims": False})))(x)


# ------------------------------------------------------------------ sum_to_shape
@pytest.mark.parametrize("shapes", [((3, 4), (4,)), ((3, 4), (3, 1)), ((2, 3, 4), (1, 4)),
                                    ((2, 3, 4), ()), ((3, 4), (3, 4)), ((2, 1, 3), (1, 1, 3)),
                                    ((0, 3), (3,)), ((0, 3), (1, 3)), ((2, 3), (1, 1, 2, 3)[2:])],
                         ids=str)
@pytest.mark.parametrize("dtype", [np.float32, np.float64, np.int32, np.bool_])
def test_sum_to_shape(shapes, dtype, rng):
    big, small = shapes
    x = rand(rng, big, dtype)
    lead = len(big) - len(small)
    axes = tuple(range(lead)) + tuple(lead + i for i, s in enumerate(small) if s == 1 and big[lead + i] != 1)
    red = np.logical_or.reduce if dtype == np.bool_ else np.add.reduce
    want = red(x, axis=axes, keepdims=True, dtype=dtype).reshape(small)
    assert_close(th.jit(lambda a: th.sum_to_shape(a, small))(x), want, **_tol(th.sum, dtype))


def test_sum_to_shape_refuses_non_broadcastable():
    with pytest.raises(ValueError, match=r"th\.sum_to_shape: shape \(5,\) does not broadcast to \(3, 4\)"):
        th.jit(lambda a: th.sum_to_shape(a, (5,)))(np.zeros((3, 4)))


# ------------------------------------------------------------------ derivatives
GRAD_CASES = [((3, 4), 0, False), ((3, 4), 1, True), ((3, 4), (0, 1), True),
              ((2, 3, 4), (0, 2), False), ((2, 3, 4), -2, True)]


@pytest.mark.parametrize("shape,axis,keepdims", GRAD_CASES, ids=str)
@pytest.mark.parametrize("fn", [th.sum, th.mean, th.max, th.min, th.prod, th.var, th.std],
                         ids=lambda f: f.__name__)
def test_grads(fn, shape, axis, keepdims, rng):
    # distinct values away from 0: max/min have no ties, prod no zeros (zeros: see below)
    x = rng.permutation(np.linspace(0.5, 1.5, int(np.prod(shape)))).reshape(shape)
    x = x * rng.choice([-1.0, 1.0], size=shape)
    th.verify_grad(lambda a: fn(a, axis=axis, keepdims=keepdims) * 1.5, [x], rng=rng)


def test_grad_float32(rng):
    x = rng.normal(size=(3, 4)).astype(np.float32)
    th.verify_grad(lambda a: th.sum(a * a, axis=1), [x], rng=rng)
    th.verify_grad(lambda a: th.max(a, axis=0, keepdims=True), [x], rng=rng)


def test_max_grad_splits_ties_evenly():
    # the tie rule: the tangent is averaged over the positions attaining the max
    x = np.array([[1.0, 3.0, 3.0], [2.0, 0.0, -1.0]])
    assert_close(th.grad(lambda a: th.sum(th.max(a, axis=1)))(x),
                 np.array([[0.0, 0.5, 0.5], [1.0, 0.0, 0.0]]))
    assert_close(th.grad(lambda a: th.min(a))(np.full((2, 2), 7.0)), np.full((2, 2), 0.25))


@pytest.mark.parametrize("x", [
    np.array([[2.0, 0.0, 3.0], [1.0, 4.0, -2.0]]),    # one zero in a row
    np.array([[0.0, 0.0, 3.0], [0.0, 4.0, 0.0]]),     # two zeros: all partials vanish
    np.array([[0.0, 5.0, -3.0], [0.5, 0.0, 0.0]]),
], ids=["one-zero", "two-zeros", "mixed"])
def test_prod_grad_is_zero_safe(x):
    # d prod / d x_i = prod of the others, computed without dividing by zero
    want = np.empty_like(x)
    for idx in np.ndindex(x.shape):
        row = np.delete(x[idx[0]], idx[1])
        want[idx] = np.prod(row)
    assert_close(th.grad(lambda a: th.sum(th.prod(a, axis=1)))(x), want)
    th.verify_grad(lambda a: th.prod(a, axis=1), [x], modes=("fwd", "rev"))


def test_argmax_and_boolean_reductions_are_not_differentiated(rng):
    x = rng.normal(size=(3, 4))
    # argmax and any depend on `a` but carry no tangent: only the explicit factors `a` do
    g = th.grad(lambda a: th.sum(a * th.argmax(a, axis=1, keepdims=True)
                                 + a * th.any(a > 0, axis=1, keepdims=True)))(x)
    want = np.argmax(x, axis=1)[:, None] + np.any(x > 0, axis=1, keepdims=True)
    assert_close(g, np.broadcast_to(want, x.shape).astype(np.float64))


# ------------------------------------------------------------------ the ops' NumPy references
@pytest.mark.parametrize("name,dtype", [("reduce_sum", np.float64), ("reduce_prod", np.int32),
                                        ("reduce_max", np.float32), ("reduce_min", np.bool_),
                                        ("reduce_any", np.bool_), ("reduce_all", np.bool_),
                                        ("argmax", np.int64), ("argmin", np.float64)])
@pytest.mark.parametrize("axes,keepdims", [((), False), ((1,), True), ((0, 2), False), ((0, 1, 2), True)],
                         ids=str)
def test_op_reference_matches_lowering(name, dtype, axes, keepdims, rng):
    from theanir.dialects.tn.builder import emit1
    from theanir.dialects.tn.registry import lookup

    x = rand(rng, (2, 3, 4), dtype)
    attrs = {"axes": axes, "keepdims": keepdims}
    got = th.jit(lambda a: th.Tensor(emit1(f"tn.{name}", [a.value], attrs)))(x)
    assert_close(got, lookup(f"tn.{name}").reference(x, **attrs))
