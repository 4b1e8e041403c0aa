"""In-place updates of shared variables (donated input/output pairs) and th.function's warm
path (runtime FunctionCache): same values as without them, the variable's own buffer
written, borrowed buffers never written, clear errors for buffers that cannot be."""
import re

import numpy as np
import pytest

import theanir as th
import theanir.tensor as T


def _buffer(v):
    return np.asarray(v.container[0])


def _compiled(f):
    (c,) = f._jit._cache.values()
    return c


def test_update_writes_the_variables_own_buffer(mode):
    x = T.dvector("x")
    w = th.shared(np.zeros(3), name="w")
    count = th.shared(0, name="count")
    f = th.function([x], (w * x).sum(), updates=[(w, w + x), (count, count + 1)])
    buf = _buffer(w)
    outs = [f(np.arange(3.0)) for _ in range(4)]
    assert [float(o) for o in outs] == [0.0, 5.0, 10.0, 15.0]
    assert _buffer(w) is buf  # written in place: no new array per call
    np.testing.assert_array_equal(w.get_value(), [0.0, 4.0, 8.0])
    assert int(count.get_value()) == 4
    assert _compiled(f).donate == ((1, 1), (2, 2))
    assert f._fast_size() == 1  # warm calls took the runtime's FunctionCache


def test_borrowed_buffers_are_never_written(mode):
    w = th.shared(np.ones(3), name="w")
    f = th.function([], w.sum(), updates=[(w, w * 2.0)])
    f()
    alias = w.get_value(borrow=True)  # the caller may hold it: the next update copies first
    f()
    np.testing.assert_array_equal(alias, [2.0, 2.0, 2.0])
    np.testing.assert_array_equal(w.get_value(), [4.0, 4.0, 4.0])
    mine = np.full(3, 10.0)
    w.set_value(mine, borrow=True)
    f()
    np.testing.assert_array_equal(mine, [10.0, 10.0, 10.0])
    np.testing.assert_array_equal(w.get_value(), [20.0, 20.0, 20.0])
    ro = np.full(3, 1.0)
    ro.setflags(write=False)
    w.set_value(ro, borrow=True)  # read-only storage: updated into a private copy
    f()
    np.testing.assert_array_equal(w.get_value(), [2.0, 2.0, 2.0])
    view = np.arange(6.0)[::2]
    w.set_value(view, borrow=True)  # not contiguous: copied by set_value
    f()
    np.testing.assert_array_equal(view, [0.0, 2.0, 4.0])


def test_outputs_reading_the_old_value(mode):
    w = th.shared(np.arange(3.0), name="w")
    f = th.function([], [w, w + 1.0, (w * w).sum()], updates=[(w, w * 10.0)])
    for k in range(3):
        old = w.get_value()
        a, b, c = f()
        np.testing.assert_array_equal(np.asarray(a), old)
        np.testing.assert_array_equal(np.asarray(b), old + 1.0)
        assert float(c) == (old * old).sum()
        np.testing.assert_array_equal(w.get_value(), old * 10.0)
    assert _compiled(f).donate  # in place although outputs read the old value


def test_swapping_updates_compile_without_donation(mode):
    a = th.shared(np.arange(3.0), name="a")
    b = th.shared(np.ones(3), name="b")
    f = th.function([], a.sum(), updates=[(a, b), (b, a)])
    for k in range(3):
        f()
        first, second = (np.ones(3), np.arange(3.0)) if k % 2 == 0 else (np.arange(3.0), np.ones(3))
        np.testing.assert_array_equal(a.get_value(), first)
        np.testing.assert_array_equal(b.get_value(), second)
    assert _compiled(f).donate == ()


def test_updates_chain_asynchronously():
    old = th.config.sync
    th.config.sync = False
    try:
        w = th.shared(np.zeros(50_000), name="w")  # large: queued on the worker, not inline
        f = th.function([], w[0], updates=[(w, w + 1.0)])
        outs = [f() for _ in range(20)]
        assert [float(o) for o in outs] == list(map(float, range(20)))
        np.testing.assert_array_equal(w.get_value(), np.full(50_000, 20.0))
    finally:
        th.config.sync = old


def test_run_updates_in_place(mode):
    w = th.shared(np.ones(4), name="w")
    b = th.shared(0.0, name="b")
    f = th.function([], w.sum(), updates=[(w, w * 2.0), (b, b + w.sum())])
    buf = _buffer(w)
    out = f.run(5)
    assert float(out) == 4.0 * 2 ** 4
    np.testing.assert_array_equal(w.get_value(), np.full(4, 32.0))
    assert float(b.get_value()) == 4.0 * (1 + 2 + 4 + 8 + 16)
    assert _buffer(w) is buf


def test_new_shape_retraces_and_stays_in_place(mode):
    w = th.shared(np.zeros(3), name="w")
    f = th.function([], w.sum(), updates=[(w, w + 1.0)])
    f()
    w.set_value(np.zeros(5))
    assert float(f()) == 0.0 and f.cache_size == 2
    np.testing.assert_array_equal(w.get_value(), np.ones(5))
    with pytest.raises(TypeError, match="'w'.*ndim"):
        w.set_value(np.zeros((2, 2)))


