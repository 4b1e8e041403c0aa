"""tn-scan-inline: a tn.scan that statically runs one step becomes its body, one that runs none
becomes its initial values.

    %c, %ys = "tn.scan"(%one, %c0) ({ ^bb0(%i, %c): BODY; gpu.yield %c1, %y }) {length = L}
      -> BODY[%i := 0, %c := %c0];  %c -> %c1,  %ys -> broadcast_to(reshape(%y, [1, ...]), [L, ...])

Trip = max(n_steps, 0), at most `length` when outputs are stacked (control.py). One step: the
body runs once at index 0, whatever its `until` flag says (a do-while runs its first step);
the rows after the executed one repeat it, so L > 1 rows are a broadcast of the one row. No
step: the carries keep their initial values and the stacked rows are zeros. Scans with
attributes beyond `length` / `until` set (another step order) are left alone.
"""
from __future__ import annotations

import numpy as np
from mlir import ir

from theanir.dialects.tn.builder import location_override
from theanir.dialects.tn.ops.control import body_block, scan_counts, terminator
from theanir.dialects.tn.types import TensorSpec

from ..patterns import filled, op1, spec

from .common import is_plain, length, scans, static_trip
from ...base import Pass

NAME = "tn-scan-inline"


def _stack(y: ir.Value, rows: int) -> ir.Value:
    """y as `rows` identical rows: reshape(y, [1, ...]), broadcast to [rows, ...] if rows > 1."""
    shape = spec(y).shape
    row = op1("tn.reshape", y, shape=(1,) + shape)
    return row if rows == 1 else op1("tn.broadcast_to", row, shape=(rows,) + shape)


def _inline_step(op: ir.Operation) -> list[ir.Value]:
    """Move the body before `op` with index 0 and the initial carries; returns what it yields."""
    block = body_block(op)
    index, *carries = block.arguments
    index.replace_all_uses_with(op1("tn.constant", value=np.asarray(0, np.int64)))
    for arg, init in zip(carries, list(op.operands)[1:]):
        arg.replace_all_uses_with(init)
    term = terminator(block)
    for child in list(block.operations)[:-1]:
        child.operation.move_before(op)
    return list(term.operands)


def inline_scan(op: ir.Operation) -> bool:
    """Replace `op` by its single step or its initial values; False when its trip count is
    not statically 0 or 1."""
    trip = static_trip(op)
    k, m = scan_counts(op)
    stacked = [spec(r) for r in list(op.results)[k:]]
    if trip is None or trip > 1 or not is_plain(op) or not all(TensorSpec(s.shape[1:], s.dtype).is_static
                                                            for s in stacked):
        return False  # (rows with dynamic dims: left as a loop)
    # a dynamic length (`?` rows: as many as ran, control.DYNAMIC) has `trip` rows here
    rows = trip if length(op) < 0 else length(op)
    with ir.InsertionPoint(op), location_override(op.location):
        if trip == 0:
            values = list(op.operands)[1:] + [filled(0, TensorSpec((rows,) + s.shape[1:], s.dtype))
                                              for s in stacked]
        else:
            ys = _inline_step(op)
            values = ys[:k] + [_stack(y, rows) for y in ys[k:k + m]]
        values = values[:k] + [v if spec(v).shape == s.shape else
                               op1("tn.ensure_shape", v, shape=tuple(-1 if n is None else n for n in s.shape))
                               for v, s in zip(values[k:], stacked)]
    for r, v in zip(op.results, values):
        r.replace_all_uses_with(v)
    op.erase()
    return True


def run_scan_inline(module_op: ir.Operation, pass_: object = None) -> int:
    """Inline every scan of trip 0 or 1 (inner scans first); returns how many."""
    with module_op.context, ir.Location.unknown(module_op.context):
        return sum(inline_scan(op) for op in scans(module_op))


class ScanInline(Pass):
    """tn.scan with a static trip of 1 (0): its body inlined at index 0 (its initial
    values)."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> int:
        return run_scan_inline(module_op)
