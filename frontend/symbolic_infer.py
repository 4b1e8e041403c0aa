"""Types of derived symbolic variables, found by abstract evaluation.

A node with a type rule (derivative nodes, reshape, alloc: see symbolic_shape.py) has its
type from the rule. Any other node is evaluated once on stand-ins in a scratch module, so
the frontend functions stay the only type rules: with every dimension 1 to find ndim and
dtype; with broadcastable dims 1 and the others 2 to find the broadcast pattern (a result's
length-1 dims are then the ones it must have). Indexing with ints past the stand-ins'
length 1 (`W[3]`) is typed from the index itself. Where nothing works the type is unknown
(None) and the checks wait for the trace.
"""
from __future__ import annotations

from typing import Any

import numpy as np
from mlir import ir
from mlir.dialects import func

from theanir.dialects.tn.context import get_context

from .symbolic_graph import Evaluator, Variable, _getitem, hooks, standin, type_of_value


class _Scratch:
    """A throwaway module where types are found by evaluating on stand-ins (`patterns`: the
    stand-ins follow broadcast patterns, to find patterns; else every dimension is 1)."""

    LIMIT = 5000

    def __init__(self, patterns: bool = False) -> None:
        self.ctx = get_context()
        with self.ctx, ir.Location.unknown():
            self.module = ir.Module.create()
            with ir.InsertionPoint(self.module.body):
                self.block = func.FuncOp("probe", ([], [])).add_entry_block()
        if patterns:
            leaf = lambda v: standin(v.ndim, v.dtype, v.broadcastable)  # noqa: E731
        else:
            leaf = lambda v: standin(v.ndim, v.dtype)  # noqa: E731
        self.patterns = patterns
        self.evaluator = Evaluator({}, leaf=leaf, probe=True, patterns=patterns, fallback=self._fallback)

    def _fallback(self, node: Any) -> Any:
        typ = index_type(node)
        if typ is None:
            return None
        return standin(typ[0], typ[1], typ[2] if self.patterns else None)

    def full(self) -> bool:
        return len(self.evaluator.memo) > self.LIMIT


_scratch: dict[bool, _Scratch] = {}


def _evaluate_abstractly(v: Variable, patterns: bool) -> Any:
    s = _scratch.get(patterns)
    if s is None or s.full():
        s = _scratch[patterns] = _Scratch(patterns)
    with s.ctx, ir.Location.unknown(), ir.InsertionPoint(s.block):
        return s.evaluator.value(v)


def infer_type(v: Variable) -> tuple[int | None, np.dtype | None]:
    """(ndim, dtype) of a derived variable: its type rule, or abstract evaluation."""
    node = v.owner
    if node is not None and node.type_rule is not None:
        return tuple(node.type_rule(v.index or 0)[:2])
    try:
        return type_of_value(_evaluate_abstractly(v, False))
    except Exception:  # noqa: BLE001  (any refusal on unit shapes: the type is unknown)
        return None, None


def infer_broadcastable(v: Variable) -> tuple[bool, ...]:
    """The broadcast pattern of a derived variable of known ndim: its type rule's, else the
    length-1 dims of its value on pattern-shaped stand-ins; (False, ...) where neither says."""
    ndim = v.ndim
    node = v.owner
    if node is not None and node.type_rule is not None:
        typ = node.type_rule(v.index or 0)
        return tuple(typ[2]) if len(typ) > 2 else (False,) * ndim
    try:
        value = _evaluate_abstractly(v, True)
    except Exception:  # noqa: BLE001  (refused on these stand-ins: nothing known)
        return (False,) * ndim
    shape = getattr(value, "shape", None)  # (a shape tuple, Theano's lvector: not broadcastable)
    if shape is None or len(shape) != ndim:
        return (False,) * ndim
    return tuple(n == 1 for n in shape)


def index_type(node: Any) -> tuple | None:
    """(ndim, dtype, pattern) of indexing `x[...]` (ints, scalar int variables, slices, None,
    Ellipsis, one integer array) from the index alone, or None: the stand-ins may be too
    short for an index (`W[3]`, `W[[2, 0]]`), the index's form says the type all the same."""
    if node.fn is not _getitem or not isinstance(node.args[0], Variable):
        return None
    x, entries = node.args[0], list(node.args[1:])
    if x.ndim is None or x.dtype is None:
        return None
    if any(e is Ellipsis for e in entries):
        at = entries.index(Ellipsis)
        used = sum(1 for e in entries if e is not None and e is not Ellipsis)
        entries[at:at + 1] = [("slice", None, None, None)] * (x.ndim - used)
    pattern = list(x.broadcastable or (False,) * x.ndim)
    out: list[bool] = []
    dim, advanced = 0, False
    for e in entries:
        if e is None:
            out.append(True)
            continue
        if dim >= x.ndim:
            return None
        if isinstance(e, tuple) and e[:1] == ("slice",):
            out.append(pattern[dim])
        elif _int_array(e) is not None:  # one integer array: its dims replace this one
            if advanced:
                return None
            advanced = True
            out.extend([False] * _int_array(e))
        elif not _int_scalar(e):
            return None
        dim += 1
    return len(out) + x.ndim - dim, np.dtype(x.dtype), tuple(out + pattern[dim:])


def _int_scalar(e: Any) -> bool:
    if isinstance(e, (bool, np.bool_)):
        return False
    if isinstance(e, (int, np.integer)):
        return True
    return isinstance(e, Variable) and e.ndim == 0 and e.dtype is not None and e.dtype.kind in "iu"


def _int_array(e: Any) -> int | None:
    """The ndim of an integer index array (a list, an ndarray or an int variable), else None."""
    if isinstance(e, Variable):
        ok = e.ndim is not None and e.ndim >= 1 and e.dtype is not None and e.dtype.kind in "iu"
        return e.ndim if ok else None
    if isinstance(e, (list, np.ndarray)):
        arr = np.asarray(e)
        return arr.ndim if arr.ndim >= 1 and arr.dtype.kind in "iu" else None
    return None


hooks.infer_type = infer_type
hooks.infer_broadcastable = infer_broadcastable
