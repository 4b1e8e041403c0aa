"""The warm-call fast paths: the jit's per-call cache of positional NumPy/scalar calls
(runtime FastCache, used by frontend/api.py) and the runtime's inline run of small calls on
an idle queue (runtime/src/executable.cpp). Both must behave exactly like the full paths."""
import numpy as np
import pytest

import theanir as th


@pytest.fixture
def restore_config():
    saved = {k: getattr(th.config, k) for k in ("sync", "opt_level", "fast_math", "optimizer", "blas")}
    yield
    for k, v in saved.items():
        setattr(th.config, k, v)


def _count(f):
    """Calls of the traced Python function (one per trace)."""
    calls = []

    def g(*args):
        calls.append(1)
        return f(*args)

    return g, calls


def test_fast_path_equals_slow_path(rng):
    f = th.jit(lambda x, y, s: (x * s + y, (x - y).sum()))
    x, y = rng.standard_normal(10), rng.standard_normal(10)
    slow = f(x, y, 2.0)  # first call: full path, fills the fast cache
    assert f._fast_size() == 1
    fast = f(x, y, 2.0)
    for a, b in zip(slow, fast):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b))
    np.testing.assert_allclose(np.asarray(fast[0]), x * 2.0 + y)
    assert isinstance(fast, tuple) and isinstance(fast[0], th.Array)
    # the full path with a pytree argument gives the same values
    g = th.jit(lambda t: t[0] * t[2] + t[1])
    np.testing.assert_allclose(np.asarray(g((x, y, 2.0))), np.asarray(fast[0]))


def test_fast_path_outputs_keep_their_tree(rng):
    f = th.jit(lambda x: {"a": x + 1, "b": [x * 2, None]})
    x = rng.standard_normal(3)
    for _ in range(2):
        out = f(x)
        np.testing.assert_allclose(np.asarray(out["a"]), x + 1)
        np.testing.assert_allclose(np.asarray(out["b"][0]), x * 2)
        assert out["b"][1] is None


@pytest.mark.parametrize("change", ["dtype", "shape", "contiguity", "scalar", "static"])
def test_changed_signature_misses_the_fast_cache(rng, change):
    fn, calls = _count(lambda x, s, k: x * s + k)
    f = th.jit(fn, static_argnums=2)
    x = rng.standard_normal((4, 6))
    base = (x, 2.0, 1)
    f(*base)
    f(*base)
    assert len(calls) == 1 and f.cache_size == 1
    other = {
        "dtype": (x.astype(np.float32), 2.0, 1),
        "shape": (x[:3].copy(), 2.0, 1),
        "contiguity": (x[:, ::2], 2.0, 1),
        "scalar": (x, 2, 1),
        "static": (x, 2.0, 3),
    }[change]
    out = f(*other)
    assert len(calls) == 2 and f.cache_size == 2
    np.testing.assert_allclose(np.asarray(out), other[0] * other[1] + other[2], rtol=1e-6)
    assert np.asarray(out).dtype == np.result_type(other[0].dtype, np.float64 if change != "dtype" else np.float32)
    # and the first signature still hits its own entry
    np.testing.assert_allclose(np.asarray(f(*base)), x * 2.0 + 1)
    assert len(calls) == 2


def test_bool_and_int_scalars_are_distinct(rng):
    fn, calls = _count(lambda x, s: x + s)
    f = th.jit(fn)
    x = np.arange(3)
    f(x, 1), f(x, 1)
    f(x, True), f(x, True)
    assert len(calls) == 2
    f(x, 1.0), f(x, 1.0)
    assert len(calls) == 3
    assert np.asarray(f(x, 1)).dtype == np.int64 and np.asarray(f(x, 1.0)).dtype == np.float64


@pytest.mark.parametrize("setting,value", [("opt_level", 0), ("fast_math", True), ("optimizer", "fast_compile"),
                                           ("blas", False)])
def test_config_change_misses_the_fast_cache(rng, restore_config, setting, value):
    fn, calls = _count(lambda x, y: x @ y)
    f = th.jit(fn)
    a, b = rng.standard_normal((3, 3)), rng.standard_normal((3, 3))
    f(a, b), f(a, b)
    assert len(calls) == 1
    setattr(th.config, setting, value)
    np.testing.assert_allclose(np.asarray(f(a, b)), a @ b)
    assert len(calls) == 2 and f.cache_size == 2


def test_unusual_arguments_take_the_full_path(rng):
    f = th.jit(lambda x, s: x * s)
    x = rng.standard_normal(3)
    for _ in range(2):
        np.testing.assert_allclose(np.asarray(f(x, s=np.float64(3.0))), x * 3.0)  # kwargs
        np.testing.assert_allclose(np.asarray(f(x, np.float64(3.0))), x * 3.0)  # NumPy scalar
        np.testing.assert_allclose(np.asarray(f(x.view(np.matrix)[0].A1, 2.0)), x * 2.0)
    assert f._fast_size() == 1  # only (ndarray, float) was remembered
    g = th.jit(lambda t: t[0] + t[1])
    for _ in range(2):
        np.testing.assert_allclose(np.asarray(g((x, x))), 2 * x)  # pytree
    assert g._fast_size() == 0
    with pytest.raises(TypeError, match="not hashable"):
        th.jit(lambda x, s: x, static_argnums=1)(x, {"k": 1})
    h = th.jit(lambda n: n + 1)
    h(1), h(1)
    with pytest.raises(OverflowError):
        h(2 ** 70)  # does not fit int64: the full path raises NumPy's error


