"""th.scan (Theano), th.lax.scan / fori_loop, th.while_loop: checked against plain NumPy loops.

All of them build one `tn.scan` (dialects/tn/ops/control.py), lowered to scf.for / scf.while.
"""
from __future__ import annotations

import re

import numpy as np
import pytest
from support import FLOATS, assert_close

import theanir as th
import theanir.tensor as T
from theanir.dialects.tn.interpreter import interpret


# ------------------------------------------------------------------ the acceptance examples
@pytest.mark.parametrize("dtype", FLOATS)
def test_cumulative_sum(dtype, rng):
    @th.jit
    def cumsum(x):
        out, updates = th.scan(lambda xi, acc: acc + xi, sequences=x, outputs_info=th.zeros_like(x[0]))
        assert updates == {}
        return out

    x = rng.standard_normal((7, 3)).astype(dtype)
    want, acc = np.empty_like(x), np.zeros(3, dtype)
    for t in range(7):
        acc = acc + x[t]
        want[t] = acc
    assert_close(cumsum(x), want)


@pytest.mark.parametrize("dtype", FLOATS)
def test_polynomial_evaluation(dtype):
    @th.jit
    def poly(coef, x):
        terms, _ = th.scan(lambda c, p, x: c * x ** p.astype(c.dtype), outputs_info=None,
                           sequences=[coef, th.arange(1000)], non_sequences=x)
        return terms.sum()

    coef = np.array([1.0, 0.0, 2.0, -0.5], dtype)
    x = dtype(1.5)
    want = sum(c * x ** p for p, c in enumerate(coef))
    assert_close(poly(coef, x), np.asarray(want, dtype))


@pytest.mark.parametrize("dtype", FLOATS)
def test_power_by_repeated_multiplication(dtype):
    @th.jit(static_argnums=1)
    def power(A, k):
        result, _ = th.scan(lambda prior, A: prior * A, outputs_info=th.ones_like(A),
                            non_sequences=A, n_steps=k)
        return result[-1]

    A = np.arange(6, dtype=dtype)
    for k in (1, 2, 5):
        want = np.ones_like(A)
        for _ in range(k):
            want = want * A
        assert_close(power(A, k), want)


def test_power_theano_symbolic_n_steps():
    # Theano's tutorial: k is an input; one compile serves every value (issue 16)
    k, A = T.iscalar("k"), T.vector("A")
    result, updates = th.scan(fn=lambda prior, A: prior * A, outputs_info=T.ones_like(A),
                              non_sequences=A, n_steps=k)
    power = th.function(inputs=[A, k], outputs=result[-1], updates=updates)
    A_val = np.arange(10, dtype=A.dtype)
    assert_close(power(A_val, 2), A_val ** 2)
    assert_close(power(A_val, 4), A_val ** 4)
    assert power.cache_size == 1


@pytest.mark.parametrize("dtype", [np.int64, np.float64])
def test_fibonacci_with_taps(dtype):
    @th.jit
    def fib(x0):
        out, _ = th.scan(lambda a, b: a + b, outputs_info=dict(initial=x0, taps=[-2, -1]), n_steps=12)
        return out

    want, (a, b) = [], (0, 1)
    for _ in range(12):
        a, b = b, a + b
        want.append(b)
    assert_close(fib(np.array([0, 1], dtype)), np.array(want, dtype))


def test_fibonacci_theano_symbolic():
    x0, n = T.lvector("x0"), T.iscalar("n")
    results, updates = th.scan(fn=lambda a, b: a + b, outputs_info=[{"initial": x0, "taps": [-2, -1]}],
                               n_steps=n)
    fibo = th.function([x0, n], results, updates=updates)
    assert_close(fibo([0, 1], 8), np.array([1, 2, 3, 5, 8, 13, 21, 34]))


@pytest.mark.parametrize("dtype", FLOATS)
def test_do_while_stops_on_data_dependent_condition(dtype):
    @th.jit
    def doubling(start, limit):
        def step(prev, limit):
            new = prev * 2
            return new, th.until(new > limit)
        values, _ = th.scan(step, outputs_info=start, non_sequences=limit, n_steps=20)
        return values

    want = []
    value = dtype(1.5)
    while True:  # the NumPy do-while loop
        value = value * 2
        want.append(value)
        if value > 45:
            break
    got = doubling(np.asarray(1.5, dtype), np.asarray(45, dtype))
    assert got.shape == (len(want),)  # the rows of the steps that ran (Theano; issue 16)
    assert_close(got, np.array(want, dtype))
    assert doubling(np.asarray(1.5, dtype), np.asarray(1e9, dtype)).shape == (20,)  # n_steps bound
    assert doubling.cache_size == 1


