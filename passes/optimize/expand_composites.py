"""tn-expand-composites: softmax, log_softmax, logsumexp & co. (ops with a `decompose` rule)
expanded into the tn ops they are made of.

The optimizer runs it once the stabilizer no longer needs them whole: the expansion's max,
exp, sum and log then fuse (lowering them one by one made a [100, 50] logsumexp 6x slower
than one exp). The stage table runs it again right before convert-tn-to-linalg, which has
no lowering for composites (at fast_compile this is where they expand).

    %y = "tn.logsumexp"(%x) {axes = array<i64: 1>, keepdims = false} : ... // -> max-shifted
         // max, sub, exp, sum, log, add
"""
from __future__ import annotations

from mlir import ir

from theanir.dialects.tn.builder import location_override
from theanir.dialects.tn.lax import Value
from theanir.dialects.tn.registry import OPS

from ..base import Pass
from .loops.common import function_blocks

NAME = "tn-expand-composites"


def decompose_ops(block: ir.Block) -> int:
    """Expand every op that has a decompose rule into other tn ops (recursively); the rules
    build with the dialect's lax Values. Returns how many ops were expanded."""
    expanded = 0
    for op in list(block.operations):
        for region in op.regions:
            for b in region.blocks:
                expanded += decompose_ops(b)
        opdef = OPS.get(op.operation.name)
        if opdef is None or opdef.decompose is None:
            continue
        with ir.InsertionPoint(op), location_override(op.location):
            ins = [Value(v) for v in op.operands]
            outs = opdef.decompose(*ins, **opdef.decode_attrs(op.operation))
        outs = [outs] if isinstance(outs, Value) else list(outs)
        for old, new in zip(op.results, outs):
            old.replace_all_uses_with(new.value)
        op.operation.erase()
        expanded += 1
    # the expansion may itself contain decomposable ops
    if any(OPS.get(o.operation.name) and OPS[o.operation.name].decompose for o in block.operations):
        expanded += decompose_ops(block)
    return expanded


def expand_composites(module_op: ir.Operation, pass_: object = None) -> int:
    """Expand the composites of every function (nested regions included); returns how many."""
    return sum(decompose_ops(block) for block in function_blocks(module_op))


class ExpandComposites(Pass):
    """Composites (softmax, log_softmax, logsumexp: ops with a decompose rule) into their
    stable max-shift expansions in tn ops."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> int:
        return expand_composites(module_op)
