"""Symbolic nodes that take a shape: reshape, flatten, alloc/zeros/ones, broadcast patterns.

Abstract evaluation (symbolic_graph.infer_type) runs a graph on unit-shaped stand-ins, which
cannot type `x.reshape((784, 10))` (a unit tensor has one element) or `T.alloc(0., n, k)`
with a scalar variable `n`. These nodes carry their own type rule instead: the rank is the
length of the shape (or `ndim=`), the dtype the input's, and a dimension is broadcastable
when its entry is the constant 1, as in Theano.

While tracing, an entry must be known: a Python int, `x.shape[i]` (static: shapes are known
while tracing) or arithmetic on those. An entry computed from scalar input variables only
(`n`, `n * k`) is listed in the node's `static_inputs`, so `th.function` specializes the trace
on those inputs' values (one compile per value, like th.scan's n_steps).

    y = emb[idx].reshape((idx.shape[0], k))   # y.ndim == 2, y.dtype == emb.dtype
"""
from __future__ import annotations

import functools
from typing import Any, Sequence

import numpy as np

from . import numpy_api as tnp
from .config import config
from .control_flow import static_value
from .symbolic_graph import Apply, Constant, Variable, ancestors, describe, hooks
from .symbolic_types import as_pattern
from .tensor import Tensor


# ------------------------------------------------------------------ shape entries
def _entries(shape: Any, who: str) -> list[Any]:
    """The entries of a shape argument: a tuple/list (of ints and scalar variables) or an
    int; a vector variable (`y.shape`) stays one entry list [variable]."""
    if isinstance(shape, (tuple, list)):
        return list(shape)
    if isinstance(shape, (int, np.integer, Variable)):
        return [shape]
    raise TypeError(f"{who}: the shape must be a tuple of ints or scalar variables, got {shape!r}")


def _is_one(e: Any) -> bool:
    if isinstance(e, Constant):
        return np.ndim(e.value) == 0 and e.value == 1
    return isinstance(e, (int, np.integer)) and not isinstance(e, bool) and e == 1


def _vector_length(v: Variable) -> int | None:
    """The length of a shape vector variable: `y.shape` has y.ndim entries."""
    node = v.owner
    if node is not None and getattr(node.fn, "label", None) == "shape" and isinstance(node.args[0], Variable):
        return node.args[0].ndim
    if isinstance(v, Constant):
        return int(np.size(v.value))
    return None


def _scalar_inputs(entries: Sequence[Any]) -> list[Variable]:
    """Entries computed from scalar variables only (`n`, `n * k`): their inputs must be known
    while tracing, so the function specializes on them. Entries that pass through a
    non-scalar (`x.shape[0]`) are static anyway (shapes are known while tracing)."""
    return [e for e in entries if isinstance(e, Variable) and not isinstance(e, Constant)
            and all(a.ndim == 0 for a in ancestors([e]))]


def static_shape(entries: Sequence[Any], who: str) -> tuple[Any, ...]:
    """The evaluated entries as ints, or a TypeError naming the unknown entry. A dynamic dim
    (`x.shape[0]` of an input whose dims vary, docs/dynamic-shapes.md) stays an int64 scalar
    Tensor, which reshape and the creation functions take as a size read at run time."""
    out: list[Any] = []
    for i, e in enumerate(entries):
        if isinstance(e, tuple):  # a whole shape (`y.shape` evaluates to a tuple)
            out.extend(n if isinstance(n, Tensor) else int(n) for n in e)
            continue
        value = static_value(e) if isinstance(e, Tensor) else np.asarray(e)
        if value is None and isinstance(e, Tensor) and e.ndim == 0 and e.dtype.kind in "iu":
            out.append(e)  # traced: a dynamic size
            continue
        if value is None or value.ndim > 1 or value.dtype.kind not in "iub":
            raise TypeError(f"{who}: shape entry {i} is not an integer known while tracing (a shape "
                            f"must be ints, x.shape[i] or scalar input variables), got {e!r}")
        out.extend(int(n) for n in np.atleast_1d(value))
    return tuple(out)


class ShapeFn:
    """A node function whose trailing `n_shape` arguments are shape entries; `static_inputs`
    are the scalar variables th.function must specialize on (see the module doc)."""

    def __init__(self, label: str, fn: Any, static_inputs: list[Variable]):
        self.label = label
        self.fn = fn
        self.static_inputs = static_inputs

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.fn(*args, **kwargs)

    def __repr__(self) -> str:
        return f"ShapeFn({self.label!r})"