def test_do_while_theano_symbolic_and_counting_steps():
    # a counter carried beside the value tells how many steps ran
    max_value = T.dscalar("max_value")
    (values, counts), _ = th.scan(lambda prev, n, mv: ([prev * 2, n + 1], th.until(prev * 2 > mv)),
                                  outputs_info=[T.constant(1.0), T.constant(np.int64(0))],
                                  non_sequences=max_value, n_steps=64)
    f = th.function([max_value], [values, counts[-1]])
    got, steps = f(45.0)
    assert int(steps) == 6
    assert_close(got, np.array([2.0, 4, 8, 16, 32, 64]))  # only the rows that ran


@pytest.mark.parametrize("dtype", FLOATS)
def test_elman_rnn_forward(dtype, rng):
    def rnn(x, h0, W, U, b):
        hs, _ = th.scan(lambda xt, h, W, U, b: th.tanh(xt @ W + h @ U + b), sequences=x,
                        outputs_info=h0, non_sequences=[W, U, b])
        return hs

    x = rng.standard_normal((9, 4, 3)).astype(dtype)  # time, batch, features
    h0 = rng.standard_normal((4, 5)).astype(dtype)
    W, U = (0.5 * rng.standard_normal(s).astype(dtype) for s in ((3, 5), (5, 5)))
    b = rng.standard_normal(5).astype(dtype)
    want, h = [], h0
    for t in range(9):
        h = np.tanh(x[t] @ W + h @ U + b)
        want.append(h)
    assert_close(th.jit(rnn)(x, h0, W, U, b), np.array(want), rtol=1e-5 if dtype == np.float32 else None)


def test_elman_rnn_theano_symbolic_with_shared_weights(rng):
    X, h0 = T.dmatrix("X"), T.dvector("h0")
    W = th.shared(0.5 * rng.standard_normal((3, 4)), name="W")
    U = th.shared(0.5 * rng.standard_normal((4, 4)), name="U")
    hs, updates = th.scan(lambda x, h: T.tanh(T.dot(x, W) + T.dot(h, U)), sequences=X, outputs_info=h0)
    assert (hs.ndim, hs.dtype) == (2, np.float64)
    f = th.function([X, h0], hs, updates=updates)
    x = rng.standard_normal((5, 3))
    want, h = [], np.zeros(4)
    for t in range(5):
        h = np.tanh(x[t] @ W.get_value() + h @ U.get_value())
        want.append(h)
    assert_close(f(x, np.zeros(4)), np.array(want))


# ------------------------------------------------------------------ Theano's features
def test_sequence_taps_and_go_backwards():
    @th.jit
    def taps(x):
        fn = lambda a, b, c: a * 100 + b * 10 + c  # noqa: E731
        fwd, _ = th.scan(fn, sequences=dict(input=x, taps=[-1, 0, 1]))
        back, _ = th.scan(fn, sequences=dict(input=x, taps=[-1, 0, 1]), go_backwards=True)
        later, _ = th.scan(lambda a, b: a * 10 + b, sequences=[dict(input=x, taps=[2]), x])
        return fwd, back, later

    fwd, back, later = taps(np.arange(1, 6))
    assert_close(fwd, np.array([123, 234, 345]))
    assert_close(back, np.array([345, 234, 123]))
    assert_close(later, np.array([31, 42, 53]))  # taps [2]: x[t+2]; sequences stop together


def test_mixed_outputs_and_map(rng):
    @th.jit
    def f(x):
        # output 0 is fed back; output 1 (None) only stacked; fn gets the sequence and h
        (hs, sq), _ = th.scan(lambda xt, h: (h + xt, xt * xt), sequences=x,
                              outputs_info=[np.float64(0.0), None])
        doubled, _ = th.scan(lambda xt: 2 * xt, sequences=x)  # a map
        return hs, sq, doubled

    x = rng.standard_normal(6)
    hs, sq, doubled = f(x)
    assert_close(hs, np.cumsum(x))
    assert_close(sq, x * x)
    assert_close(doubled, 2 * x)


