"""th.jit(..., donate_argnums=...): JAX's buffer donation. Each leaf of a donated argument is
paired with the first output of its shape and dtype not taken yet, and that output is
computed in the argument's buffer (an SGD step then updates its parameters in place)."""
import warnings

import numpy as np
import pytest

import theanir as th


def _step(w, b, x):
    return w - 0.1 * (x.T @ x)[:, :3], b * 2.0, (w * w).sum()


def test_donated_arrays_are_updated_in_place():
    w, b, x = np.ones((4, 3)), np.ones(3), np.ones((2, 4))
    f = th.jit(_step, donate_argnums=(0, 1))
    nw, nb, loss = f(w, b, x)
    assert float(loss) == 12.0  # computed from the old w
    np.testing.assert_allclose(np.asarray(nw), np.full((4, 3), 0.8))
    np.testing.assert_allclose(w, np.full((4, 3), 0.8))  # the donated buffer holds the result
    np.testing.assert_allclose(b, np.full(3, 2.0))
    nw2, nb2, loss2 = f(nw, nb, x)  # th.Array results donated in turn
    np.testing.assert_allclose(np.asarray(nw2), np.full((4, 3), 0.6))
    np.testing.assert_allclose(np.asarray(nb2), np.full(3, 4.0))
    assert float(loss2) == pytest.approx(12 * 0.64)
    assert f.cache_size == 1


def test_pytree_leaves_pair_with_outputs_in_order():
    """Two donated leaves of one type take the first two outputs of that type, in order."""
    def step(ps, x):
        a, c = ps
        return [a + x, c * x], (a * c).sum()

    a, c, x = np.ones(5), np.full(5, 3.0), np.arange(5.0)
    new, s = th.jit(step, donate_argnums=0)([a, c], x)
    np.testing.assert_allclose(a, 1 + x)
    np.testing.assert_allclose(c, 3 * x)
    np.testing.assert_allclose(np.asarray(new[0]), 1 + x)
    assert float(s) == 15.0


def test_same_values_as_without_donation(rng):
    w, b, x = rng.standard_normal((4, 3)), rng.standard_normal(3), rng.standard_normal((2, 4))
    want = [np.asarray(v) for v in th.jit(_step)(w, b, x)]
    got = th.jit(_step, donate_argnums=(-3, 1))(w.copy(), b.copy(), x)
    for g, v in zip(got, want):
        np.testing.assert_allclose(np.asarray(g), v, rtol=1e-12)


def test_unusable_donations_warn_and_compute_normally():
    x = np.ones(3)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert float(th.jit(lambda a: a.sum(), donate_argnums=0)(x)) == 3.0
    assert any("not usable: a" in str(w.message) for w in caught)
    np.testing.assert_array_equal(x, np.ones(3))
    strided = np.ones((4, 6))[:, ::2]  # not C-contiguous: not written
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        out = th.jit(lambda a: a * 2.0, donate_argnums=0)(strided)
    assert any("not usable" in str(w.message) for w in caught)
    np.testing.assert_allclose(np.asarray(out), np.full((4, 3), 2.0))
    np.testing.assert_array_equal(strided, np.ones((4, 3)))


def test_bad_donations_are_clear_errors():
    ro = np.ones((4, 3))
    ro.setflags(write=False)
    with pytest.raises(ValueError, match=r"argument 'w'.*read-only"):
        th.jit(_step, donate_argnums=0)(ro, np.ones(3), np.ones((2, 4)))
    with pytest.raises(ValueError, match=r"both static and donated"):
        th.jit(_step, static_argnums=1, donate_argnums=1)
    w = np.ones((4, 3))
    with pytest.raises(ValueError, match=r"shares memory"):  # donated and read in another argument
        th.jit(lambda a, c: a + c, donate_argnums=0)(w, w)
