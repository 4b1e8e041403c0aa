"""JAX's semantics (issue 20): static_argnames by name in any position, lax control flow
outside jit, grad following Python control flow on concrete values, th.Array immutable with
JAX's manners, .at[] rules for out-of-range indices, ShapeError as ValueError and TypeError."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th


def test_static_argnames_passed_positionally_or_by_keyword():
    traces = []

    def f(x, n, mode="mul"):
        traces.append((n, mode))
        return x * n if mode == "mul" else x + n

    g = th.jit(f, static_argnames=("n", "mode"))
    x = np.ones(2)
    np.testing.assert_allclose(g(x, 3), 3.0)              # n positional: static (a Python int)
    np.testing.assert_allclose(g(x, 3, "add"), 4.0)       # mode positional: static (a string)
    np.testing.assert_allclose(g(x, n=4, mode="add"), 5.0)
    np.testing.assert_allclose(g(x, 3), 3.0)              # cached
    assert traces == [(3, "mul"), (3, "add"), (4, "add")]
    h = th.jit(f, static_argnums=1)
    np.testing.assert_allclose(h(x, n=5), 5.0)            # a static_argnums argument by keyword
    np.testing.assert_allclose(h(x, 5), 5.0)
    with pytest.warns(UserWarning, match="not parameters"):
        th.jit(f, static_argnames="nope")


def test_static_argname_decides_a_shape():
    f = th.jit(lambda x, k: th.reshape(x, (k, -1)), static_argnames="k")
    assert f(np.arange(6.0), 2).shape == (2, 3)
    assert f(np.arange(6.0), 3).shape == (3, 2)


def test_lax_control_flow_runs_eagerly_outside_jit():
    assert th.lax.fori_loop(0, 3, lambda i, v: v * 2, 1.0) == 8.0
    n, v = th.lax.while_loop(lambda s: s[0] < 5, lambda s: (s[0] + 1, s[1] * 2), (0, np.ones(2)))
    assert n == 5
    np.testing.assert_allclose(v, 32.0)
    np.testing.assert_allclose(th.lax.cond(np.float64(1.0) > 0, lambda a: a + 1, lambda a: a - 1, np.ones(2)), 2.0)
    c, ys = th.lax.scan(lambda c, x: (c + x, c * x), 0.0, np.arange(4.0))
    assert float(c) == 6.0
    np.testing.assert_allclose(ys, [0.0, 0.0, 2.0, 9.0])
    c, ys = th.lax.scan(lambda c, x: (c + x, c * x), 0.0, np.arange(4.0), reverse=True)
    np.testing.assert_allclose(ys, [0.0, 5.0, 6.0, 0.0])  # ys[i] still belongs to xs[i]
    c, ys = th.lax.scan(lambda c, x: (c + x, c * x), 0.0, np.zeros(0))  # no steps: a trace gives ys' type
    assert np.shape(ys) == (0,)
    # the same functions traced give the same answers
    traced = th.jit(lambda xs: th.lax.scan(lambda c, x: (c + x, c * x), 0.0, xs, reverse=True))(np.arange(4.0))
    np.testing.assert_allclose(traced[1], [0.0, 5.0, 6.0, 0.0])


def test_eager_control_flow_keeps_the_rules():
    with pytest.raises(th.ShapeError, match="must be a scalar"):
        th.lax.cond(np.ones(2), lambda: 1, lambda: 2)
    with pytest.raises(TypeError, match="structure"):
        th.lax.fori_loop(0, 2, lambda i, v: (v, v), 1.0)
    with pytest.raises(TypeError, match="integer scalar"):
        th.lax.fori_loop(0.0, 2, lambda i, v: v, 1.0)


def test_grad_follows_python_control_flow_on_concrete_values():
    def f(x):
        if x.sum() > 0:
            return th.sum(x ** 2)
        return th.sum(th.sin(x))

    g = th.grad(f)
    np.testing.assert_allclose(g(np.array([1.0, 2.0])), [2.0, 4.0])
    np.testing.assert_allclose(g(np.array([-1.0, -2.0])), np.cos([-1.0, -2.0]))

    def h(x):
        for i in range(3):
            if float(x[i]) > 0.5:
                x = x * 2
        return th.sum(x)
    np.testing.assert_allclose(th.grad(h)(np.array([1.0, 0.0, 1.0])), [4.0, 4.0, 4.0])
    v, dv = th.value_and_grad(f)(np.array([-1.0, -2.0]))
    np.testing.assert_allclose(v, np.sin(-1.0) + np.sin(-2.0))
    with pytest.raises(th.TracerError):  # under th.jit the value is abstract: still refused
        th.jit(g)(np.ones(2))


def _result():
    return th.jit(lambda a: a * 1)(np.arange(6.0).reshape(2, 3))


def test_array_is_immutable_and_points_to_at():
    x = _result()
    with pytest.raises(TypeError, match=r"at\[idx\]\.set"):
        x[0] = 10.0
    np.testing.assert_allclose(x, np.arange(6.0).reshape(2, 3))


def test_array_methods_and_operators_return_arrays():
    x = _result()
    a = np.arange(6.0).reshape(2, 3)
    for got, want in [(x.mean(0), a.mean(0)), (x.T, a.T), (x - np.ones(3), a - 1), (np.ones(3) - x, 1 - a),
                      (x[0], a[0]), (x[1, 2], a[1, 2]), (-x, -a), (x > 1, a > 1), (x.sum(), a.sum()),
                      (x.reshape(3, 2), a.reshape(3, 2)), (x @ x.T, a @ a.T), (abs(x), a),
                      (x.astype(np.float32), a.astype(np.float32)), (x ** 2, a ** 2), (list(x)[1], a[1])]:
        assert isinstance(got, th.Array), type(got)
        np.testing.assert_allclose(got, want)
        assert np.asarray(got).dtype == np.asarray(want).dtype
    assert x.ndim == 2 and x.size == 6 and x.tolist() == a.tolist() and x.item(1) == 1.0


def test_at_modes_eagerly_and_out_of_range():
    x = _result()
    a = np.arange(6.0).reshape(2, 3)
    np.testing.assert_allclose(x.at[0, 1].set(10.0), np.where(np.arange(6).reshape(2, 3) == 1, 10.0, a))
    np.testing.assert_allclose(x.at[:, 1].multiply(3.0), a * [1, 3, 1])
    np.testing.assert_allclose(x.at[1].min(0.5), [a[0], [0.5, 0.5, 0.5]])
    np.testing.assert_allclose(x.at[0].max(1.5), [[1.5, 1.5, 2.0], a[1]])
    np.testing.assert_allclose(x.at[np.array([0, 0])].add(1.0), a + [[2.0], [0.0]])
    # JAX's rules: reads clamp out-of-range indices, updates drop them
    f = th.jit(lambda a, i, j: (a.at[i].get(), a.at[i, j].set(-1.0), a.at[i].add(1.0)))
    got = f(a, 5, 1)
    np.testing.assert_allclose(got[0], a[1])
    np.testing.assert_allclose(got[1], a)
    np.testing.assert_allclose(got[2], a)
    got = f(a, -1, -1)
    np.testing.assert_allclose(got[1], np.where(np.arange(6).reshape(2, 3) == 5, -1.0, a))


def test_at_gradients():
    a = np.arange(6.0).reshape(2, 3)
    for mode in ("set", "add", "multiply", "min", "max"):
        def f(x, y, mode=mode):
            return th.sum(th.sin(getattr(x.at[0, 1:], mode)(y)))
        th.verify_grad(f, [a, np.array([0.3, 2.5])])
    gx, gy = th.grad(lambda x, y, i: x.at[i].set(y).sum(), argnums=(0, 1))(a, np.ones(3), 7)
    np.testing.assert_allclose(gx, np.ones_like(a))  # dropped: x passes through
    np.testing.assert_allclose(gy, np.zeros(3))


def test_shape_error_is_value_and_type_error():
    assert issubclass(th.ShapeError, ValueError) and issubclass(th.ShapeError, TypeError)
    with pytest.raises(TypeError):
        th.jit(lambda a, b: th.dot(a, b))(np.ones((2, 3)), np.ones((2, 3)))
    with pytest.raises(ValueError):
        th.jit(lambda a, b: a + b)(np.ones(2), np.ones(3))


def test_narrow_input_dtypes_are_widened():
    """uint8/int8/int16/uint16 compute in int32, uint32 in int64, float16 in float32 (the
    runtime holds none of them); the values are exact in the wider dtype."""
    img = (np.arange(12) * 20).astype(np.uint8).reshape(3, 4)
    out = th.jit(lambda x: x.astype(th.float32) / 255)(img)
    assert np.asarray(out).dtype == np.float32
    np.testing.assert_allclose(out, img.astype(np.float32) / 255)
    for dtype, wide in [(np.int8, np.int32), (np.int16, np.int32), (np.uint16, np.int32), (np.uint32, np.int64),
                        (np.float16, np.float32)]:
        x = np.array([1, 2, 100], dtype)
        got = th.jit(lambda a: a * 2)(x)
        assert np.asarray(got).dtype == wide
        np.testing.assert_array_equal(got, x.astype(wide) * 2)
    np.testing.assert_allclose(th.grad(lambda x: th.sum(x ** 2))(np.ones(2, np.float16)), [2.0, 2.0])
    assert th.device_put(np.ones(2, np.int8)).dtype == np.int32
    with pytest.raises(TypeError, match="uint64"):  # no wider dtype holds every uint64
        th.jit(lambda a: a + 1)(np.ones(2, np.uint64))


def test_size_split_diff():
    x = np.arange(12.0).reshape(3, 4)
    assert th.size(x) == 12 and th.size(x, 1) == 4 and th.ndim(x) == 2
    for args in [(2,), ([1, 3],), ([-1],), ([0, 10],)]:
        got, want = th.split(x, *args, axis=1), np.split(x, *args, axis=1)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    np.testing.assert_array_equal(th.diff(x), np.diff(x))
    np.testing.assert_array_equal(th.diff(x, 2, axis=0), np.diff(x, 2, axis=0))
    with pytest.raises(ValueError, match="equal sections"):
        th.split(x, 3, axis=1)
