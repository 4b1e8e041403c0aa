"""fork: a fork while compiled code runs on the runtime's worker (a multi-threaded OpenBLAS
call) neither deadlocks the parent nor leaves the child waiting forever for an Array whose
call stayed in the parent (runtime/src/lifecycle.h). Each case runs in a child process."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

PRELUDE = """
import os, sys, time
import numpy as np
import theanir as th

th.config.threads = 2  # OpenBLAS's own pool: its fork handler joins these threads
mm = th.jit(lambda a, b: a @ b)
a = np.random.default_rng(0).standard_normal((1500, 1500))
mm(a, a).block_until_ready()  # compiled, and OpenBLAS's threads started
small = a[:300, :300]
mm(small, small).block_until_ready()  # children call only signatures compiled here (see below)
"""
# The cases below call signatures compiled before the fork; compiling in the child has a test
# of its own (test_a_forked_child_compiles_new_signatures).


def _run(body: str, timeout: float = 120) -> subprocess.CompletedProcess:
    code = textwrap.dedent(PRELUDE) + textwrap.dedent(body)
    try:
        return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=timeout,
                              env={**os.environ, "THEANIR_THREADS": "2"})
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"hangs (no exit after {timeout} s): {e.stdout!r} {e.stderr!r}")


def test_os_fork_while_a_blas_call_runs():
    proc = _run("""
        want = a @ a
        big = [mm(a, a) for _ in range(3)]  # the first runs on the worker, the others wait behind it
        time.sleep(0.05)
        pid = os.fork()
        if pid == 0:
            # the child: the running call finished before the fork; the queued ones are the parent's
            try:
                ok = np.allclose(np.asarray(big[0]), want)
                try:
                    np.asarray(big[-1])
                    print("child: no error", flush=True)
                except RuntimeError as e:
                    print("child error:", e, flush=True)
                # the child's own runtime works: a fresh queue and worker
                fresh = mm(small, small)
                ok = ok and np.allclose(np.asarray(fresh), small @ small)
                print("child ok" if ok else "child wrong", flush=True)
            finally:
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        assert all(np.allclose(np.asarray(r), want) for r in big)
        print("parent ok", status, flush=True)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "parent ok 0" in proc.stdout
    assert "child ok" in proc.stdout, proc.stdout + proc.stderr
    assert "child error:" in proc.stdout and "when the process forked" in proc.stdout, proc.stdout


def test_multiprocessing_fork_pool_while_calls_are_queued():
    proc = _run("""
        import multiprocessing as mp

        total = th.jit(lambda x: (x @ x).sum())

        def work(n):
            return float(np.asarray(total(np.full((n, n), 1.0))))

        for n in (10, 20, 30):
            work(n)  # compiled in the parent

        pending = [mm(a, a) for _ in range(3)]
        with mp.get_context("fork").Pool(2) as pool:
            got = pool.map(work, [10, 20, 30])
        assert got == [1000.0, 8000.0, 27000.0], got
        assert all(np.isfinite(np.asarray(p)).all() for p in pending)
        print("done", flush=True)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "done" in proc.stdout


def test_fork_from_a_thread_while_another_runs_an_inline_call():
    # sync calls run on the caller's thread: fork waits for them too
    proc = _run("""
        import threading
        th.config.sync = True
        stop = threading.Event()

        def loop():
            while not stop.is_set():
                mm(a, a)

        t = threading.Thread(target=loop)
        t.start()
        time.sleep(0.3)
        for _ in range(3):
            pid = os.fork()
            if pid == 0:
                os._exit(7)
            assert os.waitpid(pid, 0)[1] >> 8 == 7
        stop.set()
        t.join()
        print("done", flush=True)
    """)
    assert proc.returncode == 0, proc.stderr
    assert "done" in proc.stdout


def test_a_forked_child_compiles_new_signatures():
    # MLIR's context kept a thread pool whose threads stay in the parent: the child's first
    # pass pipeline waited for them forever (dialects/tn/context.py turns the pool off).
    proc = _run("""
        import multiprocessing as mp

        def work(k):
            f = th.jit(lambda x: th.tanh(x @ x.T) * k)  # a new signature, compiled in the child
            return float(np.asarray(f(np.full((4, 4), 0.1)))[0, 0])

        pid = os.fork()
        if pid == 0:
            try:
                print("child", round(work(3.0), 6), flush=True)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        with mp.get_context("fork").Pool(2) as pool:
            print("pool", [round(v, 6) for v in pool.map(work, [1.0, 2.0])], flush=True)
    """, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    want = float(np.tanh(0.04))
    assert f"child {round(3 * want, 6)}" in proc.stdout
    assert f"pool {[round(want, 6), round(2 * want, 6)]}" in proc.stdout


def test_fork_while_openmp_loops_run():
    """th.config.threads > 1 runs big loop nests on libiomp5's team: a fork while one runs on the
    worker, and children (os.fork, a fork pool) that run OpenMP loops themselves, finish."""
    proc = _run("""
        import multiprocessing as mp

        th.config.openmp = True
        chain = th.jit(lambda x: th.tanh(x * 1.5 + 0.5) * x - x)
        v = np.random.default_rng(1).standard_normal(1 << 21).astype(np.float32)
        want = np.tanh(v * 1.5 + 0.5) * v - v
        assert "omp.parallel" in chain.lower(v).as_text("llvm")
        chain(v).block_until_ready()  # the team exists in the parent

        def work(k):
            return float(np.asarray(chain(v * k))[5])

        running = [chain(v) for _ in range(5)]
        pid = os.fork()
        if pid == 0:
            try:
                ok = np.allclose(np.asarray(chain(v)), want, rtol=1e-5, atol=1e-6)
                print("child ok" if ok else "child wrong", flush=True)
            finally:
                os._exit(0)
        os.waitpid(pid, 0)
        assert all(np.allclose(np.asarray(r), want, rtol=1e-5, atol=1e-6) for r in running)
        with mp.get_context("fork").Pool(2) as pool:
            got = pool.map(work, [1.0, 2.0])
        ref = [float((np.tanh(v * k * 1.5 + 0.5) * v * k - v * k)[5]) for k in (1.0, 2.0)]
        print("pool ok" if np.allclose(got, ref, rtol=1e-5) else f"pool wrong {got} {ref}", flush=True)
    """, timeout=180)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "child ok" in proc.stdout and "pool ok" in proc.stdout, proc.stdout