def test_donated_buffers_are_checked_by_the_runtime(mode):
    w = th.shared(np.zeros(3), name="w")
    f = th.function([], w.sum(), updates=[(w, w + 1.0)])
    f()
    exe = _compiled(f).executable
    ro = np.zeros(3)
    ro.setflags(write=False)
    with pytest.raises(ValueError, match=r"'shared variable w': is updated in place .*read-only"):
        exe.call_async([ro])
    with pytest.raises(ValueError, match=r"'shared variable w': is updated in place .*C-contiguous"):
        exe.call_async([np.zeros(6)[::2]])
    with pytest.raises(ValueError, match=r"'shared variable w': expected shape \(3,\), got \(4,\)"):
        exe.call_async([np.zeros(4)])
    with pytest.raises(TypeError, match=r"'shared variable w': expected dtype float64"):
        exe.call_async([np.zeros(3, np.float32)])
    with pytest.raises(TypeError, match="is updated in place .*got list"):
        exe.call_async([[0.0, 0.0, 0.0]])


def test_donated_buffer_may_not_alias_another_input(mode):
    x = T.dvector("x")
    w = th.shared(np.zeros(3), name="w")
    f = th.function([x], (w * x).sum(), updates=[(w, w + x)])
    f(np.ones(3))
    exe = _compiled(f).executable
    buf = np.zeros(3)
    with pytest.raises(ValueError, match="shares memory with argument 'x'"):
        exe.call_async([buf, buf])
    big = np.zeros(6)
    with pytest.raises(ValueError, match="shares memory"):
        exe.call_async([big[1:4], big[:3]])
    exe.call_async([big[3:], big[:3]])  # disjoint halves of one array: fine


# ------------------------------------------------------------------ the warm call path
def test_function_fast_path_equals_slow_path(mode, rng):
    x, y = T.dvector("x"), T.dvector("y")
    f = th.function([x, y], [x + y, (x * y).sum()])
    a, b = rng.standard_normal(10), rng.standard_normal(10)
    slow = f(a, b)
    assert f._fast_size() == 1
    fast = f(a, b)
    assert isinstance(fast, list) and len(fast) == 2
    for s, q in zip(slow, fast):
        np.testing.assert_allclose(np.asarray(s), np.asarray(q))
    single = th.function([x, y], x - y)
    single(a, b)
    out = single(a, b)
    assert isinstance(out, th.Array)
    np.testing.assert_allclose(np.asarray(out), a - b)
    np.testing.assert_allclose(np.asarray(f(x=a, y=b)[0]), a + b)  # keywords: the full path
    none = th.function([x], updates=[(th.shared(0.0), x.sum())])
    assert none(a) == [] and none(a) == []


def test_function_fast_path_misses_on_conversions(mode):
    x = T.dvector("x")
    s = T.dscalar("s")
    f = th.function([x, s], x * s)
    np.testing.assert_allclose(np.asarray(f(np.ones(3), 2.0)), 2.0)
    assert f._fast_size() == 1  # a Python float fits a float64 scalar without conversion
    np.testing.assert_allclose(np.asarray(f(np.ones(3), 3.0)), 3.0)
    np.testing.assert_allclose(np.asarray(f([1, 2, 3], 2)), [2.0, 4.0, 6.0])  # converted: full path
    np.testing.assert_allclose(np.asarray(f(np.arange(3, dtype=np.int32), 1.0)), [0.0, 1.0, 2.0])
    with pytest.raises(TypeError, match="input 0 'x'.*ndim"):
        f(np.ones((2, 2)), 1.0)
    assert f.cache_size == 1


def test_function_fast_path_follows_config_changes():
    x = T.dvector("x")
    f = th.function([x], x * 2.0)
    f(np.ones(2))
    old = th.config.sync
    try:
        th.config.sync = not old  # mirrored into C++ (set_call_config): the warm call follows it
        out = f(np.ones(2))
        assert out.is_ready()
        np.testing.assert_array_equal(np.asarray(out), [2.0, 2.0])
    finally:
        th.config.sync = old


def test_update_is_computed_in_the_input_buffer():
    """The entry's donated pair (passes/lower/entry_abi.py) and theanir-donated-inits: the new
    value is computed straight into input 0's buffer, after every read of the old value,
    without a temporary or a copy; the update's own output argument is unused."""
    import re

    w = th.shared(np.zeros(3), name="w")
    f = th.function([], w.sum(), updates=[(w, w + 1.0)])
    text = f.lower().as_text("bufferized")
    body = text[text.index("{", text.index("func.func @main")):]
    write = re.search(r"ins\(%arg0 : memref<3xf64>\) outs\(%arg0 : memref<3xf64>\)", body)
    assert write and body.rindex("ins(%arg0") == write.start()  # the last read of w
    assert "memref<3xf64>" not in "".join(re.findall(r"memref\.alloc\(\).*", body))  # no temporary
    assert not re.search(r"memref\.copy %\w+, %arg0 ", body)  # no copy back
    assert "%arg2" not in body  # output 1's memref: the runtime passes input 0's buffer
    # an output that reads the old value afterwards: the update goes through a temporary
    g = th.function([], [w, w * 3.0], updates=[(w, w + 1.0)])
    body = g.lower().as_text("bufferized")
    assert re.search(r"memref\.copy %arg0, %arg1 :", body)
    assert body.index("memref.copy %arg0, %arg1") < body.index(", %arg0 : memref<3xf64> to")


