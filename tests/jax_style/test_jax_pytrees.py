"""Pytrees as JAX users write them: th.tree_util, th.tree, NamedTuples, registered classes,
None as an empty node, every transformation taking pytrees in every argument position."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np
import pytest

import theanir as th
from theanir import tree_util


class Params(NamedTuple):
    w: Any
    b: Any


@tree_util.register_pytree_node_class
@dataclass
class Linear:
    w: Any
    b: Any
    name: str = "lin"  # auxiliary data: static, part of the structure

    def tree_flatten(self):
        return (self.w, self.b), self.name

    @classmethod
    def tree_unflatten(cls, aux, children):
        return cls(*children, name=aux)


class Point:
    def __init__(self, x, y):
        self.x, self.y = x, y


tree_util.register_pytree_node(Point, lambda p: ((p.x, p.y), None), lambda aux, c: Point(*c))

RNG = np.random.default_rng(0)
W, B, X = RNG.normal(size=(3, 2)), RNG.normal(size=2), RNG.normal(size=(4, 3))


def _loss(p, x):
    return th.sum(th.tanh(x @ p.w + p.b) ** 2)


def _np_loss_grad(w, b, x):
    z = x @ w + b
    t = np.tanh(z)
    dz = 2 * t * (1 - t * t)
    return np.sum(t ** 2), x.T @ dz, dz.sum(0)


def test_tree_util_round_trip_and_structure():
    tree = {"a": (1, None, [2, 3]), "b": Params(4, 5), "c": Point(6, 7), "d": Linear(8, 9, "x")}
    leaves, td = tree_util.tree_flatten(tree)
    assert leaves == [1, 2, 3, 4, 5, 6, 7, 8, 9]
    back = tree_util.tree_unflatten(td, leaves)
    assert back["a"] == (1, None, [2, 3]) and back["b"] == Params(4, 5)
    assert (back["c"].x, back["c"].y) == (6, 7) and back["d"] == Linear(8, 9, "x")
    assert tree_util.tree_leaves(tree) == leaves and th.tree.leaves(tree) == leaves
    assert tree_util.tree_structure(tree) == td == th.tree.structure(tree)
    assert td.num_leaves == 9
    assert th.tree.structure(Linear(1, 2, "x")) != th.tree.structure(Linear(1, 2, "y"))
    assert th.tree.structure(Params(1, 2)) != th.tree.structure((1, 2))
    assert th.tree.leaves(None) == [] and th.tree.structure(None).num_leaves == 0
    assert th.tree.unflatten(*th.tree.flatten(tree)[::-1])["b"] == Params(4, 5)


def test_tree_map_multiple_trees_and_mismatch():
    a = {"x": (1, 2), "y": None}
    assert th.tree.map(lambda u, v: u + v, a, {"x": (10, 20), "y": None}) == {"x": (11, 22), "y": None}
    assert tree_util.tree_map(lambda u: u * 2, Params(1, 2)) == Params(2, 4)
    with pytest.raises(ValueError, match="structure"):
        th.tree.map(lambda u, v: u + v, a, {"x": (1, 2, 3), "y": None})
    assert tree_util.tree_reduce(lambda s, v: s + v, [1, (2, 3)], 0) == 6


def test_register_twice_refused():
    with pytest.raises(ValueError, match="already"):
        tree_util.register_pytree_node(Point, lambda p: ((), None), lambda a, c: Point(0, 0))


@pytest.mark.parametrize("container", ["namedtuple", "dataclass", "dict"])
def test_jit_and_grad_take_containers(container):
    p = {"namedtuple": Params(W, B), "dataclass": Linear(W, B),
         "dict": None}[container]
    loss = _loss
    if container == "dict":
        p = {"w": W, "b": B, "unused": None}
        loss = lambda p, x: th.sum(th.tanh(x @ p["w"] + p["b"]) ** 2)  # noqa: E731
    val, gw, gb = _np_loss_grad(W, B, X)
    np.testing.assert_allclose(th.jit(loss)(p, X), val, rtol=1e-12)
    g = th.grad(loss)(p, X)
    assert type(g) is type(p)
    gw_, gb_ = (g["w"], g["b"]) if container == "dict" else (g.w, g.b)
    np.testing.assert_allclose(gw_, gw, rtol=1e-10)
    np.testing.assert_allclose(gb_, gb, rtol=1e-10)
    if container == "dataclass":
        assert g.name == "lin"
    v, g2 = th.value_and_grad(loss)(p, X)
    np.testing.assert_allclose(v, val, rtol=1e-12)


def test_grad_in_second_position_and_argnums_tuple():
    def f(x, p):
        return th.sum(x * p.w[0, 0] + p.b)
    gx, gp = th.grad(f, argnums=(0, 1))(np.ones(2), Params(W, B))
    np.testing.assert_allclose(gx, np.full(2, W[0, 0]))
    expect_w = np.zeros_like(W)
    expect_w[0, 0] = 2
    np.testing.assert_allclose(gp.w, expect_w)
    np.testing.assert_allclose(gp.b, np.ones(2))


def test_vjp_jvp_on_pytrees():
    f = lambda p: {"y": p.w * p.b, "s": th.sum(p.w)}  # noqa: E731
    p = Params(np.array([1.0, 2.0]), np.array([3.0, 4.0]))
    out, pull = th.vjp(f, p)
    np.testing.assert_allclose(out["y"], [3.0, 8.0])
    (ct,) = pull({"y": np.ones(2), "s": np.array(1.0)})
    assert isinstance(ct, Params)
    np.testing.assert_allclose(ct.w, [4.0, 5.0])
    np.testing.assert_allclose(ct.b, [1.0, 2.0])
    out, tan = th.jvp(f, (p,), (Params(np.ones(2), np.zeros(2)),))
    np.testing.assert_allclose(tan["y"], [3.0, 4.0])
    np.testing.assert_allclose(tan["s"], 2.0)


@pytest.mark.parametrize("jac", [th.jacrev, th.jacfwd], ids=["jacrev", "jacfwd"])
def test_jacobian_of_dict_to_dict(jac):
    def f(d):
        return {"y": th.sin(d["a"]) * d["b"], "z": th.sum(d["a"] ** 2)}
    a, b = np.array([0.3, -1.2, 2.0]), np.array(1.5)
    J = jac(f)({"a": a, "b": b})
    np.testing.assert_allclose(J["y"]["a"], np.diag(np.cos(a) * b), atol=1e-14)
    np.testing.assert_allclose(J["y"]["b"], np.sin(a), atol=1e-14)
    np.testing.assert_allclose(J["z"]["a"], 2 * a, atol=1e-14)
    np.testing.assert_allclose(J["z"]["b"], 0.0, atol=1e-14)
    assert np.shape(J["y"]["a"]) == (3, 3) and np.shape(J["z"]["b"]) == ()


def test_jacobian_argnums_tuple_and_float32_blocks():
    f = lambda x, y: x * y[0] + y[1]  # noqa: E731
    x = np.array([1.0, 2.0], np.float32)
    y = (np.array(3.0, np.float32), np.array([1.0, 1.0], np.float32))
    jx, (jy0, jy1) = th.jacrev(f, argnums=(0, 1))(x, y)
    np.testing.assert_allclose(jx, 3 * np.eye(2))
    np.testing.assert_allclose(jy0, x)
    np.testing.assert_allclose(jy1, np.eye(2))
    assert np.asarray(jx).dtype == np.float32


def test_hessian_of_namedtuple():
    f = lambda p: th.sum(p.w ** 3) * p.b  # noqa: E731
    p = Params(np.array([1.0, 2.0]), np.array(2.0))
    H = th.hessian(f)(p)
    np.testing.assert_allclose(H.w.w, np.diag(6 * p.w * 2))
    np.testing.assert_allclose(H.w.b, 3 * p.w ** 2)
    np.testing.assert_allclose(H.b.b, 0.0)


def test_control_flow_carries_pytrees():
    xs = Params(np.arange(6.0).reshape(3, 2), np.ones(3))

    def run(xs):
        def step(c, x):
            return Params(c.w + x.w, c.b * 2 + x.b), {"row": x.w.sum()}
        return th.lax.scan(step, Params(np.zeros(2), np.array(0.0)), xs)
    c, ys = th.jit(run)(xs)
    np.testing.assert_allclose(c.w, [6.0, 9.0])
    np.testing.assert_allclose(c.b, 7.0)
    np.testing.assert_allclose(ys["row"], [1.0, 5.0, 9.0])
    out = th.jit(lambda p: th.lax.cond(p.b > 0, lambda p: Params(p.b, p.w), lambda p: p, p))(
        Params(np.array(1.0), np.array(2.0)))
    assert isinstance(out, Params) and float(out.w) == 2.0
    out = th.jit(lambda p: th.lax.while_loop(lambda p: p.w < 5, lambda p: Params(p.w + 1, p.b * 2), p))(
        Params(np.int64(0), np.float64(1)))
    assert isinstance(out, Params) and int(out.w) == 5 and float(out.b) == 32.0


def test_non_pytree_leaf_names_the_argument():
    def loss(params, x):
        return th.sum(params["w"] * x)
    bad = {"w": np.ones(2), "tag": object()}
    for transform in (th.jit, th.grad, th.jacrev, th.jacfwd):
        with pytest.raises(TypeError, match=r"loss: argument 'params\['tag'\]'.*register_pytree_node"):
            transform(loss)(bad, np.ones(2))
