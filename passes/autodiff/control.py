"""Derivatives of the region ops `tn.scan` and `tn.cond` (their IR and lowering:
dialects/tn/ops/control.py).

Why here and not beside the ops: a region op's rule differentiates its bodies, which means
running the autodiff driver (`ad.jvp_values`, `ad.transpose_ops`) recursively. The dialect
sits below the passes and may not import them; passing the driver into every rule as an
argument would widen the rule signature of all ops for the sake of two. So these rules are
part of the autodiff pass: they register onto the dialect's OpDefs with `def_jvp_region` /
`def_transpose_region` when `theanir.passes.autodiff` is imported (its `__init__` imports
this module), which every caller of the driver does first.

Forward mode (`jvp`): a loop gets a second loop over [primal carries, tangent carries] whose
body is the primal body followed by its jvp (the original loop keeps serving the primal
values); a branch gets a second tn.cond whose branches compute the tangent of theirs.

Reverse mode is forward mode with `linearize=True`, followed by transposition (the autodiff
driver, passes/autodiff/ad.py). A loop is then split in two, as JAX's partial evaluation does:

  * the *primal loop* replaces the original one (same carries and outputs) and also stacks,
    per step, the values the tangent needs (the residuals: e.g. `1 - h*h` of a tanh and the
    previous state of a matmul), and, for a do-while loop, counts its steps;
  * the *tangent loop* runs over the same steps with only tangent carries; each step reads
    its residuals back with `tn.take(R, i)`. It is linear in its tangent inputs.

Transposing the tangent loop gives the *backward loop*: it runs the steps in reverse
(i = trip-1 ... 0; with `truncate_gradient = k` only the last k), carries the carries'
cotangents and accumulates the cotangents of the outer linear values the body reads (a
sequence read row by row accumulates `acc + scatter_add(row, i)`, which tn-canonicalize's
`add_row_update_in_place` makes a `tn.index_add`: one row per step, in place).
Only the values the backward sweep needs are kept: the residuals, nothing else.

A branch is linearized into a tangent tn.cond that recomputes the taken branch's primal ops;
its transpose is one more tn.cond: only the taken branch's derivative runs.

Reverse mode stacks the residuals over the steps: `length` rows for loops with per-step
outputs, the trip's rows for a constant trip count, a dynamic length (`?` rows, issue 16) for
a traced one or a do-while loop (`th.while_loop`): the lowering allocates those rows up front
for a small bound, else in buffers that double as the steps run (dialects/tn/ops/control.py
`_lower_do_while_growing`), so the forward runs once.
"""
from __future__ import annotations

from typing import Callable, Iterable, Sequence

import numpy as np
from mlir import ir

from theanir.dialects.tn import lax
from theanir.dialects.tn.builder import emit1
from theanir.dialects.tn.lax import Value
from theanir.dialects.tn.ops.control import (DYNAMIC, body_block, captured_values, cond, scan,
                                             scan_counts, terminator)
from theanir.dialects.tn.ops.control_ad import copy_discardable as _copy_discardable
from theanir.dialects.tn.ops.control_ad import truncation
from theanir.dialects.tn.regions import Region, emit_region_op
from theanir.dialects.tn.registry import OPS
from theanir.dialects.tn.types import TensorSpec, spec_of_value

from . import ad
from .ad import DifferentiationError

_I64 = np.dtype(np.int64)


# ---------------------------------------------------------------- helpers
def _is_float(v: ir.Value) -> bool:
    return spec_of_value(v).dtype.kind in "fc"  # complex too: JAX's convention (ops/complex_parts.py)


def _zeros(spec: TensorSpec) -> ir.Value:
    return emit1("tn.constant", [], {"value": np.zeros(spec.shape, spec.dtype)})


def _zeros_like(v: ir.Value) -> ir.Value:
    """Zeros of v's type; dynamic dims sized from v when the code runs."""
    spec = spec_of_value(v)
    return _zeros(spec) if spec.is_static else lax.zeros_like(Value(v)).value


def _rows(length: int) -> int | None:
    """The leading dim of a stacked output: None for a dynamic length (DYNAMIC)."""
    return None if length == DYNAMIC else length


