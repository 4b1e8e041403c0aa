"""theanir-entry-abi: give the public function the destination-passing native interface.

`func @main(tensor...) -> (tensor...)` becomes `func @main(memref ins..., memref outs...)`
with `llvm.emit_c_interface`: inputs are read through `bufferization.to_tensor restrict`
(strided layouts for non-contiguous NumPy views, so nothing is copied), results are written
with `materialize_in_destination` into buffers the runtime allocated. Returning no memrefs
keeps ownership simple: the generated code frees every buffer it allocates itself.
"""
from __future__ import annotations

from typing import Sequence

from mlir import ir
from mlir.dialects import bufferization, func

NAME = "theanir-entry-abi"


def _memref_type(t: ir.RankedTensorType, contiguous: bool) -> ir.MemRefType:
    if contiguous:
        return ir.MemRefType.get(list(t.shape), t.element_type)
    dyn = ir.ShapedType.get_dynamic_stride_or_offset()
    layout = ir.StridedLayoutAttr.get(dyn, [dyn] * t.rank)
    return ir.MemRefType.get(list(t.shape), t.element_type, layout)


def make_entry(body: ir.Block, name: str, contiguous: Sequence[bool] | None = None) -> None:
    """Rename `name` to `name_impl` (private) and add the DPS entry `name` calling it."""
    impl = None
    for op in body.operations:
        if op.operation.name == "func.func" and ir.StringAttr(op.attributes["sym_name"]).value == name:
            impl = op
    if impl is None:
        raise ValueError(f"no function @{name} in the module")
    fty = ir.FunctionType(ir.TypeAttr(impl.attributes["function_type"]).value)
    ins = [ir.RankedTensorType(t) for t in fty.inputs]
    outs = [ir.RankedTensorType(t) for t in fty.results]
    contiguous = list(contiguous) if contiguous is not None else [True] * len(ins)
    impl_name = f"{name}_impl"
    impl.attributes["sym_name"] = ir.StringAttr.get(impl_name)
    impl.attributes["sym_visibility"] = ir.StringAttr.get("private")
    in_mem = [_memref_type(t, c) for t, c in zip(ins, contiguous)]
    out_mem = [_memref_type(t, True) for t in outs]
    with ir.InsertionPoint(body), impl.location:
        entry = func.FuncOp(name, (in_mem + out_mem, []))
        entry.attributes["llvm.emit_c_interface"] = ir.UnitAttr.get()
        block = entry.add_entry_block()
        with ir.InsertionPoint(block):
            tensors = [
                bufferization.ToTensorOp(t, a, restrict=True).result
                for t, a in zip(ins, block.arguments[: len(ins)])
            ]
            call = func.CallOp(outs, ir.FlatSymbolRefAttr.get(impl_name), tensors)
            for r, dest in zip(call.results, block.arguments[len(ins):]):
                bufferization.MaterializeInDestinationOp(None, r, dest, restrict=True, writable=True)
            func.ReturnOp([])
