"""th.cond / th.lax.cond / th.ifelse (lazy: only the taken branch runs) and th.switch (eager)."""
from __future__ import annotations

import time

import numpy as np
import pytest
from support import FLOATS, assert_close

import theanir as th
import theanir.tensor as T


@pytest.mark.parametrize("dtype", FLOATS)
def test_cond_picks_the_branch(dtype, rng):
    @th.jit
    def f(p, x, y):
        return th.cond(p, lambda x, y: (x @ y, {"s": x.sum()}), lambda x, y: (x - y, {"s": 0.5}), x, y)

    x, y = (rng.standard_normal((3, 3)).astype(dtype) for _ in range(2))
    prod, aux = f(True, x, y)
    assert_close(prod, x @ y, rtol=1e-5)
    assert_close(aux["s"], np.asarray(x.sum(), dtype), rtol=1e-5)
    diff, aux = f(False, x, y)
    assert_close(diff, x - y)
    assert_close(aux["s"], np.asarray(0.5, dtype))  # the Python scalar took the other side's dtype
    assert f.cache_size == 1


def test_cond_on_ints_bools_and_a_nonbool_predicate():
    @th.jit
    def f(n, x):
        return th.lax.cond(n, lambda x: (x * 2, x > 1), lambda x: (x - 1, x < 1), x)

    x = np.array([0, 1, 2])
    assert_close(f(3, x)[0], x * 2)
    assert_close(f(3, x)[1], x > 1)
    assert_close(f(0, x)[0], x - 1)
    assert_close(f(0, x)[1], x < 1)


def test_concrete_predicate_traces_one_branch():
    @th.jit
    def f(x):
        return th.cond(True, lambda x: x + 1, lambda x: x.nope(), x)  # false_fun is never called

    assert "tn.cond" not in f.lower(np.ones(2)).as_text("tn")
    assert_close(f(np.ones(2)), np.full(2, 2.0))


def test_scan_inside_cond():
    @th.jit
    def f(p, x):
        return th.cond(p, lambda x: th.scan(lambda v, a: a + v, sequences=x, outputs_info=0.0)[0],
                       lambda x: -x, x)

    x = np.arange(1.0, 5.0)
    assert_close(f(True, x), np.cumsum(x))
    assert_close(f(False, x), -x)


# ------------------------------------------------------------------ laziness
def _heavy(x, w):
    for _ in range(15):
        x = th.tanh(x @ w)
    return x


def test_ifelse_is_lazy(rng):
    @th.jit
    def f(p, x, w):
        a = _heavy(x, w)  # traced before ifelse: moved into the branch when compiled
        return th.ifelse(p, a, x + 1)

    x = rng.standard_normal((160, 160))
    w = rng.standard_normal((160, 160)) / 160
    # deterministic: after lowering, every matmul sits inside the scf.if's then-region
    text = f.lower(True, x, w).as_text("linalg")
    branch = text.index("scf.if")
    assert text.count("linalg.matmul") == 15 and "linalg.matmul" not in text[:branch]
    assert_close(f(False, x, w), x + 1)
    want = x
    for _ in range(15):
        want = np.tanh(want @ w)
    assert_close(f(True, x, w), want, rtol=1e-9, atol=1e-12)
    # and visible at run time: the untaken heavy branch costs nothing
    taken = min(_time(f, True, x, w) for _ in range(3))
    skipped = min(_time(f, False, x, w) for _ in range(3))
    assert skipped * 10 < taken, (skipped, taken)


def _time(f, *args) -> float:
    t0 = time.perf_counter()
    np.asarray(f(*args))  # waits: calls return before their (asynchronous) results are computed
    return time.perf_counter() - t0


def test_cond_is_lazy_and_values_used_outside_stay_outside(rng):
    @th.jit
    def f(p, x, w):
        shared = x @ w  # needed by the branch and after it: computed once, before
        y = th.cond(p, lambda: _heavy(shared, w), lambda: shared * 0)
        return y + shared

    x = rng.standard_normal((8, 8))
    w = rng.standard_normal((8, 8)) / 8
    text = f.lower(True, x, w).as_text("linalg")
    branch = text.index("scf.if")
    assert text[:branch].count("linalg.matmul") == 1 and text.count("linalg.matmul") == 16
    assert_close(f(False, x, w), x @ w)


def test_theano_ifelse_and_switch(rng):
    a, b = T.dscalars("a", "b")
    x, y = T.dmatrices("x", "y")
    z_lazy = th.ifelse(T.lt(a, b), T.mean(x), T.mean(y))
    z_switch = th.switch(T.lt(a, b), T.mean(x), T.mean(y))
    f_lazy = th.function([a, b, x, y], z_lazy)
    f_switch = th.function([a, b, x, y], z_switch)
    xv, yv = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    assert_close(f_lazy(1, 2, xv, yv), np.asarray(xv.mean()))
    assert_close(f_lazy(2, 1, xv, yv), np.asarray(yv.mean()))
    assert_close(f_switch(1, 2, xv, yv), np.asarray(xv.mean()))
    lazy_text = f_lazy.lower(1, 2, xv, yv).as_text("linalg")
    assert "scf.if" in lazy_text and "scf.if" not in f_switch.lower(1, 2, xv, yv).as_text("linalg")
    # ifelse on lists
    (s, t) = th.ifelse(T.gt(a, 0), [a + 1, b], [a - 1, b * 2])
    g = th.function([a, b], [s, t])
    assert [float(v) for v in g(1, 3)] == [2.0, 3.0] and [float(v) for v in g(-1, 3)] == [-2.0, 6.0]


def test_switch_is_elementwise_and_eager():
    @th.jit
    def f(c, x, y):
        return th.switch(c, x, y)

    c = np.array([True, False, True])
    assert_close(f(c, np.ones(3), np.zeros(3)), np.where(c, 1.0, 0.0))
    assert "scf.if" not in f.lower(c, np.ones(3), np.zeros(3)).as_text("linalg")


# ------------------------------------------------------------------ bad input
def test_branches_must_agree():
    with pytest.raises(ValueError, match="false_fun's result has shape \\(3,\\), but true_fun's"):
        th.jit(lambda p, x: th.cond(p, lambda: x, lambda: x[:3])).lower(True, np.ones(4))
    with pytest.raises(TypeError, match="false_fun's result has dtype float32, but true_fun's"):
        th.jit(lambda p, x: th.cond(p, lambda: x, lambda: x.astype(np.float32))).lower(True, np.ones(4))
    with pytest.raises(TypeError, match="different structures"):
        th.jit(lambda p, x: th.cond(p, lambda: (x, x), lambda: x)).lower(True, np.ones(4))
    with pytest.raises(ValueError, match="pred must be a scalar"):
        th.jit(lambda p, x: th.cond(p, lambda: x, lambda: x)).lower(np.ones(2, bool), np.ones(4))
    with pytest.raises(ValueError, match="then_branch has 2 values but else_branch has 1"):
        th.jit(lambda p, x: th.ifelse(p, [x, x], [x])).lower(True, np.ones(4))
    with pytest.raises(TypeError, match="th.cond takes traced arrays"):
        th.cond(T.scalar("p"), lambda: 1, lambda: 2)


