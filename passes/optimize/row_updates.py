"""tn-row-updates: in loop bodies, acc + scatter_add(u, i) -> index_add(acc, u, i), alone.

The pattern is tn-canonicalize's `add_row_update_in_place`; this pass runs only it (one
sweep, then the scatters it leaves unread are erased) for `fast_compile`, which runs no
canonicalize: reverse mode through a loop reading a sequence row by row accumulates the
sequence's cotangent as a dense add of a scattered row per step (AD rules only
differentiate), O(sequence) per step; the in-place row update is O(row). At fast_run the
canonicalizer applies the same pattern to its fixed point.

    %s = "tn.scatter_add"(%u, %i) {axis = 0, dim_size = 5}      // in a tn.scan body, %acc a carry
    %a = "tn.add"(%acc, %s)                    ->   %a = "tn.index_add"(%acc, %u, %i) {axis = 0}
"""
from __future__ import annotations

from mlir import ir

from ..base import Pass
from .canonicalize import add_row_update_in_place
from .dce_cse import dce_block
from .patterns import _sweep, blocks_of

NAME = "tn-row-updates"


def row_updates(module_op: ir.Operation) -> int:
    """Apply the row-update pattern once over every block; returns how many adds it rewrote."""
    table = {add_row_update_in_place.root: [add_row_update_in_place]}
    changed = 0
    with module_op.context, ir.Location.unknown(module_op.context):
        for block in list(blocks_of(module_op)):
            n = _sweep(block, table)
            if n:
                dce_block(block)  # the replaced add and its scatter
            changed += n
    return changed


class RowUpdates(Pass):
    """Loop-carried acc + scatter_add(u, i) -> index_add(acc, u, i) (tn-canonicalize's pattern
    alone, for fast_compile: O(row) instead of O(acc) per step of a backward loop)."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> None:
        row_updates(module_op)
