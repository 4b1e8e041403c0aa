"""Theano's `T.set_subtensor(x[idx], y)` and `T.inc_subtensor(x[idx], y)`.

As in Theano, the first argument is the subtensor itself: the functions look through it to
the indexed variable x and the index, and return x with that part replaced (set) or
incremented (inc). On symbolic variables they record a graph node; on traced tensors (inside
`th.jit`) a Tensor made by `x[idx]` remembers x and idx, so the same call computes directly.
Both go through `index_update` (frontend/np_update.py), so every index `x[idx]` accepts works
and gradients reach x and y:

    emb_update = T.inc_subtensor(emb[idx], -lr * g)     # repeated rows of idx accumulate
    h = T.set_subtensor(h[t], h_t)                      # t a traced scalar

With a repeated index, inc_subtensor accumulates every update (Theano's semantics) and
set_subtensor keeps the last one in index order.
"""
from __future__ import annotations

from typing import Any

from . import numpy_api as tnp
from .np_update import fit_value
from .symbolic_graph import Apply, Variable, _getitem, as_variable, describe
from .tensor import Tensor

__all__ = ["set_subtensor", "inc_subtensor", "advanced_set_subtensor1", "advanced_inc_subtensor1"]


class _SubtensorUpdate:
    """The graph node's function: base[idx] updated by y (idx rebuilt like `_getitem`'s)."""

    __slots__ = ("mode", "label")

    def __init__(self, mode: str, label: str):
        self.mode, self.label = mode, label

    def __call__(self, base: Any, y: Any, *entries: Any, reshaped: Any = None,
                 part: Any = None) -> Tensor:
        # `part` (the subtensor x[idx] itself) is an input only so that graph walks see the
        # indexing node (th.function specializes on the inputs a slice's length depends on)
        idx = tuple(slice(*e[1:]) if isinstance(e, tuple) and e[:1] == ("slice",) else e
                    for e in entries)
        idx = idx[0] if len(idx) == 1 else idx
        if reshaped is not None:  # y fits the reshaped subtensor: bring it to the subtensor's shape
            part = tnp.getitem(tnp.as_tensor(base), idx)
            y = tnp.reshape(fit_value(self.label, tnp.as_tensor(y), reshaped.shape, reshaped), part.shape)
        return tnp.index_update(base, idx, y, self.mode, fn=self.label)

    def __repr__(self) -> str:
        return f"{self.label}"


_SET = _SubtensorUpdate("set", "set_subtensor")
_INC = _SubtensorUpdate("add", "inc_subtensor")


def _is_subtensor(x: Any) -> bool:
    return isinstance(x, Variable) and x.owner is not None and x.owner.fn is _getitem


def _update(fn: _SubtensorUpdate, x: Any, y: Any) -> Any:
    if isinstance(x, Variable) and x.owner is not None and _is_subtensor(x.owner.args[0]) \
            and getattr(x.owner.fn, "label", None) in ("reshape", "flatten"):
        # Theano's case of a reshaped subtensor (emb[idx].reshape(...)): y is given in the
        # reshaped layout; the result is the updated indexed variable
        sub = x.owner.args[0]
        base, entries = sub.owner.args[0], sub.owner.args[1:]
        return Apply(fn, (base, y, *entries), {"reshaped": x},
                     type_rule=_TypeOf(base)).outputs[0]
    if isinstance(x, Variable):
        if not _is_subtensor(x):
            raise TypeError(f"{fn.label}: the first argument must be a subtensor such as x[idx] "
                            f"(the part to write), got {describe(x)}")
        base, entries = x.owner.args[0], x.owner.args[1:]
        # the result has the type of the indexed variable, whatever the index (no probe needed)
        return Apply(fn, (base, y, *entries), {"part": x}, type_rule=_TypeOf(base)).outputs[0]
    if isinstance(x, Tensor):
        origin = getattr(x, "subtensor_of", None)
        if origin is None:
            raise TypeError(f"{fn.label}: the first argument must be a subtensor such as x[idx] "
                            f"(the part to write), got a tensor of shape {x.shape} that was not "
                            f"made by indexing; inside th.jit, x.at[idx].set(y) / .add(y) also work")
        base, idx = origin
        return tnp.index_update(base, idx, y, fn.mode, fn=fn.label)
    raise TypeError(f"{fn.label}: the first argument must be a subtensor such as x[idx] of a "
                    f"symbolic variable, got {type(x).__name__}")


class _TypeOf:
    """The type rule of an update node: the indexed variable's (ndim, dtype). A class, not a
    closure, so graphs holding it can be pickled."""

    __slots__ = ("base",)

    def __init__(self, base: Any):
        self.base = base

    def __call__(self, _index: int) -> tuple[Any, Any]:
        v = as_variable(self.base)
        return v.ndim, v.dtype


def set_subtensor(x: Any, y: Any, inplace: bool = False,
                  tolerate_inplace_aliasing: bool = False) -> Any:
    """The indexed variable of the subtensor `x` with that part replaced by y (broadcast to
    it). `inplace` and `tolerate_inplace_aliasing` are accepted for Theano's signature: the
    compiler writes in place by itself where the old value is dead."""
    return _update(_SET, x, y)


def inc_subtensor(x: Any, y: Any, inplace: bool = False, set_instead_of_inc: bool = False,
                  tolerate_inplace_aliasing: bool = False) -> Any:
    """The indexed variable of the subtensor `x` with y added to that part; repeated indices
    accumulate. `set_instead_of_inc=True` is set_subtensor."""
    return _update(_SET if set_instead_of_inc else _INC, x, y)


def advanced_set_subtensor1(x: Any, y: Any, ilist: Any) -> Any:
    """Theano's `advanced_set_subtensor1(x, y, ilist)`: set_subtensor(x[ilist], y)."""
    return set_subtensor(x[ilist], y)


def advanced_inc_subtensor1(x: Any, y: Any, ilist: Any) -> Any:
    """Theano's `advanced_inc_subtensor1(x, y, ilist)`: inc_subtensor(x[ilist], y)."""
    return inc_subtensor(x[ilist], y)
