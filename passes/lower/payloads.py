"""Walks that do not enter linalg payloads (compile time of huge programs).

The region of a linalg op (its payload: `linalg.generic`'s body, a named op's implicit one)
holds scalar arith/math ops and `linalg.yield`, nothing a lowering pass here looks for
(tensors, memrefs, products, calls). Yet payloads are most of a module's ops: a fused tanh,
exp or sigmoid chain lowers to ~40-100 scalar ops, so at 10^4 tn ops (bench/compile_ops.py,
fast_run) a walk of everything visits ~390,000 ops against ~10,000 outside payloads, and the
Python callback per op made each pass that walked the module cost ~0.5-1 s there.
`walk_outside_payloads` visits every op in pre-order (program order, an op before what it
holds) except the ops inside a linalg op's regions; the linalg op itself is visited.
`ops_named` and `defining_op` are the lookups the linalg-stage passes share on top of it.
"""
from __future__ import annotations

from typing import Callable

from mlir import ir


def is_payload_owner(op: ir.Operation) -> bool:
    """A linalg op: its regions hold only its scalar payload."""
    return op.name.startswith("linalg.")


def walk_outside_payloads(root: ir.Operation, visit: Callable[[ir.Operation], object]) -> None:
    """Call `visit(op)` on `root` and every op it holds, pre-order, not entering linalg ops'
    regions (their payloads). `visit`'s return value is ignored."""

    def callback(op: ir.Operation) -> ir.WalkResult:
        op = op.operation if isinstance(op, ir.OpView) else op
        visit(op)
        return ir.WalkResult.SKIP if op.name.startswith("linalg.") else ir.WalkResult.ADVANCE

    root.walk(callback, ir.WalkOrder.PRE_ORDER)


def ops_outside_payloads(root: ir.Operation) -> list[ir.Operation]:
    """`root` and every op it holds outside linalg payloads, pre-order."""
    found: list[ir.Operation] = []
    walk_outside_payloads(root, found.append)
    return found


def ops_named(root: ir.Operation, name: str) -> list[ir.Operation]:
    """The ops called `name` that `root` holds outside linalg payloads, pre-order (`name` is
    never a payload's scalar op: tensors, fills, products, bufferization ops)."""
    found: list[ir.Operation] = []
    walk_outside_payloads(root, lambda op: found.append(op) if op.name == name else None)
    return found


def defining_op(value: ir.Value) -> ir.Operation | None:
    """The op that defines `value`, or None for a block argument."""
    owner = value.owner
    if isinstance(owner, ir.OpView):
        return owner.operation
    return owner if isinstance(owner, ir.Operation) else None
