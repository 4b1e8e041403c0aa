"""theanir-entry-abi: give the public function the destination-passing native interface.

`func @main(tensor...) -> (tensor...)` becomes `func @main(memref ins..., memref outs...)`
with `llvm.emit_c_interface`: inputs are read through `bufferization.to_tensor restrict`
(strided layouts for non-contiguous NumPy views, so nothing is copied), results are written
with `materialize_in_destination` into buffers the runtime allocated. Returning no memrefs
keeps ownership simple: the generated code frees every buffer it allocates itself.

A *donated* pair (input j, output k) writes result k into input j's buffer (an in-place update
of a shared variable): input j is read through a `writable` to_tensor and result k is
materialized into that tensor, so one-shot bufferization's analysis decides when the write
may happen (after every read of the old value) and fails with "cannot avoid RaW conflict"
when no order works (updates that swap two variables; the caller then compiles without
donation). The tensor result is materialized again into input j's memref, which keeps it
alive through canonicalization (an unused tensor-destination materialize is dead code) and
folds to nothing once bufferized. Output k's own memref argument is unused (the runtime
passes input j's). Other results are materialized first, so an output that reads the old
value of a donated input (`outputs=[w]` with an update of `w`) is copied before the update.

Dynamic dims (docs/dynamic-shapes.md): an input with `?` dims is read through a `memref<?x...>`
(its descriptor carries the sizes). A result with `?` dims has no destination the runtime
could size before the call: its argument is a *slot* `memref<(1 + rank)xi64>` and the entry
returns the tensor; after bufferization `theanir-dynamic-results` writes the result buffer's
address and sizes into the slot (the attribute `theanir.result_slots` lists the slot
arguments) and the runtime adopts the buffer as the result's NumPy array.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from mlir import ir
from mlir.dialects import bufferization, func

from ..base import Pass
from ..options import CompileOptions

NAME = "theanir-entry-abi"


SLOTS_ATTR = "theanir.result_slots"
INPUTS_ATTR = "theanir.inputs"  # with SLOTS_ATTR: how many arguments are inputs (theanir-shape-function)


def slot_type(rank: int) -> ir.MemRefType:
    """The slot of a result with dynamic dims: [buffer address, size 0, ..., size rank-1]."""
    return ir.MemRefType.get([1 + rank], ir.IntegerType.get_signless(64))


def _memref_type(t: ir.RankedTensorType, contiguous: bool) -> ir.MemRefType:
    if contiguous:
        return ir.MemRefType.get(list(t.shape), t.element_type)
    dyn = ir.ShapedType.get_dynamic_stride_or_offset()
    layout = ir.StridedLayoutAttr.get(dyn, [dyn] * t.rank)
    return ir.MemRefType.get(list(t.shape), t.element_type, layout)


def make_entry(body: ir.Block, name: str, contiguous: Sequence[bool] | None = None,
               donate: Sequence[tuple[int, int]] = ()) -> None:
    """Rename `name` to `name_impl` (private) and add the DPS entry `name` calling it.
    `donate`: (input, output) pairs whose result is written into the input's buffer."""
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
    donated = dict((k, j) for j, k in donate)  # output -> input
    for k, j in donated.items():
        if not (0 <= j < len(ins) and 0 <= k < len(outs)) or ins[j] != outs[k] or not contiguous[j] \
                or not outs[k].has_static_shape:
            raise ValueError(f"{NAME}: cannot write output {k} into input {j} (types or layout differ)")
    if len(set(donated.values())) != len(donated):
        raise ValueError(f"{NAME}: an input is donated to two outputs")
    impl_name = f"{name}_impl"
    impl.attributes["sym_name"] = ir.StringAttr.get(impl_name)
    impl.attributes["sym_visibility"] = ir.StringAttr.get("private")
    in_mem = [_memref_type(t, c) for t, c in zip(ins, contiguous)]
    dynamic = [k for k, t in enumerate(outs) if not t.has_static_shape]
    out_mem = [slot_type(t.rank) if k in dynamic else _memref_type(t, True) for k, t in enumerate(outs)]
    with ir.InsertionPoint(body), impl.location:
        entry = func.FuncOp(name, (in_mem + out_mem, [outs[k] for k in dynamic]))
        entry.attributes["llvm.emit_c_interface"] = ir.UnitAttr.get()
        if dynamic:
            entry.attributes[SLOTS_ATTR] = ir.DenseI64ArrayAttr.get([len(ins) + k for k in dynamic])
            entry.attributes[INPUTS_ATTR] = ir.IntegerAttr.get(ir.IntegerType.get_signless(64), len(ins))
        block = entry.add_entry_block()
        with ir.InsertionPoint(block):
            writable = set(donated.values())
            tensors = [
                bufferization.ToTensorOp(t, a, restrict=True, writable=True if i in writable else None).result
                for i, (t, a) in enumerate(zip(ins, block.arguments[: len(ins)]))
            ]
            call = func.CallOp(outs, ir.FlatSymbolRefAttr.get(impl_name), tensors)
            for k, (r, dest) in enumerate(zip(call.results, block.arguments[len(ins):])):
                if k not in donated and k not in dynamic:
                    bufferization.MaterializeInDestinationOp(None, r, dest, restrict=True, writable=True)
            for k, j in sorted(donated.items()):
                kept = bufferization.MaterializeInDestinationOp(outs[k], call.results[k], tensors[j]).result
                # not `restrict`: the to_tensor above reads the same memref
                bufferization.MaterializeInDestinationOp(None, kept, block.arguments[j], writable=True)
            func.ReturnOp([call.results[k] for k in dynamic])


@dataclass(frozen=True)
class EntryAbiOptions:
    entry: str = "main"  # the public function
    contiguous: tuple[bool, ...] | None = None  # per input: C-contiguous (None: all are)
    donate: tuple[tuple[int, int], ...] = ()  # (input, output) pairs: output written in place


class EntryAbi(Pass):
    """Give the entry function the destination-passing C interface (memrefs,
    llvm.emit_c_interface), results written into the caller's (or donated inputs') buffers."""

    NAME = NAME
    Options = EntryAbiOptions

    @classmethod
    def from_compile_options(cls, opts: CompileOptions) -> EntryAbiOptions:
        contiguous = None if opts.contiguous is None else tuple(opts.contiguous)
        return EntryAbiOptions(opts.entry, contiguous, tuple(tuple(p) for p in opts.donate))

    @classmethod
    def run(cls, module_op: ir.Operation, options: EntryAbiOptions) -> None:
        make_entry(module_op.regions[0].blocks[0], options.entry, options.contiguous, options.donate)
