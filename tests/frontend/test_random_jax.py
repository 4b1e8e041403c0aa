"""th.random, JAX's functional API: bit-for-bit JAX's numbers for key/split/fold_in and 64-bit
bits/uniform, JAX's Threefry blocks (both words) for 32-bit draws, and use inside th.jit, th.scan and th.cond and eagerly (distribution quality:
test_random_stats.py)."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th

R = th.random

# Printed by JAX 0.10.2 (jax_threefry_partitionable=True, its default), as int32 views of the
# uint32 words; the float64/uint64 lines with jax_enable_x64.
JAX = {
    "split(key(0))": [[1797259609, -1715843330], [928981903, -841280227]],
    "fold_in(key(0), 3)": [-1827506293, -454500418],
    "fold_in(key(42), 2**31 + 5)": [-288139979, 911798682],
    "uniform(key(42), (3,), f64)": [0.4267275666499091, 0.015010069515314584, 0.5741444178995352],
    "bits(key(42), (3,), u64)": [7871734211187709741, 276886910877598708, -7855648935367878381],
    "split(key(42), 3)": [[1832780943, 270669613], [64467757, -1378843660], [-1829035798, 255383827]],
}


# 32-bit draws use both words of a block (docs/random.md), so they differ from JAX's (which
# xors the words): n draws are the y0 words of blocks 0..B-1, then their y1 words (B = ceil(n/2)).
# JAX's split(key(42), 3) above is exactly the blocks at counters 0, 1, 2 (words y0, y1), so:
_B42 = JAX["split(key(42), 3)"]
OURS = {
    "bits(key(42), (3,))": [_B42[0][0], _B42[1][0], _B42[0][1]],
    "uniform(key(42), (5,), f32)": [0.4267275333404541, 0.01500999927520752, 0.5741443634033203,
                                    0.06302011013031006, 0.6789628267288208],
}


def _unit32(word: int) -> float:
    return float(np.array((word % 2**32) >> 9 | 0x3F800000, np.uint32).view(np.float32) - np.float32(1))


def test_pinned_32_bit_values_are_threefry_blocks():
    """The pinned float32 draws are the unit floats of the blocks' words (y0 of blocks 0, 1, 2,
    then y1 of blocks 0, 1): the pins come from JAX's blocks, not from our own output."""
    b = _B42
    assert OURS["uniform(key(42), (5,), f32)"] == [_unit32(w) for w in (b[0][0], b[1][0], b[2][0], b[0][1], b[1][1])]


def _all(k0, k42):
    return (R.split(k0), R.fold_in(k0, 3), R.fold_in(k42, 2**31 + 5),
            R.uniform(k42, (3,), np.float64), R.bits(k42, (3,), np.int64), R.split(k42, 3),
            R.bits(k42, (3,)), R.uniform(k42, (5,), np.float32))


def _check(got):
    for (name, want), g in zip([*JAX.items(), *OURS.items()], got):
        g = np.asarray(g)
        if g.dtype.kind == "f":
            assert g.tolist() == want, name
        else:
            assert np.array_equal(g, np.array(want, g.dtype)), name


def test_matches_jax_and_pins_eagerly():
    _check(_all(R.key(0), R.key(42)))


def test_matches_jax_and_pins_under_jit_with_traced_keys():
    _check(th.jit(_all)(np.asarray(R.key(0)), np.asarray(R.PRNGKey(42))))


def test_float32_normal_is_box_muller_on_both_words_of_each_block():
    """float32 normal is tn.random_normal: block j's words u1, u2 give r cos(2 pi u2) at j and
    r sin(2 pi u2) at B + j, r = sqrt(-2 log u1) (float32 polynomials against float64 libm)."""
    from theanir.dialects.tn.ops.random import _box_muller_inputs, counters, threefry2x32
    k = np.asarray(R.key(42))
    got = np.asarray(th.jit(lambda k: R.normal(k, (63,), np.float32))(k)).astype(np.float64)
    with np.errstate(over="ignore"):
        y0, y1 = threefry2x32(0, 42, *counters((32,), 0))
    u1, u2 = (u.astype(np.float64) for u in _box_muller_inputs(y0, y1))
    r = np.sqrt(-2 * np.log(u1))
    want = np.concatenate([r * np.cos(2 * np.pi * u2), r * np.sin(2 * np.pi * u2)])[:63]
    np.testing.assert_allclose(got, want, rtol=2e-6, atol=2e-6)
    assert np.array_equal(np.asarray(R.normal(k, (63,), np.float32)), got.astype(np.float32))  # eager


