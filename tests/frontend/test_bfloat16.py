"""bfloat16 inputs (issue 20): stored as bfloat16, computed in float32, returned as bfloat16
where JAX returns bfloat16 (frontend/bfloat16.py). References are NumPy on the float32-cast
values, rounded to bfloat16 where the result is bfloat16."""
from __future__ import annotations

import ml_dtypes
import numpy as np
import pytest

import theanir as th
import theanir.numpy as jnp

BF16 = np.dtype(ml_dtypes.bfloat16)


def _bf16(rng, shape):
    return rng.uniform(-2, 2, shape).astype(BF16)


def _check(got, want_f32, dtype):
    got = np.asarray(got)
    assert got.dtype == np.dtype(dtype), (got.dtype, dtype)
    want = np.asarray(want_f32, np.float32).astype(dtype)
    # computed in float32 and rounded once: the bfloat16 rounding of the float32 result, or
    # one bfloat16 step from it where the float32 result sits on a rounding boundary
    np.testing.assert_allclose(got.astype(np.float32), want.astype(np.float32), rtol=2 ** -7, atol=1e-6)


@pytest.mark.parametrize("shape", [(), (0,), (1,), (5,), (3, 4)], ids=str)
def test_elementwise_and_reductions_stay_bfloat16(shape, rng):
    x = _bf16(rng, shape)
    xf = x.astype(np.float32)
    got = th.jit(lambda x: (x * 2 + 1, th.exp(x), th.tanh(x) - x, x.sum(), th.maximum(x, 0.0),
                            th.ones_like(x), th.where(x > 0, x, 0.0)))(x)
    want = (xf * 2 + 1, np.exp(xf), np.tanh(xf) - xf, xf.sum(), np.maximum(xf, 0), np.ones_like(xf),
            np.where(xf > 0, xf, 0))
    for g, w in zip(got, want):
        _check(g, w, BF16)
    if x.size:
        _check(th.jit(lambda x: x.mean())(x), xf.mean(), BF16)


def test_strong_float32_wins_as_in_jax(rng):
    x, y = _bf16(rng, (3, 4)), rng.uniform(-1, 1, (4, 2)).astype(np.float32)
    xf = x.astype(np.float32)
    got = th.jit(lambda x, y: (x @ y, x * np.ones(4, np.float32), x.astype(np.float32) * 2,
                               np.float32(2) * x, x > 0))(x, y)
    for g, w in zip(got[:4], (xf @ y, xf * 1, xf * 2, 2 * xf)):
        _check(g, w, np.float32)
    assert np.asarray(got[4]).dtype == np.bool_
    _check(th.jit(lambda x: x @ x.T)(x), xf @ xf.T, BF16)  # bfloat16 @ bfloat16: bfloat16


def test_astype_bfloat16_and_noncontiguous_inputs(rng):
    y = rng.uniform(-1, 1, (2, 6)).astype(np.float32)
    _check(th.jit(lambda y: y.astype(jnp.bfloat16) * 3)(y), y * 3, BF16)
    x = _bf16(rng, (2, 6))
    _check(th.jit(lambda x: x * x)(x[:, ::2]), x[:, ::2].astype(np.float32) ** 2, BF16)
    assert th.bfloat16 is ml_dtypes.bfloat16 and jnp.bfloat16 is ml_dtypes.bfloat16


def test_bfloat16_and_float32_calls_compile_apart(rng):
    f = th.jit(lambda x: x * 2)
    x = _bf16(rng, (3,))
    assert np.asarray(f(x)).dtype == BF16
    assert np.asarray(f(x.astype(np.float32))).dtype == np.float32
    assert np.asarray(f(x)).dtype == BF16  # again (warm): still rounded


def test_grad_of_bfloat16_input_is_bfloat16(rng):
    x = _bf16(rng, (4,))
    g = th.grad(lambda x: th.sum(x * x))(x)
    _check(g, 2 * x.astype(np.float32), BF16)


def test_creation_with_bfloat16_dtype(rng):
    y = rng.uniform(-1, 1, (2,)).astype(np.float32)
    got = th.jit(lambda y: (jnp.zeros(2, jnp.bfloat16), jnp.ones(2, jnp.bfloat16) * 3,
                            jnp.full((2,), 0.5, jnp.bfloat16), y + jnp.ones(2, jnp.bfloat16)))(y)
    for g, w, dt in zip(got, (np.zeros(2), np.full(2, 3.0), np.full(2, 0.5), y + 1), (BF16, BF16, BF16, np.float32)):
        _check(g, w, dt)


def test_vmap_keeps_bfloat16(rng):
    x = _bf16(rng, (3, 2))
    _check(th.vmap(lambda r: r * 2)(x), x.astype(np.float32) * 2, BF16)