def _shape_node(label: str, fn: Any, args: tuple, entries: list[Any], kwargs: dict,
                type_rule: Any) -> Variable:
    node = Apply(ShapeFn(label, fn, _scalar_inputs(entries)), args + tuple(entries), kwargs)
    node.type_rule = type_rule  # (a partial of a module function: graphs stay picklable)
    return node.outputs[0]


def _dtype_of(x: Any) -> np.dtype | None:
    dt = x.dtype if isinstance(x, Variable) else tnp.result_type(x)
    return None if dt is None else np.dtype(dt)


def _reshape_type(x: Any, entries: list[Any], rank: int, i: int) -> tuple:
    return rank, _dtype_of(x), _pattern(entries, rank)


def _flatten_type(x: Variable, ndim: int, i: int) -> tuple:
    if x.ndim is None or x.dtype is None:
        return None, None
    b = x.broadcastable or (False,) * x.ndim
    return ndim, np.dtype(x.dtype), tuple(b[:ndim - 1]) + (all(b[ndim - 1:]),)


def _alloc_type(value: Any, entries: list[Any], i: int) -> tuple:
    # a Python float is a floatX constant, as in Theano
    dt = np.dtype(config.floatX) if type(value) is float else _dtype_of(value)
    return len(entries), dt, _pattern(entries, len(entries))


def _filled_type(rank: int | None, dt: np.dtype, entries: list[Any], i: int) -> tuple:
    return rank, dt, _pattern(entries, rank) if rank is not None else None


def _pattern_type(x: Variable, pattern: tuple[bool, ...], i: int) -> tuple:
    return x.ndim, None if x.dtype is None else np.dtype(x.dtype), pattern


def _pattern(entries: list[Any], ndim: int) -> tuple[bool, ...]:
    if len(entries) == ndim:
        return tuple(_is_one(e) for e in entries)
    return (False,) * ndim


def _rank(entries: list[Any], ndim: int | None, who: str) -> int | None:
    if ndim is not None:
        return int(ndim)
    if len(entries) == 1 and isinstance(entries[0], Variable) and entries[0].ndim == 1:
        return _vector_length(entries[0])
    return len(entries)


# ------------------------------------------------------------------ reshape
def reshape_tensor(x: Any, *entries: Any, ndim: int | None = None) -> Tensor:
    """x.reshape(entries) while tracing (entries evaluated; -1 infers one length)."""
    shape = static_shape(entries, "reshape")
    out = tnp.reshape(x, shape)
    if ndim is not None and out.ndim != ndim:
        raise ValueError(f"reshape: ndim={ndim} but the new shape {out.shape} has {out.ndim} dims")
    return out


def reshape_node(x: Variable, shape: Any, ndim: int | None = None) -> Variable:
    """`x.reshape(shape, ndim=None)` as a typed node (also `T.reshape(x, shape, ndim)`)."""
    if isinstance(shape, tuple) and len(shape) == 1 and isinstance(shape[0], (tuple, list, Variable)):
        shape = shape[0]  # x.reshape((a, b)) rather than x.reshape(a, b)
    entries = _entries(shape, "reshape")
    rank = _rank(entries, ndim, "reshape")
    if rank is None:
        raise TypeError(f"reshape: the length of the shape {describe(entries[0])} is not known; "
                        f"pass ndim=")
    return _shape_node("reshape", reshape_tensor, (x,), entries, {"ndim": ndim},
                       functools.partial(_reshape_type, x, entries, rank))


# ------------------------------------------------------------------ flatten
def flatten_tensor(x: Any, ndim: int = 1) -> Tensor:
    x = tnp.as_tensor(x)
    if ndim < 1 or ndim > max(x.ndim, 1):
        raise ValueError(f"flatten: ndim={ndim} is out of range for a {x.ndim}-d tensor")
    return tnp.reshape(x, x.shape[:ndim - 1] + (-1,))


def flatten_node(x: Variable, ndim: int = 1) -> Variable:
    """`x.flatten(ndim)`: keeps the first ndim-1 dims, joins the rest (Theano's flatten)."""
    if isinstance(ndim, bool) or not isinstance(ndim, (int, np.integer)) or ndim < 1:
        raise ValueError(f"flatten: ndim must be an int >= 1, got {ndim!r}")
    if x.ndim is not None and ndim > max(x.ndim, 1):
        raise ValueError(f"flatten: ndim={ndim} is out of range for {describe(x)}, a {x.ndim}-d tensor")
    node = Apply(flatten_tensor, (x, int(ndim)), {})
    node.type_rule = functools.partial(_flatten_type, x, int(ndim))
    return node.outputs[0]


