"""convert-tn-to-linalg: replace every tn op by its lowering (linalg/tensor/arith/math).

A generic driver over the op table: ops with a `decompose` rule are first expanded into
other tn ops (so a composite like softmax needs no lowering of its own), then each op's
`lower` rule runs. Boolean tensors switch to their i8 storage type here.
"""
from __future__ import annotations

from mlir import ir
from mlir.dialects import func

from theanir.dialects.tn.builder import location_override
from theanir.dialects.tn.lax import Value
from theanir.dialects.tn.lowering import LowerCall
from theanir.dialects.tn.ops.control import sink_into_branches
from theanir.dialects.tn.registry import OPS, lookup
from theanir.dialects.tn.types import spec_of_type, spec_of_value, tensor_type

NAME = "convert-tn-to-linalg"


def _storage_type(t: ir.Type) -> ir.Type:
    if isinstance(t, ir.RankedTensorType):
        rt = ir.RankedTensorType(t)
        if isinstance(rt.element_type, ir.IntegerType) and ir.IntegerType(rt.element_type).width == 1:
            return ir.RankedTensorType.get(list(rt.shape), ir.IntegerType.get_signless(8))
    return t


def _retype_function(f: func.FuncOp) -> None:
    """Boolean tensor arguments/results take their i8 storage type."""
    fty = ir.FunctionType(ir.TypeAttr(f.attributes["function_type"]).value)
    ins = [_storage_type(t) for t in fty.inputs]
    outs = [_storage_type(t) for t in fty.results]
    if not f.body.blocks:
        return
    for arg, t in zip(f.body.blocks[0].arguments, ins):
        arg.set_type(t)
    f.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get(ins, outs))


def decompose_ops(block: ir.Block) -> None:
    """Expand every op that has a decompose rule into other tn ops (recursively); the rules
    build with the dialect's lax Values."""
    for op in list(block.operations):
        for region in op.regions:
            for b in region.blocks:
                decompose_ops(b)
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
    # the expansion may itself contain decomposable ops
    if any(OPS.get(o.operation.name) and OPS[o.operation.name].decompose for o in block.operations):
        decompose_ops(block)


def lower_block(block: ir.Block) -> None:
    for op in list(block.operations):
        name = op.operation.name
        if name not in OPS:
            continue
        opdef = lookup(name)
        if opdef.lower is None:
            raise NotImplementedError(f"{name} has no lowering to linalg yet")
        # Specs come from the tn-level types: results still carry them; operands may have
        # been retyped to storage already (i8 for bool reads back as bool).
        call = LowerCall(
            op=op.operation,
            operands=list(op.operands),
            in_specs=[spec_of_value(v) for v in op.operands],
            out_specs=[spec_of_type(r.type) for r in op.results],
            attrs=opdef.decode_attrs(op.operation),
            lower_region=lower_block,
        )
        with ir.InsertionPoint(op), op.location:
            new = opdef.lower(call)
        for old, repl in zip(op.results, new):
            old.replace_all_uses_with(repl)
        op.operation.erase()


def convert_tn_to_linalg(module_op: ir.Operation, pass_: object = None) -> None:
    """Run the conversion over every function of a module (also a PassManager callable)."""
    for child in module_op.regions[0].blocks[0].operations:
        if child.operation.name != "func.func":
            continue
        f = child if isinstance(child, func.FuncOp) else func.FuncOp(child.operation)
        if not f.body.blocks:
            continue
        decompose_ops(f.body.blocks[0])
        sink_into_branches(f.body.blocks[0])  # lazy tn.cond: what one branch needs runs in it
        _retype_function(f)
        lower_block(f.body.blocks[0])
