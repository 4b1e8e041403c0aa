"""`th.lax`: JAX-style control flow on pytrees of arrays, all on the `tn.scan`/`tn.cond` ops.

    carry, ys = th.lax.scan(f, init, xs)          # f(carry, x) -> (carry, y)
    th.lax.fori_loop(0, n, body_fun, init_val)     # n may be traced
    th.lax.while_loop(cond_fun, body_fun, init_val)
    th.lax.cond(pred, true_fun, false_fun, *operands)
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np

from theanir.dialects.tn import lax as tn_lax
from theanir.dialects.tn.builder import describe_location
from theanir.dialects.tn.ops.control import DYNAMIC

from . import numpy_api as tnp
from .control_flow import cond, fori_loop, while_loop  # noqa: F401  (th.lax.cond & co.)
from . import control_eager
from .api import jit
from .control_flow import concrete, loop, require_trace, runs_eagerly, static_value, step_slice
from .pytree import tree_flatten, tree_unflatten
from .tensor import Tensor

from . import conv as _conv, pool as _pool  # noqa: E402  (issue 19)
from .eager import eager as _eager  # noqa: E402
from .np_complex import make_complex as _make_complex  # noqa: E402

conv, conv_general_dilated = _eager(_conv.conv), _eager(_conv.conv_general_dilated)
reduce_window = _eager(_pool.reduce_window)

__all__ = ["scan", "cond", "fori_loop", "while_loop", "conv", "conv_general_dilated", "reduce_window",
           "dynamic_slice", "dynamic_update_slice", "dynamic_slice_in_dim", "dynamic_update_slice_in_dim",
           "dynamic_index_in_dim", "stop_gradient", "complex", "real", "imag", "conj"]


def scan(f: Callable[[Any, Any], Any], init: Any, xs: Any = None, length: int | None = None,
         reverse: bool = False, unroll: int = 1) -> tuple[Any, Any]:
    """JAX's scan: `f(carry, x) -> (carry, y)` over the leading axis of `xs` (a pytree, or
    None with `length`); returns (final carry, ys stacked on a leading axis). With
    `reverse=True` the steps run from the end and ys[i] still belongs to xs[i]. `unroll` is
    accepted and ignored."""
    if runs_eagerly(init, xs):
        return control_eager.scan(f, init, xs, length, reverse,
                                  lambda: jit(lambda c, x: scan(f, c, x, length, reverse))(init, xs))
    require_trace("th.lax.scan", init, xs)
    x_leaves, x_tree = tree_flatten(xs)
    x_leaves = [tnp.as_tensor(x) for x in x_leaves]
    n = _length(x_leaves, length)
    rows = n
    if n is None:  # a dynamic leading dim: as many steps as rows, read when the code runs
        n = Tensor(tn_lax.dim(x_leaves[0], 0).value)
        for leaf in x_leaves[1:]:
            n = tnp.minimum(n, Tensor(tn_lax.dim(leaf, 0).value) if leaf.shape[0] is None else leaf.shape[0])
        rows = DYNAMIC
    c_leaves, c_tree = tree_flatten(init)
    names = _names("init", c_tree, len(c_leaves))
    y_tree: list[Any] = []

    def step(i: Tensor, carries: list[Tensor]):
        idx = (n - 1) - i if reverse else i
        x = tree_unflatten(x_tree, [step_slice(leaf, idx) for leaf in x_leaves])
        out = f(tree_unflatten(c_tree, carries), x)
        if not isinstance(out, tuple) or len(out) != 2:
            raise TypeError(f"th.lax.scan: f must return a pair (carry, y), got {type(out).__name__} "
                            f"at {describe_location()}")
        new, new_tree = tree_flatten(out[0])
        if new_tree != c_tree:
            raise TypeError(f"th.lax.scan: f returns a carry of structure {new_tree}, but init "
                            f"has structure {c_tree}")
        ys, tree = tree_flatten(out[1])
        y_tree.append(tree)
        return new, ys, None

    finals, stacked = loop(step, [concrete(c) for c in c_leaves], n, rows, who="th.lax.scan",
                           names=names)
    if reverse and rows == DYNAMIC and stacked:
        stacked = _reversed_rows(stacked, n)
    elif reverse:
        stacked = [tnp.flip(y, axis=0) for y in stacked]
    return tree_unflatten(c_tree, finals), tree_unflatten(y_tree[0], stacked)


def _reversed_rows(stacked: list[Tensor], n: Tensor) -> list[Tensor]:
    """The rows of each stacked output in reverse order, for a dynamic number of rows: one
    more loop copying row n-1-i to row i."""
    def step(i: Tensor, carries: list[Tensor]):
        return [], [step_slice(y, (n - 1) - i) for y in stacked], None

    return loop(step, [], n, DYNAMIC, who="th.lax.scan", names=[])[1]


def _length(x_leaves: list[Tensor], length: int | None) -> int | None:
    """The static number of steps, or None when a leaf of xs has a dynamic leading dim."""
    if length is not None:
        value = static_value(length)
        if value is None or value.ndim != 0 or value.dtype.kind not in "iu" or int(value) < 0:
            raise ValueError(f"th.lax.scan: length must be a non-negative int known while "
                             f"tracing, got {length!r}")
        length = int(value)
    lengths = {x.shape[0] for x in x_leaves if x.ndim > 0}
    if any(x.ndim == 0 for x in x_leaves):
        raise ValueError("th.lax.scan: every leaf of xs needs a leading axis to scan over")
    if None in lengths:
        if length is not None:
            raise ValueError(f"th.lax.scan: length={length} given for xs with a dynamic leading dim")
        return None
    if len(lengths) > 1:
        raise ValueError(f"th.lax.scan: the leaves of xs have different lengths {sorted(lengths)}")
    if length is not None and lengths and lengths != {length}:
        raise ValueError(f"th.lax.scan: length={length} but xs has length {lengths.pop()}")
    if length is None and not lengths:
        raise ValueError("th.lax.scan: pass xs or length (the number of steps)")
    return length if length is not None else lengths.pop()


def _names(arg: str, tree: Any, count: int) -> list[str]:
    return [arg] if count == 1 else [f"{arg} leaf {j}" for j in range(count)]


# ------------------------------------------------------------------ dynamic slices (JAX's lax)
def _starts(who: str, x: Tensor, start_indices: Any, sizes: Any) -> list[Any]:
    """Start indices clamped so each slice fits: JAX's rule, min(max(i, 0), n - size)."""
    starts = list(start_indices) if isinstance(start_indices, (list, tuple)) else \
        [start_indices[i] for i in range(tnp.as_tensor(start_indices).shape[0])]
    if len(starts) != x.ndim or len(sizes) != x.ndim:
        raise TypeError(f"th.lax.{who}: {len(starts)} start indices and {len(sizes)} sizes for an "
                        f"operand of rank {x.ndim} (shape {x.shape}): one of each per axis")
    out = []
    for d, (i, n) in enumerate(zip(starts, sizes)):
        if not 0 <= int(n) <= x.shape[d]:
            raise TypeError(f"th.lax.{who}: slice size {n} on axis {d} does not fit the operand's "
                            f"shape {x.shape}")
        out.append(tnp.clip(tnp.astype(tnp.as_tensor(i), np.int64), 0, x.shape[d] - int(n)))
    return out


