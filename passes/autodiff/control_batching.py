"""Batching rules (vmap) of `tn.scan` and `tn.cond`, which run the batching driver on bodies.

Attached to the dialect's OpDefs when `theanir.passes.autodiff` is imported (the dialect's own
rule, `ops/control.py` `region_loop`, a loop over the examples, stays the fallback):

- `tn.cond` with a shared predicate: one cond whose branches are batched (a result batched in
  either branch is batched in both). With a predicate per example: both branches run on the
  whole batch, inlined, and `tn.where` picks each example's result (JAX's select).
- `tn.scan` with a shared trip count: one loop whose body is batched, every carry batched.
  A do-while (`until`) whose stop flag differs per example and that stacks no per-step values
  (`th.while_loop`) runs until every example has stopped: an extra carry marks the examples
  still running, and a stopped example's carries no longer change. A trip count per example,
  or per-step values of a loop whose examples stop at different steps, fall back to the loop
  over the examples.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from mlir import ir

from theanir.dialects.tn import lax
from theanir.dialects.tn.batching import Unbatched, materialize, move_axis, remap
from theanir.dialects.tn.lax import Value
from theanir.dialects.tn.ops.control import (body_block, captured_values, cond, region_loop, scan, scan_counts,
                                             terminator)
from theanir.dialects.tn.ops.control_ad import copy_discardable
from theanir.dialects.tn.regions import Region, emit_region_op
from theanir.dialects.tn.types import TensorSpec, spec_of_value

from .batching import batch_values, placeholder


def _inline(block: ir.Block, mapping: dict) -> list[ir.Value]:
    """Clone the ops of `block` (not its terminator) at the insertion point, reading
    `mapping[v]` for each mapped value (block arguments, captured values); returns the
    yielded values, mapped."""
    ops = list(block.operations)
    for op in ops[:-1]:
        clone = op.operation.clone(ip=ir.InsertionPoint.current)
        remap(clone, mapping)
        for old, new in zip(op.results, clone.results):
            mapping[old] = new
    return [mapping.get(v, v) for v in terminator(block).operands]


def _batched_body(block: ir.Block, args: dict, captured: list, batched_of: Callable, size: Any) -> list:
    """Inline `block` at the insertion point with per-example stand-ins for its batched
    inputs (`args`: block argument -> batched Value, or -> plain ir.Value when unbatched;
    batched captured values), then batch it. Returns (Value, batched) per yielded value."""
    mapping: dict = {}
    stand_ins: dict = {}
    for a, v in args.items():
        if isinstance(v, Value):
            ph = placeholder(v, spec_of_value(a))
            stand_ins[ph] = v
            mapping[a] = ph
        else:
            mapping[a] = v
    for v in captured:
        b = batched_of(v)
        if b is not None:
            ph = placeholder(b, spec_of_value(v))
            stand_ins[ph] = b
            mapping[v] = ph
    yielded = _inline(block, mapping)
    if not stand_ins:
        return [(Value(v), False) for v in yielded]
    return batch_values(yielded, stand_ins, size)


# ------------------------------------------------------------------ tn.cond
@cond.def_batch_region
def _cond_batch(op: ir.Operation, batched_of: Callable, size: Any) -> list:
    captured = captured_values(op)
    pred = batched_of(op.operands[0])
    if pred is not None:
        return _cond_as_select(op, pred, captured, batched_of, size)
    regions = [Region([]) for _ in range(2)]
    pairs = [r.trace(_batched_body, body_block(op, k), {}, captured, batched_of, size)
             for k, r in enumerate(regions)]
    flags = [a[1] or b[1] for a, b in zip(*pairs)]
    for r, ps in zip(regions, pairs):  # a result batched in one branch is batched in both
        vals = r.trace(lambda ps=ps: [materialize(v, b, size) if f else v for (v, b), f in zip(ps, flags)])
        r.close(vals)
    specs = [v.spec for v in regions[0].yielded]
    outs = emit_region_op("tn.cond", [Value(op.operands[0])], {}, specs, regions)
    return [o if f else Unbatched(o) for o, f in zip(outs, flags)]


def _cond_as_select(op, pred: Value, captured: list, batched_of: Callable, size: Any) -> list:
    """Both branches on the whole batch, then each example's result by its predicate."""
    branches = [_batched_body(body_block(op, k), {}, captured, batched_of, size) for k in range(2)]
    out = []
    for (a, ba), (b, bb) in zip(*branches):
        a, b = materialize(a, ba, size), materialize(b, bb, size)
        p = lax.broadcast_to(lax.reshape(pred, (lax.dim(pred, 0),) + (1,) * (a.ndim - 1)), lax.shape_of(a))
        out.append(lax.where(p, a, b))
    return out


