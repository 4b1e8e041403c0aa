"""Dynamic shapes (issue 16, first slice): one compile of `th.jit(f, dynamic_shapes=True)` serves
every size of its dims; shape facts that only the running code knows are checked there, and
results with dynamic dims come back as buffers the generated code allocated.

Each test reads the compile count (`cache_size`) to prove the sizes shared one compile, and
compares with NumPy (gradients with central differences)."""
from __future__ import annotations

import inspect

import numpy as np
import pytest

import theanir as th
from theanir.codegen.native import STATS


def assert_close(a, b, tol):
    np.testing.assert_allclose(np.asarray(a), b, rtol=tol, atol=tol)


TOL = {np.float32: 2e-5, np.float64: 1e-12}


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_one_compile_serves_every_batch_size(dtype):
    rng = np.random.default_rng(0)
    W = rng.standard_normal((4, 5)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)

    @th.jit(dynamic_shapes=True)
    def layer(x, W, b):
        h = th.tanh(x @ W + b)
        return h, h.sum(axis=1), h.mean(), h.max(axis=0)

    before = STATS["llvm_compiles"] + STATS["engine_compiles"]
    for n in (7, 60, 3, 0, 2):
        x = rng.standard_normal((n, 4)).astype(dtype)
        h, s, m, mx = layer(x, W, b)
        ref = np.tanh(x @ W + b)
        assert h.shape == (n, 5) and h.dtype == dtype
        assert_close(h, ref, TOL[dtype])
        assert_close(s, ref.sum(1), TOL[dtype] * 10)
        if n:
            assert_close(m, ref.mean(), TOL[dtype] * 10)
            assert_close(mx, ref.max(0), TOL[dtype])
    assert layer.cache_size == 1
    assert STATS["llvm_compiles"] + STATS["engine_compiles"] - before <= 1


def test_size_one_dims_are_part_of_the_signature():
    # a dim of size 1 broadcasts (NumPy), so it is compiled as a static 1: batch 1 is a
    # second specialization (th.function's declared types avoid it: broadcastable=False)
    f = th.jit(lambda x, y: x + y, dynamic_shapes=True)
    y = np.arange(3.0)
    for n in (1, 4, 9):
        assert_close(f(np.ones((n, 3)), y), np.ones((n, 3)) + y, 0)
    assert_close(f(np.ones((5, 1)), y), np.ones((5, 1)) + y, 0)  # (5, 1) + (3,) broadcasts
    assert f.cache_size == 3  # (?, ?), (1, ?), (?, 1)


def test_results_are_read_only_arrays_of_the_runtime():
    f = th.jit(lambda x: x * 2.0, dynamic_shapes=True)
    r = f(np.arange(6.0).reshape(2, 3))
    assert isinstance(r, th.Array)
    a = np.asarray(r)
    assert a.shape == (2, 3) and not a.flags.writeable and a.flags.c_contiguous
    assert_close(a, np.arange(6.0).reshape(2, 3) * 2, 0)
    del r, a  # the buffer the generated code allocated is freed with the array


def test_non_contiguous_inputs():
    f = th.jit(lambda x: th.exp(x).sum(axis=0), dynamic_shapes=True)
    x = np.random.default_rng(1).standard_normal((6, 8))
    for view in (x[::2], x[:, ::3], x.T, x):
        assert_close(f(view), np.exp(view).sum(0), 1e-12)
    assert f.cache_size == 2  # C-contiguous or not is part of the signature


def test_long_float32_sums_over_a_dynamic_axis_accumulate_in_float64():
    n = 2**24 + 8  # a float32 running sum stalls at 2**24
    f = th.jit(lambda x: x.sum(), dynamic_shapes=True)
    assert float(f(np.ones(n, np.float32))) == n
    assert float(f(np.ones(10, np.float32))) == 10


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_gradients_through_dynamic_shapes(dtype):
    rng = np.random.default_rng(2)
    W = rng.standard_normal((4, 5)).astype(dtype)
    b = rng.standard_normal(5).astype(dtype)

    def loss(W, b, x, y):
        h = th.tanh(x @ W + b)
        return ((h - y) ** 2).mean()

    g = th.jit(th.grad(loss, argnums=(0, 1)), dynamic_shapes=True)
    for n in (2, 7, 60):
        x = rng.standard_normal((n, 4)).astype(dtype)
        y = rng.standard_normal((n, 5)).astype(dtype)
        gw, gb = g(W, b, x, y)
        h = np.tanh(x.astype(np.float64) @ W + b)
        d = 2 * (h - y) / h.size * (1 - h * h)
        assert_close(gw, x.T @ d, TOL[dtype] * 10)
        assert_close(gb, d.sum(0), TOL[dtype] * 10)
    assert g.cache_size == 1


def test_gradient_matches_central_differences():
    rng = np.random.default_rng(3)
    x0 = rng.standard_normal((5, 3))

    def f(x):
        return (th.sin(x) * x).sum(axis=1).mean()

    g = th.jit(th.grad(f), dynamic_shapes=True)
    for n in (5, 11):
        x = rng.standard_normal((n, 3)) if n != 5 else x0
        got = np.asarray(g(x))
        eps, num = 1e-6, np.zeros_like(x)
        for idx in np.ndindex(x.shape):
            e = np.zeros_like(x)
            e[idx] = eps
            num[idx] = ((np.sin(x + e) * (x + e)).sum(1).mean() - (np.sin(x - e) * (x - e)).sum(1).mean()) / (2 * eps)
        assert_close(got, num, 1e-7)
    assert g.cache_size == 1