def test_zero_steps():
    @th.jit
    def f(h0):
        out, _ = th.scan(lambda h: h + 1, outputs_info=h0, n_steps=0)
        return out

    assert f(np.ones(3)).shape == (0, 3)


def test_bool_carries_and_cond_inside_the_body():
    @th.jit
    def f(x):
        def step(xt, flag, acc):
            flag = th.logical_xor(flag, xt > 0)
            acc = th.cond(flag, lambda: acc + xt, lambda: acc - xt)
            return flag, acc
        (flags, accs), _ = th.scan(step, sequences=x, outputs_info=[np.bool_(False), 0.0])
        return flags, accs

    x = np.array([1.0, -2.0, 3.0, 4.0, -5.0, 0.5])
    flags, accs, flag, acc = [], [], False, 0.0
    for v in x:
        flag = flag ^ (v > 0)
        acc = acc + v if flag else acc - v
        flags.append(flag)
        accs.append(acc)
    got_flags, got_accs = f(x)
    assert_close(got_flags, np.array(flags))
    assert_close(got_accs, np.array(accs))


def test_nested_scans():
    @th.jit
    def row_sums(x):
        sums, _ = th.scan(lambda row: th.scan(lambda v, a: a + v, sequences=row, outputs_info=0.0)[0][-1],
                          sequences=x)
        return sums

    x = np.arange(12.0).reshape(3, 4)
    assert_close(row_sums(x), x.sum(axis=1))


# ------------------------------------------------------------------ JAX-style loops
def test_lax_scan_pytrees_and_reverse():
    @th.jit
    def f(xs):
        def step(carry, x):
            total, count = carry["total"], carry["count"]
            return {"total": total + x, "count": count + 1}, (total * x, x > 2)
        return th.lax.scan(step, {"total": 0.0, "count": 0}, xs, reverse=True)

    xs = np.arange(1.0, 6.0)
    carry, (prods, big) = f(xs)
    total, want = 0.0, np.zeros(5)
    for i in reversed(range(5)):
        want[i] = total * xs[i]
        total += xs[i]
    assert_close(carry["total"], np.asarray(total))
    assert_close(carry["count"], np.asarray(5))
    assert_close(prods, want)
    assert_close(big, xs > 2)


def test_fori_loop_with_traced_bounds():
    @th.jit
    def f(n, x):
        return th.lax.fori_loop(0, n, lambda i, v: v * 2 + i, x)

    def ref(n, x):
        for i in range(n):
            x = x * 2 + i
        return x

    for n in (0, 1, 5, -2):  # one compile: the trip count is a runtime value
        assert_close(f(n, 1), np.asarray(ref(n, 1)))
    assert f.cache_size == 1