def _take_step(stack: ir.Value, i: ir.Value) -> ir.Value:
    """stack[i] in a loop body. A stack of 0 rows belongs to a loop of 0 steps, whose body
    never runs but is still built, and tn.take refuses an empty axis: a zero stands in."""
    spec = spec_of_value(stack)
    if spec.shape[0] != 0:
        return emit1("tn.take", [stack, i], {"axis": 0})
    zero = emit1("tn.constant", [], {"value": np.zeros((), spec.dtype)})
    return emit1("tn.broadcast_to", [zero], {"shape": spec.shape[1:]}) if spec.ndim > 1 else zero


def _const_i64(v: int) -> ir.Value:
    return emit1("tn.constant", [], {"value": np.array(v, _I64)})


def _static_int(v: ir.Value) -> int | None:
    """The value of a tn.constant integer scalar, else None."""
    owner = v.owner
    if not isinstance(owner, ir.OpView) or owner.operation.name != "tn.constant":
        return None
    value = OPS["tn.constant"].decode_attrs(owner.operation)["value"]
    return int(value) if np.ndim(value) == 0 else None


def _remap(op: ir.Operation, mapping: dict) -> None:
    """Replace operands found in `mapping`, in `op` and in ops nested in its regions."""
    for i, v in enumerate(op.operands):
        if v in mapping:
            op.operands[i] = mapping[v]
    for region in op.regions:
        for block in region.blocks:
            for child in block.operations:
                _remap(child.operation, mapping)


def clone_ops(ops: Iterable, mapping: dict) -> None:
    """Clone `ops` at the current insertion point, reading `mapping[v]` for each value v
    found there (inside regions too); the clones' results are added to `mapping`."""
    ip = ir.InsertionPoint.current
    for op in ops:
        new = op.operation.clone(ip=ip)
        _remap(new, mapping)
        for a, b in zip(op.results, new.results):
            mapping[a] = b


def _body_ops(block: ir.Block) -> list:
    return [o.operation for o in block.operations][:-1]


def tainted(ops: Sequence, seeds: Iterable[ir.Value]) -> set:
    """The values of `ops` (in order) that depend on `seeds`, the seeds included."""
    out = set(seeds)
    reads = ad.reads
    for op in ops:
        if any(v in out for v in reads(op)):
            out.update(op.results)
    return out


def _needed(ops: Sequence, roots: Iterable[ir.Value]) -> list:
    """The ops among `ops` that the values `roots` transitively need, in order."""
    return ad.needed_ops(ops, roots)


def _region(specs: Sequence[TensorSpec]) -> Region:
    return Region(specs)


def _emit_region(name: str, operands: Sequence[ir.Value], attrs: dict, specs, regions) -> list[ir.Value]:
    return [t.value for t in emit_region_op(name, operands, attrs, specs, regions)]


def _close(region: Region, values: Sequence[ir.Value]) -> None:
    region.close(values)


def _specs(values: Iterable[ir.Value]) -> list[TensorSpec]:
    return [spec_of_value(v) for v in values]


# ---------------------------------------------------------------- tn.scan: forward mode
def _active_carries(op: ir.Operation, tangent_of: Callable) -> tuple[list[int], list[int], list]:
    """(carries with a tangent, per-step outputs with a tangent, captured values with one):
    a carry is active when its initial value has a tangent or its update depends on an
    active value (a fixpoint over the body)."""
    k, m = scan_counts(op)
    block = body_block(op)
    args, ys = list(block.arguments), list(terminator(block).operands)
    inits = list(op.operands)[1:]
    caps = [v for v in captured_values(op) if _is_float(v) and tangent_of(v) is not None]
    active = {j for j in range(k) if _is_float(inits[j]) and tangent_of(inits[j]) is not None}
    ops = _body_ops(block)
    while True:
        seen = tainted(ops, list(caps) + [args[1 + j] for j in active])
        grown = active | {j for j in range(k) if _is_float(ys[j]) and ys[j] in seen}
        if grown == active:
            break
        active = grown
    outs = [j for j in range(m) if _is_float(ys[k + j]) and ys[k + j] in seen]
    return sorted(active), outs, caps


