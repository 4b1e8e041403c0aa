"""tn-scan-dce: drop what a tn.scan computes for nobody.

    %c, %d, %ys, %zs = "tn.scan"(%n, %c0, %d0) ({ ^bb0(%i, %c, %d): ...;
                                                   gpu.yield %c1, %d1, %y, %z })
    (%d, %zs unused; %d's chain d1 = f(d, ...) read by nothing live)
      -> %c, %ys = "tn.scan"(%n, %c0) ({ ^bb0(%i, %c): ...; gpu.yield %c1, %y })

A stacked output goes when its result is unused (a second output stacking the same value
first hands its users to the first). A carry goes when its final value is unused
and nothing live reads its block argument: live = the kept outputs, the `until` stop flag
(never removed) and the carries found live so far, closed under "reads" (a carry whose
argument a live value reads is live, and so is what its next value reads). The body code only
the dropped slots needed dies with them; a scan none of whose results is used is erased.
Dropping the last stacked output would lift the trip's cap at `length` (control.py): n_steps
becomes min(n_steps, length) then.
"""
from __future__ import annotations

import numpy as np
from mlir import ir

from theanir.dialects.tn.builder import location_override
from theanir.dialects.tn.ops.control import body_block, scan_counts, terminator

from ..patterns import op1
from .common import is_pure, length, reads, rebuild, scans, static_steps, until, used
from ...base import Pass

NAME = "tn-scan-dce"


def _live(op: ir.Operation) -> tuple[list[int], list[int]]:
    """(live carries, used stacked outputs) by position."""
    k, m = scan_counts(op)
    block = body_block(op)
    ys = list(terminator(block).operands)
    outputs = [j for j in range(m) if used(op.results[k + j])]
    live = {c for c in range(k) if used(op.results[c])}
    carry_of = {arg: c for c, arg in enumerate(list(block.arguments)[1:])}
    stack = [ys[k + j] for j in outputs] + ys[len(ys) - until(op):] + [ys[c] for c in live]
    seen: set[ir.Value] = set()
    while stack:
        v = stack.pop()
        if v in seen:
            continue
        seen.add(v)
        c = carry_of.get(v)
        if c is not None and c not in live:
            live.add(c)
            stack.append(ys[c])
        elif isinstance(v, ir.OpResult) and v.owner.operation.block == block:
            stack.extend(reads(v.owner.operation))
    return sorted(live), outputs


def _capped_steps(op: ir.Operation) -> ir.Value | None:
    """n_steps that keeps the trip once no output is stacked: min(n_steps, length)."""
    n, cap = static_steps(op), length(op)
    if cap < 0 or (n is not None and n <= cap):  # a dynamic length caps nothing
        return None
    with ir.InsertionPoint(op), location_override(op.location):
        c = op1("tn.constant", value=np.asarray(cap, np.int64))
        return c if n is not None else op1("tn.minimum", op.operands[0], c)


def _merge_duplicate_outputs(op: ir.Operation) -> None:
    """Stacked outputs that yield the same value: the later ones' users read the first (the
    duplicates are then unused and go). Reverse mode stacks a residual once per use."""
    k, m = scan_counts(op)
    ys = list(terminator(body_block(op)).operands)
    first: dict[ir.Value, int] = {}
    for j in range(m):
        y = ys[k + j]
        if y in first:
            op.results[k + j].replace_all_uses_with(op.results[k + first[y]])
        else:
            first[y] = j


def dce_scan(op: ir.Operation) -> bool:
    """Shrink or erase `op`; False when every slot is live."""
    _merge_duplicate_outputs(op)
    k, m = scan_counts(op)
    if not any(used(r) for r in op.results) and is_pure(op):
        op.erase()
        return True
    carries, outputs = _live(op)
    if len(carries) == k and len(outputs) == m:
        return False
    n_steps = _capped_steps(op) if m and not outputs else None
    rebuild(op, carries, outputs, n_steps)
    return True


def run_scan_dce(module_op: ir.Operation, pass_: object = None) -> int:
    with module_op.context, ir.Location.unknown(module_op.context):
        return sum(dce_scan(op) for op in scans(module_op))


class ScanDce(Pass):
    """tn.scan: drop unused stacked outputs and dead carry chains, erase unused scans."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> int:
        return run_scan_dce(module_op)
