"""Eager evaluation: th functions called on concrete data outside a trace compute, op by op
under th.jit, like `jnp.exp(np_array)` (frontend/eager.py)."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T
from theanir.frontend import api, eager
from support import FLOATS, assert_close


@pytest.fixture
def traces(monkeypatch):
    """Counts th.jit traces (a cache hit traces nothing)."""
    calls = []
    real = api.trace

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(api, "trace", counting)
    return calls


# ------------------------------------------------------------------ results
@pytest.mark.parametrize("dtype", FLOATS)
def test_elementwise(dtype, rng):
    x = rng.uniform(-2, 2, (3, 4)).astype(dtype)
    y = th.exp(x)
    assert isinstance(y, th.Array)
    assert_close(y, np.exp(x))
    assert_close(th.tanh(x), np.tanh(x))
    assert_close(th.maximum(x, 0.5), np.maximum(x, dtype(0.5)))


@pytest.mark.parametrize("dtype", FLOATS)
def test_add_broadcasts_and_python_scalars_are_weak(dtype, rng):
    a, b = rng.uniform(size=(3, 1)).astype(dtype), rng.uniform(size=(4,)).astype(dtype)
    assert_close(th.add(a, b), a + b)
    assert_close(th.add(a, 2), a + 2)              # int scalar: stays `dtype`
    assert_close(th.multiply(2.5, b), 2.5 * b)     # float scalar: stays `dtype`
    assert_close(th.add(1, 2), np.asarray(3))      # only scalars: int64, as NumPy
    assert_close(th.exp(1.0), np.exp(np.float64(1.0)))


def test_numpy_scalars_keep_their_dtype():
    assert_close(th.exp(np.float32(1.0)), np.exp(np.float32(1.0)))
    assert_close(th.add(np.ones(2), np.float32(1)), np.ones(2) + np.float32(1))


@pytest.mark.parametrize("dtype", FLOATS)
def test_reductions_with_axis_and_keepdims(dtype, rng):
    x = rng.uniform(size=(2, 3, 4)).astype(dtype)
    assert_close(th.sum(x), x.sum())
    assert_close(th.sum(x, axis=1), x.sum(axis=1))
    assert_close(th.sum(x, axis=(0, 2), keepdims=True), x.sum(axis=(0, 2), keepdims=True))
    assert_close(th.mean(x, axis=-1, keepdims=True), x.mean(axis=-1, keepdims=True))
    assert_close(th.max(x, 0), x.max(0))
    assert_close(th.argmax(x, axis=2), x.argmax(axis=2))
    assert_close(th.std(x, axis=0, ddof=1), x.std(axis=0, ddof=1))
    assert_close(th.sum(x, axis=np.int64(1)), x.sum(axis=1))


@pytest.mark.parametrize("dtype", FLOATS)
def test_matmul(dtype, rng):
    a, b = rng.uniform(size=(3, 4)).astype(dtype), rng.uniform(size=(4, 5)).astype(dtype)
    assert_close(th.matmul(a, b), a @ b)
    assert_close(th.dot(a[0], b[:, 0]), a[0] @ b[:, 0])


def test_shape_functions_take_static_arguments(rng):
    x = rng.uniform(size=(2, 3, 4))
    assert_close(th.swapaxes(x, 0, 2), np.swapaxes(x, 0, 2))
    assert_close(th.transpose(x), x.T)
    assert_close(th.transpose(x, (1, 0, 2)), x.transpose(1, 0, 2))
    assert_close(th.reshape(x, (6, -1)), x.reshape(6, -1))
    assert_close(th.reshape(x, [4, 6]), x.reshape(4, 6))   # a list shape stays a shape
    assert_close(th.expand_dims(x, 0), x[None])
    assert_close(th.concatenate([x, x], axis=1), np.concatenate([x, x], axis=1))
    assert_close(th.stack([x[0], x[1]], axis=-1), np.stack([x[0], x[1]], axis=-1))
    assert_close(th.getitem(x, (slice(0, 1), 2)), x[0:1, 2])
    assert_close(th.take(x, np.array([2, 0]), axis=2), np.take(x, [2, 0], axis=2))
    assert_close(th.astype(x, np.float32), x.astype(np.float32))


def test_where_round_and_creation():
    c = np.array([True, False, True])
    x = np.array([1.25, -2.5, 3.0])
    assert_close(th.where(c, x, 0.0), np.where(c, x, 0.0))
    assert_close(th.where(x > 0, 1.0, -1.0), np.where(x > 0, 1.0, -1.0))
    assert_close(th.round(x, 1), np.round(x, 1))            # decimals must be concrete
    assert_close(th.full_like(x, 7), np.full_like(x, 7))
    assert_close(th.zeros((2, 3), np.float32), np.zeros((2, 3), np.float32))
    assert_close(th.arange(5), np.arange(5))
    assert_close(th.eye(3, k=1), np.eye(3, k=1))


def test_python_lists_are_taken_as_np_asarray_takes_them():
    assert_close(th.exp([1.0, 2.0]), np.exp([1.0, 2.0]))
    assert_close(th.add(np.ones((2, 3), np.float32), [1, 2, 3]), np.ones((2, 3), np.float32) + [1, 2, 3])
    assert_close(th.sum([[1, 2], [3, 4]], axis=0), np.sum([[1, 2], [3, 4]], axis=0))


@pytest.mark.parametrize("shape", [(0,), (2, 0, 3)])
def test_empty_arrays(shape):
    x = np.ones(shape, np.float32)
    assert_close(th.exp(x), np.exp(x))
    assert_close(th.sum(x, axis=-1), x.sum(axis=-1))
    assert_close(th.add(x, 1.0), x + 1.0)


def test_result_is_an_array_usable_with_numpy():
    y = th.sqrt(np.array([4.0, 9.0]))
    assert isinstance(y, th.Array)
    assert np.asarray(y).tolist() == [2.0, 3.0]
    assert_close(th.sum(y), np.asarray(5.0))   # a th.Array is a dynamic input in turn
    assert_close(th.exp(th.zeros(2)), np.ones(2))


def test_functions_that_need_no_trace_are_unchanged():
    assert th.result_type(np.ones(2, np.float32), 1.0) == np.float32
    assert not hasattr(th.result_type, "__wrapped__")
    assert th.divide is th.true_divide    # aliases stay one function
    assert th.exp.__name__ == "exp" and str(inspect.signature(th.exp)) == "(x)"


# ------------------------------------------------------------------ caching
def test_repeated_calls_hit_the_cache(traces):
    eager.clear_cache()
    x = np.ones((3, 4))
    th.exp(x)
    th.exp(x + 1)
    th.exp(np.zeros((3, 4)))
    assert len(traces) == 1
    assert eager.jit_for(th.exp, x).cache_size == 1
    th.exp(np.ones(5))          # a new shape: th.jit's own cache, same th.jit object
    assert len(traces) == 2 and eager.jit_for(th.exp, x).cache_size == 2
    assert eager.cache_size() == 1


def test_python_scalars_do_not_retrace(traces):
    eager.clear_cache()
    x = np.ones(3, np.float32)
    for k in range(5):
        assert_close(th.add(x, float(k)), x + k)
    assert len(traces) == 1 and eager.cache_size() == 1


def test_static_arguments_key_the_cache(traces):
    eager.clear_cache()
    x = np.ones((2, 3))
    th.sum(x, axis=0)           # tried with a dynamic axis (fails), then static
    n = len(traces)
    th.sum(x, axis=0)
    th.sum(np.zeros((2, 3)), axis=0)
    assert len(traces) == n
    th.sum(x, axis=1)           # another static value: another th.jit object
    assert len(traces) == n + 1
    assert eager.cache_size() == 2
    assert eager.jit_for(th.sum, x, axis=0).cache_size == 1


def test_cache_is_bounded(monkeypatch):
    eager.clear_cache()
    monkeypatch.setattr(eager, "MAX_ENTRIES", 2)
    x = np.ones((2, 2, 2))
    for axis in (0, 1, 2):
        th.sum(x, axis=axis)
    assert eager.cache_size() <= 2
    assert_close(th.sum(x, axis=0), x.sum(axis=0))


# ------------------------------------------------------------------ errors
def test_shape_error_names_the_shapes():
    with pytest.raises(th.ShapeError, match=r"add: shapes \(3,\) and \(4,\) cannot be broadcast.*test_eager.py"):
        th.add(np.ones(3), np.ones(4))
    with pytest.raises(th.ShapeError, match=r"matmul: shapes \(2, 3\) and \(4, 5\)"):
        th.matmul(np.ones((2, 3)), np.ones((4, 5)))
    with pytest.raises(th.ShapeError, match=r"reshape: cannot reshape a tensor of shape \(2, 3\)"):
        th.reshape(np.ones((2, 3)), (4, 2))


def test_other_errors_stay_clear():
    with pytest.raises(np.exceptions.AxisError, match="axis 5 is out of bounds"):
        th.swapaxes(np.ones((2, 3)), 0, 5)
    # (float16 inputs compute in float32 since issue 20: tests/jax_style)
    # (complex64 is supported since issue 20: tests/ops/test_complex.py; uint64 is not)
    with pytest.raises(TypeError, match="exp: argument 'x': dtype uint64 is not supported"):
        th.exp(np.ones(2, np.uint64))
    with pytest.raises(TypeError, match="three arguments"):
        th.where(np.ones(2) > 0)


# ------------------------------------------------------------------ tracing and graphs unchanged
def test_functions_still_trace_inside_jit(traces):
    @th.jit
    def f(x, n):
        return th.sum(th.exp(x) + th.zeros(3), axis=0) * n   # th.zeros: no Tensor argument

    x = np.array([0.0, 1.0, 2.0])
    assert_close(f(x, 2.0), 2 * np.exp(x).sum())
    assert len(traces) == 1
    assert '"tn.exp"' in f.lower(x, 2.0).as_text("tn")
    assert_close(th.jit(th.exp)(x), np.exp(x))
    assert_close(th.grad(lambda x: th.sum(th.exp(x)))(x), np.exp(x))


def test_symbolic_variables_still_build_graphs():
    x = T.dmatrix("x")
    y = T.sum(T.exp(x), axis=1)
    z = th.sum(th.exp(x))             # th functions on Variables record nodes as T's do
    assert isinstance(y, T.Variable) and isinstance(z, T.Variable)
    f = th.function([x], [y, z])
    v = np.arange(6.0).reshape(2, 3) / 6
    got_y, got_z = f(v)
    assert_close(got_y, np.exp(v).sum(axis=1))
    assert_close(got_z, np.exp(v).sum())
    g = th.function([x], T.grad(z, x))
    assert_close(g(v), np.exp(v))
