"""theanir-bound-empty-tensors: a `tensor.empty` serves at most MAX_USES destinations.

`cse` merges every `tensor.empty() : tensor<16x32xf32>` of a function into one value, and
each elementwise `linalg.generic` then names it as its `outs`. That sharing is what lets
one-shot bufferization reuse buffers (an op writes in place into the shared empty once the
previous writer's result is dead: the 12 temporaries of one block of bench/compile_ops.py
fit in 6 buffers). But the analysis checks each in-place candidate against every other use
of the value's aliases, so with n users sharing one empty it grows like n^3: 0.06 s for
100 ops, 31 s for 1,000 (bench/compile_ops.py, fast_compile). Giving every run of MAX_USES
consecutive users (in program order) a clone of the empty, placed right before the original
(so it dominates every use), keeps the reuse inside each run and bounds the cost per op.
Functions with no empty of more than MAX_USES uses are left exactly as they are.

    %e = tensor.empty()              %e = tensor.empty()
    ... 65 generics outs(%e) ...  -> %e1 = tensor.empty()
                                     ... 64 generics outs(%e), the 65th outs(%e1) ...
"""
from __future__ import annotations

from typing import Iterator

from mlir import ir

from ..base import Pass
from .payloads import ops_outside_payloads

NAME = "theanir-bound-empty-tensors"
MAX_USES = 64


def _walk(block: ir.Block) -> Iterator[ir.Operation]:
    """The block's ops in program order, nested regions included (pre-order), but not the
    scalar payloads of linalg ops (no tensor there; most of a huge program's ops)."""
    for op in block.operations:
        yield from ops_outside_payloads(op.operation)


def _crowded_empties(block: ir.Block) -> dict[ir.Value, ir.Operation]:
    """The results of the block's `tensor.empty` ops that have more than MAX_USES uses."""
    found = {}
    for op in _walk(block):
        if op.name != "tensor.empty":
            continue
        value = op.results[0]
        if sum(1 for _ in value.uses) > MAX_USES:
            found[value] = op
    return found


def bound_empty_tensors(module_op: ir.Operation, pass_: object = None) -> None:
    """Split the uses of every over-shared `tensor.empty` into runs of MAX_USES."""
    for func in module_op.regions[0].blocks[0].operations:
        if func.operation.name != "func.func" or not func.regions[0].blocks:
            continue
        block = func.regions[0].blocks[0]
        crowded = _crowded_empties(block)
        if not crowded:
            continue
        current = {v: v for v in crowded}  # the empty this value's next user takes
        taken = dict.fromkeys(crowded, 0)
        for op in list(_walk(block)):
            for i, v in enumerate(list(op.operands)):
                if v not in crowded:
                    continue
                if taken[v] == MAX_USES:
                    origin = crowded[v]
                    current[v] = origin.clone(ir.InsertionPoint(origin)).results[0]
                    taken[v] = 0
                taken[v] += 1
                if current[v] != v:
                    op.operands[i] = current[v]


class BoundEmptyTensors(Pass):
    """Before bufferization: a tensor.empty shared by more than 64 destinations is cloned per
    run of 64 (one-shot bufferization's analysis was cubic in the sharing: compile time)."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> None:
        bound_empty_tensors(module_op)
