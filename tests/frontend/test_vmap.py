"""th.vmap: in_axes/out_axes/axis_size, pytrees, nesting, composition with grad and jit,
jacobians built on it, and the errors for arguments that do not fit (per-op rules:
tests/ops/test_vmap_table.py)."""
from __future__ import annotations

import numpy as np
import pytest

import theanir as th

RNG = np.random.default_rng(0)


def test_in_axes_none_and_out_axes():
    x, w = RNG.normal(size=(4, 3)), RNG.normal(size=(3, 2))
    got = th.vmap(lambda v, w: th.tanh(v @ w), in_axes=(1, None), out_axes=1)(x.T, w)
    np.testing.assert_allclose(got, np.tanh(x @ w).T, rtol=1e-12)


def test_pytree_in_axes_and_outputs():
    params = {"w": RNG.normal(size=(3, 2)), "b": RNG.normal(size=2)}
    xs = RNG.normal(size=(5, 3))

    def f(p, x):
        y = x @ p["w"] + p["b"]
        return {"y": y, "n": th.sum(y * y)}

    got = th.vmap(f, in_axes=({"w": None, "b": None}, 0))(params, xs)
    y = xs @ params["w"] + params["b"]
    np.testing.assert_allclose(got["y"], y, rtol=1e-12)
    np.testing.assert_allclose(got["n"], (y * y).sum(1), rtol=1e-12)
    pair = th.vmap(lambda ab: ab[0] * ab[1], in_axes=((0, None),))((xs, xs[0]))
    np.testing.assert_allclose(pair, xs * xs[0], rtol=1e-12)


def test_axis_size_and_unbatched_output():
    got = th.vmap(lambda c: c * 2.0, in_axes=None, axis_size=3)(np.ones(2))
    np.testing.assert_array_equal(got, np.full((3, 2), 2.0))
    got = th.vmap(lambda x, c: c + 1.0, in_axes=(0, None))(np.ones((4, 2)), np.ones(3))
    assert np.asarray(got).shape == (4, 3)


def test_nested_vmap_is_an_outer_product():
    a, b = RNG.normal(size=4), RNG.normal(size=5)
    got = th.vmap(th.vmap(lambda x, y: x * y, in_axes=(None, 0)), in_axes=(0, None))(a, b)
    np.testing.assert_allclose(got, np.outer(a, b), rtol=1e-12)


def test_per_example_gradients_match_a_loop():
    w = RNG.normal(size=(3, 2))
    xs, ys = RNG.normal(size=(6, 3)), RNG.normal(size=(6, 2))

    def loss(w, x, y):
        return th.sum((th.tanh(x @ w) - y) ** 2)

    got = th.vmap(th.grad(loss), in_axes=(None, 0, 0))(w, xs, ys)
    one = th.grad(loss)
    want = np.stack([np.asarray(one(w, x, y)) for x, y in zip(xs, ys)])
    np.testing.assert_allclose(got, want, rtol=1e-10)


def test_grad_of_vmap_and_vmap_inside_jit():
    xs = RNG.normal(size=(4, 3))
    g = th.grad(lambda w: th.sum(th.vmap(lambda x: th.sin(x @ w))(xs)))(np.ones(3))
    np.testing.assert_allclose(g, (np.cos(xs @ np.ones(3))[:, None] * xs).sum(0), rtol=1e-12)
    f = th.jit(lambda xs: th.vmap(lambda x: x[::-1] * th.arange(3.0))(xs) + 1.0)
    np.testing.assert_allclose(f(xs), xs[:, ::-1] * np.arange(3.0) + 1, rtol=1e-12)


def test_vmap_over_scan_cond_and_while():
    xs = RNG.uniform(0.5, 30, size=5)
    halvings = th.vmap(lambda x: th.while_loop(lambda c: c[0] >= 1.0, lambda c: (c[0] / 2, c[1] + 1),
                                               (x, 0.0))[1])(xs)
    np.testing.assert_array_equal(halvings, np.floor(np.log2(xs)) + 1)
    signs = th.vmap(lambda x: th.cond(x > 10, lambda x: x * 0 + 1.0, lambda x: x * 0 - 1.0, x))(xs)
    np.testing.assert_array_equal(signs, np.where(xs > 10, 1.0, -1.0))


def test_batched_loops_run_one_loop():
    """A shared trip count: one loop with a batched body (no loop over the examples); a while
    loop whose examples stop apart runs until all stop; a per-example predicate is a select."""
    def rnn(x, w):
        return th.scan(lambda xi, h: th.tanh(h * w + xi), sequences=x, outputs_info=th.zeros_like(w))[0]

    text = th.jit(th.vmap(rnn, in_axes=(None, 0))).lower(np.ones((4, 2)), np.ones((3, 2))).as_text("tn")
    assert text.count('"tn.scan"') == 1 and "3x2xf64" in text.split('"tn.scan"')[1].split("\n")[1]
    halve = lambda x: th.while_loop(lambda c: c[0] >= 1.0, lambda c: (c[0] / 2, c[1] + 1), (x, 0.0))[1]  # noqa: E731
    text = th.jit(th.vmap(halve)).lower(np.ones(3)).as_text("tn")
    assert text.count('"tn.scan"') == 1 and '"tn.take"' not in text
    sel = lambda p, x: th.cond(p > 0, lambda x: x * 2.0, lambda x: x - 1.0, x)  # noqa: E731
    text = th.jit(th.vmap(sel)).lower(np.ones(3), np.ones((3, 2))).as_text("tn")
    assert '"tn.cond"' not in text and '"tn.where"' in text
    xs = RNG.uniform(0.5, 300, size=(2, 3))  # nested: a while loop in two vmaps
    np.testing.assert_array_equal(th.vmap(th.vmap(halve))(xs), np.floor(np.log2(xs)) + 1)