def test_concurrent_in_place_updates_are_serialized():
    """Calls that write a shared variable's buffer run one at a time: threads stepping the
    same function lose no update and never see a half-written buffer."""
    import threading

    w = th.shared(np.zeros(1000), name="w")
    f = th.function([], w[0], updates=[(w, w + 1.0)])
    f()

    def worker():
        for _ in range(600):
            f()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    th.synchronize()
    np.testing.assert_array_equal(w.get_value(), np.full(1000, 1.0 + 4 * 600))


def test_donation_is_part_of_the_cache_key():
    from theanir.codegen.cache import cache_key
    from theanir.codegen.native import host_target
    from theanir.passes.pipeline import CompileOptions

    target = host_target()
    assert cache_key("m", CompileOptions(), target) != cache_key("m", CompileOptions(donate=((0, 1),)), target)



GEMM_UPDATES = {  # the new value of w from w, v, x, lr, with `dot` T.dot or np.dot
    "w - lr * x.T @ v": (lambda dot, w, v, x, lr: w - lr * dot(x.T, v), True),
    "w + (x.T @ v) * lr": (lambda dot, w, v, x, lr: w + dot(x.T, v) * lr, True),
    "w - lr * x.T @ (x @ w)": (lambda dot, w, v, x, lr: w - lr * dot(x.T, dot(x, w)), True),  # w read by the product
    "w - lr * (x.T @ v) + 1": (lambda dot, w, v, x, lr: w - lr * dot(x.T, v) + 1.0, False),  # not a scaled update
}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("case", list(GEMM_UPDATES), ids=str)
@pytest.mark.parametrize("shared_lr", [False, True], ids=["const_lr", "shared_lr"])
def test_gemm_updates_match_numpy(case, dtype, shared_lr, rng):
    """theanir-gemm-updates accumulates the product into the weight's own buffer (the
    product's init is the weight): NumPy's values, and the buffer kept."""
    rule, folds = GEMM_UPDATES[case]
    w0 = rng.standard_normal((4, 5)).astype(dtype)
    v0 = rng.standard_normal((6, 5)).astype(dtype)
    w, v = th.shared(w0.copy(), name="w"), th.shared(v0, name="v")
    lr = th.shared(np.asarray(0.1, dtype), name="lr") if shared_lr else 0.1
    x = T.matrix("x", dtype=dtype)
    f = th.function([x], (w * w).sum(), updates=[(w, rule(T.dot, w, v, x, lr))])
    buf = _buffer(w)
    want = w0.astype(np.float64)
    for _ in range(3):
        xs = rng.standard_normal((6, 4)).astype(dtype)
        f(xs)
        want = rule(np.dot, want, v0.astype(np.float64), xs.astype(np.float64), 0.1)
        np.testing.assert_allclose(w.get_value(), want, rtol=1e-4 if dtype == "float32" else 1e-12, atol=1e-5)
    assert _buffer(w) is buf
    text = f.lower(xs).as_text("linalg")
    elt = "f32" if dtype == "float32" else "f64"
    (name,) = re.findall(rf"(%\S+) = bufferization.to_tensor %\S+ restrict writable : memref<4x5x{elt}>", text)
    accumulates = re.search(rf"linalg.matmul .*outs\({name} :", text) is not None
    assert accumulates == folds


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("shape", [(784, 10), (6, 40)], ids=str)
def test_gemm_updates_of_returned_parameters(shape, dtype, rng):
    """th.jit returning new parameters (nothing donated): `w - lr * x.T @ d` accumulates the
    product into a copy of w (no zero-filled gradient, no elementwise pass); NumPy's values,
    and the input array untouched."""
    m, n = shape
    w = rng.standard_normal((m, n)).astype(dtype)
    x = rng.standard_normal((3, m)).astype(dtype)
    d = rng.standard_normal((3, n)).astype(dtype)
    f = th.jit(lambda w, x, d: w - 0.1 * (x.T @ d))
    w0 = w.copy()
    got = np.asarray(f(w, x, d))
    want = w0.astype(np.float64) - 0.1 * (x.T.astype(np.float64) @ d)
    np.testing.assert_allclose(got, want, rtol=1e-4 if dtype == "float32" else 1e-12, atol=1e-5)
    np.testing.assert_array_equal(w, w0)
    text = f.lower(w, x, d).as_text("linalg")
    assert re.search(r"(%\S+) = bufferization.alloc_tensor\(\) copy\(", text)
    assert re.search(rf"linalg.matmul .*outs\(%\S+ : tensor<{m}x{n}x", text)
