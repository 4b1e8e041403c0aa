"""Ctrl-C: SIGINT stops an endless compiled loop within a second, whether it runs inline on
the main thread, on the worker while the main thread waits for its result, or is only queued
when the script ends (the exit hook waits). Generated loops poll the runtime's cancel flag
(passes/lower/cancel_points.py, runtime/src/lifecycle.h). Each case runs in a child process."""
import select
import signal
import subprocess
import sys
import textwrap
import time

import pytest

PRELUDE = """
import sys, time
import numpy as np
import theanir as th

forever = th.jit(lambda x: th.while_loop(lambda c: c[0] > -1.0, lambda c: (c[0] + 1.0,), (x,))[0])
forever_vec = th.jit(lambda x: th.while_loop(lambda c: c[0][0] > -1.0, lambda c: (c[0] + 1.0,), (x,))[0])
big = np.zeros(100_000)  # above the inline limit: queued on the worker
"""


def _interrupt(body: str, wait_s: float = 2.0) -> tuple[subprocess.CompletedProcess, float]:
    """Run PRELUDE + body; SIGINT 0.5 s after it prints 'start'; returns (result, seconds to exit)."""
    code = textwrap.dedent(PRELUDE) + textwrap.dedent(body)
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True)
    try:
        deadline = time.monotonic() + 120  # compiling
        line = ""
        while "start" not in line:
            ready, _, _ = select.select([proc.stdout], [], [], max(0.0, deadline - time.monotonic()))
            line = proc.stdout.readline() if ready else ""
            if not line:
                proc.kill()
                out, err = proc.communicate()
                pytest.fail(f"the child did not start: {line}{out} {err}")
        time.sleep(0.5)
        sent = time.monotonic()
        proc.send_signal(signal.SIGINT)
        try:
            out, err = proc.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            pytest.fail(f"SIGINT did not stop the loop (killed after 10 s): {out} {err}")
        took = time.monotonic() - sent
    finally:
        if proc.poll() is None:
            proc.kill()
    assert took < wait_s, f"exit {took:.2f} s after SIGINT: {out} {err}"
    return subprocess.CompletedProcess(proc.args, proc.returncode, out, err), took


@pytest.mark.parametrize("how", ["inline", "sync", "queued"])
def test_ctrl_c_stops_an_endless_loop(how):
    proc, _ = _interrupt(f"""
        how = {how!r}
        if how == "sync":
            th.config.sync = True
        print("start", flush=True)
        if how == "queued":
            r = forever_vec(big)
            np.asarray(r)  # the main thread waits for the worker
        else:
            forever(np.float64(0.0))  # runs on the main thread
        print("finished?!", flush=True)
    """)
    assert "KeyboardInterrupt" in proc.stderr, proc.stderr
    assert "finished" not in proc.stdout
    assert proc.returncode != 0


def test_ctrl_c_at_exit_with_a_queued_endless_loop():
    proc, _ = _interrupt("""
        r = forever_vec(big)
        print("start", flush=True)  # the script ends here: the exit hook waits for the queue
    """)
    assert "KeyboardInterrupt" in proc.stderr, proc.stderr


def test_after_ctrl_c_the_runtime_works_and_the_cancelled_result_says_so():
    proc, _ = _interrupt("""
        steps = th.jit(lambda x, n: th.lax.fori_loop(0, n, lambda i, c: c + 1.0, x))
        stacked = th.jit(lambda xs: th.scan(lambda x, c: c + x, sequences=xs, outputs_info=xs[0])[0])
        for fn, args in ((steps, (big, 10)), (stacked, (np.ones((4, 3)),))):
            fn(*args).block_until_ready()  # compiled
        r = forever_vec(big)
        print("start", flush=True)
        try:
            r.block_until_ready()
        except KeyboardInterrupt:
            print("interrupted", flush=True)
        try:
            np.asarray(r)
        except RuntimeError as e:
            print("read:", e, flush=True)
        # the flag is clear again: loops run to their end
        assert float(np.asarray(steps(big, 10))[0]) == 10.0
        assert np.asarray(stacked(np.ones((4, 3)))).tolist() == (np.cumsum(np.ones((4, 3)), 0) + 1).tolist()
        assert float(np.asarray(forever(np.float64(-5.0)))) == -5.0  # cond false at once
        print("works", flush=True)
    """)
    assert "interrupted" in proc.stdout, proc.stdout + proc.stderr
    assert "read: the call was cancelled by KeyboardInterrupt" in proc.stdout, proc.stdout + proc.stderr
    assert "works" in proc.stdout, proc.stdout + proc.stderr
    assert proc.returncode == 0, proc.stderr


@pytest.mark.parametrize("loop", ["fori_scalar", "fori_matrix", "fori_traced_bound"])
def test_ctrl_c_stops_counted_loops(loop):
    proc, _ = _interrupt(f"""
        loop = {loop!r}
        if loop == "fori_scalar":  # a huge static trip count: scf.while, exits at the next step
            f = th.jit(lambda x: th.lax.fori_loop(0, 2**62, lambda i, c: c * 1.0 + 1.0, x))
            args = (np.float64(0.0),)
        elif loop == "fori_matrix":
            f = th.jit(lambda x: th.lax.fori_loop(0, 2**40, lambda i, c: th.sin(c) @ th.sin(c).T, x))
            args = (np.eye(60),)
        else:  # a traced bound: unbounded too
            f = th.jit(lambda x, n: th.lax.fori_loop(0, n, lambda i, c: c + 1.0, x))
            args = (np.float64(0.0), 2**62)
        print("start", flush=True)
        f(*args)
        print("finished?!", flush=True)
    """)
    assert "KeyboardInterrupt" in proc.stderr, proc.stderr
    assert "finished" not in proc.stdout
