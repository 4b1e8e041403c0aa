"""th.jit: tracing, caching per signature, pytrees, static arguments, stages, locations."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th
from support import assert_close


def test_issue_example_layer():
    @th.jit
    def layer(x, w, b):
        return th.tanh(x @ w + b).sum(axis=1)

    x, w, b = np.ones((4, 3), np.float32), np.ones((3, 5), np.float32), np.zeros(5, np.float32)
    assert_close(layer(x, w, b), np.tanh(x @ w + b).sum(axis=1))
    lowered = layer.lower(x, w, b)
    assert '"tn.matmul"' in lowered.as_text("tn")
    assert "linalg." in lowered.as_text("linalg")
    assert "llvm.func" in lowered.as_text("llvm")
    assert_close(lowered.compile()(x, w, b), np.tanh(x @ w + b).sum(axis=1))


def test_cache_per_signature_and_retrace():
    calls = []

    @th.jit
    def f(x):
        calls.append(1)
        return x * 2

    f(np.ones(3))
    f(np.zeros(3))
    assert len(calls) == 1 and f.cache_size == 1
    f(np.ones(4))
    f(np.ones(3, np.float32))
    assert len(calls) == 3 and f.cache_size == 3


def test_static_argnums_and_python_scalars():
    f = th.jit(lambda x, n, s: x * n + s, static_argnums=1)
    assert_close(f(np.ones(2), 3, 0.5), np.full(2, 3.5))
    assert_close(f(np.ones(2), 4, 0.5), np.full(2, 4.5))
    assert f.cache_size == 2
    f(np.ones(2), 4, 1.5)  # a dynamic Python scalar does not retrace
    assert f.cache_size == 2


def test_pytree_arguments_and_results():
    @th.jit
    def f(params, xs):
        return {"y": params["w"] * xs[0], "pair": (xs[1] + 1, 7)}

    out = f({"w": np.full(2, 3.0)}, [np.ones(2), np.arange(2.0)])
    assert_close(out["y"], np.full(2, 3.0))
    assert_close(out["pair"][0], np.arange(2.0) + 1)
    assert int(out["pair"][1]) == 7


def test_non_contiguous_and_zero_size_inputs():
    f = th.jit(lambda a, b: a * b + 1.0)
    a = np.arange(12.0).reshape(3, 4)
    assert_close(f(a.T, a.T), a.T * a.T + 1)
    assert_close(f(a[:, ::-1], a[::2, ::3].sum() * np.ones((3, 4))), a[:, ::-1] * a[::2, ::3].sum() + 1)
    assert f(np.ones((0, 4)), np.ones((0, 4))).shape == (0, 4)


def test_stages_and_source_locations():
    f = th.jit(lambda x: th.exp(x) + 1.0)
    low = f.lower(np.ones(3))
    assert '"tn.exp"' in low.as_text("tn")
    assert "test_jit.py" in low.as_text("tn", debug_info=True)
    assert "memref" in low.as_text("bufferized")
    with pytest.raises(ValueError, match="unknown stage"):
        low.as_text("nope")


def test_shape_mismatch_names_op_shapes_and_line():
    def bad(x, y):
        return x + y  # the line the error must name

    with pytest.raises(th.ShapeError) as e:
        th.jit(bad)(np.ones((4, 3)), np.ones((5,)))
    msg = str(e.value)
    assert "add" in msg and "(4, 3)" in msg and "(5,)" in msg
    assert "test_jit.py:" in msg


def test_python_if_on_traced_value_explains_what_to_use():
    def f(x):
        if x.sum() > 0:
            return x
        return -x

    with pytest.raises(th.TracerError, match="th.where"):
        th.jit(f)(np.ones(3))


def test_bad_argument_types_name_the_argument():
    f = th.jit(lambda x, y: x + y)
    with pytest.raises(TypeError, match="argument 'y'"):
        f(np.ones(3), "hello")
    # (uint8 inputs are widened to int32 since issue 20: tests/jax_style; uint64 has no wider dtype)
    with pytest.raises(TypeError, match="argument 'x'.*uint64|uint64.*argument 'x'"):
        f(np.ones(3, np.uint64), np.ones(3))


def test_compiled_function_validates_shape_and_dtype():
    compiled = th.jit(lambda x, y: x * y).lower(np.ones((2, 3)), np.ones(3)).compile()
    with pytest.raises(ValueError, match="argument 'x': expected shape \\(2,3\\), got \\(3,2\\)"):
        compiled(np.ones((3, 2)), np.ones(3))
    with pytest.raises(ValueError, match="argument 'y': expected rank 1"):
        compiled(np.ones((2, 3)), np.ones((1, 3)))
    with pytest.raises(TypeError, match="argument 'y': expected dtype float64"):
        compiled(np.ones((2, 3)), np.ones(3, np.float32))


def test_jit_inside_jit_inlines():
    inner = th.jit(lambda x: x * 3)
    outer = th.jit(lambda x: inner(x) + 1)
    assert_close(outer(np.ones(2)), np.full(2, 4.0))
    assert inner.cache_size == 0
