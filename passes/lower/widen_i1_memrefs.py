"""theanir-widen-i1-memrefs: every `memref<...xi1>` becomes `memref<...xi8>` after bufferization.

This MLIR build aborts (an assertion, not an error) when `finalize-memref-to-llvm` meets a
load or store of i1 (DESIGN.md §4). Our own boolean tensors are stored as i8 already, but
`buffer-deallocation-pipeline` makes i1 buffers of its own: ownership flags of buffers that
loops (`tn.scan`) and branches (`tn.cond`) pass around, checked at run time by a generated
`dealloc_helper` taking `memref<?xi1>` arguments. This pass retypes those buffers to i8
and converts at the memory boundary: `memref.store` of an i1 stores its `extui`, a
`memref.load` gives i8 that is `trunci`'d back to i1 for its users. Every other op (alloc,
cast, dealloc, calls, block arguments, function types) only changes type.

    %m = memref.alloc() : memref<2xi1>            %m = memref.alloc() : memref<2xi8>
    memref.store %b, %m[%c0] : memref<2xi1>   ->  %e = arith.extui %b : i1 to i8
                                                  memref.store %e, %m[%c0] : memref<2xi8>
"""
from __future__ import annotations

from mlir import ir
from mlir.dialects import arith
from ..base import Pass
from .payloads import ops_outside_payloads

NAME = "theanir-widen-i1-memrefs"


def _is_i1(t: ir.Type) -> bool:
    return isinstance(t, ir.IntegerType) and ir.IntegerType(t).width == 1


def _widen(t: ir.Type) -> ir.Type | None:
    """memref<...xi1> -> memref<...xi8> (same shape and layout); None for other types."""
    if isinstance(t, ir.MemRefType) and _is_i1(t.element_type):
        mt = ir.MemRefType(t)
        return ir.MemRefType.get(list(mt.shape), ir.IntegerType.get_signless(8), mt.layout,
                                 mt.memory_space)
    if isinstance(t, ir.UnrankedMemRefType) and _is_i1(t.element_type):
        return ir.UnrankedMemRefType.get(ir.IntegerType.get_signless(8), t.memory_space)
    return None


def _retype(v: ir.Value) -> bool:
    new = _widen(v.type)
    if new is not None:
        v.set_type(new)
    return new is not None


def _fix_function_type(op: ir.Operation) -> None:
    fty = ir.FunctionType(ir.TypeAttr(op.attributes["function_type"]).value)
    ins = [_widen(t) or t for t in fty.inputs]
    outs = [_widen(t) or t for t in fty.results]
    op.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get(ins, outs))


def widen_i1_memrefs(module_op: ir.Operation, pass_: object = None) -> None:
    """Retype every i1 memref value of the module to i8, converting at loads and stores."""
    ops = ops_outside_payloads(module_op)  # a linalg payload holds scalars, no memref
    for op in ops:  # 1. types
        for region in op.regions:
            for block in region.blocks:
                for arg in block.arguments:
                    _retype(arg)
        if op.name == "func.func":
            _fix_function_type(op)
        for r in op.results:
            _retype(r)
    for op in ops:  # 2. the memory boundary
        if op.name == "memref.store" and _is_i1(op.operands[0].type):
            _widen_store(op)
        elif op.name == "memref.load" and _is_i1(op.results[0].type):
            _narrow_load(op)


def _widen_store(op: ir.Operation) -> None:
    """Store the i1 value's zero extension into the widened buffer."""
    value = op.operands[0]
    with ir.InsertionPoint(op), op.location:
        wide = arith.ExtUIOp(ir.IntegerType.get_signless(8), value).result
    op.operands[0] = wide


def _narrow_load(op: ir.Operation) -> None:
    """A load from a widened buffer yields i8; its users keep seeing an i1."""
    result = op.results[0]
    result.set_type(ir.IntegerType.get_signless(8))
    with ir.InsertionPoint.after(op), op.location:
        narrow = arith.TruncIOp(ir.IntegerType.get_signless(1), result)
    result.replace_all_uses_except(narrow.result, narrow.operation)


class WidenI1Memrefs(Pass):
    """After bufferization: i1 memrefs (loop ownership flags) become i8, converted at loads
    and stores."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> None:
        widen_i1_memrefs(module_op)
