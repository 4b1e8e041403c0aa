"""What the dialect says about the derivatives of `tn.scan`: its truncate_gradient attribute.

The jvp/transpose rules of the region ops `tn.scan` and `tn.cond` run the autodiff driver on
their bodies, so they live with the driver in `passes/autodiff/control.py` (registered onto
these ops' OpDefs with `def_jvp_region` / `def_transpose_region`). The discardable attribute
they read is part of the op's IR, so it is defined here, where the frontend and the loop
passes read it too.
"""
from __future__ import annotations

from mlir import ir

TRUNCATE = "truncate_gradient"  # discardable attribute of tn.scan: BPTT over the last k steps


def copy_discardable(src: ir.Operation, dst: ir.Operation) -> None:
    """Carry the scan's truncate_gradient over to a scan built from it."""
    if TRUNCATE in src.attributes:
        dst.attributes[TRUNCATE] = src.attributes[TRUNCATE]


def truncation(op: ir.Operation) -> int:
    """The scan's truncate_gradient (-1: backpropagate through every step)."""
    if TRUNCATE not in op.attributes:
        return -1
    return int(ir.IntegerAttr(op.attributes[TRUNCATE]).value)