def _trace_jvp_body(op: ir.Operation, act: list[int], caps: list, tangent_of: Callable,
                    linearize: bool):
    """A scratch region: args (index, carries, tangent carries of `act`) holding the body and
    its jvp. Returns (region, mapping old body value -> scratch value, tangent yields)."""
    k, m = scan_counts(op)
    block = body_block(op)
    args = list(block.arguments)
    region = _region(_specs(args) + [spec_of_value(args[1 + j]) for j in act])
    new_args = list(region.block.arguments)
    mapping = dict(zip(args, new_args))
    t_args = new_args[len(args):]

    def trace():
        clone_ops(_body_ops(block), mapping)
        ys = [mapping.get(v, v) for v in terminator(block).operands]
        inputs = [new_args[1 + j] for j in act] + list(caps)
        tangents = list(t_args) + [tangent_of(c).value for c in caps]
        return ad.jvp_values(ys, inputs, tangents, linearize=linearize)

    t_ys = region.trace(trace)
    return region, mapping, t_ys


def _tangent_or_zeros(t: ir.Value | None, like: ir.Value) -> ir.Value:
    return t if t is not None else _zeros_like(like)


@scan.def_jvp_region
def _scan_jvp(op: ir.Operation, tangent_of: Callable, linearize: bool) -> dict:
    act, outs, caps = _active_carries(op, tangent_of)
    if not act and not outs:
        return {}
    if linearize:
        return _scan_linearize(op, act, outs, caps, tangent_of)
    return _scan_jvp_joint(op, act, outs, caps, tangent_of)


def _scan_jvp_joint(op: ir.Operation, act: list[int], outs: list[int], caps: list,
                    tangent_of: Callable) -> dict:
    """One loop over [carries, tangent carries] yielding [outputs, tangent outputs]."""
    attrs = scan.decode_attrs(op)
    k, m = scan_counts(op)
    inits = list(op.operands)[1:]
    t_inits = [_tangent_or_zeros(_value(tangent_of(inits[j])), inits[j]) for j in act]
    region, mapping, t_ys = _trace_jvp_body(op, act, caps, tangent_of, linearize=False)
    ys = [mapping.get(v, v) for v in terminator(body_block(op)).operands]
    flag = ys[k + m:]
    with ir.InsertionPoint(region.block):
        t_carries = [_tangent_or_zeros(t_ys[j], ys[j]) for j in act]
        t_outs = [_tangent_or_zeros(t_ys[k + j], ys[k + j]) for j in outs]
    _close(region, ys[:k] + t_carries + ys[k:k + m] + t_outs + flag)
    results = list(op.results)
    specs = _specs(results[:k] + [inits[j] for j in act] + results[k:]
                   + [results[k + j] for j in outs])
    new = _emit_region("tn.scan", [op.operands[0], *inits, *t_inits], attrs, specs, [region])
    found = {results[j]: new[k + a] for a, j in enumerate(act)}
    base = k + len(act) + m
    found.update({results[k + j]: new[base + b] for b, j in enumerate(outs)})
    return {v: Value(t) for v, t in found.items()}


def _value(t) -> ir.Value | None:
    return None if t is None else t.value


# ---------------------------------------------------------------- tn.scan: linearize
def _scan_linearize(op: ir.Operation, act: list[int], outs: list[int], caps: list,
                    tangent_of: Callable) -> dict:
    attrs = scan.decode_attrs(op)
    length, until = attrs["length"], attrs["until"]
    k, m = scan_counts(op)
    original = op
    n_steps = op.operands[0]
    if m == 0:  # no per-step rows: the residuals are stacked over the steps that run
        trip = _static_int(n_steps)
        # a trip count unknown while tracing (fori_loop with traced bounds) or a do-while
        # loop (th.while_loop, its bound huge): a dynamic length, as many rows as steps run;
        # rows of a loop without a small bound go to buffers that double (dialects/tn/ops/
        # control.py `_lower_do_while_growing`), so the forward runs once
        length = DYNAMIC if trip is None or until else max(trip, 0)
    region, mapping, t_ys = _trace_jvp_body(op, act, caps, tangent_of, linearize=True)
    try:
        found = _split(op, region, mapping, t_ys, act, outs, caps, tangent_of, length)
    finally:
        region.discard()
    for old, new in zip(original.results, op.results):  # the replaced loop's results too
        if new in found and old != new:
            found[old] = found[new]
    return found


