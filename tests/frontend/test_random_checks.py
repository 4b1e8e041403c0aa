"""A traced probability outside [0, 1] (or NaN) fails the call with a ValueError naming the
argument (tn.check_range, dialects/tn/ops/check.py); a concrete one fails at trace time."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th
from theanir.tensor.shared_randomstreams import RandomStreams

R = th.random
KEY = np.asarray(R.key(0))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_traced_scalar_p_is_checked_when_the_code_runs(dtype):
    f = th.jit(lambda k, p: R.bernoulli(k, p, (5,)))
    good = np.asarray(f(KEY, dtype(0.3)))
    assert good.dtype == np.bool_ and good.shape == (5,)
    assert np.asarray(f(KEY, dtype(1.0))).all() and not np.asarray(f(KEY, dtype(0.0))).any()
    for bad in (1.5, -0.25, np.nan, np.inf):
        with pytest.raises(ValueError, match=r"th\.random\.bernoulli: p must lie in \[0, 1\], got 1 "
                                             r"element\(s\) outside it or NaN \(the first at flat index 0\)"):
            np.asarray(f(KEY, dtype(bad)))
    assert np.asarray(f(KEY, dtype(0.3))).tolist() == good.tolist()  # the function still works


def test_traced_array_p_names_the_first_bad_element():
    f = th.jit(lambda k, p: R.bernoulli(k, p))
    p = np.array([[0.2, 0.5, 0.9], [1.2, 0.1, -3.0]], np.float32)
    with pytest.raises(ValueError, match=r"got 2 element\(s\) outside it or NaN \(the first at flat index 3\)"):
        np.asarray(f(KEY, p))
    q = np.array([[0.0, 1.0, 0.5]], np.float32)
    assert np.asarray(f(KEY, q))[0, :2].tolist() == [False, True]
    assert np.asarray(f(KEY, np.zeros((0, 3), np.float32))).shape == (0, 3)


def test_traced_p_inside_scan_and_choice():
    @th.jit
    def run(k, ps):
        return th.lax.scan(lambda c, p: (c, R.bernoulli(k, p, (3,))), 0.0, ps)[1]

    assert np.asarray(run(KEY, np.float32([0.0, 1.0]))).tolist() == [[False] * 3, [True] * 3]
    with pytest.raises(ValueError, match="bernoulli: p must lie in"):
        np.asarray(run(KEY, np.float32([0.5, 1.01])))
    g = th.jit(lambda k, p: R.choice(k, 3, (4,), p=p))
    assert set(np.asarray(g(KEY, np.float32([0.0, 1.0, 0.0]))).tolist()) == {1}
    with pytest.raises(ValueError, match=r"th\.random\.choice: p must lie in \[0, 1\]"):
        np.asarray(g(KEY, np.float32([-0.5, 1.0, 0.5])))


def test_concrete_p_is_refused_at_trace_time():
    with pytest.raises(ValueError, match=r"th\.random\.bernoulli: p must lie in \[0, 1\], got 1\.5"):
        th.jit(lambda k: R.bernoulli(k, 1.5, (3,)))(KEY)
    with pytest.raises(ValueError, match="p must lie in"):
        R.bernoulli(KEY, np.array([0.5, np.nan]))


def test_stream_binomial_with_a_symbolic_p():
    import theanir.tensor as T
    rs = RandomStreams(seed=3)
    p = T.scalar("p")
    f = th.function([p], rs.binomial(size=(4,), n=2, p=p))
    assert np.asarray(f(1.0)).tolist() == [2] * 4
    with pytest.raises(ValueError, match=r"th\.random\.binomial: p must lie in \[0, 1\]"):
        np.asarray(f(2.0))
    with pytest.raises(ValueError, match="binomial: p must lie in"):
        rs.binomial(size=(2,), p=-1.0)
