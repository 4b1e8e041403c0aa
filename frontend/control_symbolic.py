"""th.scan and th.ifelse on Theano symbolic variables (`theanir.tensor`): graph nodes.

`th.scan(fn, ...)` with Variables calls `fn` once on placeholder variables (one per sequence
tap and output tap), which records the step's graph, and returns the outputs of one `Apply`
node. When `th.function` traces the graph, that node runs the Tensor-level scan
(`control_flow.scan`) with a step that evaluates the recorded graph on the body's Tensors.
The node's inputs are the sequences, initial values, n_steps and the step graph's *frontier*:
the outer variables it reads (non-sequences, shared variables, closures), which the outer
evaluation computes once, outside the loop.

`n_steps` may be any int64 expression: `n_steps=x.shape[0]` and an input variable
(`k = T.iscalar()`, `n_steps=k`) stay traced, and the stacked outputs get a dynamic leading
dim (`tn.scan` with `length = -1`): one compile serves every value of k (issue 16; before,
`th.function` traced once per value of k).
"""
from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

import numpy as np

from .control_flow import _split_return, ifelse, register_symbolic, scan, until
from . import random_streams
from .symbolic_graph import (Apply, Evaluator, Variable, as_variable, describe, graph_leaves,  # noqa: F401
                             is_symbolic)  # noqa: F401


def _as_list(x: Any) -> list[Any]:
    if x is None:
        return []
    return list(x) if isinstance(x, (list, tuple)) else [x]


def _typed(v: Variable, what: str) -> tuple[int, np.dtype]:
    if v.ndim is None or v.dtype is None:
        raise TypeError(f"th.scan: the type of {what} ({describe(v)}) is not known; give it an "
                        f"explicit type (e.g. T.matrix) or compute it differently")
    return v.ndim, v.dtype


def _placeholder(ndim: int, dtype: np.dtype, name: str) -> Variable:
    if ndim < 0:
        raise ValueError(f"th.scan: {name} has no leading axis to iterate over")
    return Variable(ndim, dtype, name)


class _ScanNode:
    """The Apply function of a symbolic scan: runs the Tensor-level scan when evaluated."""

    label = "scan"

    def __init__(self, seqs: list[tuple[Any, list[int] | None]], outs: list[tuple[Any, Any]],
                 placeholders: list[Variable], roots: list[Variable], stop: Variable | None,
                 frontier: list[Variable], go_backwards: bool, n_steps: Any,
                 truncate_gradient: int = -1, states: list[Variable] = ()):
        self.seqs, self.outs = seqs, outs
        self.states = list(states)  # random keys carried as extra outputs, after the roots
        self.truncate_gradient = truncate_gradient
        self.placeholders, self.roots, self.stop = placeholders, roots, stop
        self.frontier, self.go_backwards = frontier, go_backwards
        # Variables whose value must be known while tracing (th.function specializes on
        # them): none since issue 16, a traced n_steps gives outputs of a dynamic length
        self.static_inputs: list[Variable] = []

    def __call__(self, seq_values: list, init_values: list, n_steps: Any, *frontier: Any) -> tuple:
        sequences = [dict(input=x, taps=taps) if taps is not None else x
                     for x, (_, taps) in zip(seq_values, self.seqs)]
        outputs_info = [None if init is None else (dict(initial=x, taps=taps) if taps else x)
                        for x, (init, taps) in zip(init_values, self.outs)]
        frontier_values = dict(zip(self.frontier, frontier))

        def step(*args: Any) -> Any:
            ev = Evaluator({**frontier_values, **dict(zip(self.placeholders, args))})
            values = [ev.value(r) for r in self.roots]
            values += [s.scan_advance(ev.value(s)) for s in self.states]
            return (values, until(ev.value(self.stop))) if self.stop is not None else values

        outs, _ = scan(step, sequences or None, outputs_info or None, None, n_steps,
                       go_backwards=self.go_backwards, return_list=True,
                       truncate_gradient=self.truncate_gradient)
        return tuple(outs)


def _inner(roots: list[Variable], placeholders: set[Variable]) -> set[Variable]:
    """Variables of the step graph that depend on a placeholder (computed in the loop)."""
    memo: dict[Variable, bool] = {}
    stack = list(roots)
    while stack:
        v = stack[-1]
        if v in memo:
            stack.pop()
            continue
        deps = v.owner.inputs() if v.owner is not None else []
        pending = [d for d in deps if d not in memo]
        if pending:
            stack.extend(pending)
            continue
        memo[v] = v in placeholders or any(memo[d] for d in deps)
        stack.pop()
    return {v for v, inside in memo.items() if inside}


def _in_graph_order(roots: list[Variable], inner: set[Variable]) -> list[Variable]:
    """The inner variables in depth-first order from the roots: the same order in every
    process, so the scan node's operands, and the compiled code's arguments, are too
    (a set's order follows object ids, which made the disk cache miss across processes)."""
    out: list[Variable] = []
    seen: set[Variable] = set()
    stack = list(reversed(roots))
    while stack:
        v = stack.pop()
        if v in seen or v not in inner:
            continue
        seen.add(v)
        out.append(v)
        if v.owner is not None:
            stack.extend(reversed(v.owner.inputs()))
    return out + [v for v in inner if v not in seen]  # (none: inner is what the roots reach)