def _split(op: ir.Operation, scratch, mapping: dict, t_ys: list, act: list[int], outs: list[int],
           caps: list, tangent_of: Callable, length: int) -> dict:
    """Build the primal loop (replacing `op`) and the tangent loop from the scratch body."""
    attrs = scan.decode_attrs(op)
    until = attrs["until"]
    k, m = scan_counts(op)
    n_steps, inits = op.operands[0], list(op.operands)[1:]
    s_args = list(scratch.block.arguments)
    index, carries, t_args = s_args[0], s_args[1:1 + k], s_args[1 + k:]
    s_ops = [o.operation for o in scratch.block.operations]
    ys = [mapping.get(v, v) for v in terminator(body_block(op)).operands]
    t_yields = ([_TangentSlot(t_ys[j], ys[j]) for j in act]
                + [_TangentSlot(t_ys[k + j], ys[k + j]) for j in outs])

    seeds = list(t_args) + [tangent_of(c).value for c in caps]
    lin = tainted(s_ops, seeds)
    reads = ad.reads
    linear_ops = [o for o in s_ops if any(v in lin for v in reads(o))]
    primal_ops = [o for o in s_ops if not any(v in lin for v in reads(o))]
    inner = set(s_args) | {r for o in s_ops for r in o.results}
    variant = tainted(primal_ops, [index, *carries])
    by_index = _recomputable(primal_ops, index, inner)
    # Residuals: primal values of this body that the tangent computation reads.
    wanted: list[ir.Value] = []
    for v in [x for o in linear_ops for x in reads(o)] + [s.value for s in t_yields if s.value is not None]:
        if v not in lin and v in inner and v not in wanted:
            wanted.append(v)
    stacked = [v for v in wanted if v in variant and v != index and v not in by_index]
    invariant = [v for v in wanted if v not in variant or v in by_index]

    # -- the primal loop, where the original one was
    with ir.InsertionPoint(op):
        p_inits = list(inits) + ([_const_i64(0)] if until else [])
        p_specs = _specs([index, *carries]) + ([TensorSpec((), _I64)] if until else [])
        p_region = _region(p_specs)
        p_args = list(p_region.block.arguments)
        p_map = dict(zip([index, *carries], p_args[:1 + k]))
        p_ys_old = ys[:k] + ys[k:k + m]
        flag = ys[k + m:]

        def primal_body():
            clone_ops(_needed(primal_ops, p_ys_old + stacked + flag), p_map)
            out = [p_map.get(v, v) for v in ys[:k]]
            if until:
                out.append(emit1("tn.add", [p_args[-1], _const_i64(1)]))
            return out + [p_map.get(v, v) for v in ys[k:k + m] + stacked + flag]

        p_yields = p_region.trace(primal_body)
        _close(p_region, p_yields)
        results = list(op.results)
        count_spec = [TensorSpec((), _I64)] if until else []
        p_specs_out = (_specs(results[:k]) + count_spec + _specs(results[k:])
                       + [TensorSpec((_rows(length),) + spec_of_value(v).shape, spec_of_value(v).dtype)
                          for v in stacked])
        p_attrs = {**attrs, "length": length}
        primal = _emit_region("tn.scan", [n_steps, *p_inits], p_attrs, p_specs_out, [p_region])
        _copy_discardable(op, primal[0].owner.operation)
    new_finals, count = primal[:k], (primal[k] if until else None)
    base = k + (1 if until else 0)
    new_outs, residual_stacks = primal[base:base + m], primal[base + m:]
    for old, new in zip(results, new_finals + new_outs):
        old.replace_all_uses_with(new)

    # -- the tangent loop, here (it reads tangents computed before this point)
    t_inits = [_tangent_or_zeros(_value(tangent_of(inits[j])), inits[j]) for j in act]
    t_specs = [TensorSpec((), _I64)] + _specs(t_args)
    t_region = _region(t_specs)
    t_block_args = list(t_region.block.arguments)
    t_map = {index: t_block_args[0], **dict(zip(t_args, t_block_args[1:]))}

    def tangent_body():
        for v, stack in zip(stacked, residual_stacks):
            t_map[v] = _take_step(stack, t_block_args[0])
        clone_ops(_needed(primal_ops, invariant), t_map)
        clone_ops(linear_ops, t_map)
        return [t_map.get(s.value, s.value) if s.value is not None else _zeros_like(t_map.get(s.primal, s.primal))
                for s in t_yields]

    t_yield_values = t_region.trace(tangent_body)
    _close(t_region, t_yield_values)
    t_out_specs = (_specs([inits[j] for j in act])
                   + [TensorSpec((_rows(length),) + s.spec.shape, s.spec.dtype) for s in t_yields[len(act):]])
    trip = count if until else n_steps
    t_attrs = {**attrs, "length": length, "until": False}
    tangent = _emit_region("tn.scan", [trip, *t_inits], t_attrs, t_out_specs, [t_region])
    _copy_discardable(op, tangent[0].owner.operation)

    found = {}
    for a, j in enumerate(act):
        found[results[j]] = found[new_finals[j]] = tangent[a]
    for b, j in enumerate(outs):
        found[results[k + j]] = found[new_outs[j]] = tangent[len(act) + b]
    return {v: Value(t) for v, t in found.items()}


