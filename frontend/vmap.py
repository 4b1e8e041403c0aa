"""`th.vmap`: vectorize a function over a leading (or any) axis of its arguments, as JAX does.

    per_example = th.vmap(th.grad(loss), in_axes=(None, 0, 0))   # params shared, data mapped
    grads = per_example(params, xs, ys)                           # one gradient per example

The function is traced once on per-example stand-ins (arrays with the mapped axis removed),
then `passes/autodiff/batching.py` rewrites the traced ops into ops on the whole batch with
each op's batching rule (`def_batch` beside the op in dialects/tn/ops/*.py). So vmap
composes with grad, jit, scan and itself, and the compiled code runs one batched op per
traced op, not one per example (docs/vmap.md).
"""
from __future__ import annotations

import inspect
from typing import Any, Callable

import numpy as np
from mlir import ir

from theanir.dialects.tn import lax
from theanir.dialects.tn.batching import move_axis
from theanir.dialects.tn.types import TensorSpec
from theanir.passes.autodiff import batch_values, placeholder

from . import numpy_api as tnp
from .api import jit
from .pytree import tree_flatten, tree_unflatten
from .tensor import Tensor

__all__ = ["vmap"]


def vmap(f: Callable, in_axes: Any = 0, out_axes: Any = 0, axis_size: int | None = None) -> Callable:
    """`f` mapped over axis `in_axes` of its arguments; results stacked along `out_axes`.

    in_axes: an int (every argument), None (not mapped: shared by all examples), or a tuple
    with one entry per positional argument, each an int, None or a pytree prefix of that
    argument (a dict of axes for a dict argument). Keyword arguments are mapped over axis 0.
    out_axes: the same for the output pytree (None: the output must not depend on the mapped
    axis). axis_size: the number of examples when no argument is mapped.
    """
    name = getattr(f, "__name__", "f")

    def traced(*args: Any, **kwargs: Any) -> Any:
        return _vmap_traced(f, name, in_axes, out_axes, axis_size, args, kwargs)

    compiled = jit(traced)

    def mapped(*args: Any, **kwargs: Any) -> Any:
        if _in_trace():  # inside jit/grad/another vmap: emit into the current trace
            return traced(*args, **kwargs)
        return compiled(*args, **kwargs)

    mapped.__name__ = f"vmap({name})"
    mapped.__doc__ = f.__doc__
    return mapped


def _in_trace() -> bool:
    try:
        ir.InsertionPoint.current
    except ValueError:
        return False
    return True


def _param_names(f: Callable, n: int) -> list[str]:
    try:
        params = [p for p in inspect.signature(f).parameters.values()
                  if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)]
    except (TypeError, ValueError):
        params = []
    return [params[i].name if i < len(params) else f"args[{i}]" for i in range(n)]


def _is_axis(a: Any) -> bool:
    return a is None or (isinstance(a, (int, np.integer)) and not isinstance(a, bool))


def _axes_of(spec: Any, tree: Any, path: str, who: str, what: str) -> list[Any]:
    """One axis (int or None) per leaf of `tree`, from `spec`, a pytree prefix of it."""
    if _is_axis(spec):
        leaves, _ = tree_flatten(tree)
        return [None if spec is None else int(spec)] * len(leaves)
    if isinstance(spec, dict) and isinstance(tree, dict):
        if set(spec) != set(tree):
            raise ValueError(f"{who}: {what} for {path} has keys {sorted(spec, key=repr)} but {path} "
                             f"has keys {sorted(tree, key=repr)}")
        out: list[Any] = []
        for k in sorted(tree, key=repr):
            out += _axes_of(spec[k], tree[k], f"{path}[{k!r}]", who, what)
        return out
    if isinstance(spec, (tuple, list)) and isinstance(tree, (tuple, list)) and not hasattr(tree, "_fields"):
        if len(spec) != len(tree):
            raise ValueError(f"{who}: {what} for {path} has {len(spec)} entries but {path} has {len(tree)}")
        out = []
        for i, (s, t) in enumerate(zip(spec, tree)):
            out += _axes_of(s, t, f"{path}[{i}]", who, what)
        return out
    raise ValueError(f"{who}: {what} for {path} is {spec!r}, which does not fit {path} "
                     f"(a {type(tree).__name__}): give an int, None, or a matching tuple/list/dict")


