"""The intermediate-buffer pool (Theano's allow_gc=False, runtime/src/pool.h): generated code
allocates through the runtime's hooks; with allow_gc=False a function's buffers are kept and
reused across calls, never the results; memory stays bounded; the hooks' libc fallback."""
import gc
import threading

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T
from theanir.codegen.cache import compile_module
from theanir.runtime import arg_spec, make_executable

from test_async import _rss_kb


def _layer(x, w):
    h = th.tanh(x @ w)  # a temporary the result is computed from
    return (h * h).sum(axis=1) + x.sum(axis=1)


def _expected(x, w):
    h = np.tanh(x @ w)
    return (h * h).sum(axis=1) + x.sum(axis=1)


def test_pool_keeps_and_reuses_buffers(mode, rng):
    x, w = rng.standard_normal((4, 3)), rng.standard_normal((3, 5))
    f = th.jit(_layer, allow_gc=False)
    np.testing.assert_allclose(np.asarray(f(x, w)), _expected(x, w), rtol=1e-12)
    exe = f.compiled_for(x, w)[0].executable
    assert exe.allow_gc is False
    kept = exe.pool_stats()
    assert kept[0] > 0 and kept[1] > 0
    for _ in range(5):
        np.testing.assert_allclose(np.asarray(f(x, w)), _expected(x, w), rtol=1e-12)
    th.synchronize()
    assert exe.pool_stats() == kept  # reused, not grown
    exe.release_memory()
    assert exe.pool_stats() == (0, 0)
    np.testing.assert_allclose(np.asarray(f(x, w)), _expected(x, w), rtol=1e-12)


def test_allow_gc_default_frees(rng):
    x, w = rng.standard_normal((4, 3)), rng.standard_normal((3, 5))
    assert th.config.allow_gc is True
    f = th.jit(_layer)
    f(x, w)
    exe = f.compiled_for(x, w)[0].executable
    assert exe.allow_gc is True and exe.pool_stats() == (0, 0)


def test_config_allow_gc_applies_on_the_next_call(rng):
    x, w = rng.standard_normal((4, 3)), rng.standard_normal((3, 5))
    f = th.jit(_layer)
    f(x, w)
    exe = f.compiled_for(x, w)[0].executable
    try:
        th.config.allow_gc = False
        np.testing.assert_allclose(np.asarray(f(x, w)), _expected(x, w), rtol=1e-12)
        assert exe.allow_gc is False and exe.pool_stats()[0] > 0
    finally:
        th.config.allow_gc = True
    f(x, w)
    assert exe.allow_gc is True and exe.pool_stats() == (0, 0)
    with pytest.raises(ValueError, match="config.allow_gc"):
        th.config.allow_gc = "no"


def test_results_are_never_pooled(mode, rng):
    """Each call's results live in their own buffers, owned by the returned Arrays."""
    f = th.jit(_layer, allow_gc=False)
    w = rng.standard_normal((3, 5))
    xs = [rng.standard_normal((4, 3)) for _ in range(4)]
    outs = [f(x, w) for x in xs]
    for x, out in zip(xs, outs):
        np.testing.assert_allclose(np.asarray(out), _expected(x, w), rtol=1e-12)
    assert len({np.asarray(o).ctypes.data for o in outs}) == len(outs)


def test_function_allow_gc_and_free(rng):
    x = T.dmatrix("x")
    w = th.shared(rng.standard_normal((3, 5)), name="w")
    f = th.function([x], (T.tanh(T.dot(x, w)) ** 2).sum(), updates=[(w, w * 0.5)], allow_gc=False)
    xv = rng.standard_normal((4, 3))
    w0 = w.get_value()
    for k in range(3):
        np.testing.assert_allclose(float(f(xv)), (np.tanh(xv @ (w0 * 0.5 ** k)) ** 2).sum(), rtol=1e-12)
    exe = list(f._jit._cache.values())[0].executable
    assert exe.pool_stats()[0] > 0
    f.free()
    assert exe.pool_stats() == (0, 0)
    assert th.function([x], x.sum())._jit.allow_gc is None  # th.config.allow_gc decides