# Ops cheap enough to redo in the tangent/backward loop instead of stacking their results.
_CHEAP = {"tn.take", "tn.reshape", "tn.broadcast_to", "tn.transpose", "tn.slice", "tn.cast",
          "tn.constant", "tn.add", "tn.sub", "tn.neg", "tn.iota"}


def _recomputable(ops: Sequence, index: ir.Value, inner: set) -> set:
    """Values computed from the index and outer values alone by cheap ops (e.g. the row
    `tn.take(xs, i)` of a sequence): the tangent loop recomputes them from its own index."""
    out = {index}
    for op in ops:
        if op.name in _CHEAP and all(v in out or v not in inner for v in op.operands):
            out.update(op.results)
    return out


class _TangentSlot:
    """A tangent the tangent body yields (None = zero) and the primal value it belongs to."""

    def __init__(self, value: ir.Value | None, primal: ir.Value):
        self.value = value
        self.primal = primal
        self.spec = spec_of_value(primal)


# ---------------------------------------------------------------- tn.scan: transpose
@scan.def_transpose_region
def _scan_transpose(op: ir.Operation, out_cts: list, is_linear: Callable) -> dict:
    """The backward loop of a linear (tangent) loop: steps in reverse, carrying the carries'
    cotangents and accumulating those of the linear outer values its body reads."""
    attrs = scan.decode_attrs(op)
    length, until = attrs["length"], attrs["until"]
    if until:
        raise DifferentiationError("internal: a do-while tangent loop cannot be transposed")
    k, m = scan_counts(op)
    n_steps, inits = op.operands[0], list(op.operands)[1:]
    block = body_block(op)
    args = list(block.arguments)
    ys = list(terminator(block).operands)
    lin_caps = [v for v in captured_values(op) if is_linear(v)]
    body_ops = _body_ops(block)

    # the trip count and the steps to run backwards (the last `truncate_gradient`)
    trip = n_steps
    if m and length != DYNAMIC:
        trip = emit1("tn.minimum", [emit1("tn.maximum", [n_steps, _const_i64(0)]), _const_i64(length)])
    else:
        trip = emit1("tn.maximum", [n_steps, _const_i64(0)])
    steps = trip
    k_trunc = truncation(op)
    if k_trunc >= 0:
        steps = emit1("tn.minimum", [trip, _const_i64(k_trunc)])
    results = list(op.results)
    static_trip = _static_int(n_steps)
    if m and length != DYNAMIC and (static_trip is None or static_trip < length):
        out_cts = out_cts[:k] + [None if ct is None else _fold_tail(ct, trip, length)
                                 for ct in out_cts[k:]]
    carry_cts = [_ct_value(out_cts[j], results[j]) for j in range(k)]
    acc_inits = [_zeros_like(_primal_of(v)) for v in lin_caps]

    region = _region([TensorSpec((), _I64)] + _specs(args[1:]) + _specs(lin_caps))
    b_args = list(region.block.arguments)

    def backward_body():
        j = b_args[0]
        i = emit1("tn.sub", [emit1("tn.sub", [trip, _const_i64(1)]), j])
        # the tangent carries: placeholders of their type (transposed, then erased), sized
        # like the carries' cotangents when their dims are dynamic
        stand_ins = [_zeros(spec_of_value(a)) if spec_of_value(a).is_static
                     else emit1("tn.ensure_shape", [c], {"shape": tuple(-1 if n is None else n for n in spec_of_value(a).shape)})
                     for a, c in zip(args[1:], b_args[1:1 + k])]
        mapping = {args[0]: i, **dict(zip(args[1:], stand_ins))}
        clone_ops(body_ops, mapping)
        linear = set(stand_ins) | set(lin_caps)
        lin_ops = ad.linear_ops_of(region.block, linear)
        cts: dict = {v: _Terms() for v in lin_caps}
        for a, y in enumerate(ys[:k]):
            _seed(cts, mapping.get(y, y), b_args[1 + a], linear)
        for b, y in enumerate(ys[k:k + m]):
            ct = out_cts[k + b]
            if ct is not None:
                _seed(cts, mapping.get(y, y), _take_step(ct.value, i), linear)
        # dynamic dims of the linear values read here: the carries' from their cotangents,
        # the outer values' from their primals
        primals = {s: s.owner.operands[0] for s in stand_ins if not spec_of_value(s).is_static}
        primals.update({v: _primal_of(v) for v in lin_caps if not spec_of_value(v).is_static})
        ad.transpose_ops(lin_ops, linear, cts, primals)
        new_carry_cts = [cts[s].value if s in cts else _zeros_like(primals.get(s, s)) for s in stand_ins]
        accs = [cts[v].add_into(acc) for acc, v in zip(b_args[1 + k:], lin_caps)]
        ad.erase_unused(lin_ops)
        for s in stand_ins:
            if not list(s.uses):
                s.owner.erase()
        return new_carry_cts + accs

    values = region.trace(backward_body)
    _close(region, values)
    specs = _specs(args[1:]) + _specs(lin_caps)
    b_attrs = {**attrs, "length": 0, "until": False}
    out = _emit_region("tn.scan", [steps, *carry_cts, *acc_inits], b_attrs, specs, [region])
    found: dict = {}
    pairs = [(inits[j], out[j]) for j in range(k) if is_linear(inits[j])]
    for v, ct in pairs + list(zip(lin_caps, out[k:])):  # a value may be both init and captured
        found[v] = Value(ct) if v not in found else found[v] + Value(ct)
    return found


