"""Distribution quality of th.random with fixed keys (deterministic, so never flaky): moments
within 5 sigma, Kolmogorov-Smirnov against scipy.stats (p > 1e-3) on 10^5 draws, frequencies
of bernoulli/binomial/categorical/randint, independence of split keys, and the same numbers
in a new process and under th.config.threads 1 and 2."""
from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import scipy.stats as st

import theanir as th
from theanir.tensor.shared_randomstreams import RandomStreams

R = th.random
N = 100_000


def _moments_ok(x: np.ndarray, mean: float, var: float) -> None:
    n = x.size
    assert abs(x.mean() - mean) < 5 * np.sqrt(var / n), (x.mean(), mean)
    # var of the sample variance ~ (mu4 - var^2)/n; 5 sigma with a generous kurtosis bound of 9 var^2
    assert abs(x.var() - var) < 5 * np.sqrt(8 * var * var / n), (x.var(), var)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_uniform_and_normal(dtype):
    k1, k2 = R.split(R.key(2024))
    u = np.asarray(R.uniform(k1, (N,), dtype, minval=-1.0, maxval=3.0)).astype(np.float64)
    z = np.asarray(R.normal(k2, (N,), dtype)).astype(np.float64)
    _moments_ok(u, 1.0, 16 / 12)
    _moments_ok(z, 0.0, 1.0)
    assert st.kstest(u, st.uniform(loc=-1, scale=4).cdf).pvalue > 1e-3
    assert st.kstest(z, "norm").pvalue > 1e-3


def test_gumbel():
    g = np.asarray(R.gumbel(R.key(5), (N,), np.float64))
    assert st.kstest(g, "gumbel_r").pvalue > 1e-3


@pytest.mark.parametrize("p", [0.05, 0.5, 0.7])
def test_bernoulli_frequency(p):
    b = np.asarray(R.bernoulli(R.key(9), p, (N,)))
    assert abs(b.mean() - p) < 5 * np.sqrt(p * (1 - p) / N)


def test_binomial_stream_frequencies():
    srng = RandomStreams(seed=77)
    draws = np.asarray(th.function([], srng.binomial((N,), n=4, p=0.3))())
    counts = np.bincount(draws, minlength=5)
    expected = st.binom(4, 0.3).pmf(np.arange(5)) * N
    assert st.chisquare(counts, expected).pvalue > 1e-3


def test_categorical_frequencies_match_pvals():
    pvals = np.array([0.1, 0.2, 0.3, 0.4])
    c = np.asarray(R.categorical(R.key(3), np.log(pvals), shape=(N,)))
    assert st.chisquare(np.bincount(c, minlength=4), pvals * N).pvalue > 1e-3


def test_multinomial_stream_frequencies():
    srng = RandomStreams(seed=8)
    pvals = np.array([[0.25, 0.25, 0.5], [0.6, 0.3, 0.1]])
    counts = np.asarray(th.function([], srng.multinomial(n=20000, pvals=pvals))())
    for row, p in zip(counts, pvals):
        assert row.sum() == 20000 and st.chisquare(row, p * 20000).pvalue > 1e-3


@pytest.mark.parametrize("dtype", [np.int32, np.int64])
def test_randint_is_uniform_over_the_range(dtype):
    r = np.asarray(R.randint(R.key(4), (N,), -3, 7, dtype))
    assert r.dtype == dtype and r.min() == -3 and r.max() == 6
    assert st.chisquare(np.bincount(r + 3, minlength=10)).pvalue > 1e-3


def test_permutations_are_uniform():
    counts = np.zeros((4, 4))
    key = R.key(12)
    perms = th.jit(lambda k: th.lax.scan(lambda c, i: (c, R.permutation(R.fold_in(k, i), 4)), 0,
                                         th.arange(2000))[1])(key)
    for p in np.asarray(perms):
        counts[np.arange(4), p] += 1  # position i holds value p[i]
    assert st.chisquare(counts.ravel(), np.full(16, 500.0)).pvalue > 1e-3


def test_split_keys_give_independent_streams():
    keys = R.split(R.key(0), 4)
    xs = np.stack([np.asarray(R.normal(keys[i], (N,))) for i in range(4)])
    corr = np.corrcoef(xs)
    off = corr[~np.eye(4, dtype=bool)]
    assert np.all(np.abs(off) < 5 / np.sqrt(N))
    # neighbouring counters within one draw are uncorrelated too (lag-1)
    assert abs(np.corrcoef(xs[0][:-1], xs[0][1:])[0, 1]) < 5 / np.sqrt(N)


def test_same_numbers_under_one_and_two_threads():
    f = th.jit(lambda k: (R.uniform(k, (1 << 16,)), R.normal(k, (1000, 65))))
    old = th.config.threads
    try:
        th.config.threads = 1
        a = [np.asarray(v) for v in f(R.key(1))]
        th.config.threads = 2
        b = [np.asarray(v) for v in f(R.key(1))]
    finally:
        th.config.threads = old
    assert all(np.array_equal(x, y) for x, y in zip(a, b))


def test_same_numbers_in_a_new_process():
    code = ("import numpy as np, theanir as th; "
            "print(np.asarray(th.random.uniform(th.random.key(31), (4,), np.float64)).tolist())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert eval(out) == np.asarray(R.uniform(R.key(31), (4,), np.float64)).tolist()


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_truncated_normal(dtype):
    t = np.asarray(R.truncated_normal(R.key(6), -0.5, 2.0, (N,), dtype))
    assert t.dtype == dtype and t.min() >= -0.5 and t.max() <= 2.0
    assert st.kstest(t.astype(np.float64), st.truncnorm(-0.5, 2.0).cdf).pvalue > 1e-3
    with pytest.raises(ValueError, match="lower must be below upper"):
        R.truncated_normal(R.key(6), 1.0, 1.0, (3,))