def test_float32_erfinv_of_truncated_normal_is_giles_polynomial():
    """truncated_normal's sqrt(2) erfinv(u) (Giles' single-precision polynomial) against
    SciPy's erfinv in float64: a few ulp over (-1, 1)."""
    from scipy.special import erfinv
    from theanir.frontend.random import _erfinv32
    lo = float(np.nextafter(np.float32(-1), np.float32(0)))
    u = np.asarray(R.uniform(np.asarray(R.key(42)), (4096,), np.float32, lo, 1.0))
    want = np.sqrt(2) * erfinv(u.astype(np.float64))
    got = np.asarray(th.jit(lambda u: _erfinv32(th.as_tensor(u)) * float(np.sqrt(2)))(u))
    assert np.all(np.abs(got - want) <= 8 * np.spacing(np.abs(want).astype(np.float32)))


def test_key_from_traced_seed_and_big_seeds():
    f = th.jit(lambda s: R.key(s))
    for s in (0, 42, 2**33 + 7, -1):
        want = np.array([(s >> 32) & 0xFFFFFFFF, s & 0xFFFFFFFF], np.uint32).view(np.int32)
        assert np.array_equal(np.asarray(f(np.int64(s))), want)
        assert np.array_equal(np.asarray(R.key(s)), want)


def test_uint32_keys_are_accepted():
    k = np.array([0, 42], np.uint32)
    assert np.array_equal(np.asarray(R.uniform(k, (5,), np.float32)), np.float32(OURS["uniform(key(42), (5,), f32)"]))


def test_same_key_same_numbers_new_key_new_numbers():
    k1, k2 = R.split(R.key(1))
    a, b, c = (np.asarray(R.normal(k, (100,))) for k in (k1, k1, k2))
    assert np.array_equal(a, b) and not np.allclose(a, c)


def test_inside_scan_each_step_draws_fresh_numbers():
    def step(k, _):
        k, sub = R.split(k)
        return k, R.uniform(sub, (4,))

    @th.jit
    def run(k):
        return th.lax.scan(step, k, None, length=5)

    _, draws = run(np.asarray(R.key(3)))
    draws = np.asarray(draws)
    assert draws.shape == (5, 4) and len(np.unique(draws)) == 20
    # the same chain written out eagerly
    k = R.key(3)
    for i in range(5):
        k, sub = R.split(k)
        assert np.array_equal(draws[i], np.asarray(R.uniform(sub, (4,))))


def test_fold_in_with_a_traced_loop_index():
    @th.jit
    def run(k):
        def step(c, i):
            return c, R.uniform(R.fold_in(k, i), ())
        return th.lax.scan(step, 0.0, th.arange(4))[1]

    got = np.asarray(run(np.asarray(R.key(5))))
    want = [float(np.asarray(R.uniform(R.fold_in(R.key(5), i), ()))) for i in range(4)]
    assert got.tolist() == want


def test_inside_cond():
    f = th.jit(lambda k, flag: th.cond(flag, lambda k: R.normal(k, (3,)), lambda k: R.uniform(k, (3,)), k))
    k = np.asarray(R.key(9))
    assert np.array_equal(np.asarray(f(k, True)), np.asarray(R.normal(k, (3,))))
    assert np.array_equal(np.asarray(f(k, False)), np.asarray(R.uniform(k, (3,))))