def _in_leaf_axes(f: Callable, name: str, in_axes: Any, args: tuple, kwargs: dict) -> tuple[list, list]:
    """(leaves of (args, kwargs), their axes, their names) in tree_flatten order."""
    who = f"vmap({name})"
    names = _param_names(f, len(args))
    if _is_axis(in_axes):
        per_arg = [in_axes] * len(args)
    elif isinstance(in_axes, (tuple, list)):
        if len(in_axes) != len(args):
            raise ValueError(f"{who}: in_axes has {len(in_axes)} entries but {name} was called with "
                             f"{len(args)} positional arguments ({', '.join(names) or 'none'})")
        per_arg = list(in_axes)
    else:
        raise ValueError(f"{who}: in_axes must be an int, None or a tuple with one entry per "
                         f"positional argument, got {in_axes!r}")
    axes, labels = [], []
    for spec, a, nm in zip(per_arg, args, names):
        found = _axes_of(spec, a, nm, who, "in_axes")
        axes += found
        labels += _leaf_labels(a, nm)
    for k in sorted(kwargs, key=repr):
        found = _axes_of(0, kwargs[k], k, who, "in_axes")
        axes += found
        labels += _leaf_labels(kwargs[k], k)
    return axes, labels


def _leaf_labels(tree: Any, path: str) -> list[str]:
    leaves, td = tree_flatten(tree)
    if td.kind == "leaf":
        return [path]
    return [f"{path} (leaf {i})" for i in range(len(leaves))]


def _vmap_traced(f: Callable, name: str, in_axes: Any, out_axes: Any, axis_size: int | None,
                 args: tuple, kwargs: dict) -> Any:
    who = f"vmap({name})"
    axes, labels = _in_leaf_axes(f, name, in_axes, args, kwargs)
    leaves, td = tree_flatten((args, kwargs))
    moved: dict[int, Tensor] = {}
    sizes: list[tuple[str, int | None, int]] = []
    for i, (leaf, ax) in enumerate(zip(leaves, axes)):
        if ax is None:
            continue
        t = tnp.as_tensor(leaf)
        if not -t.ndim <= ax < t.ndim:
            raise ValueError(f"{who}: in_axes {ax} is out of range for argument {labels[i]} of shape "
                             f"{t.shape} (rank {t.ndim})")
        ax %= t.ndim
        moved[i] = Tensor(move_axis(lax.Value(t.value), ax, 0).value)
        sizes.append((labels[i], t.shape[ax], ax))
    size = _batch_size(who, sizes, axis_size, moved)
    stand_ins: dict[ir.Value, lax.Value] = {}
    call_leaves = list(leaves)
    for i, t in moved.items():
        ph = placeholder(lax.Value(t.value), TensorSpec(t.shape[1:], t.dtype))
        stand_ins[ph] = lax.Value(t.value)
        call_leaves[i] = Tensor(ph)
    call_args, call_kwargs = tree_unflatten(td, call_leaves)
    if not stand_ins:  # nothing mapped: every example computes the same value
        out = f(*call_args, **call_kwargs)
        out_leaves, out_td = tree_flatten(out)
        pairs = [(lax.Value(tnp.as_tensor(o).value), False) for o in out_leaves]
    else:
        out = f(*call_args, **call_kwargs)
        out_leaves, out_td = tree_flatten(out)
        outs = [tnp.as_tensor(o) for o in out_leaves]
        pairs = batch_values([o.value for o in outs], stand_ins, size)
    oaxes = _axes_of(out_axes, tree_unflatten(out_td, [0] * len(pairs)), "the output", who, "out_axes")
    results = [_place(who, i, v, b, oa, size) for i, ((v, b), oa) in enumerate(zip(pairs, oaxes))]
    return tree_unflatten(out_td, results)


def _batch_size(who: str, sizes: list, axis_size: int | None, moved: dict) -> Any:
    """The number of examples: the mapped axes must agree (and agree with axis_size)."""
    known = {n for _, n, _ in sizes if n is not None}
    if axis_size is not None:
        known.add(int(axis_size))
    if len(known) > 1:
        listed = ", ".join(f"{nm} has size {n} along axis {ax}" for nm, n, ax in sizes)
        extra = f"; axis_size={axis_size}" if axis_size is not None else ""
        raise ValueError(f"{who}: the mapped axes have different sizes: {listed}{extra}")
    if known:
        return known.pop()
    if not moved:
        raise ValueError(f"{who}: no argument is mapped (every in_axes entry is None): give "
                         f"axis_size, the number of examples")
    first = next(iter(moved.values()))
    return lax.dim(lax.Value(first.value), 0)


def _place(who: str, i: int, v: lax.Value, batched: bool, axis: Any, size: Any) -> Tensor:
    """An output with its batch axis at `axis` (broadcast first when it is the same for all)."""
    if axis is None:
        if batched:
            raise ValueError(f"{who}: out_axes is None for output {i}, but it depends on the "
                             f"mapped axis (give an axis to stack it along)")
        return Tensor(v.value)
    if not batched:
        v = lax.broadcast_to(v, (size,) + lax.shape_of(v))
    if not -v.ndim <= axis < v.ndim:
        raise ValueError(f"{who}: out_axes {axis} is out of range for output {i} of rank {v.ndim - 1}")
    return Tensor(move_axis(v, 0, axis % v.ndim).value)
