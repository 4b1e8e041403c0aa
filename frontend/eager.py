"""Op-by-op evaluation of the array functions outside a trace (`th.exp(np.ones(3))` computes).

A theanir array function only emits `tn` IR, so it needs a trace to emit into. Called on
concrete data outside one (no traced `Tensor`, no symbolic `Variable`, no insertion point),
the public function instead runs itself under `th.jit`, as JAX does op by op, and returns what
`th.jit` returns (`th.Array`s). That keeps one implementation per op: the eager result is the
compiled trace of the same function, with the same dtype rules and the same error messages.

Which arguments are dynamic: arrays (`np.ndarray`, `th.Array`, anything with `__array__`)
always are; Python/NumPy numbers and lists of them (taken as `np.asarray` takes them) are
tried dynamic first, so `th.add(x, 2.0)` and `th.add(x, 3.0)` share one compiled function.
An op that needs them concrete (an axis, a shape, `decimals`, a fill value) fails that trace,
and the call is traced again with them static; that outcome is remembered per call layout.
Everything else (None, bools, dtypes, strings, slices) is static. One `th.jit` object is kept
per (function, static values), and `th.jit` itself caches per shape/dtype signature.

With `Variable`s among the arguments the call records a graph node, as `T.<name>` does.
"""
from __future__ import annotations

import functools
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Iterable

import numpy as np

from theanir.runtime import Array

from .api import JitFunction, jit, leaf_names
from .control_flow import tracing
from .pytree import TreeDef, tree_flatten, tree_unflatten
from .symbolic_graph import Variable, apply
from .tensor import Tensor

__all__ = ["eager", "is_array_op", "eager_functions", "jit_for", "cache_size", "clear_cache"]

# How many (function, static values) th.jit objects are kept: each holds native code, and
# static values (shapes, axes) can take unboundedly many values in a long session.
MAX_ENTRIES = 1024

_NUMBER = (int, float, np.number)


def is_array_op(fn: Callable) -> bool:
    """Whether `fn` builds IR and so needs a trace: unless its return annotation names
    something other than a Tensor (`result_type` -> np.dtype, the NumPy protocol hooks -> Any),
    which already works on plain values and must stay as it is."""
    ret = getattr(fn, "__annotations__", {}).get("return")
    return ret is None or "Tensor" in str(ret)


def eager(fn: Callable) -> Callable:
    """`fn` made callable on concrete data outside a trace (same signature, same docs)."""
    @functools.wraps(fn)
    def op(*args: Any, **kwargs: Any) -> Any:
        if _top_level_tensor(args, kwargs) or tracing():
            return fn(*args, **kwargs)
        return _evaluate(fn, args, kwargs)

    return op


def eager_functions(module: Any, names: Iterable[str]) -> dict[str, Callable]:
    """Eager versions of `module`'s array ops among `names` (aliases share one wrapper)."""
    wrapped: dict[int, Callable] = {}
    out = {}
    for name in names:
        fn = getattr(module, name)
        if is_array_op(fn):
            out[name] = wrapped.setdefault(id(fn), eager(fn))
    return out


def _top_level_tensor(args: tuple, kwargs: dict) -> bool:
    """The common traced call, checked before anything costlier."""
    for a in args:
        if isinstance(a, Tensor):
            return True
    for a in kwargs.values():
        if isinstance(a, Tensor):
            return True
    return False


# ------------------------------------------------------------------ call plans
_DYNAMIC = "dynamic"  # a leaf passed to the compiled function (th.jit keys its shape/dtype)


@dataclass
class _Plan:
    """One call split into the compiled function's inputs and the values baked into it."""

    holds: type | None  # Tensor or Variable when one is among the leaves (no plan then)
    key: tuple  # (fn, tree, per-leaf: _DYNAMIC, ("number", type) or (type, static value))
    tree: TreeDef
    leaves: list[Any]  # static values in place; dynamic ones as passed
    dynamic: list[int]  # positions of the dynamic leaves
    tries_numbers: bool  # numbers (or lists of them) are dynamic in this plan
    args: tuple  # the call's arguments after lists of numbers became arrays (for names)
    kwargs: dict

    @property
    def inputs(self) -> list[Any]:
        return [self.leaves[i] for i in self.dynamic]