def test_static_values_compare_by_type_and_value(rng):
    fn, calls = _count(lambda x, k, name: x * k if name == "mul" else x + k)
    f = th.jit(fn, static_argnums=(1, 2))
    x = rng.standard_normal(3)
    for _ in range(2):
        np.testing.assert_allclose(np.asarray(f(x, 2, "mul")), x * 2)
    np.testing.assert_allclose(np.asarray(f(x, 2, "add")), x + 2)
    np.testing.assert_allclose(np.asarray(f(x, 2.0, "add")), x + 2)
    np.testing.assert_allclose(np.asarray(f(x, 3, "mul")), x * 3)
    assert len(calls) == 4
    f(x, 2, "mul"), f(x, 2.0, "add")
    assert len(calls) == 4


def test_returns_none_and_nested_outputs(rng):
    f = th.jit(lambda x: None)
    assert f(np.ones(2)) is None and f(np.ones(2)) is None


def test_errors_are_still_raised_on_the_fast_path(rng):
    f = th.jit(lambda x: x + 1, trust_input=False)
    x = rng.standard_normal(4)
    f(x), f(x)
    with pytest.raises(TypeError):
        f("nope")


def test_tracing_inside_another_jit_still_inlines(rng):
    inner_fn, calls = _count(lambda x, y: x * y + 1)
    inner = th.jit(inner_fn)
    x, y = rng.standard_normal(5), rng.standard_normal(5)
    inner(x, y), inner(x, y)  # warm: the fast cache holds (x, y)'s signature
    outer = th.jit(lambda a, b: inner(a, b) * 2)
    np.testing.assert_allclose(np.asarray(outer(x, y)), (x * y + 1) * 2)
    assert len(calls) == 2  # traced once on its own, once inlined into outer
    assert outer.lower(x, y).as_text("tn").count("func.func") == 1


def test_small_async_call_after_big_pending_call_is_ordered(restore_config, rng):
    th.config.sync = False
    big = th.jit(lambda x: x[:4] * 2.0 + (x * x).sum() * 0.0)  # large input, 4-element result
    small = th.jit(lambda a, b: a + b)
    x = rng.standard_normal(2_000_000)
    b = rng.standard_normal(4)
    small(big(x), b)  # compile both
    th.synchronize()
    for _ in range(3):
        pending = big(x)  # large: queued, maybe still running while we call on
        out = small(pending, b)  # small, but depends on a pending Array: queued behind it
        np.testing.assert_allclose(np.asarray(out), x[:4] * 2.0 + b)
        np.testing.assert_allclose(np.asarray(small(b, b)), 2 * b)


def test_small_numpy_call_after_pending_call_sees_earlier_results(restore_config, rng):
    th.config.sync = False
    big = th.jit(lambda x: (x * 3.0).sum())
    small = th.jit(lambda v: v + 1.0)
    x = rng.standard_normal(2_000_000)
    v = np.ones(3)
    big(x), small(v)
    th.synchronize()
    total = big(x)
    w = small(v)  # queue busy: queued behind big (its NumPy input copied), still correct
    v[:] = 100.0  # writing the input after the call must not change the result
    np.testing.assert_allclose(np.asarray(w), np.full(3, 2.0))
    np.testing.assert_allclose(float(total), (x * 3.0).sum())


def test_small_inline_results_are_ready_arrays(restore_config, rng):
    th.config.sync = False
    f = th.jit(lambda x, y: x + y)
    x, y = rng.standard_normal(10), rng.standard_normal(10)
    f(x, y)
    th.synchronize()
    expect = x + y
    out = f(x, y)
    assert isinstance(out, th.Array) and out.is_ready()
    x[:] = 0.0
    np.testing.assert_allclose(np.asarray(out), expect)


def test_failed_input_still_fails_at_read(restore_config):
    from theanir.runtime import failing_array

    th.config.sync = False
    f = th.jit(lambda x: x + 1.0)
    f(np.zeros(()))
    bad = failing_array("injected failure for the fast path")
    th.synchronize()
    out = f(bad)  # small, queue idle, but the input failed: the error reaches the read
    with pytest.raises(RuntimeError, match="injected failure for the fast path"):
        out.numpy()


def test_copy_bound_call_runs_inline(restore_config):
    """A big call whose queued form would mostly copy its writable NumPy inputs (x + 1 on 32
    MB: the copy costs about what the run does) runs inline once both have been measured:
    its result is ready at return, and writing the input afterwards changes nothing."""
    th.config.sync = False
    f = th.jit(lambda x: x + 1.0)
    x = np.arange(4_000_000, dtype=np.float64)
    for _ in range(3):  # the first calls are queued: they measure the copy and the run
        f(x).block_until_ready()
    th.synchronize()
    out = f(x)
    assert out.is_ready()
    x[:] = -5.0
    np.testing.assert_array_equal(np.asarray(out), np.arange(4_000_000, dtype=np.float64) + 1.0)
    later = f(x)  # still correct with the new contents
    np.testing.assert_array_equal(np.asarray(later), np.full(4_000_000, -4.0))
