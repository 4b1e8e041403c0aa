"""tn-scan-hoist: loop-invariant code motion out of tn.scan bodies.

    %r = "tn.scan"(%n, %c0) ({ ^bb0(%i, %c): %b = tn.broadcast_to(%bias); %s = tn.add(%c, %b) })
      -> %b = tn.broadcast_to(%bias)
         %r = "tn.scan"(%n, %c0) ({ ^bb0(%i, %c): %s = tn.add(%c, %b) })

An op of the body's own block moves before the scan when it is pure and reads (operands, and
what its regions capture) no block argument and no result of an op that stays in the body.
Every tn op is pure, so running it once even when the loop runs zero times changes no
result. Ops inside nested regions (a tn.cond branch, an inner scan's body) are not pulled out
across them: they may run conditionally; an inner region op moves as a whole when all it reads
is invariant. Inner scans are treated first, so what they hoist can move on outwards.
"""
from __future__ import annotations

from mlir import ir

from theanir.dialects.tn.ops.control import body_block

from .common import is_pure, reads, scans
from ...base import Pass

NAME = "tn-scan-hoist"


def hoist_scan(op: ir.Operation) -> int:
    """Move the invariant ops of `op`'s body before it, in order; returns how many moved."""
    block = body_block(op)
    inside: set[ir.Value] = set(block.arguments)
    moved = 0
    for child in list(block.operations)[:-1]:
        o = child.operation
        if is_pure(o) and not any(v in inside for v in reads(o)):
            o.move_before(op)
            moved += 1
        else:
            inside.update(o.results)
    return moved


def run_scan_hoist(module_op: ir.Operation, pass_: object = None) -> int:
    with module_op.context, ir.Location.unknown(module_op.context):
        return sum(hoist_scan(op) for op in scans(module_op))


class ScanHoist(Pass):
    """Move loop-invariant pure ops out of tn.scan bodies."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> int:
        return run_scan_hoist(module_op)
