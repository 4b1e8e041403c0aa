"""th.stop_gradient and th.grad_clip (tn.stop_gradient, tn.grad_clip): identities whose
derivatives are zero / clipped, in reverse and forward mode, under jit, composed."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th
from support import assert_close

SHAPES = [(), (0,), (1,), (3, 4), (2, 1, 3)]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("shape", SHAPES)
def test_stop_gradient_value_and_zero_derivative(rng, dtype, shape):
    x = rng.normal(size=shape).astype(dtype)
    assert_close(th.jit(th.stop_gradient)(x), x)
    # d/dx sum(x * stop(x)) = stop(x): the stopped factor is a constant
    g = th.grad(lambda x: th.sum(x * th.stop_gradient(x)))(x)
    assert g.dtype == dtype
    assert_close(g, x)
    _, t = th.jvp(lambda x: th.stop_gradient(x) * 3.0, (x,), (np.ones_like(x),))
    assert_close(t, np.zeros_like(x))


def test_stop_gradient_noncontiguous_and_second_order(rng):
    x = rng.normal(size=(3, 8))[:, ::2]
    f = lambda x: th.sum(th.sin(x) * th.stop_gradient(th.cos(x)))
    assert_close(th.grad(f)(x), np.cos(x) * np.cos(x))
    # the Hessian-vector product sees the stopped factor as a constant too
    assert_close(th.grad(lambda x: th.sum(th.grad(f)(x)))(x), -np.sin(x) * np.cos(x))


def test_stop_gradient_of_integers_is_identity():
    out = th.jit(lambda i: th.stop_gradient(i) + 1)(np.arange(3, dtype=np.int32))
    np.testing.assert_array_equal(out, [1, 2, 3])


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_grad_clip_clips_the_cotangent(rng, dtype):
    x = rng.normal(size=(4, 3)).astype(dtype)
    w = np.linspace(-3, 3, 12).reshape(4, 3).astype(dtype)
    f = lambda x: th.sum(th.grad_clip(x, -1.0, 0.5) * w)
    assert_close(th.jit(f)(x), np.sum(x * w))
    g = th.grad(f)(x)
    assert g.dtype == dtype
    assert_close(g, np.clip(w, -1.0, 0.5))
    # forward mode sees the identity
    _, t = th.jvp(lambda x: th.grad_clip(x, -1.0, 0.5) * w, (x,), (np.ones_like(x),))
    assert_close(t, w)


def test_grad_clip_inside_chain_matches_finite_differences(rng):
    # with bounds that never bind, grad_clip is the identity for derivatives too
    x = rng.normal(size=(5,))
    th.verify_grad(lambda x: th.tanh(th.grad_clip(th.sin(x), -100.0, 100.0)) * x, [x])


def test_grad_clip_bad_bounds_and_dtype():
    with pytest.raises(ValueError, match="lower bound"):
        th.jit(lambda x: th.grad_clip(x, 1.0, -1.0))(np.ones(2))
    with pytest.raises(TypeError, match="float"):
        th.jit(lambda x: th.grad_clip(x, -1.0, 1.0))(np.ones(2, np.int32))


def test_gradient_ops_leave_no_trace_in_optimized_ir(rng):
    low = th.jit(lambda x: th.sum(th.stop_gradient(x) * th.grad_clip(x, -1.0, 1.0))).lower(np.ones(3))
    assert "tn.stop_gradient" in low.as_text("tn")
    text = low.as_text("linalg")
    assert "stop_gradient" not in text and "grad_clip" not in text