def test_per_example_gradients_through_a_scan():
    x, ws = RNG.normal(size=(5, 2)), RNG.normal(size=(4, 2))

    def loss(w, x):
        hs = th.scan(lambda xi, h: th.tanh(h * w + xi), sequences=x, outputs_info=th.zeros_like(w))[0]
        return th.sum(hs[-1] ** 2)

    got = th.vmap(th.grad(loss), in_axes=(0, None))(ws, x)
    want = np.stack([np.asarray(th.grad(loss)(w, x)) for w in ws])
    np.testing.assert_allclose(got, want, rtol=1e-10)
    total = th.grad(lambda ws: th.sum(th.vmap(loss, in_axes=(0, None))(ws, x)))(ws)
    np.testing.assert_allclose(total, want, rtol=1e-10)
    shared = th.vmap(lambda p, v: th.cond(p, lambda v: v * v, lambda v: v * 0.0 + 1.0, v), in_axes=(None, 0))
    np.testing.assert_array_equal(shared(True, x), x * x)
    np.testing.assert_array_equal(shared(False, x), np.ones_like(x))


def test_jacobians_and_hessian_use_one_sweep():
    x = RNG.normal(size=6)

    def f(x):
        return th.sum(th.tanh(x) ** 2) + th.sum(x[:-1] * x[1:])

    t = np.tanh(x)
    want = np.diag(2 * (1 - t ** 2) ** 2 - 4 * t ** 2 * (1 - t ** 2)) + np.eye(6, k=1) + np.eye(6, k=-1)
    np.testing.assert_allclose(th.hessian(f)(x), want, atol=1e-12)
    g = lambda x: th.sin(x) * x[0]  # noqa: E731
    jr, jf = th.jacrev(g)(x), th.jacfwd(g)(x)
    want = np.diag(np.cos(x) * x[0])
    want[:, 0] += np.sin(x)
    np.testing.assert_allclose(jr, want, atol=1e-12)
    np.testing.assert_allclose(jf, want, atol=1e-12)
    # the trace holds one batched sweep, not one per input: its size does not grow with n
    small = th.jit(th.hessian(f)).lower(np.ones(4)).as_text("tn").count("\n")
    large = th.jit(th.hessian(f)).lower(np.ones(64)).as_text("tn").count("\n")
    assert large == small


# ------------------------------------------------------------------ bad input
def test_mismatched_axis_sizes_name_the_arguments():
    with pytest.raises(ValueError, match=r"x has size 3 along axis 0, y has size 4 along axis 0"):
        th.vmap(lambda x, y: x + y)(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match=r"axis_size=5"):
        th.vmap(lambda x: x, axis_size=5)(np.ones(3))


def test_in_axes_that_do_not_fit_the_arguments():
    with pytest.raises(ValueError, match=r"in_axes has 1 entries but f was called with 2 positional arguments \(x, y\)"):
        def f(x, y):
            return x + y
        th.vmap(f, in_axes=(0,))(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match=r"in_axes for p has keys \['a'\] but p has keys \['a', 'b'\]"):
        def g(p):
            return p["a"]
        th.vmap(g, in_axes=({"a": 0},))({"a": np.ones(2), "b": np.ones(2)})
    with pytest.raises(ValueError, match="no argument is mapped"):
        th.vmap(lambda x: x, in_axes=None)(np.ones(3))


def test_axis_out_of_range_names_the_argument():
    def f(x, scale):
        return x * scale
    with pytest.raises(ValueError, match=r"in_axes 2 is out of range for argument scale of shape \(3,\)"):
        th.vmap(f, in_axes=(0, 2))(np.ones(3), np.ones(3))
    with pytest.raises(ValueError, match=r"out_axes 3 is out of range for output 0"):
        th.vmap(lambda x: x, out_axes=3)(np.ones((2, 2)))
    with pytest.raises(ValueError, match="out_axes is None for output 0, but it depends"):
        th.vmap(lambda x: x, out_axes=None)(np.ones(3))


def test_ops_without_a_batched_form_say_so():
    with pytest.raises(NotImplementedError, match=r"vmap of tn\.nonzero"):
        th.vmap(lambda x: th.argwhere(x > 0))(np.ones((2, 3)))


def test_dynamic_batch_size():
    """A batch axis known only at run time (th.jit(dynamic_shapes=True)): one compile."""
    w = RNG.normal(size=(4, 2))

    def f(x):
        return th.sum(th.tanh(x @ w)) + th.sum(x[1:]) + th.max(x)

    g = th.jit(lambda xs: th.vmap(f)(xs), dynamic_shapes=True)
    for n in (3, 5, 1):
        xs = RNG.normal(size=(n, 4))
        want = [np.tanh(x @ w).sum() + x[1:].sum() + x.max() for x in xs]
        np.testing.assert_allclose(g(xs), want, rtol=1e-12)
    assert "?x" in g.lower(np.ones((3, 4))).as_text("tn")
