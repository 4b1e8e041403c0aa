"""tn-sink-into-branches: pure tn ops used only inside one branch of a `tn.cond` move into
that branch, so an untaken branch computes nothing.

This is what makes `th.ifelse(c, a, b)` lazy even when `a` and `b` were traced before it.
The stage table runs it right before convert-tn-to-linalg (the optimizer's passes may merge
or hoist values out of branches again, so it runs after them).

    %a = "tn.exp"(%x) ...            // used only in the first region
    %r = "tn.cond"(%p) ({ "gpu.yield"(%a) }, { ... })
    // ->  %r = "tn.cond"(%p) ({ %a = "tn.exp"(%x) ... "gpu.yield"(%a) }, { ... })
"""
from __future__ import annotations

from mlir import ir

from theanir.dialects.tn.registry import OPS

from ..base import Pass
from .loops.common import function_blocks

NAME = "tn-sink-into-branches"


def _branch_of(user: ir.Operation, block: ir.Block) -> tuple[ir.Operation, ir.Region] | None:
    """(op of `block`, its region) that holds `user`, or None when `user` sits in `block`."""
    region = None
    cur = user
    while cur.block != block:
        region = cur.block.region
        cur = region.owner.operation
        if cur.name in ("func.func", "builtin.module"):
            return None
    return None if region is None else (cur, region)


def _sink_target(op: ir.Operation, block: ir.Block) -> ir.Block | None:
    """The branch block of a tn.cond that holds every use of `op`, if there is one."""
    target = None
    for r in op.results:
        for use in r.uses:
            where = _branch_of(use.owner.operation, block)
            if where is None or where[0].name != "tn.cond":
                return None
            if target is not None and not (target[0] == where[0] and target[1] == where[1]):
                return None
            target = where
    return None if target is None else target[1].blocks[0]


def sink_into_branches(block: ir.Block) -> int:
    """Move pure tn ops used only inside one branch of a tn.cond into that branch (nested
    blocks included), so an untaken branch computes nothing. Returns how many moved."""
    moved = 0
    for o in reversed([o.operation for o in block.operations]):
        opdef = OPS.get(o.name)
        if opdef is None or not opdef.pure or not list(o.results):
            continue
        target = _sink_target(o, block)
        if target is not None:
            o.move_before(list(target.operations)[0].operation)
            moved += 1
    for o in block.operations:
        for region in o.regions:
            for b in region.blocks:
                moved += sink_into_branches(b)
    return moved


class SinkIntoBranches(Pass):
    """Move pure tn ops used only inside one branch of a tn.cond into that branch (lazy
    branches)."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> None:
        for block in function_blocks(module_op):
            sink_into_branches(block)
