"""theanir-dynamic-results: results with dynamic dims leave through slots, as buffers the runtime adopts.

A result whose shape is known only when the code runs cannot be written into a buffer the
runtime allocated before the call. `theanir-entry-abi` gives each such result a slot argument
`memref<(1 + rank)xi64>` (listed in the entry's `theanir.result_slots`) and returns the
tensor; after bufferization and the deallocation pipeline the entry returns memrefs the caller
owns. This pass stores each returned buffer's address and sizes in its slot and drops the
results, so the entry keeps the void destination-passing interface. The buffer was allocated
through the runtime's allocator (`theanir-runtime-memory`), so the runtime wraps it as the
result's NumPy array without a copy and frees it with the array. A returned value that is
not a fresh allocation (a view, an ownership-dependent clone) is first copied into one, so
the address stored is always one the allocator handed out.

    func.func @main(%x: memref<?xf32>, %slot: memref<2xi64>) -> memref<?xf32>
        attributes {theanir.result_slots = array<i64: 1>} { ... return %r }
    ->
    func.func @main(%x: memref<?xf32>, %slot: memref<2xi64>) {
        %p = memref.extract_aligned_pointer_as_index %r   // store %p, %slot[0]
        %n = memref.dim %r, 0                              // store %n, %slot[1]
        return }
"""
from __future__ import annotations

from mlir import ir
from mlir.dialects import arith, func, memref

from ..base import Pass
from .entry_abi import SLOTS_ATTR

NAME = "theanir-dynamic-results"


def _fresh(v: ir.Value, taken: list[ir.Value]) -> ir.Value:
    """`v` if it is a memref.alloc of identity layout, or a prefix view of one (a
    `memref.reinterpret_cast` at offset 0: a kernel that filled the first n entries of an
    array sized for the most it could produce, whose address is the allocation's), not
    handed to an earlier slot (the runtime adopts each address once: a value returned twice,
    `return x, x`, would be freed twice), else a copy into a new allocation."""
    base = _allocation(v)
    if base is not None and not any(b is not None and b == base for b in map(_allocation, taken)):
        return v
    clone = _clone_of(v)
    if clone is not None:  # the deallocation pipeline's clone of an argument: copy its source
        v = clone.operands[0]
    mt = ir.MemRefType(v.type)
    idx = ir.IndexType.get()
    dims = [memref.DimOp(v, arith.ConstantOp(idx, i).result).result
            for i in range(mt.rank) if mt.is_dynamic_dim(i)]
    fresh = memref.AllocOp(ir.MemRefType.get(list(mt.shape), mt.element_type), dims, []).result
    memref.CopyOp(v, fresh)
    return fresh


def _identity(t: ir.Type) -> bool:
    mt = ir.MemRefType(t)
    return mt == ir.MemRefType.get(list(mt.shape), mt.element_type)


def _allocation(v: ir.Value) -> ir.Value | None:
    """The memref.alloc (identity layout) whose address `v` has: `v` itself, or the source of
    a `memref.reinterpret_cast` of it at offset 0 with an identity layout that nothing frees
    here (the deallocation pipeline leaves a returned buffer to the caller); else None."""
    op = getattr(v.owner, "operation", v.owner)
    if not isinstance(op, ir.Operation) or not _identity(v.type):
        return None
    if op.name == "memref.reinterpret_cast":
        if list(ir.DenseI64ArrayAttr(op.attributes["static_offsets"])) != [0]:
            return None
        src = op.operands[0]
        src_op = getattr(src.owner, "operation", src.owner)
        if not isinstance(src_op, ir.Operation) or src_op.name != "memref.alloc" or not _identity(src.type):
            return None
        if any(getattr(u.owner, "operation", u.owner).name == "memref.dealloc" for u in src.uses):
            return None
        return src
    return v if op.name == "memref.alloc" else None


def _clone_of(v: ir.Value) -> ir.Operation | None:
    """The `bufferization.clone` that made `v` (a returned argument), else None: no later pass
    lowers a clone, and the LLVM translation would fail on it (a crash in emit_object)."""
    owner = v.owner
    op = getattr(owner, "operation", owner)
    if isinstance(op, ir.Operation) and op.name == "bufferization.clone":
        return op
    return None


def _erase_dead_clones(block: ir.Block) -> None:
    for op in list(block.operations):
        if op.operation.name == "bufferization.clone" and not list(op.operation.results[0].uses):
            op.operation.erase()


def dynamic_results(module_op: ir.Operation) -> int:
    """Rewrite every function with `theanir.result_slots`; returns how many were rewritten."""
    count = 0
    i64, idx = ir.IntegerType.get_signless(64), ir.IndexType.get()
    for op in module_op.regions[0].blocks[0].operations:
        if op.operation.name != "func.func" or SLOTS_ATTR not in op.operation.attributes:
            continue
        f = op.operation
        slots = list(ir.DenseI64ArrayAttr(f.attributes[SLOTS_ATTR]))
        block = f.regions[0].blocks[0]
        ret = block.operations[len(block.operations) - 1]
        results = list(ret.operands)
        if len(results) != len(slots):
            raise ValueError(f"{NAME}: {len(results)} results for {len(slots)} slots")
        with ir.InsertionPoint(ret), ret.location:
            taken: list[ir.Value] = []
            for value, slot_index in zip(results, slots):
                slot = block.arguments[slot_index]
                buf = _fresh(value, taken)
                taken.append(value)
                mt = ir.MemRefType(buf.type)
                addr = memref.ExtractAlignedPointerAsIndexOp(buf).result
                entries = [addr] + [memref.DimOp(buf, arith.ConstantOp(idx, i).result).result
                                    for i in range(mt.rank)]
                for k, e in enumerate(entries):
                    memref.StoreOp(arith.IndexCastOp(i64, e).result, slot, [arith.ConstantOp(idx, k).result])
            func.ReturnOp([])
        ret.erase()
        _erase_dead_clones(block)
        fty = ir.FunctionType(ir.TypeAttr(f.attributes["function_type"]).value)
        f.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get(list(fty.inputs), []))
        del f.attributes[SLOTS_ATTR]
        count += 1
    return count


class DynamicResults(Pass):
    """Results with dynamic dims: store each returned buffer's address and sizes in its slot
    argument (the runtime adopts the buffer), leaving a void destination-passing entry."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> int:
        return dynamic_results(module_op)
