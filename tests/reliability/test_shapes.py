"""Shapes at their limits: element counts beyond int64, loops of 0 steps, trip counts at the
ends of int64 (items 11 and 13 of issue 12).

The oversized-shape cases run in a child process: before the size check in the shape rules,
one of them aborted the process with an MLIR assertion.
"""
from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T
from theanir.dialects.tn.registry import ShapeError


def run_child(code: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", textwrap.dedent(code)], capture_output=True, text=True,
                          timeout=300)


# ------------------------------------------------------------------ element counts
OVERSIZED = {
    "reshape of 2**64 elements": "th.broadcast_to(x, (2**32, 2**32)).reshape(-1)[:3]",
    "product of 2**63 elements": "(th.broadcast_to(x, (2**62, 2)) * 2.0)[:2, :1]",
    "zeros of 2**80 elements": "th.zeros((2**40, 2**40))[:2, :2] + x",
    "empty but a dim of 2**64": "th.broadcast_to(x, (2**64, 0))",
    "stacked scan outputs": "th.scan(lambda h: h + 1.0, outputs_info=th.zeros(4) + x, n_steps=2**62)[0][:2]",
}


@pytest.mark.parametrize("expr", OVERSIZED.values(), ids=OVERSIZED.keys())
def test_oversized_shapes_are_a_shape_error_naming_the_line(expr):
    proc = run_child(f"""
        import numpy as np, theanir as th
        from theanir.dialects.tn.registry import ShapeError
        try:
            th.jit(lambda x: {expr})(np.ones(1))
        except ShapeError as e:
            print("ShapeError:", e)
        else:
            print("no error")
    """)
    assert proc.returncode == 0, proc.stderr[-2000:]  # -6: SIGABRT from an MLIR assertion
    line = proc.stdout.strip().splitlines()[-1]
    assert line.startswith("ShapeError: tn."), line
    assert "more than the 2**62 bytes a tensor may hold" in line and "at <string>:5" in line, line


def test_large_lazy_shapes_below_the_bound_still_trace():
    """2**40 elements (8 TiB if materialized) is a legal type: only the size bound refuses."""
    lowered = th.jit(lambda x: th.broadcast_to(x, (2**40, 2))[:2, :1]).lower(np.ones(1))
    assert "1099511627776x2" in lowered.as_text("tn")


# ------------------------------------------------------------------ fori_loop trip counts
def _count(lo, hi):
    return th.jit(lambda v: th.lax.fori_loop(lo, hi, lambda i, v: v + 1, v))(np.zeros((), np.int64))


def test_fori_loop_trip_count_does_not_wrap():
    assert int(_count(2**63 - 1, -2**63)) == 0  # hi - lo wraps to 1 in int64
    assert int(_count(5, 2)) == 0 and int(_count(-3, 4)) == 7


def test_fori_loop_traced_bounds_trip_count_does_not_wrap():
    f = th.jit(lambda v, lo, hi: th.lax.fori_loop(lo, hi, lambda i, v: v + 1, v))
    assert int(f(np.zeros((), np.int64), np.int64(2**63 - 1), np.int64(-2**63))) == 0
    assert int(f(np.zeros((), np.int64), np.int64(10), np.int64(3))) == 0
    assert int(f(np.zeros((), np.int64), np.int64(-2), np.int64(5))) == 7
    g = th.jit(lambda v, lo, hi: th.lax.fori_loop(lo, hi, lambda i, v: v + i, v))
    assert int(g(np.zeros((), np.int64), np.int64(3), np.int64(10))) == sum(range(3, 10))


def test_fori_loop_longer_than_int64_saturates_instead_of_running_once():
    """range(-2**63, 2**63 - 1) has 2**64 - 1 steps: the loop must not stop after one (or -1)
    steps; it runs until stopped. Checked on the trip count (the loop itself never ends)."""
    from theanir.frontend.control_flow import _trip_count
    from theanir.frontend import numpy_api as tnp

    def count(lo, hi):
        return tnp.astype(_trip_count(tnp.as_tensor(lo), tnp.as_tensor(hi)), np.int64)

    assert int(th.jit(lambda lo, hi: count(lo, hi))(np.int64(-2**63), np.int64(2**63 - 1))) == 2**63 - 1
    assert int(th.jit(lambda lo, hi: count(lo, hi))(np.int64(-2**62), np.int64(2**62))) == 2**63 - 1
    assert int(th.jit(lambda lo, hi: count(lo, hi))(np.int64(-5), np.int64(2**63 - 1))) == 2**63 - 1
    assert int(th.jit(lambda lo: count(lo, 2**63 - 1))(np.int64(1))) == 2**63 - 2


# ------------------------------------------------------------------ scans of 0 steps
def test_scan_over_an_empty_sequence_runs_zero_steps():
    xs = np.zeros((0, 3))
    out = th.jit(lambda xs, h: th.scan(lambda x, h: h + x, sequences=xs, outputs_info=h)[0])(xs, np.ones(3))
    assert out.shape == (0, 3) and out.dtype == np.float64


def test_lax_scan_over_an_empty_sequence_keeps_the_carry():
    xs = np.zeros((0, 3))
    for reverse in (False, True):
        carry, ys = th.jit(lambda xs: th.lax.scan(lambda c, x: (c * x, x * 2), np.ones(3), xs,
                                                  reverse=reverse))(xs)
        np.testing.assert_array_equal(carry, np.ones(3))
        assert ys.shape == (0, 3)


def test_gradients_through_a_scan_of_zero_steps():
    xs = np.zeros((0, 3))
    f = lambda xs, c: th.lax.scan(lambda c, x: (c * x, c * x * 2), c, xs)  # noqa: E731
    g_xs, g_c = th.grad(lambda xs, c: f(xs, c)[0].sum() + f(xs, c)[1].sum(), argnums=(0, 1))(xs, np.ones(3))
    assert g_xs.shape == (0, 3)
    np.testing.assert_array_equal(g_c, np.ones(3))  # the final carry is c itself
    (carry, ys), (t_carry, t_ys) = th.jit(lambda a, c: th.jvp(f, (a, c), (a, c)))(xs, np.full(3, 2.0))
    np.testing.assert_array_equal(t_carry, np.full(3, 2.0))
    assert t_ys.shape == (0, 3)


def test_symbolic_scan_over_an_empty_sequence():
    x, h0 = T.dmatrix("x"), T.dvector("h0")
    out, _ = th.scan(lambda row, h: h + row, sequences=x, outputs_info=h0)
    f = th.function([x, h0], out)
    assert f(np.zeros((0, 3)), np.ones(3)).shape == (0, 3)
    np.testing.assert_array_equal(f(np.ones((2, 3)), np.zeros(3)), [[1, 1, 1], [2, 2, 2]])


def test_shape_error_is_still_raised_for_taps_beyond_the_sequence():
    with pytest.raises(ValueError, match="taps"):
        th.jit(lambda xs: th.scan(lambda a, b: a + b, sequences=dict(input=xs, taps=[-1, 0]))[0])(np.zeros((0, 3)))
    with pytest.raises(ShapeError, match="tn.take: cannot take from the empty axis"):
        th.jit(lambda xs, i: th.take(xs, i, axis=0))(np.zeros((0, 3)), 0)