def test_a_shape_mismatch_fails_the_call_naming_op_shapes_and_line():
    f = th.jit(lambda x, W: x @ W, dynamic_shapes=True)
    line = inspect.currentframe().f_lineno - 1
    assert f(np.ones((2, 3)), np.ones((3, 4))).shape == (2, 4)
    with pytest.raises(ValueError, match=rf"tn.matmul: contracted dims differ \(5 vs 3\).*float64\[\?, \?\].*"
                                         rf"test_dynamic_shapes.py:{line}"):
        np.asarray(f(np.ones((2, 5)), np.ones((3, 4))))  # calls are asynchronous: at the read
    g = th.jit(lambda x, y: x * y, dynamic_shapes=True)
    bad = g(np.ones(3), np.ones(4))
    assert bad.shape == (3,)  # sized by the shape function before the call: no wait
    with pytest.raises(ValueError, match=r"operand shapes differ along axis 0 \(3 vs 4\)"):
        np.asarray(bad)  # the data: the call's error
    assert g(np.ones(4), np.ones(4)).shape == (4,)  # the function still works after a failure


def test_a_dynamic_dim_meeting_a_static_one_is_checked():
    w = np.arange(3.0)
    f = th.jit(lambda x: x + w, dynamic_shapes=True)  # (?,) + (3,)
    assert_close(f(np.ones(3)), 1 + w, 0)
    with pytest.raises(ValueError, match=r"dim 0 of a tensor of shape \(\?,\) is 4, where 3 is required"):
        np.asarray(f(np.ones(4)))  # a static result: the call is queued, the error comes at the read


def test_dynamic_results_are_asynchronous():
    # a queued call (not small) returns at once; the result's shape waits for it, and a
    # pending result feeds the next call without a round trip through Python
    f = th.jit(lambda x: th.tanh(x) * 2.0, dynamic_shapes=True)
    g = th.jit(lambda x: x.sum(axis=0), dynamic_shapes=True)
    x = np.random.default_rng(4).standard_normal((400, 300))
    a = f(x)
    b = g(a)
    assert a.ndim == 2 and a.dtype == np.float64  # known without waiting
    assert a.shape == (400, 300)
    assert_close(b, (np.tanh(x) * 2).sum(0), 1e-9)
    for n in range(2, 60):  # results never read: their buffers are freed with them
        f(np.ones((n, 300)))
    assert f.cache_size == 1 and g.cache_size == 1


def test_results_sized_by_input_shapes_get_runtime_allocated_destinations():
    # passes/lower/shape_function.py: a generated shape function sizes every result whose dims
    # follow from the input shapes; the runtime allocates it before the call (no slot, no
    # adoption) while a data-dependent result (x[x > 0]) still leaves through its slot.
    def f(x, w, b):
        h = th.tanh(x @ w + b)
        return h, h.sum(axis=1), x[x > 0], th.concatenate([x, x], axis=0)

    jf = th.jit(f, dynamic_shapes=True)
    rng = np.random.default_rng(7)
    for n, k in [(5, 3), (2, 2), (0, 4), (60, 7)]:  # (size-1 dims would compile apart)
        x = rng.standard_normal((n, k)).astype(np.float32)
        w = rng.standard_normal((k, 4)).astype(np.float32)
        b = rng.standard_normal(4).astype(np.float32)
        h, s, pos, cat = jf(x, w, b)
        ref = np.tanh(x @ w + b)
        assert h.shape == (n, 4) and s.shape == (n,) and cat.shape == (2 * n, k)
        assert_close(h, ref, 1e-5)
        assert_close(s, ref.sum(1), 1e-4)
        assert np.array_equal(np.asarray(pos), x[x > 0])
        assert np.array_equal(np.asarray(cat), np.concatenate([x, x]))
    compiled, _, _ = jf.compiled_and_key(x, w, b)
    assert compiled.executable.has_shape_function and jf.cache_size == 1
    text = jf.lower(x, w, b).as_text("linalg")
    assert "func.func @main_shapes(" in text and "theanir.result_slots = array<i64: 5>" in text


def test_a_sized_result_feeds_the_next_call_while_its_data_is_pending():
    # the shape function reads only the descriptors: a queued call's result (shape known,
    # data not yet) is the next call's input without waiting in between
    f = th.jit(lambda x: th.exp(x) @ x.T, dynamic_shapes=True)
    g = th.jit(lambda y: th.tanh(y)[:, :3] * 2.0, dynamic_shapes=True)
    x = np.random.default_rng(5).standard_normal((300, 400)) * 0.01
    a = f(x)
    assert a.shape == (300, 300)
    b = g(a)
    assert b.shape == (300, 3)
    assert_close(b, np.tanh(np.exp(x) @ x.T)[:, :3] * 2.0, 1e-9)
    assert g.compiled_and_key(np.ones((2, 5)))[0].executable.has_shape_function
