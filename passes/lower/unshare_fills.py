"""theanir-unshare-fills: each accumulating op gets its own filled init, not a shared one.

`cse` merges identical `linalg.fill`s: the deep MLP's step (784-1000x3-10, batch 60) had one
zero-filled `tensor<60x1000xf32>` as the init of all six of its 60 x 1000 products, and one
zero `tensor<1000xf32>` as the init of three bias-gradient column sums. An init is written
in place, so one-shot bufferization gave every user but the last a new buffer and a
`memref.copy` of the zeros (240 KB read and written per product, on one thread), and the
product's init was a copy, not a fill: convert-linalg-matmul-to-blas passes beta = 0 (and
drops the fill) only for a zero fill of C itself, so each product also read C.

This pass runs after the last `cse` before bufferization. A `linalg.fill` of a
`tensor.empty` whose result has more than one use: every use that is the init (an `outs`
operand) of a linalg op gets a fill of a new `tensor.empty` of its own, made just before that
op (the empty's dynamic sizes are the original's: they dominate the fill, so the user too);
the original fill (and its empty) goes when nothing else reads it. The values are unchanged; the
buffers are now each filled in place (a fill writes, a copy reads and writes), and a
product's fill becomes BLAS's beta = 0.

    %e = tensor.empty()                                %e1 = tensor.empty()
    %z = linalg.fill ins(%c0) outs(%e)                 %z1 = linalg.fill ins(%c0) outs(%e1)
    %p = linalg.matmul ... outs(%z)              ->    %p  = linalg.matmul ... outs(%z1)
    %q = linalg.matmul ... outs(%z)                    %e2 = tensor.empty()
                                                       %z2 = linalg.fill ins(%c0) outs(%e2)
                                                       %q  = linalg.matmul ... outs(%z2)
"""
from __future__ import annotations

from mlir import ir

from ..base import Pass
from .payloads import defining_op, ops_named

NAME = "theanir-unshare-fills"


def _init_uses(fill: ir.Operation) -> tuple[list[tuple[ir.Operation, int]], int]:
    """(user op, operand index) of each use of the fill's result as a linalg op's init, and the
    number of all uses."""
    inits, total = [], 0
    for use in fill.results[0].uses:
        total += 1
        user = use.owner.operation if isinstance(use.owner, ir.OpView) else use.owner
        if not user.name.startswith("linalg.") or "operandSegmentSizes" not in user.attributes:
            continue
        n_ins = ir.DenseI32ArrayAttr(user.attributes["operandSegmentSizes"])[0]
        if use.operand_number >= n_ins:
            inits.append((user, use.operand_number))
    return inits, total


def unshare_fills(module_op: ir.Operation) -> int:
    """Give shared fills' init uses their own fills (see the module doc); the number made."""
    made = 0
    for fill in ops_named(module_op, "linalg.fill"):
        if len(fill.results) != 1 or not isinstance(fill.results[0].type, ir.RankedTensorType):
            continue
        empty = defining_op(fill.operands[1])
        if empty is None or empty.name != "tensor.empty":
            continue
        inits, total = _init_uses(fill)
        if total < 2 or not inits:
            continue
        for user, index in inits:
            with ir.InsertionPoint(user):
                empty2 = empty.clone()
                fill2 = fill.clone()
            fill2.operands[1] = empty2.results[0]
            user.operands[index] = fill2.results[0]
            made += 1
        if not list(fill.results[0].uses):  # every use was an init
            fill.erase()
            if not list(empty.results[0].uses):
                empty.erase()
    return made


class UnshareFills(Pass):
    """A linalg.fill that cse made the init of several linalg ops: each gets its own fill of its
    own tensor.empty (bufferization then fills in place instead of copying)."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> None:
        unshare_fills(module_op)
