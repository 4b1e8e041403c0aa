"""Loops with dynamic lengths (issue 16): `tn.scan` with `length = -1` stacks as many rows as
steps ran, sequences with a dynamic leading dim are read row by row (`tn.take` along a `?`
axis), and reverse mode runs its backward loop over the same, run-time, number of steps.

Each test reads the compile count to prove that every length shared one compile, and
compares with a NumPy loop (gradients: NumPy backprop through time)."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th
from theanir.codegen.native import STATS

TOL = {np.float32: 2e-5, np.float64: 1e-12}


def compiles() -> int:
    return STATS["llvm_compiles"] + STATS["engine_compiles"]


def close(a, b, tol):
    np.testing.assert_allclose(np.asarray(a), b, rtol=tol, atol=tol)


def elman_numpy(Wx, Wh, b, xs, h0):
    """Forward states and the gradients of loss = sum(hs**2) + sum(h_T) (float64 BPTT)."""
    Wx, Wh, b, xs, h0 = (np.asarray(a, np.float64) for a in (Wx, Wh, b, xs, h0))
    hs, h = [], h0
    for x in xs:
        h = np.tanh(x @ Wx + h @ Wh + b)
        hs.append(h)
    hs_arr = np.array(hs).reshape((len(xs),) + h0.shape)
    gWx, gWh, gb = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    dh = np.ones_like(h0)  # d sum(h_T)
    for t in reversed(range(len(xs))):
        dh = dh + 2 * hs[t]
        dz = dh * (1 - hs[t] ** 2)
        prev = hs[t - 1] if t else h0
        gWx += xs[t].T @ dz
        gWh += prev.T @ dz
        gb += dz.sum(0)
        dh = dz @ Wh.T
    return hs_arr, h, (gWx, gWh, gb)


def elman_step(Wx, Wh, b):
    def step(h, x):
        h = th.tanh(x @ Wx + h @ Wh + b)
        return h, h
    return step


def params(rng, dtype, D=4, H=5):
    return (rng.standard_normal((D, H)).astype(dtype), (0.3 * rng.standard_normal((H, H))).astype(dtype),
            rng.standard_normal(H).astype(dtype))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_lax_scan_over_sequences_of_every_length_compiles_once(dtype):
    rng = np.random.default_rng(0)
    Wx, Wh, b = params(rng, dtype)

    @th.jit(dynamic_shapes=True)
    def rnn(Wx, Wh, b, xs, h0):
        return th.lax.scan(elman_step(Wx, Wh, b), h0, xs)

    before = compiles()
    for T in [0] + list(range(2, 51)):
        batch = 3 if T % 2 else 7  # the batch is dynamic too
        xs = rng.standard_normal((T, batch, 4)).astype(dtype)
        h0 = rng.standard_normal((batch, 5)).astype(dtype)
        hT, hs = rnn(Wx, Wh, b, xs, h0)
        ref, ref_T, _ = elman_numpy(Wx, Wh, b, xs, h0)
        assert hs.shape == (T, batch, 5) and hs.dtype == dtype
        close(hs, ref, TOL[dtype] * 10)
        close(hT, ref_T, TOL[dtype] * 10)
    assert rnn.cache_size == 1
    assert compiles() - before <= 1
    # a length of 1 is a signature of its own (size-1 dims are static, for broadcasting)
    xs = rng.standard_normal((1, 3, 4)).astype(dtype)
    h0 = np.zeros((3, 5), dtype)
    close(rnn(Wx, Wh, b, xs, h0)[1], elman_numpy(Wx, Wh, b, xs, h0)[0], TOL[dtype] * 10)
    assert rnn.cache_size == 2


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_elman_rnn_gradients_over_dynamic_lengths(dtype):
    rng = np.random.default_rng(1)
    Wx, Wh, b = params(rng, dtype)

    def loss(Wx, Wh, b, xs, h0):
        hT, hs = th.lax.scan(elman_step(Wx, Wh, b), h0, xs)
        return (hs ** 2).sum() + hT.sum()

    g = th.jit(th.grad(loss, argnums=(0, 1, 2)), dynamic_shapes=True)
    before = compiles()
    for T in (0, 2, 3, 17, 50):
        xs = rng.standard_normal((T, 3, 4)).astype(dtype)
        h0 = rng.standard_normal((3, 5)).astype(dtype)
        got = g(Wx, Wh, b, xs, h0)
        _, _, want = elman_numpy(Wx, Wh, b, xs, h0)
        scale = 1 + max(np.abs(w).max() for w in want)
        for a, w in zip(got, want):
            assert np.asarray(a).dtype == dtype
            close(a, w, TOL[dtype] * 50 * scale)
    assert g.cache_size == 1
    assert compiles() - before <= 1


def test_gradient_matches_central_differences():
    rng = np.random.default_rng(2)
    Wx, Wh, b = params(rng, np.float64, D=2, H=3)
    xs = rng.standard_normal((6, 2, 2))
    h0 = rng.standard_normal((2, 3))

    def loss(Wx, Wh, b, xs, h0):
        hT, hs = th.lax.scan(elman_step(Wx, Wh, b), h0, xs)
        return (hs ** 2).sum() + hT.sum()

    g = th.jit(th.grad(loss, argnums=(0, 1, 2, 3, 4)), dynamic_shapes=True)
    f = th.jit(loss, dynamic_shapes=True)
    got = g(Wx, Wh, b, xs, h0)
    args = [Wx, Wh, b, xs, h0]
    for k in range(5):
        num = np.zeros_like(args[k])
        for idx in np.ndindex(args[k].shape):
            plus = [a.copy() for a in args]
            minus = [a.copy() for a in args]
            plus[k][idx] += 1e-6
            minus[k][idx] -= 1e-6
            num[idx] = (float(f(*plus)) - float(f(*minus))) / 2e-6
        close(got[k], num, 1e-6)  # the sequence's cotangent too (rows added back per step)


def test_theano_scan_over_a_dynamic_sequence_and_its_gradient():
    rng = np.random.default_rng(3)
    Wx, Wh, b = params(rng, np.float64)

    def loss(Wx, Wh, b, xs, h0):
        hs, _ = th.scan(lambda x, h, Wx, Wh, b: th.tanh(x @ Wx + h @ Wh + b), sequences=xs,
                        outputs_info=h0, non_sequences=[Wx, Wh, b])
        return (hs ** 2).sum() + hs[-1].sum() if hs.shape[0] != 0 else (hs ** 2).sum()

    def loss_dyn(Wx, Wh, b, xs, h0):
        hs, _ = th.scan(lambda x, h, Wx, Wh, b: th.tanh(x @ Wx + h @ Wh + b), sequences=xs,
                        outputs_info=h0, non_sequences=[Wx, Wh, b])
        return (hs ** 2).sum()

    f = th.jit(lambda *a: th.scan(lambda x, h, Wx, Wh, b: th.tanh(x @ Wx + h @ Wh + b),
                                  sequences=a[3], outputs_info=a[4], non_sequences=list(a[:3]))[0],
               dynamic_shapes=True)
    g = th.jit(th.grad(loss_dyn, argnums=(0, 1, 2)), dynamic_shapes=True)
    for T in (0, 4, 9):
        xs = rng.standard_normal((T, 2, 4))
        h0 = rng.standard_normal((2, 5))
        ref, _, _ = elman_numpy(Wx, Wh, b, xs, h0)
        close(f(Wx, Wh, b, xs, h0), ref, 1e-12)
        gWx, gWh, gb = g(Wx, Wh, b, xs, h0)
        # loss_dyn has no h_T term: NumPy's gradients of sum(hs**2) alone
        _, _, (aWx, aWh, ab) = elman_numpy(Wx, Wh, b, xs, h0)
        _, _, (cWx, cWh, cb) = _without_final(Wx, Wh, b, xs, h0)
        close(gWx, cWx, 1e-10)
        close(gWh, cWh, 1e-10)
        close(gb, cb, 1e-10)
    assert f.cache_size == 1 and g.cache_size == 1


def _without_final(Wx, Wh, b, xs, h0):
    """elman_numpy's gradients minus the sum(h_T) term's: by linearity, the gradient of
    sum(hs**2) = grad(full) - grad(sum h_T); the latter is the full one with hs**2 dropped."""
    hs, h = [], h0
    for x in xs:
        h = np.tanh(x @ Wx + h @ Wh + b)
        hs.append(h)
    gWx, gWh, gb = np.zeros_like(Wx), np.zeros_like(Wh), np.zeros_like(b)
    dh = np.zeros_like(h0)
    for t in reversed(range(len(xs))):
        dh = dh + 2 * hs[t]
        dz = dh * (1 - hs[t] ** 2)
        gWx += xs[t].T @ dz
        gWh += (hs[t - 1] if t else h0).T @ dz
        gb += dz.sum(0)
        dh = dz @ Wh.T
    return None, None, (gWx, gWh, gb)


def test_lax_scan_reverse_over_a_dynamic_sequence():
    f = th.jit(lambda xs: th.lax.scan(lambda c, x: (c + x, c * x), 0.0, xs, reverse=True),
               dynamic_shapes=True)
    for T in (0, 3, 8):
        xs = np.arange(T, dtype=np.float64) + 1
        c, ys = f(xs)
        acc, ref = 0.0, np.zeros(T)
        for t in reversed(range(T)):
            ref[t] = acc * xs[t]
            acc += xs[t]
        close(c, acc, 0)
        close(ys, ref, 0)
    assert f.cache_size == 1


def test_per_step_rows_are_sized_from_what_they_are_computed_of():
    # a row computed elementwise from a sequence's row has that row's dims (not the carry's)
    g = th.jit(lambda h0, xs: th.lax.scan(lambda h, x: (h, th.exp(x) * 2.0), h0, xs)[1],
               dynamic_shapes=True)
    xs = np.ones((4, 5, 2))
    close(g(np.ones((3, 2)), xs), np.exp(xs) * 2, 1e-15)
    assert g.cache_size == 1


def test_rows_of_a_product_are_sized_by_its_operands():
    # x @ W: dim 0 from the sequence's row, dim 1 from W (not from the carry of the same type)
    g = th.jit(lambda h0, xs, W: th.lax.scan(lambda h, x: (h * 0.5, x @ W), h0, xs)[1],
               dynamic_shapes=True)
    W = np.ones((2, 6))
    close(g(np.ones((3, 2)), np.ones((4, 5, 2)), W), np.full((4, 5, 6), 2.0), 0)
    assert g.cache_size == 1


def test_a_row_that_cannot_be_sized_before_the_loop_is_refused_clearly():
    # a per-step value with dynamic dims is sized before the loop from the values it is
    # computed of; a reduction's result is not followed yet: refused when compiling
    g = th.jit(lambda c, xs: th.lax.scan(lambda c, x: (c, x.sum(axis=0)), c, xs)[1],
               dynamic_shapes=True)
    with pytest.raises(NotImplementedError, match=r"tn.scan: cannot size the stacked output 0 "
                                                  r"\(float64\[\?, \?\]\) before the loop runs"):
        g(np.ones(()), np.ones((4, 5, 2)))


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_traced_n_steps_compiles_once_for_every_value(dtype):
    # th.scan(n_steps=n) and fori_loop(0, n) with n an argument of the jitted function
    @th.jit
    def powers(h0, n):
        hs, _ = th.scan(lambda h: h * 2.0, outputs_info=h0, n_steps=n)
        return hs

    @th.jit
    def fori(h0, lo, n):
        return th.lax.fori_loop(lo, n, lambda i, h: h * 2.0 + i.astype(h.dtype), h0)

    before = compiles()
    h0 = np.array([1.0, -2.0], dtype)
    for n in (0, 1, 2, 5, 12, -3):
        hs = powers(h0, n)
        rows = max(n, 0)
        assert hs.shape == (rows, 2) and hs.dtype == dtype
        close(hs, h0 * 2.0 ** np.arange(1, rows + 1)[:, None], 0)
        h = h0.astype(np.float64)
        for i in range(2, n):
            h = h * 2 + i
        close(fori(h0, 2, n), h, TOL[dtype])
    assert powers.cache_size == 1 and fori.cache_size == 1
    assert compiles() - before <= 2


def test_traced_n_steps_capped_by_the_sequence_and_gradient():
    # n_steps beyond what the sequence provides runs only the steps it provides
    @th.jit
    def cumsum(xs, n):
        return th.scan(lambda x, acc: acc + x, sequences=xs, outputs_info=np.zeros(3), n_steps=n)[0]

    xs = np.random.default_rng(4).standard_normal((6, 3))
    for n in (0, 2, 6, 9):
        close(cumsum(xs, n), np.cumsum(xs, 0)[:min(n, 6)], 1e-12)
    assert cumsum.cache_size == 1

    def loss(w, n):
        hs, _ = th.scan(lambda h: th.sin(h * w), outputs_info=th.ones(2), n_steps=n)
        return (hs ** 2).sum()

    g = th.jit(th.grad(loss))
    f = th.jit(loss)
    w = np.array([0.7, -1.3])
    for n in (0, 1, 4):
        got = np.asarray(g(w, n))
        num = np.array([(float(f(w + e, n)) - float(f(w - e, n))) / 2e-6 for e in np.eye(2) * 1e-6])
        close(got, num, 1e-7)
    assert g.cache_size == 1


def test_take_along_a_dynamic_axis_and_its_gradient():
    # tn.take clamps to the run-time size; its transpose adds rows into zeros of x's size
    f = th.jit(lambda x, i: th.take(x, i, axis=0), dynamic_shapes=True)
    g = th.jit(th.grad(lambda x, i: (th.take(x, i, axis=0) ** 2).sum()), dynamic_shapes=True)
    rng = np.random.default_rng(5)
    for n in (3, 8):
        x = rng.standard_normal((n, 4))
        idx = np.array([0, n - 1, -1, 2, 2, 50, -50])
        clamped = np.clip(np.where(idx < 0, idx + n, idx), 0, n - 1)
        close(f(x, idx), x[clamped], 0)
        want = np.zeros_like(x)
        np.add.at(want, clamped, 2 * x[clamped])
        close(g(x, idx), want, 1e-12)
    assert f.cache_size == 1 and g.cache_size == 1
    with pytest.raises(IndexError, match=r"tn.take: cannot take from the empty axis 0"):
        np.asarray(f(np.ones((0, 4)), idx))
    close(f(np.ones((0, 4)), np.zeros(0, np.int64)), np.ones((0, 4)), 0)


# ------------------------------------------------------------------ until: the rows that ran
def newton_rows(a, x0, tol, n_max):
    """NumPy do-while: Newton steps for sqrt(a) until the step is below tol (at most n_max)."""
    rows, x = [], x0
    for _ in range(n_max):
        new = 0.5 * (x + a / x)
        rows.append(new)
        done = abs(new - x) < tol
        x = new
        if done:
            break
    return np.array(rows, dtype=np.asarray(x0).dtype)


def newton_scan(a, x0, tol, n):
    def step(x, a, tol):
        new = 0.5 * (x + a / x)
        return new, th.until(th.abs(new - x) < tol)

    return th.scan(step, outputs_info=x0, non_sequences=[a, tol], n_steps=n)[0]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_until_returns_the_rows_that_ran(dtype):
    f = th.jit(newton_scan)
    for a, x0, tol, n in [(2.0, 1.0, 1e-6, 50), (9.0, 3.0, 1e-6, 50), (2.0, 1.0, 1e-6, 0),
                          (2.0, 1.0, 1e-6, 1), (1e6, 1.0, 1e-30, 40)]:
        args = [np.asarray(v, dtype) for v in (a, x0, tol)]
        got = f(*args, n)
        want = newton_rows(*args, n)
        assert got.shape == want.shape and got.dtype == dtype
        close(got, want, TOL[dtype] * 10)
    assert f.cache_size == 1


def test_until_gradient_matches_finite_differences_and_numpy():
    # d/da of the sum of the Newton iterates, over the steps that ran
    a0 = np.array(2.0)
    th.verify_grad(lambda a: newton_scan(a, np.array(1.0), np.array(1e-6), 50).sum(), [a0])
    g = th.jit(th.grad(lambda a: newton_scan(a, np.array(1.0), np.array(1e-6), 50).sum()))
    eps = 1e-6
    for a in (2.0, 5.0):
        num = (newton_rows(a + eps, 1.0, 1e-6, 50).sum() - newton_rows(a - eps, 1.0, 1e-6, 50).sum()) / (2 * eps)
        assert len(newton_rows(a + eps, 1.0, 1e-6, 50)) == len(newton_rows(a - eps, 1.0, 1e-6, 50))
        close(g(np.array(a)), num, 1e-6)


# ------------------------------------------------------------------ reverse mode through while_loop
def newton_while(a, x0, tol):
    """sqrt(a) by Newton steps until a step moves less than tol: the trip depends on a and x0."""
    def body(c):
        x, _ = c
        new = 0.5 * (x + a / x)
        return new, new - x

    return th.while_loop(lambda c: th.abs(c[1]) > tol, body, (x0, th.ones_like(x0)))[0]


def newton_while_np(a, x0, tol):
    x, dx, steps = x0, 1.0, 0
    while abs(dx) > tol:
        new = 0.5 * (x + a / x)
        x, dx, steps = new, new - x, steps + 1
    return x, steps


def drift_while(x0, w):
    """A counter-style loop: grow until 100 (x0 >= 100: no step), carrying a second value."""
    def body(c):
        x, y = c
        return x * 1.003 + 0.01, y * w + th.sin(x)

    return th.while_loop(lambda c: c[0] < 100.0, body, (x0, x0 * 0.5))[1]


def drift_while_np(x0, w):
    x, y, steps = x0, x0 * 0.5, 0
    while x < 100.0:
        x, y, steps = x * 1.003 + 0.01, y * w + np.sin(x), steps + 1
    return y, steps


def central(f, args, k, eps=1e-6):
    plus, minus = list(args), list(args)
    plus[k], minus[k] = args[k] + eps, args[k] - eps
    return (f(*plus) - f(*minus)) / (2 * eps)


@pytest.mark.parametrize("x0, steps", [(150.0, 0), (99.995, 1), (1.8422, 1000)])
def test_while_loop_gradient_for_0_1_and_1000_steps(x0, steps):
    w = 0.999
    assert drift_while_np(x0, w)[1] == steps
    g = th.jit(th.grad(drift_while, argnums=(0, 1)))
    gx, gw = g(np.array(x0), np.array(w))
    ref = lambda x0, w: drift_while_np(x0, w)[0]  # noqa: E731  (the NumPy unrolled loop)
    close(gx, central(ref, (x0, w), 0), 1e-6 * max(1, abs(float(gx))))
    close(gw, central(ref, (x0, w), 1), 1e-6 * max(1, abs(float(gw))))
    th.verify_grad(drift_while, [np.array(x0), np.array(w)])
    assert g.cache_size == 1
    # one forward loop (its residual rows in buffers that double) and one backward loop: the
    # forward is not run twice (count, then replay)
    assert g.lower(np.array(x0), np.array(w)).as_text("tn-opt").count('"tn.scan"') == 2


def test_newton_while_loop_gradient():
    g = th.jit(th.grad(newton_while, argnums=(0, 1)))
    for a, x0, tol, steps in [(2.0, 1.0, 1e-12, None), (9.0, 1.0, 1e-9, None), (4.0, 2.0, 1e-3, 1)]:
        _, n = newton_while_np(a, x0, tol)
        assert steps is None or n == steps
        ga, gx = g(np.array(a), np.array(x0), np.array(tol))
        ref = lambda a, x0: newton_while_np(a, x0, tol)[0]  # noqa: E731
        close(ga, central(ref, (a, x0), 0), 1e-6)
        close(gx, central(ref, (a, x0), 1), 1e-6)
        if n > 1:
            close(ga, 0.5 / np.sqrt(a), 1e-6)  # converged: d sqrt(a) / da
    # no step at all: the initial value passes through
    g0 = th.jit(th.grad(lambda a, x0: th.while_loop(lambda c: c > 10.0, lambda c: c * a, x0), argnums=(0, 1)))
    ga, gx = g0(np.array(2.0), np.array(3.0))
    assert float(ga) == 0.0 and float(gx) == 1.0


def test_fori_loop_with_traced_bounds_gradient():
    def f(x, n):
        return th.lax.fori_loop(0, n, lambda i, v: th.sin(v) * 1.1 + 0.01 * i, x)

    g = th.jit(th.grad(f))
    fj = th.jit(f)
    for n in (0, 1, 7, 1000):
        x = np.array(0.4)
        v, d = 0.4, 1.0
        for i in range(n):
            v, d = np.sin(v) * 1.1 + 0.01 * i, d * np.cos(v) * 1.1
        close(fj(x, n), v, 1e-12)
        close(g(x, n), d, 1e-10)
    assert g.cache_size == 1


def test_collatz_counter_gradient():
    # an integer Collatz sequence decides the trip count; a float rides along: x0 * w**steps
    def f(w, x0, k0):
        def body(c):
            k, x = c
            return th.where(k % 2 == 0, k // 2, 3 * k + 1), x * w
        return th.while_loop(lambda c: c[0] != 1, body, (k0, x0))[1]

    g = th.jit(th.grad(f, argnums=(0, 1)))
    for k0, steps in ((1, 0), (2, 1), (27, 111), (837799, 524)):
        gw, gx = g(np.array(1.001), np.array(0.5), np.int64(k0))
        close(gw, steps * 0.5 * 1.001 ** (steps - 1) if steps else 0.0, 1e-12)
        close(gx, 1.001 ** steps, 1e-12)
    th.verify_grad(lambda w, x0: f(w, x0, np.int64(27)), [np.array(1.001), np.array(0.5)])
    assert g.cache_size == 1