class _Terms:
    """The cotangent contributions a backward step makes to an outer linear value, kept
    apart (`ad._accumulate` adds them with `+`) and added into the value's accumulator one
    by one at the end of the step: acc + c1 + c2, a plain accumulation. (tn-canonicalize's
    `add_row_update_in_place` makes `acc + scatter_add(row, i)`, the contribution of a
    sequence read row by row, an in-place tn.index_add.)"""

    def __init__(self, terms: Sequence[Value] = ()):
        self.terms = list(terms)

    def __add__(self, c: Value) -> "_Terms":
        return _Terms(self.terms + [c])

    def add_into(self, acc: ir.Value) -> ir.Value:
        total = Value(acc)
        for c in self.terms:
            total = total + c
        return total.value


def _fold_tail(ct, trip: ir.Value, length: int):
    """The cotangent of stacked rows when the loop ran `trip` < `length` steps: rows at and
    after `trip` repeat row trip-1, so their cotangents add up into that row."""
    # (the ops are emitted in the order the NumPy-style version of this rule emitted them)
    def where(c, a, b):  # c, a or b of lower rank, broadcast to ct's shape
        zero = lax.constant(np.zeros((), ct.dtype))
        c, a, b = (lax.broadcast_to(zero if x is None else x, ct.shape) for x in (c, a, b))
        return lax.where(c, a, b)

    rows = lax.iota((length,), 0, _I64)
    lead = (length,) + (1,) * (ct.ndim - 1)
    ran = lax.reshape(rows < lax.broadcast_to(trip, (length,)), lead)
    tail = lax.reduce_sum(where(ran, None, ct), (0,))
    last = lax.reshape(rows == lax.broadcast_to(lax.sub(trip, 1), (length,)), lead)
    return where(ran, ct, None) + where(last, tail, None)