def _plan(fn: Callable, args: tuple, kwargs: dict, numbers_dynamic: bool) -> _Plan:
    tries: list[bool] = []  # non-empty once a list of numbers became an array
    if numbers_dynamic:
        args = tuple(_arrays_from_number_lists(a, tries) for a in args)
        kwargs = {k: _arrays_from_number_lists(v, tries) for k, v in kwargs.items()}
    # a tuple of numbers is a shape or axes (static), except in an index (x[i, j]: each a
    # dynamic number, so one compile serves every position); functions taking indices say so
    is_leaf = None if getattr(fn, "indexes", False) else (lambda x: x is not args and _number_tuple(x))
    leaves, tree = tree_flatten((args, kwargs), is_leaf)
    dynamic, parts, static = [], [], []
    for i, x in enumerate(leaves):
        if isinstance(x, (np.ndarray, Array)):
            dynamic.append(i)
            parts.append(_DYNAMIC)
        elif isinstance(x, (Tensor, Variable)):
            return _Plan(type(x) if isinstance(x, Tensor) else Variable, (), tree, leaves, [], False,
                         args, kwargs)
        elif numbers_dynamic and _is_number(x):
            dynamic.append(i)
            parts.append(("number", type(x)))
            tries.append(True)
        elif hasattr(x, "__array__") and not isinstance(x, (np.generic, type)):  # (np.float32 has one)
            leaves[i] = np.asarray(x)  # array-likes of other libraries
            dynamic.append(i)
            parts.append(_DYNAMIC)
        else:
            static.append(i)
            parts.append(None)
    for i in static:  # frozen only now: a Tensor or Variable further on would have returned
        parts[i] = (type(leaves[i]), _freeze(fn, leaves[i]))
    key = (fn, tree, tuple(parts))
    return _Plan(None, key, tree, leaves, dynamic, bool(tries), args, kwargs)


def _is_number(x: Any) -> bool:
    """A Python or NumPy number that may be data (bools are flags far more often: static)."""
    return isinstance(x, _NUMBER) and not isinstance(x, (bool, np.bool_))


def _arrays_from_number_lists(x: Any, converted: list[bool]) -> Any:
    """Lists/tuples holding only numbers become arrays, as np.asarray makes them (noted in
    `converted`: such a list may have been a shape or axes, which must stay static)."""
    if isinstance(x, dict):
        return {k: _arrays_from_number_lists(v, converted) for k, v in x.items()}
    if not _is_sequence(x):
        return x
    items = _flat_items(x)
    # only lists: a tuple of numbers is an index (x[0, 1], x.at[0, 1]) or a shape far more
    # often than data, and NumPy reads a tuple index as a tuple, never as an array of indices
    if items and isinstance(x, list) and all(isinstance(v, _NUMBER + (bool, np.bool_)) for v in items):
        try:
            arr = np.asarray(x)
        except ValueError:  # ragged
            arr = None
        if arr is not None and arr.dtype.kind in "biuf":
            converted.append(True)
            return arr
    out = [_arrays_from_number_lists(v, converted) for v in x]
    return out if isinstance(x, list) else tuple(out)


def _number_tuple(x: Any) -> bool:
    return type(x) is tuple and bool(x) and all(_is_number(v) for v in x)


def _is_sequence(x: Any) -> bool:
    return isinstance(x, (list, tuple)) and not hasattr(x, "_fields")  # as pytree.py


def _flat_items(x: Any) -> list[Any]:
    """Every item of nested lists/tuples (None and dicts included: they are not numbers)."""
    if _is_sequence(x):
        return [v for c in x for v in _flat_items(c)]
    return [x]


def _freeze(fn: Callable, x: Any) -> Any:
    """A hashable stand-in for a static value in the cache key."""
    if isinstance(x, slice):
        return ("slice", _freeze(fn, x.start), _freeze(fn, x.stop), _freeze(fn, x.step))
    try:
        hash(x)
    except TypeError:
        raise TypeError(f"{getattr(fn, '__name__', 'function')}: argument {x!r} of type "
                        f"{type(x).__name__} is neither an array nor a hashable static value") from None
    return x