def test_while_loop():
    @th.jit
    def collatz_steps(n):
        def body(state):
            n, steps = state
            return th.where(n % 2 == 0, n // 2, 3 * n + 1), steps + 1
        return th.while_loop(lambda s: s[0] != 1, body, (n, 0))

    def ref(n):
        steps = 0
        while n != 1:
            n, steps = (n // 2 if n % 2 == 0 else 3 * n + 1), steps + 1
        return steps

    for n in (1, 6, 27):
        assert int(collatz_steps(n)[1]) == ref(n)


# ------------------------------------------------------------------ IR properties
def test_stacked_outputs_use_one_buffer_and_the_interpreter_agrees(rng):
    def f(x, h0):
        hs, _ = th.scan(lambda xt, h: th.tanh(h + xt), sequences=x, outputs_info=h0)
        return hs

    x, h0 = rng.standard_normal((6, 3)), rng.standard_normal(3)
    lowered = th.jit(f).lower(x, h0)
    buf = lowered.as_text("bufferized")
    loop_at = buf.index("scf.for")
    step = buf[loop_at:buf.index("scf.yield", loop_at)]
    # the steps write rows of one buffer: the caller's output itself (theanir-results-in-place)
    assert "memref<6x3xf64>" not in buf[:loop_at].split("attributes")[-1]
    assert re.search(r"memref\.subview %arg2\[", step)
    assert not re.search(r"memref\.(alloc|copy).*memref<6x3xf64>", step)  # no per-step copy
    # the NumPy reference interpreter of the tn IR (each op's reference rule) agrees
    (want,) = interpret(lowered.traced.module, x, h0)
    assert_close(th.jit(f)(x, h0), want)


def test_dce_and_cse_walk_into_loop_bodies():
    def f(x):
        def step(xt, h):
            unused = h * 3  # noqa: F841
            return th.abs(h) + th.abs(h) - h + xt  # h >= 0 here: h + xt
        return th.scan(step, sequences=x, outputs_info=th.zeros_like(x[0]))[0]

    from theanir.passes.optimize.dce_cse import run_cse, run_dce

    lowered = th.jit(f).lower(np.ones((3, 2)))
    module = lowered.traced.module
    run_cse(module.operation)
    run_dce(module.operation)
    text = str(module)
    assert text.count('"tn.abs"') == 1 and '"tn.mul"' not in text
    assert_close(th.jit(f)(np.ones((3, 2))), np.cumsum(np.ones((3, 2)), axis=0))


# ------------------------------------------------------------------ bad input
def _trace(fn, *args):
    return th.jit(fn).lower(*args)


def test_step_output_dtype_or_shape_differs_from_initial():
    with pytest.raises(TypeError, match=r"outputs_info\[0\].*float32|float32.*outputs_info\[0\]"):
        _trace(lambda x: th.scan(lambda h: h.astype(np.float64) + 1, outputs_info=x, n_steps=3)[0],
               np.ones(2, np.float32))
    with pytest.raises(ValueError, match=r"outputs_info\[0\] has shape \(2,\)"):
        _trace(lambda x: th.scan(lambda h: th.concatenate([h, h]), outputs_info=x, n_steps=3)[0],
               np.ones(2))
    with pytest.raises(TypeError, match="init_val"):
        _trace(lambda x: th.while_loop(lambda v: v < 3, lambda v: (v + 1).astype(np.float32), x), 0.0)
    with pytest.raises(TypeError, match="init"):
        _trace(lambda x: th.lax.scan(lambda c, x: ((c, c), x), 0.0, x), np.ones(3))


def test_taps_that_reach_before_the_start():
    with pytest.raises(ValueError, match=r"outputs_info\[0\].*taps \[-3, -1\] reach 3 steps"):
        _trace(lambda x0: th.scan(lambda a, b: a + b, outputs_info=dict(initial=x0, taps=[-3, -1]),
                                  n_steps=4)[0], np.array([0, 1]))
    with pytest.raises(ValueError, match=r"outputs_info\[0\].*negative"):
        _trace(lambda x0: th.scan(lambda a: a, outputs_info=dict(initial=x0, taps=[1]), n_steps=2)[0],
               np.zeros(3))
    with pytest.raises(ValueError, match=r"taps \[-2, 2\] of sequences\[0\]"):
        _trace(lambda x: th.scan(lambda a, b: a + b, sequences=dict(input=x, taps=[-2, 2]))[0],
               np.arange(3))


def test_bad_n_steps():
    seq = np.arange(5.0)
    with pytest.raises(ValueError, match="n_steps must be >= 0, got -1"):
        _trace(lambda h: th.scan(lambda h: h, outputs_info=h, n_steps=-1)[0], 0.0)
    with pytest.raises(ValueError, match=r"n_steps=6 is inconsistent with sequences\[0\]"):
        _trace(lambda x: th.scan(lambda a: a, sequences=x, n_steps=6)[0], seq)
    # a traced n_steps is supported since issue 16 (tests/control/test_dynamic_loops.py)
    with pytest.raises(TypeError, match="n_steps must be an integer"):
        _trace(lambda h: th.scan(lambda h: h, outputs_info=h, n_steps=2.5)[0], 0.0)
    with pytest.raises(ValueError, match="n_steps is required"):
        _trace(lambda h: th.scan(lambda h: h, outputs_info=h)[0], 0.0)
    with pytest.raises(ValueError, match="outputs_info has 1 entries"):
        _trace(lambda h: th.scan(lambda h: (h, h), outputs_info=[h], n_steps=2)[0], 0.0)
    # outside a trace the JAX-style loops run eagerly, as in JAX (issue 20; tests/jax_style)
    assert th.while_loop(lambda v: v < 3, lambda v: v + 1, 0) == 3
