"""JAX's lax control flow called outside a trace runs eagerly, as in JAX.

    th.lax.fori_loop(0, 3, lambda i, v: v * 2, 1.0)      # 8.0, no th.jit needed
    th.lax.cond(x.sum() > 0, f, g, x)                     # pred concrete: one branch runs

With concrete values the predicate and the bounds are known, so the loop is a Python loop
whose body runs op by op (each op is compiled once per shape and cached, frontend/eager.py),
and `cond` calls the branch its predicate picks. This is not a compile of the whole loop: a
Python closure's captured values may change between calls, and a cached compiled loop would
silently keep the old ones. Inside `th.jit` (or `grad`, `vmap` ...) the same functions trace
one `tn.scan`/`tn.cond` instead (control_flow.py). The rules the traced forms enforce hold
here too: a scalar predicate, and a carry that keeps its structure.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from theanir.dialects.tn.registry import ShapeError
from theanir.runtime import Array, array_from_numpy

from .pytree import tree_flatten, tree_unflatten

__all__ = ["cond", "while_loop", "fori_loop", "scan"]


def _predicate(p: Any, who: str, what: str) -> bool:
    value = np.asarray(p)
    if value.ndim != 0:
        raise ShapeError(f"{who}: {what} must be a scalar, got shape {value.shape}")
    return bool(value)


def _same_structure(tree, new: Any, who: str, what: str, initial: str) -> None:
    new_tree = tree_flatten(new)[1]
    if new_tree != tree:
        raise TypeError(f"{who}: {what} returns a structure {new_tree} different from {initial}'s {tree}")


def cond(pred: Any, true_fun: Callable[..., Any], false_fun: Callable[..., Any], *operands: Any) -> Any:
    """The branch `pred` picks, called on `operands`."""
    return (true_fun if _predicate(pred, "th.lax.cond", "pred") else false_fun)(*operands)


def while_loop(cond_fun: Callable[[Any], Any], body_fun: Callable[[Any], Any], init_val: Any) -> Any:
    tree = tree_flatten(init_val)[1]
    val = init_val
    while _predicate(cond_fun(val), "th.while_loop", "cond_fun's result"):
        val = body_fun(val)
        _same_structure(tree, val, "th.while_loop", "body_fun", "init_val")
    return val


def fori_loop(lower: Any, upper: Any, body_fun: Callable[[Any, Any], Any], init_val: Any) -> Any:
    lo, hi = np.asarray(lower), np.asarray(upper)
    for t, arg in ((lo, "lower"), (hi, "upper")):
        if t.ndim != 0 or t.dtype.kind not in "iu":
            raise TypeError(f"th.lax.fori_loop: {arg} must be an integer scalar, got {t.dtype.name} "
                            f"of shape {t.shape}")
    tree = tree_flatten(init_val)[1]
    val = init_val
    for i in range(int(lo), int(hi)):
        val = body_fun(i, val)
        _same_structure(tree, val, "th.lax.fori_loop", "body_fun", "init_val")
    return val


def scan(f: Callable[[Any, Any], Any], init: Any, xs: Any, length: int | None, reverse: bool,
         traced: Callable[[], Any]) -> Any:
    """`traced()` runs the scan under th.jit: used for zero steps, where the shapes of ys
    are known only from a trace of `f`."""
    x_leaves, x_tree = tree_flatten(xs)
    sizes = {np.shape(x)[0] if np.ndim(x) else None for x in x_leaves}
    if None in sizes:
        raise ValueError("th.lax.scan: every leaf of xs needs a leading axis to scan over")
    if len(sizes) > 1:
        raise ValueError(f"th.lax.scan: the leaves of xs have different lengths {sorted(sizes)}")
    if length is not None and sizes and sizes != {int(length)}:
        raise ValueError(f"th.lax.scan: length={length} but xs has length {sizes.pop()}")
    if length is None and not sizes:
        raise ValueError("th.lax.scan: pass xs or length (the number of steps)")
    n = int(length) if length is not None else sizes.pop()
    if n == 0:
        return traced()
    c_tree = tree_flatten(init)[1]
    carry, ys = init, []
    for i in (range(n - 1, -1, -1) if reverse else range(n)):
        x = tree_unflatten(x_tree, [leaf[i] for leaf in x_leaves])
        out = f(carry, x)
        if not isinstance(out, tuple) or len(out) != 2:
            raise TypeError(f"th.lax.scan: f must return a pair (carry, y), got {type(out).__name__}")
        carry, y = out
        _same_structure(c_tree, carry, "th.lax.scan", "f's carry", "init")
        ys.append(tree_flatten(y))
    if reverse:
        ys.reverse()
    y_tree = ys[0][1]
    stacked = [_stack([leaves[j] for leaves, _ in ys]) for j in range(y_tree.num_leaves)]
    return carry, tree_unflatten(y_tree, stacked)


def _stack(rows: list[Any]) -> Array:
    return array_from_numpy(np.stack([np.asarray(r) for r in rows]))