def test_reparameterized_normal_has_gradients_wrt_mean_and_std():
    k = np.asarray(R.key(4))
    z = np.asarray(R.normal(k, (6,)))

    def loss(mu, sigma):
        return th.sum((mu + sigma * R.normal(k, (6,))) ** 2)

    gmu, gsigma = th.grad(loss, argnums=(0, 1))(0.3, 1.5)
    x = 0.3 + 1.5 * z
    assert np.allclose(float(gmu), np.sum(2 * x)) and np.allclose(float(gsigma), np.sum(2 * x * z))


def test_shapes_dtypes_and_ranges():
    k = R.key(0)
    assert np.asarray(R.uniform(k, (2, 3))).dtype == np.dtype(th.config.floatX)
    u = np.asarray(R.uniform(k, (1000,), np.float32, -2.0, 3.0))
    assert u.dtype == np.float32 and u.min() >= -2 and u.max() < 3
    assert np.asarray(R.uniform(k, (0, 3))).shape == (0, 3)
    r = np.asarray(R.randint(k, (1000,), 3, 7))
    assert r.dtype == np.int64 and set(np.unique(r)) == {3, 4, 5, 6}
    assert np.asarray(R.randint(k, (5,), 2, 2, np.int32)).tolist() == [2] * 5
    b = np.asarray(R.bernoulli(k, 0.25, (8,)))
    assert b.dtype == np.bool_
    assert np.asarray(R.bernoulli(k, np.array([0.0, 1.0]))).tolist() == [False, True]
    c = np.asarray(R.categorical(k, np.log(np.array([[0.5, 0.5, 1e-30], [1e-30, 1e-30, 1.0]])), shape=(4, 2)))
    assert c.shape == (4, 2) and set(c[:, 0]) <= {0, 1} and set(c[:, 1]) == {2}


def test_permutation_and_choice():
    k = R.key(11)
    p = np.asarray(R.permutation(k, 50))
    assert sorted(p.tolist()) == list(range(50)) and p.tolist() != list(range(50))
    x = np.arange(12.0).reshape(6, 2)
    px = np.asarray(R.permutation(k, x))
    assert sorted(px[:, 0].tolist()) == x[:, 0].tolist() and np.array_equal(px[:, 1], px[:, 0] + 1)
    c = np.asarray(R.choice(k, 6, (3, 2), replace=False))
    assert c.shape == (3, 2) and sorted(c.ravel().tolist()) == list(range(6))
    c = np.asarray(R.choice(k, 10, (6,), replace=False))
    assert len(set(c.tolist())) == 6 and c.max() < 10
    w = np.asarray(R.choice(k, np.array([10.0, 20.0, 30.0]), (50,), p=np.array([0.0, 1.0, 0.0])))
    assert set(w.tolist()) == {20.0}
    wr = np.asarray(R.choice(k, 4, (3,), replace=False, p=np.array([0.5, 0.5, 0.0, 0.0]) + 0.0))
    assert len(set(wr.tolist())) == 3


@pytest.mark.parametrize("call, match", [
    (lambda: R.uniform(np.zeros(3, np.int32), (2,)), "key must be an integer array of shape \\(2,\\)"),
    (lambda: R.normal(np.zeros((2, 2), np.int32), (2,)), "key must be"),
    (lambda: R.uniform(np.zeros(2, np.float32), (2,)), "key must be"),
    (lambda: R.uniform(R.key(0), (-1, 2)), "negative"),
    (lambda: R.bernoulli(R.key(0), 1.5, (3,)), "p must lie in \\[0, 1\\]"),
    (lambda: R.bernoulli(R.key(0), -0.1, (3,)), "p must lie in"),
    (lambda: R.choice(R.key(0), 3, (2,), p=np.array([0.5, 0.6, 0.1])), "p must sum to 1"),
    (lambda: R.choice(R.key(0), 3, (4,), replace=False), "without replacement"),
    (lambda: R.normal(R.key(0), (2,), np.int32), "float dtype"),
])
def test_bad_input_names_the_argument(call, match):
    with pytest.raises((TypeError, ValueError), match=match):
        call()
