"""theanir-donated-inits: compute an in-place update directly in the variable's buffer.

A donated result (passes/lower/entry_abi.py: `materialize_in_destination %new in %w`, where
`%w` is the writable tensor of the input it updates) is usually produced by an elementwise
`linalg.generic` into a `tensor.empty`: one-shot bufferization then allocates a temporary,
computes into it and copies it into the input's buffer. When the producer's payload never
reads that init, the init may as well be `%w` itself: the values are the same, and
bufferization computes in place (or, where another op still reads the old value afterwards,
copies `%w` first: still correct). An SGD step then reads and writes each weight once
instead of writing a temporary and copying it (2 of 6 passes over the weights saved).

This is `eliminate-empty-tensors` restricted to donated results: that pass is not used
(docs/design.md: it let two reductions share one buffer after `cse` merged their inits); here
only an init whose value the payload never reads is replaced (a `tensor.empty`, or an input
that fusion reused as the init, such as the gradient in `w - lr * g`).

    %e = tensor.empty()                                    (removed when unused)
    %new = linalg.generic ins(%w, %g) outs(%e)      ->     %new = linalg.generic ins(%w, %g) outs(%w)
    materialize_in_destination %new in %w                  materialize_in_destination %new in %w
"""
from __future__ import annotations

from mlir import ir
from ..base import Pass
from .payloads import defining_op, ops_named

NAME = "theanir-donated-inits"


def _unread_init(generic: ir.Operation, result: int) -> int | None:
    """The operand index of result `result`'s init if its value does not matter: the
    payload never reads its block argument (not an accumulation)."""
    n_ins = ir.DenseI32ArrayAttr(generic.attributes["operandSegmentSizes"])[0]
    index = n_ins + result
    if list(generic.regions[0].blocks[0].arguments[index].uses):
        return None
    return index


def donated_inits(module_op: ir.Operation, pass_: object = None) -> None:
    """Give donated results' producers the donated tensor as init (see the module doc)."""
    for mat in ops_named(module_op, "bufferization.materialize_in_destination"):
        if len(mat.results) != 1:
            continue  # a memref destination: an ordinary output
        source, dest = mat.operands[0], mat.operands[1]
        producer = defining_op(source)
        if producer is None or producer.name != "linalg.generic":
            continue
        if source.type != dest.type:
            continue
        index = _unread_init(producer, ir.OpResult(source).result_number)
        if index is None:
            continue
        old = producer.operands[index]
        producer.operands[index] = dest
        empty = defining_op(old)
        if empty is not None and empty.name == "tensor.empty" and not list(old.uses):
            empty.erase()


class DonatedInits(Pass):
    """An in-place update (donated result) produced by a linalg.generic into an unused
    tensor.empty is computed in the donated tensor instead."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> None:
        donated_inits(module_op)
