"""Threads and th.function updates: calls that store updates into shared variables are atomic
with respect to each other, donated (in place) or not, in the C++ warm path and the Python
full path (runtime/src/lifecycle.h, the update lock)."""
import threading

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T

N_THREADS, N_CALLS = 8, 200


def _hammer(call) -> None:
    start = threading.Barrier(N_THREADS)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            start.wait()
            for _ in range(N_CALLS):
                call()
        except BaseException as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=work) for _ in range(N_THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=120)
    assert not errors, errors
    assert not any(t.is_alive() for t in threads), "a thread hangs"


def _swap_function():
    # A swap cannot be written in place in any order: the function compiles without donation.
    p = th.shared(np.arange(4.0), name="p")
    q = th.shared(np.arange(4.0) + 10, name="q")
    c = th.shared(np.float64(0.0), name="c")
    f = th.function([], [], updates=[(p, q), (q, p), (c, c + 1)])
    return f, p, q, c


@pytest.mark.parametrize("path", ["warm", "slow"])
def test_swap_updates_are_not_lost_across_threads(path):
    f, p, q, c = _swap_function()
    f()
    f()  # warm now: the next calls take FunctionCache (C++)
    assert c.get_value() == 2.0
    call = f if path == "warm" else (lambda: f._call_slow())
    _hammer(call)
    assert c.get_value() == 2.0 + N_THREADS * N_CALLS
    # an even number of swaps in all: p and q are back where they started
    np.testing.assert_array_equal(p.get_value(), np.arange(4.0))
    np.testing.assert_array_equal(q.get_value(), np.arange(4.0) + 10)


def test_counter_with_an_input_across_threads():
    x = T.dscalar("x")
    c = th.shared(np.float64(0.0), name="c")
    s = th.shared(np.float64(0.0), name="s")
    f = th.function([x], c, updates=[(c, s + x), (s, c + x)])  # each reads the other: no donation
    _hammer(lambda: f(1.0))
    assert c.get_value() == N_THREADS * N_CALLS
    assert s.get_value() == N_THREADS * N_CALLS


def test_run_steps_hold_the_update_lock():
    f, p, q, c = _swap_function()
    _hammer(lambda: f.run(3))
    assert c.get_value() == 3.0 * N_THREADS * N_CALLS


def test_update_lock_is_reentrant_from_a_callback():
    from theanir.runtime import _native

    _native._lock_updates()
    try:
        f, p, q, c = _swap_function()
        f()  # the same thread takes the lock again: no deadlock
        f()
    finally:
        _native._unlock_updates()
    assert c.get_value() == 2.0
