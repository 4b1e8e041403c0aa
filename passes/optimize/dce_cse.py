"""tn-dce and tn-cse: IRDL ops carry no side-effect traits, so upstream `cse` and `canonicalize`
never merge or delete them (DESIGN.md §2); these two walks do it for pure tn ops.
"""
from __future__ import annotations

from mlir import ir

from theanir.dialects.tn.registry import OPS

DCE_NAME = "tn-dce"
CSE_NAME = "tn-cse"


def _functions(module_op: ir.Operation):
    for op in module_op.regions[0].blocks[0].operations:
        if op.operation.name == "func.func" and op.regions[0].blocks:
            yield op.regions[0].blocks[0]


def _blocks(module_op: ir.Operation):
    """Every function body block and the blocks nested in its ops' regions (tn.scan bodies,
    tn.cond branches), outer blocks first. Region ops themselves are never merged here
    (their bodies would have to be compared); their bodies are cleaned."""
    def nested(block: ir.Block):
        yield block
        for op in block.operations:
            for region in op.regions:
                for b in region.blocks:
                    yield from nested(b)

    for block in _functions(module_op):
        yield from nested(block)


def _is_pure_tn(op) -> bool:
    d = OPS.get(op.operation.name)
    return d is not None and d.pure and not d.regions


def _is_erasable(op) -> bool:
    """Pure tn ops, and region ops (tn.scan, tn.cond) whose bodies hold only pure tn ops:
    reverse mode leaves the loop it replaced by a residual-stacking one unused."""
    d = OPS.get(op.operation.name)
    if d is None or not d.pure:
        return False
    return not d.regions or all(
        child.operation.name == "gpu.yield" or _is_erasable(child)
        for region in op.regions for b in region.blocks for child in b.operations)


def dce_block(block: ir.Block) -> int:
    """Erase unused pure tn ops, last to first so chains die in one sweep."""
    removed = 0
    for op in reversed(list(block.operations)):
        if all(not list(r.uses) for r in op.results) and _is_erasable(op):
            op.operation.erase()
            removed += 1
    return removed


def cse_block(block: ir.Block) -> int:
    """Merge identical pure tn ops (same name, operands, attributes and result types)."""
    seen: dict[tuple, ir.Operation] = {}
    merged = 0
    for op in list(block.operations):
        if not _is_pure_tn(op):
            continue
        o = op.operation
        key = (
            o.name,
            tuple(o.operands),  # ir.Value hashes and compares by the underlying SSA value
            tuple(sorted((name, str(o.attributes[name])) for name in o.attributes)),
            tuple(str(r.type) for r in o.results),
        )
        prev = seen.get(key)
        if prev is None:
            seen[key] = o
            continue
        for old, new in zip(o.results, prev.results):
            old.replace_all_uses_with(new)
        o.erase()
        merged += 1
    return merged


def run_dce(module_op: ir.Operation, pass_: object = None) -> None:
    for block in reversed(list(_blocks(module_op))):  # inner first: frees uses of outer values
        dce_block(block)


def run_cse(module_op: ir.Operation, pass_: object = None) -> None:
    for block in list(_blocks(module_op)):
        cse_block(block)