def _ct_value(ct, like: ir.Value) -> ir.Value:
    return ct.value if ct is not None else _zeros_like(_primal_of(like))


def _primal_of(v: ir.Value) -> ir.Value:
    """A value of v's shape to size zeros by: v itself, unless v is linear (a tangent being
    transposed: its sizes are those of the primal it stands for, `ad.primal_of`)."""
    if spec_of_value(v).is_static:
        return v
    p = ad.primal_for(v)
    if p is None:
        raise DifferentiationError(f"internal: no primal value to size the cotangent of a "
                                   f"{spec_of_value(v)} value (dynamic shapes)")
    return p


def _seed(cts: dict, y: ir.Value, ct: ir.Value, linear: set) -> None:
    """A yielded value's cotangent; yields that are not linear (zero tangents) take none."""
    if y in linear:
        ad._accumulate(cts, y, ct)


# ---------------------------------------------------------------- tn.cond
@cond.def_jvp_region
def _cond_jvp(op: ir.Operation, tangent_of: Callable, linearize: bool) -> dict:
    """A tangent tn.cond on the same predicate: each branch recomputes its primal ops and
    their jvp (so only the taken branch's derivative runs)."""
    caps = [v for v in captured_values(op) if _is_float(v) and tangent_of(v) is not None]
    results = list(op.results)
    branches, tangents = [], []
    for r in (0, 1):
        block = body_block(op, r)
        region = _region([])
        mapping: dict = {}

        def trace(block=block, mapping=mapping):
            clone_ops(_body_ops(block), mapping)
            ys = [mapping.get(v, v) for v in terminator(block).operands]
            return ad.jvp_values(ys, caps, [tangent_of(c).value for c in caps],
                                    linearize=linearize)

        tangents.append(region.trace(trace))
        branches.append(region)
    live = [j for j, res in enumerate(results)
            if _is_float(res) and (tangents[0][j] is not None or tangents[1][j] is not None)]
    if not live:
        for region in branches:
            region.discard()
        return {}
    for region, ts in zip(branches, tangents):
        with ir.InsertionPoint(region.block):
            values = [ts[j] if ts[j] is not None else _zeros(spec_of_value(results[j])) for j in live]
        _close(region, values)
    out = _emit_region("tn.cond", [op.operands[0]], {}, _specs([results[j] for j in live]), branches)
    return {results[j]: Value(t) for j, t in zip(live, out)}


@cond.def_transpose_region
def _cond_transpose(op: ir.Operation, out_cts: list, is_linear: Callable) -> dict:
    """A tn.cond on the same predicate whose branches transpose theirs (recomputing the
    branch's primal ops) and yield the cotangents of the linear outer values read."""
    lin_caps = [v for v in captured_values(op) if is_linear(v)]
    if not lin_caps:
        return {}
    branches = []
    for r in (0, 1):
        block = body_block(op, r)
        region = _region([])

        def trace(block=block, region=region):
            mapping: dict = {}
            clone_ops(_body_ops(block), mapping)
            linear = set(lin_caps)
            lin_ops = ad.linear_ops_of(region.block, linear)
            cts: dict = {}
            for y, ct in zip(terminator(block).operands, out_cts):
                if ct is not None:
                    _seed(cts, mapping.get(y, y), ct.value, linear)
            ad.transpose_ops(lin_ops, linear, cts)
            values = [_ct_value(cts.get(v), v) for v in lin_caps]
            ad.erase_unused(lin_ops)
            return values

        _close(region, region.trace(trace))
        branches.append(region)
    out = _emit_region("tn.cond", [op.operands[0]], {}, _specs(lin_caps), branches)
    return {v: Value(t) for v, t in zip(lin_caps, out)}
