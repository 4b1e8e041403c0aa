"""Which inputs a symbolic slice needs while tracing (th.function specializes on them).

A slice whose bounds differ by a constant (`train_x[i * b:(i + 1) * b]`, Theano's minibatch
idiom) compiles once: the trace emits a tn.dynamic_slice (frontend/np_slicing.py). One whose
length depends on an input (`x[:n]`, `x[i:j]`, a symbolic step) cannot have a static shape:
`th.function` then traces once per value of the inputs the bounds depend on (as for
th.scan's n_steps, `Function._static_inputs`), until dynamic shapes exist (issue 16). The
test here mirrors the trace's: the bounds as affine forms over the graph's variables.
"""
from __future__ import annotations

import operator
from fractions import Fraction
from typing import Any

import numpy as np

from .np_slicing import _combine as _add, _scale  # the affine forms' arithmetic, shared
from .symbolic_graph import Apply, Constant, NpFn, Variable, _getitem

Form = tuple[dict[Variable, Fraction], Fraction] | None  # None: not an integer affine form

# the graph's functions that combine bounds linearly: Python's operators and T.add & co
_NAMES = {"add": operator.add, "subtract": operator.sub, "sub": operator.sub,
          "multiply": operator.mul, "mul": operator.mul, "negative": operator.neg, "neg": operator.neg}
_LINEAR = {operator.add: 1, operator.sub: -1}


def _fn(node: Apply) -> Any:
    return _NAMES.get(getattr(node.fn, "label", None), node.fn) if isinstance(node.fn, NpFn) else node.fn


def _form(v: Any, depth: int = 32) -> Form:
    if v is None or isinstance(v, (bool, np.bool_, float, np.floating)):
        return None
    if isinstance(v, (int, np.integer)):
        return {}, Fraction(int(v))
    if isinstance(v, Constant):
        value = np.asarray(v.value)
        return ({}, Fraction(int(value))) if value.ndim == 0 and value.dtype.kind in "iu" else None
    if not isinstance(v, Variable):
        return None
    node = v.owner
    if node is None or depth == 0 or node.kwargs:
        return {v: Fraction(1)}, Fraction(0)
    fn, args = _fn(node), [_form(a, depth - 1) for a in node.args]
    if fn in _LINEAR and len(args) == 2 and None not in args:
        return _add(args[0], args[1], _LINEAR[fn])
    if fn is operator.neg and len(args) == 1 and args[0] is not None:
        return _scale(args[0], Fraction(-1))
    if fn is operator.mul and len(args) == 2 and None not in args:
        (ta, ca), (tb, cb) = args
        if not ta:
            return _scale(args[1], ca)
        if not tb:
            return _scale(args[0], cb)
    return {v: Fraction(1)}, Fraction(0)


def _constant_length(start: Any, stop: Any) -> bool:
    a, b = _form(start), _form(stop)
    return a is not None and b is not None and not _add(b, a, -1)[0]


def slice_static_inputs(node: Apply) -> list[Variable]:
    """The variables among `node`'s slice bounds (a getitem node) that must be known while
    tracing: the bounds of a slice whose length is not a constant, and symbolic steps."""
    if node.fn is not _getitem:
        return []
    needed: list[Variable] = []
    for e in node.args[1:]:
        if not (isinstance(e, tuple) and e[:1] == ("slice",)):
            continue
        _, start, stop, step = e
        bounds = [b for b in (start, stop) if isinstance(b, Variable) and not isinstance(b, Constant)]
        if isinstance(step, Variable) and not isinstance(step, Constant):
            needed.append(step)
        if bounds and (start is None or stop is None or not _constant_length(start, stop)):
            needed += bounds
    return needed