def _frontier(roots: list[Variable], inner: set[Variable]) -> list[Variable]:
    """Outer variables read by inner nodes (or returned as is): evaluated outside the loop."""
    out: list[Variable] = []
    seen: set[Variable] = set()
    for v in _in_graph_order(roots, inner) + roots:  # not the set's order: it varies per process
        deps = v.owner.inputs() if (v in inner and v.owner is not None) else ([] if v in inner else [v])
        for d in deps:
            if d not in inner and d not in seen:
                seen.add(d)
                out.append(d)
    return out


def _check_strict(frontier: list[Variable], non_seqs: list[Variable]) -> None:
    """strict=True (Theano): every shared variable the step reads is among non_sequences."""
    declared = set(non_seqs)
    seen: set[Variable] = set()
    stack = [v for v in frontier if v not in declared]
    while stack:
        v = stack.pop()
        if v in seen or v in declared:
            continue
        seen.add(v)
        if v.owner is not None:
            stack.extend(v.owner.inputs())
        elif hasattr(v, "get_value"):  # a shared variable (symbolic.SharedVariable)
            raise ValueError(f"th.scan(strict=True): the step uses the shared variable {describe(v)}, "
                             f"which is not among non_sequences; pass it in non_sequences=[...] "
                             f"(and as an argument of the step), or use strict=False")


def symbolic_scan(fn: Callable[..., Any], sequences: Any, outputs_info: Any, non_sequences: Any,
                  n_steps: Any, go_backwards: bool, return_list: bool,
                  truncate_gradient: int = -1, strict: bool = False) -> tuple[Any, OrderedDict]:
    seqs, args = [], []
    for j, s in enumerate(_as_list(sequences)):
        x, taps = (s.get("input"), s.get("taps", [0])) if isinstance(s, dict) else (s, None)
        x = as_variable(x)
        ndim, dtype = _typed(x, f"sequences[{j}]")
        seqs.append((x, None if taps is None else _as_list(taps)))
        for k in (_as_list(taps) if taps is not None else [0]):
            args.append(_placeholder(ndim - 1, dtype, f"sequences[{j}][t{int(k):+d}]"))
    outs = []
    for i, o in enumerate(_as_list(outputs_info)):
        init, taps = (o.get("initial"), o.get("taps")) if isinstance(o, dict) else (o, None)
        if init is None:
            outs.append((None, None))
            continue
        init = as_variable(init)
        ndim, dtype = _typed(init, f"outputs_info[{i}]")
        taps = [-1] if taps is None else [int(k) for k in _as_list(taps)]
        outs.append((init, taps))
        for k in taps:
            args.append(_placeholder(ndim if taps == [-1] else ndim - 1, dtype,
                                     f"outputs_info[{i}][t{k:+d}]"))
    non_seqs = [as_variable(x) for x in _as_list(non_sequences)]
    mark = random_streams.state_count()
    values, stop = _split_return(fn(*args, *non_seqs))
    roots = [as_variable(v) for v in values]
    stop_var = None if stop is None else as_variable(stop)
    all_roots = roots + ([stop_var] if stop_var is not None else [])
    # Random draws made in the step carry their stream's key through the loop (each step
    # draws new numbers); the final keys come back as Theano's scan updates.
    states = [v for v in graph_leaves(all_roots) if random_streams.made_since(v, mark)]
    outs += [(s, [-1]) for s in states]
    args += states
    inner = _inner(all_roots, set(args))
    if strict:
        _check_strict(_frontier(all_roots, inner), non_seqs)
    node_fn = _ScanNode(seqs, outs, args, roots, stop_var, _frontier(all_roots, inner),
                        go_backwards, n_steps, truncate_gradient, states)
    init_vars = [init for init, _ in outs]
    nout = len(roots) + len(states)
    node = Apply(node_fn, ([x for x, _ in seqs], init_vars, n_steps, *node_fn.frontier), {},
                 nout=nout, type_rule=lambda i: _stacked_type((roots + states)[i]))
    result = list(node.outputs[:len(roots)])
    updates = OrderedDict((s, node.outputs[len(roots) + i][-1]) for i, s in enumerate(states))
    return (result if return_list or len(result) != 1 else result[0]), updates


def _stacked_type(v: Variable) -> tuple[int | None, np.dtype | None]:
    ndim, dtype = v.ndim, v.dtype
    return (None if ndim is None else ndim + 1), dtype


def _ifelse_node(condition: Any, then_branch: Any, else_branch: Any) -> Any:
    out = ifelse(condition, then_branch, else_branch)
    return tuple(out) if isinstance(out, list) else out


_ifelse_node.label = "ifelse"  # type: ignore[attr-defined]


def symbolic_ifelse(condition: Any, then_branch: Any, else_branch: Any) -> Any:
    """A lazy ifelse node: only the taken branch's graph runs in the compiled function."""
    many = isinstance(then_branch, (list, tuple))
    a = [as_variable(x) for x in _as_list(then_branch)]
    b = [as_variable(x) for x in _as_list(else_branch)]
    if not many:
        return Apply(_ifelse_node, (condition, a[0], b[0]), {}).outputs[0]
    node = Apply(_ifelse_node, (condition, a, b), {}, nout=len(a),
                 type_rule=lambda i: (a[i].ndim, a[i].dtype))
    return list(node.outputs)


# th.scan / th.ifelse (control_flow.py) call these on symbolic variables.
register_symbolic("scan", symbolic_scan)
register_symbolic("ifelse", symbolic_ifelse)
