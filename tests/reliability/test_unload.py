"""Compiled code is unloaded with its last reference, the in-process compile cache is bounded
(th.config.jit_cache_size, LRU), and static arguments key the cache by what they compile to
(NaN hits its entry; 0.0 and -0.0 do not share one). codegen/native.py: SharedLibrary.

Mapping counts and unloading run in a child process: a library unmapped under running code
would crash the interpreter.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import theanir as th


def run_child(code: str, timeout: float = 600) -> str:
    """Run the prologue, then `code`, in a fresh interpreter; returns its stdout."""
    source = textwrap.dedent(_PROLOGUE) + textwrap.dedent(code)
    proc = subprocess.run([sys.executable, "-c", source], capture_output=True, text=True,
                          timeout=timeout, env=dict(os.environ))
    assert proc.returncode == 0, f"child exited with {proc.returncode}\n{proc.stdout}\n{proc.stderr[-3000:]}"
    return proc.stdout


_PROLOGUE = """
    import gc
    import numpy as np, theanir as th
    th.config.opt_level = 0  # compile fast: the test is about loading, not code quality
    def maps():
        with open("/proc/self/maps") as f:
            return f.read()
    def mapped(path):
        return path in maps()
    """


def test_collected_jitted_functions_unload_their_code():
    # Without the disk cache every compile loads its own lib.so (~5 mappings); 300 signatures
    # used to leave ~1,500 mappings for the life of the process.
    out = run_child("""
        th.config.cache = False
        x = np.ones(4)
        np.asarray(th.jit(lambda x: x - 1.0)(x))  # runtime libraries mapped once, before counting
        gc.collect()
        before = maps().count("\\n")
        for i in range(300):
            f = th.jit(lambda x: x * 3.0 + 1.0)
            assert np.asarray(f(x)).tolist() == [4.0] * 4
            del f
        gc.collect()
        th.synchronize()
        print("new mappings", maps().count("\\n") - before)
        """)
    assert int(out.split("new mappings")[1]) < 300, out


def test_code_stays_loaded_while_calls_are_pending():
    # Queued calls hold their Executable (and so the library) until they have run; the
    # function, its cache and the warm-call cache are gone before the worker gets to them.
    out = run_child("""
        th.config.cache = False
        x = np.random.default_rng(0).random((200, 200))  # 320 KB: queued, never inline
        pending = []
        for k in range(20):
            f = th.jit(eval(f"lambda x: th.tanh(x @ x.T * {k}.0).sum(axis=0)"))
            pending.append((k, [f(x) for _ in range(3)]))
            del f
            gc.collect()
        for k, results in pending:
            for r in results:
                np.testing.assert_allclose(np.asarray(r), np.tanh(x @ x.T * k).sum(axis=0), rtol=1e-10)
        print("ok")
        """)
    assert out.strip() == "ok"


def test_a_library_shared_by_two_functions_stays_until_both_are_gone():
    # The disk cache gives both functions the same lib.so: one dlopen reference each.
    out = run_child("""
        x = np.ones(3)
        f, g = th.jit(lambda x: x * 5.0), th.jit(lambda x: x * 5.0)
        f(x), g(x)
        path = f.compiled_for(x)[0].native.path
        assert path and path == g.compiled_for(x)[0].native.path
        del f
        gc.collect()
        print("after f", mapped(path), np.asarray(g(x)).tolist())
        del g
        gc.collect()
        print("after g", mapped(path))
        """)
    assert "after f True [5.0, 5.0, 5.0]" in out
    assert "after g False" in out


def test_compile_cache_is_a_bounded_lru_and_evicted_code_unloads():
    out = run_child("""
        th.config.jit_cache_size = 3
        f = th.jit(lambda x: x + 1.0)
        paths = []
        for n in range(1, 6):
            f(np.ones(n))
            paths.append(f.compiled_for(np.ones(n))[0].native.path)
        f._fast_clear()  # the warm-call cache (16 entries) holds executables too, and serves
        f(np.ones(3))    # hits without the Python path: this one is looked up there, and moves
        f(np.ones(6))    # to the end of the LRU order, so 3 stays and 4 goes
        f._fast_clear()
        gc.collect()
        print("size", f.cache_size)
        print("mapped", [mapped(p) for p in paths])
        """)
    assert "size 3" in out
    assert "mapped [False, False, True, False, True]" in out, out


def test_nan_static_argument_hits_the_cache():
    f = th.jit(lambda x, c: x * c, static_argnums=1)
    x = np.ones(3)
    for _ in range(10):
        assert np.isnan(np.asarray(f(x, float("nan")))).all()
    assert f.cache_size == 1
    assert f._fast_size() == 1  # the warm-call cache matches it too
    g = th.jit(lambda x, c: x * c[1], static_argnums=1)
    for _ in range(3):
        g(x, (1.0, float("nan")))
    assert g.cache_size == 1


def test_signed_zero_static_arguments_compile_apart():
    # 0.0 == -0.0 made -0.0 reuse the code compiled for 0.0: x / -0.0 gave +inf.
    f = th.jit(lambda x, c: x / c, static_argnums=1)
    x = np.ones(2)
    for _ in range(2):  # the second round goes through the warm-call cache
        assert np.asarray(f(x, 0.0)).tolist() == [np.inf, np.inf]
        assert np.asarray(f(x, -0.0)).tolist() == [-np.inf, -np.inf]
        assert np.asarray(f(x, (-0.0,)[0])).tolist() == [-np.inf, -np.inf]
    g = th.jit(lambda x, c: x / c[0], static_argnums=1)
    assert np.asarray(g(x, (0.0,))).tolist() == [np.inf, np.inf]
    assert np.asarray(g(x, (-0.0,))).tolist() == [-np.inf, -np.inf]


def test_jit_cache_size_setting():
    old = th.config.jit_cache_size
    try:
        for bad in (0, -1, 2.5, True):
            with pytest.raises(ValueError, match="jit_cache_size must be an int >= 1"):
                th.config.jit_cache_size = bad
        th.config.jit_cache_size = 2
        f = th.jit(lambda x: x * 2.0)
        for n in range(1, 5):
            f(np.ones(n))
        assert f.cache_size == 2
    finally:
        th.config.jit_cache_size = old