# ------------------------------------------------------------------ tn.scan
@scan.def_batch_region
def _scan_batch(op: ir.Operation, batched_of: Callable, size: Any) -> list:
    k, m = scan_counts(op)
    until = bool(ir.BoolAttr(op.attributes["until"]).value)
    length = int(ir.IntegerAttr(op.attributes["length"]).value)
    if batched_of(op.operands[0]) is not None:
        return region_loop(op, batched_of, size)  # a trip count per example
    captured = captured_values(op)
    inits = [materialize(batched_of(v) if batched_of(v) is not None else Value(v),
                         batched_of(v) is not None, size) for v in list(op.operands)[1:]]
    block = body_block(op)
    arg_specs = [TensorSpec((), np.dtype(np.int64))] + [x.spec for x in inits]
    lanes = until and m == 0  # a while loop: examples may stop at different steps
    operands = [Value(op.operands[0]), *inits]
    if lanes:  # built before the Region: the op goes where the Region's holder is
        operands.append(lax.full(lax.shape_of(inits[0])[:1] if inits else (size,), True, np.bool_))
        arg_specs.append(operands[-1].spec)
    region = Region(arg_specs)

    def body(i, *carries):
        carries = list(carries)
        active = carries.pop() if lanes else None
        args = {block.arguments[0]: i.value}
        args.update({a: c for a, c in zip(list(block.arguments)[1:], carries)})
        pairs = _batched_body(block, args, captured, batched_of, size)
        new = [materialize(v, b, size) for v, b in pairs[:k]]
        ys = pairs[k:k + m]
        flag = pairs[k + m] if until else None
        return new, ys, flag, active, carries

    new, ys, flag, active, carries = region.trace(body, *region.args)
    if flag is not None and flag[1] and not lanes:
        region.discard()
        return region_loop(op, batched_of, size)  # per-step rows of examples that stop apart
    yielded = list(new)
    if lanes:
        yielded = region.trace(_lane_updates, active, new, carries, flag, size)
    else:
        yielded += [v for v, _ in ys] + ([flag[0]] if flag is not None else [])
    region.close(yielded)
    rows = None if length == -1 else length
    specs = [x.spec for x in inits] + [TensorSpec((rows,) + v.shape, v.dtype) for v, _ in ys]
    if lanes:
        specs.append(arg_specs[-1])
    outs = emit_region_op("tn.scan", operands, {"length": length, "until": until}, specs, [region])
    if outs:
        copy_discardable(op, outs[0].value.owner.operation)
    result: list[Any] = list(outs[:k])
    for (v, b), o in zip(ys, outs[k:k + m]):
        result.append(move_axis(o, 1, 0) if b else Unbatched(o))
    return result


def _lane_updates(active: Value, new: list, old: list, flag: tuple, size: Any) -> list:
    """A while loop's step on examples that stop apart: carries of stopped examples keep their
    value; the loop stops once no example is running."""
    stop = materialize(flag[0], flag[1], size)
    keep = [_where_lanes(active, n, o) for n, o in zip(new, old)]
    still = active & ~stop
    done = ~lax.reduce("reduce_any", still, (0,), False)
    return keep + [still, done]


def _where_lanes(active: Value, new: Value, old: Value) -> Value:
    """new where the example is still running, old where it stopped."""
    p = lax.reshape(active, (lax.dim(active, 0),) + (1,) * (new.ndim - 1))
    return lax.where(lax.broadcast_to(p, lax.shape_of(new)), new, old)