def test_concurrent_callers_share_one_pool_safely(rng):
    f = th.jit(_layer, allow_gc=False)
    w = rng.standard_normal((3, 5))
    xs = [rng.standard_normal((4, 3)) for _ in range(6)]
    f(xs[0], w)
    errors = []

    def worker(x):
        for _ in range(200):
            out = np.asarray(f(x, w))
            if not np.allclose(out, _expected(x, w), rtol=1e-12):
                errors.append(out)

    threads = [threading.Thread(target=worker, args=(x,)) for x in xs]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors


def test_run_n_calls_pools_within_the_task(rng):
    w = th.shared(rng.standard_normal((3, 3)), name="w")
    step = th.function([], T.tanh(T.dot(w, w)).sum(), updates=[(w, T.tanh(T.dot(w, w)) * 0.5)])
    ref = w.get_value()
    for _ in range(7):
        ref = np.tanh(ref @ ref) * 0.5
    step.run(7)
    np.testing.assert_allclose(w.get_value(), ref, rtol=1e-12)
    assert list(step._jit._cache.values())[0].executable.pool_stats() == (0, 0)  # allow_gc: not kept


def test_engine_route_uses_the_hooks(rng):
    old = th.config.codegen
    th.config.codegen = "engine"
    try:
        x, w = rng.standard_normal((4, 3)), rng.standard_normal((3, 5))
        f = th.jit(lambda x, w: _layer(x, w) * 3.0, allow_gc=False)
        np.testing.assert_allclose(np.asarray(f(x, w)), 3.0 * _expected(x, w), rtol=1e-12)
        c = f.compiled_for(x, w)[0]
        assert c.native.memory_hooks == 0 and c.native.path is None  # installed at load
        assert c.executable.pool_stats()[0] > 0
    finally:
        th.config.codegen = old


def test_library_without_hooks_uses_libc(rng):
    """Code loaded without the runtime's hooks installed (an AOT library) allocates with
    aligned_alloc/free."""
    x, w = rng.standard_normal((4, 3)), rng.standard_normal((3, 5))
    lowered = th.jit(lambda x, w: _layer(x, w) + 7.0).lower(x, w)
    native = compile_module(lowered.traced.module, lowered.options, lowered.arg_records(), None)
    assert native.memory_hooks != 0  # the code allocates: it has the setter
    specs = [arg_spec(a["name"], a["dtype"], a["shape"], a["contiguous"], a["output"])
             for a in lowered.arg_records()]
    plain = make_executable(native.address, specs, native)  # no memory_hooks: never installed
    out = plain.call_async([x, w], False, 0, 0, True)[0]
    np.testing.assert_allclose(np.asarray(out), _expected(x, w) + 7.0, rtol=1e-12)


@pytest.mark.parametrize("sync", [False, True])
def test_memory_does_not_grow_over_1e5_calls_without_gc(sync):
    old = th.config.sync
    th.config.sync = sync
    try:
        f = th.jit(lambda x, y: th.tanh(x * y).sum() + (x - y).sum(), allow_gc=False)
        x, y = np.ones(10), np.ones(10)
        for _ in range(2000):
            f(x, y)
        th.synchronize()
        exe = f.compiled_for(x, y)[0].executable
        kept = exe.pool_stats()
        gc.collect()
        before = _rss_kb()
        z = None
        for i in range(100_000):
            z = f(x, y)
            if i % 1000 == 0:
                z.block_until_ready()
        np.testing.assert_allclose(np.asarray(z), 10 * np.tanh(1.0))
        th.synchronize()
        gc.collect()
        grown = _rss_kb() - before
        assert grown < 20_000, f"RSS grew by {grown} kB over 1e5 calls"
        assert exe.pool_stats() == kept
    finally:
        th.config.sync = old