flatten_tensor.label = "flatten"  # type: ignore[attr-defined]


# ------------------------------------------------------------------ alloc, zeros, ones
def alloc_tensor(value: Any, *entries: Any) -> Tensor:
    return tnp.broadcast_to(tnp.as_tensor(value), static_shape(entries, "T.alloc"))


def filled_tensor(fill: float, dtype: Any, *entries: Any) -> Tensor:
    return tnp.full(static_shape(entries, "T.zeros/T.ones"), fill, dtype=np.dtype(dtype))


def alloc_node(value: Any, *shape: Any) -> Variable:
    """`T.alloc(value, *shape)`: value broadcast to shape (dims of constant 1 broadcastable)."""
    entries = list(shape)
    return _shape_node("alloc", alloc_tensor, (value,), entries, {}, functools.partial(_alloc_type, value, entries))


def filled_node(fill: float, shape: Any, dtype: Any = None) -> Variable:
    """`T.zeros(shape, dtype)` / `T.ones`: dtype config.floatX unless given."""
    entries = _entries(shape, "T.zeros/T.ones")
    dt = np.dtype(str(dtype or config.floatX))
    rank = _rank(entries, None, "T.zeros")
    return _shape_node("zeros" if fill == 0 else "ones", filled_tensor, (fill, dt), entries, {},
                       functools.partial(_filled_type, rank, dt, entries))


# ------------------------------------------------------------------ broadcast patterns
class Rebroadcast:
    """x unchanged, with another broadcast pattern (Theano's Rebroadcast). Broadcasting follows
    NumPy at trace time, so the pattern is bookkeeping (see symbolic_types); dims marked
    broadcastable are checked to have length 1 when traced, as Theano checks when run."""

    def __init__(self, label: str, pattern: tuple[bool, ...]):
        self.label = label
        self.pattern = pattern

    def __call__(self, x: Any) -> Any:
        t = tnp.as_tensor(x)
        bad = [i for i, b in enumerate(self.pattern) if b and i < t.ndim and t.shape[i] != 1]
        if bad:
            raise ValueError(f"T.{self.label}: dimensions {bad} are marked broadcastable, but the "
                             f"value has shape {t.shape} (a broadcastable dimension has length 1)")
        return x


def pattern_node(x: Variable, label: str, pattern: tuple[bool, ...]) -> Variable:
    """`x` with the broadcast pattern `pattern`."""
    node = Apply(Rebroadcast(label, pattern), (x,), {})
    node.type_rule = functools.partial(_pattern_type, x, pattern)
    return node.outputs[0]


def _axes(x: Variable, axes: Sequence[int], who: str) -> list[int]:
    if x.ndim is None:
        raise TypeError(f"{who}: the rank of {describe(x)} is not known")
    out = []
    for a in axes:
        if isinstance(a, bool) or not isinstance(a, (int, np.integer)) or not -x.ndim <= a < x.ndim:
            raise ValueError(f"{who}: axis {a!r} is out of range for {describe(x)}, a {x.ndim}-d tensor")
        out.append(int(a) % x.ndim)
    return out


def addbroadcast(x: Any, *axes: int) -> Any:
    """Mark `axes` of x broadcastable (Theano: they must have length 1 at run time)."""
    if not isinstance(x, Variable):
        return x
    b = list(x.broadcastable)
    for a in _axes(x, axes, "T.addbroadcast"):
        b[a] = True
    return pattern_node(x, "addbroadcast", tuple(b))


def unbroadcast(x: Any, *axes: int) -> Any:
    """Mark `axes` of x not broadcastable."""
    if not isinstance(x, Variable):
        return x
    b = list(x.broadcastable)
    for a in _axes(x, axes, "T.unbroadcast"):
        b[a] = False
    return pattern_node(x, "unbroadcast", tuple(b))


def patternbroadcast(x: Any, broadcastable: Sequence[bool]) -> Any:
    """x with the broadcast pattern `broadcastable` (one bool per dimension)."""
    if not isinstance(x, Variable):
        return x
    pattern = as_pattern(broadcastable, "T.patternbroadcast")
    if x.ndim is not None and len(pattern) != x.ndim:
        raise ValueError(f"T.patternbroadcast: pattern {pattern} has {len(pattern)} entries, but "
                         f"{describe(x)} has {x.ndim} dims")
    return pattern_node(x, "patternbroadcast", pattern)


hooks.reshape = reshape_node  # Variable.reshape / .flatten / .ravel
hooks.flatten = flatten_node