# ------------------------------------------------------------------ the cache
_STATIC = "static"  # in place of a th.jit: numbers must be static for this call layout
_cache: OrderedDict[tuple, JitFunction | str] = OrderedDict()
_lock = threading.Lock()


def _get(key: tuple) -> JitFunction | str | None:
    with _lock:
        entry = _cache.get(key)
        if entry is not None:
            _cache.move_to_end(key)
        return entry


def _put(key: tuple, entry: JitFunction | str) -> None:
    with _lock:
        _cache[key] = entry
        _cache.move_to_end(key)
        while len(_cache) > MAX_ENTRIES:
            _cache.popitem(last=False)


def _compiled(fn: Callable, plan: _Plan) -> JitFunction:
    """A th.jit of `fn` over the plan's dynamic leaves, its static values baked in."""
    template, positions, tree = list(plan.leaves), list(plan.dynamic), plan.tree

    def run(*inputs: Any) -> Any:
        leaves = list(template)
        for pos, value in zip(positions, inputs):
            leaves[pos] = value
        args, kwargs = tree_unflatten(tree, leaves)
        return fn(*args, **kwargs)

    run.__name__ = run.__qualname__ = getattr(fn, "__name__", "op")
    for pos in positions:
        template[pos] = None  # do not keep the first call's arrays alive
    jf = jit(run)
    names = leaf_names(fn, plan.args, plan.kwargs)
    if len(names) == len(plan.leaves):
        jf.leaf_names = [names[i] for i in positions]
    return jf


def _evaluate(fn: Callable, args: tuple, kwargs: dict) -> Any:
    plan = _plan(fn, args, kwargs, numbers_dynamic=True)
    if plan.holds is Tensor:
        return fn(*args, **kwargs)  # a Tensor kept from a finished trace: fn says what is wrong
    if plan.holds is Variable:
        return apply(fn, *args, **kwargs)  # a Theano graph node, as T.<name> records
    if not plan.tries_numbers:
        return _run(fn, plan)  # no numbers: the static plan would be this one
    entry = _get(plan.key)
    if isinstance(entry, JitFunction):
        return entry(*plan.inputs)
    if entry is None:
        jf = _compiled(fn, plan)
        try:
            out = jf(*plan.inputs)
        except Exception:  # noqa: BLE001  (the static trace below raises the real error)
            pass  # (retried outside this block, so that its error does not chain to this one)
        else:
            _put(plan.key, jf)
            return out
    out = _run(fn, _plan(fn, args, kwargs, numbers_dynamic=False))
    if entry is None:
        _put(plan.key, _STATIC)
    return out


def _run(fn: Callable, plan: _Plan) -> Any:
    """Call the plan's th.jit, made on first use (a failing trace leaves no entry behind)."""
    entry = _get(plan.key)
    if isinstance(entry, JitFunction):
        return entry(*plan.inputs)
    jf = _compiled(fn, plan)
    out = jf(*plan.inputs)
    _put(plan.key, jf)
    return out


# ------------------------------------------------------------------ introspection
def jit_for(op: Callable, *args: Any, **kwargs: Any) -> JitFunction | None:
    """The th.jit object a call `op(*args, **kwargs)` would run (None before its first call)."""
    fn = getattr(op, "__wrapped__", op)
    plan = _plan(fn, args, kwargs, numbers_dynamic=True)
    if plan.holds is not None:
        return None
    entry = _get(plan.key)
    if entry is _STATIC:
        entry = _get(_plan(fn, args, kwargs, numbers_dynamic=False).key)
    return entry if isinstance(entry, JitFunction) else None


def cache_size() -> int:
    """How many (function, static values) th.jit objects are held."""
    with _lock:
        return sum(isinstance(e, JitFunction) for e in _cache.values())


def clear_cache() -> None:
    with _lock:
        _cache.clear()
