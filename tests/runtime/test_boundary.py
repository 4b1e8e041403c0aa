"""Bad input at the runtime boundary: clear exceptions, never a crash; trust_input."""
import numpy as np
import pytest

import theanir as th
import theanir.tensor as T


def _compiled(fn, *args, **kw):
    return th.jit(fn, **kw).compiled_for(*args)[0]


def test_wrong_shape(mode):
    c = _compiled(lambda x: x + 1.0, np.zeros(2))
    with pytest.raises(ValueError, match=r"argument 'x': expected shape \(2,\), got \(3,\)"):
        c(np.zeros(3))
    with pytest.raises(ValueError, match="argument 'x': expected rank 1"):
        c(np.zeros((2, 1)))


def test_wrong_dtype(mode):
    c = _compiled(lambda x: x + 1.0, np.zeros(2))
    with pytest.raises(TypeError, match="argument 'x': expected dtype float64, got float32"):
        c(np.zeros(2, np.float32))
    with pytest.raises(TypeError, match="expected a NumPy array or th.Array"):
        c.executable.call_async(["not an array"], False, 0, 0, th.config.sync)


def test_non_contiguous(mode):
    c = _compiled(lambda x: x * 2.0, np.zeros(4))
    with pytest.raises(ValueError, match="argument 'x': expected a C-contiguous array"):
        c(np.arange(8.0)[::2])
    # a strided argument compiles for strides of its own
    np.testing.assert_array_equal(np.asarray(th.jit(lambda x: x * 2.0)(np.arange(8.0)[::2])), np.arange(0, 16, 4.0))


def test_read_only_input_and_output(mode):
    x = np.arange(3.0)
    x.setflags(write=False)
    np.testing.assert_array_equal(np.asarray(th.jit(lambda x: x + 1.0)(x)), [1.0, 2.0, 3.0])
    c = _compiled(lambda x: x + 1.0, np.zeros(3))
    out = np.zeros(3)
    out.setflags(write=False)
    with pytest.raises(ValueError, match="output 0.*read-only"):
        c.executable.call([np.zeros(3), out])


def test_shared_variable_boundary(mode):
    w = th.shared(np.zeros(3), name="w")
    step = th.function([], w.sum(), updates=[(w, w + 1.0)])
    step()
    ro = np.ones(5)
    ro.setflags(write=False)
    w.set_value(ro, borrow=True)  # another shape (retrace) and a read-only buffer: the update writes a new one
    assert float(step()) == 5.0
    np.testing.assert_array_equal(w.get_value(), np.full(5, 2.0))
    with pytest.raises(TypeError, match="ndim"):
        w.set_value(np.zeros((2, 2)))
    with pytest.raises(TypeError, match="dtype"):
        w.set_value(np.zeros(3, np.int32) + 0.5j)


def test_trust_input_skips_only_what_cannot_crash(mode):
    f = th.jit(lambda x: x + 0.0, trust_input=True)
    c = f.compiled_for(np.zeros(4))[0]
    same_size = np.arange(4, dtype=np.int64)  # the caller's promise: reinterpreted, not checked
    np.testing.assert_array_equal(np.asarray(c.call_flat([same_size], True)[0]), same_size.view(np.float64))
    with pytest.raises(TypeError, match="expected dtype float64, got float32"):
        c.call_flat([np.zeros(4, np.float32)], True)  # undersized: would read out of bounds
    with pytest.raises(ValueError, match="expected shape"):
        c.call_flat([np.zeros(3)], True)
    with pytest.raises(ValueError, match="expected rank"):
        c.call_flat([np.zeros((4, 1))], True)
    with pytest.raises(ValueError, match="C-contiguous"):
        c.call_flat([np.arange(4.0)[::-1]], True)  # negative strides: canonical reading leaves the buffer
    with pytest.raises(ValueError, match="C-contiguous"):
        c.call_flat([np.broadcast_to(np.ones(1), (4,))], True)  # stride 0: too small a buffer
    m = _compiled(lambda x: x + 0.0, np.zeros((2, 2)), trust_input=True)
    xt = np.arange(4.0).reshape(2, 2).T  # non-contiguous but in bounds: read in memory order
    np.testing.assert_array_equal(np.asarray(m.call_flat([xt], True)[0]), np.arange(4.0).reshape(2, 2))


def test_trust_input_on_function(mode):
    x = T.dvector("x")
    f = th.function([x], x * 2.0, trust_input=True)
    np.testing.assert_array_equal(np.asarray(f(np.arange(3.0))), [0.0, 2.0, 4.0])


# ------------------------------------------------------------------ f.run(n_calls)
def _sgd():
    rng = np.random.default_rng(0)
    X = th.shared(rng.normal(size=(32, 3)), name="X")
    y = th.shared((rng.normal(size=32) > 0).astype(np.float64), name="y")
    w = th.shared(np.zeros(3), name="w")
    b = th.shared(0.0, name="b")
    p = T.nnet.sigmoid(T.dot(X, w) + b)
    cost = T.nnet.binary_crossentropy(p, y).mean()
    gw, gb = T.grad(cost, [w, b])
    return th.function([], cost, updates=[(w, w - 0.5 * gw), (b, b - 0.5 * gb)]), w, b


@pytest.mark.parametrize("n", [1, 2, 7])
def test_run_equals_repeated_calls(mode, n):
    step, w, b = _sgd()
    for _ in range(n):
        last = step()
    w_loop, b_loop, cost_loop = w.get_value(), b.get_value(), float(last)
    step2, w2, b2 = _sgd()
    cost = step2.run(n_calls=n)
    assert isinstance(cost, th.Array)
    np.testing.assert_allclose(float(cost), cost_loop, rtol=1e-12)
    np.testing.assert_allclose(w2.get_value(), w_loop, rtol=1e-12)
    np.testing.assert_allclose(b2.get_value(), b_loop, rtol=1e-12)
    step2()  # calls and runs mix
    step2.run(3)
    for _ in range(4):
        step()
    np.testing.assert_allclose(w2.get_value(), w.get_value(), rtol=1e-12)


def test_run_leaves_the_callers_buffer_alone(mode):
    value = np.zeros(3)
    w = th.shared(value, name="w", borrow=True)
    step = th.function([], [], updates=[(w, w + 1.0)])
    step.run(n_calls=1000)
    np.testing.assert_array_equal(w.get_value(), np.full(3, 1000.0))
    np.testing.assert_array_equal(value, 0.0)


def test_run_refuses(mode):
    x = T.dvector("x")
    with pytest.raises(TypeError, match="explicit inputs"):
        th.function([x], x * 2.0).run(3)
    w = th.shared(np.zeros(2), name="w")
    with pytest.raises(ValueError, match="n_calls must be an int >= 1"):
        th.function([], [], updates=[(w, w + 1.0)]).run(0)