def _dynamic_slice(operand: Any, start_indices: Any, slice_sizes: Any) -> Tensor:
    """operand[i0:i0 + s0, i1:i1 + s1, ...] with traced starts (clamped to fit) and static sizes."""
    x = tnp.as_tensor(operand)
    sizes = [int(n) for n in slice_sizes]
    starts = _starts("dynamic_slice", x, start_indices, sizes)
    return tnp.getitem(x, tuple(slice(i, i + n) for i, n in zip(starts, sizes)))


def _dynamic_update_slice(operand: Any, update: Any, start_indices: Any) -> Tensor:
    """operand with the block at start_indices (clamped so update fits) replaced by update."""
    x, u = tnp.as_tensor(operand), tnp.as_tensor(update)
    if u.ndim != x.ndim:
        raise TypeError(f"th.lax.dynamic_update_slice: update of shape {u.shape} for an operand of "
                        f"shape {x.shape}: the ranks must agree")
    starts = _starts("dynamic_update_slice", x, start_indices, u.shape)
    return tnp.index_update(x, tuple(slice(i, i + n) for i, n in zip(starts, u.shape)), u, "set",
                            fn="dynamic_update_slice")


def _dynamic_slice_in_dim(operand: Any, start_index: Any, slice_size: int, axis: int = 0) -> Tensor:
    x = tnp.as_tensor(operand)
    axis = axis % x.ndim
    starts = [start_index if d == axis else 0 for d in range(x.ndim)]
    sizes = [slice_size if d == axis else x.shape[d] for d in range(x.ndim)]
    return _dynamic_slice(x, starts, sizes)


def _dynamic_update_slice_in_dim(operand: Any, update: Any, start_index: Any, axis: int) -> Tensor:
    x = tnp.as_tensor(operand)
    axis = axis % x.ndim
    return _dynamic_update_slice(x, update, [start_index if d == axis else 0 for d in range(x.ndim)])


def _dynamic_index_in_dim(operand: Any, index: Any, axis: int = 0, keepdims: bool = True) -> Tensor:
    out = _dynamic_slice_in_dim(operand, index, 1, axis)
    return out if keepdims else tnp.squeeze(out, axis=axis)


def _public(fn: Callable, name: str) -> Callable:
    from .eager import eager
    fn.__name__ = fn.__qualname__ = name
    return eager(fn)


dynamic_slice = _public(_dynamic_slice, "dynamic_slice")
dynamic_update_slice = _public(_dynamic_update_slice, "dynamic_update_slice")
dynamic_slice_in_dim = _public(_dynamic_slice_in_dim, "dynamic_slice_in_dim")
dynamic_update_slice_in_dim = _public(_dynamic_update_slice_in_dim, "dynamic_update_slice_in_dim")
dynamic_index_in_dim = _public(_dynamic_index_in_dim, "dynamic_index_in_dim")
stop_gradient = tnp.stop_gradient
complex = _public(lambda x, y: _make_complex(x, y), "complex")  # noqa: A001  (np_complex.py)
real, imag, conj = tnp.real, tnp.imag, tnp.conj
