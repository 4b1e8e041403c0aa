"""convert-tn-to-linalg: replace every tn op by its lowering (linalg/tensor/arith/math).

A generic driver over the op table: each op's `lower` rule runs. Composites (ops with a
`decompose` rule, softmax & co.) have no lowering: tn-expand-composites expands them first
and `tn.cond` branches got what only they need from tn-sink-into-branches (the stage table
runs both just before this pass). Boolean tensors switch to their i8 storage type here.
"""
from __future__ import annotations

from dataclasses import dataclass

from mlir import ir
from mlir.dialects import func

from theanir.dialects.tn.lowering import LOWERING_MEMO, LOWERING_THREADS, LowerCall, lowering_call
from theanir.dialects.tn.registry import OPS, lookup
from theanir.dialects.tn.types import spec_of_type, spec_of_value, tensor_type
from ..base import Pass
from ..options import CompileOptions

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


def lower_block(block: ir.Block) -> None:
    for op in list(block.operations):
        name = op.operation.name
        if name not in OPS:
            continue
        opdef = lookup(name)
        if opdef.lower is None and opdef.decompose is not None:
            raise NotImplementedError(f"{name} is a composite: run tn-expand-composites before {NAME}")
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
            reify=opdef.reify,
            aligned=opdef.scalar is not None or name == "tn.ensure_shape",
        )
        with ir.InsertionPoint(op), op.location, lowering_call(call):
            new = opdef.lower(call)
        for old, repl in zip(op.results, new):
            old.replace_all_uses_with(repl)
        op.operation.erase()


def convert_tn_to_linalg(module_op: ir.Operation, pass_: object = None, threads: int = 1) -> None:
    """Run the conversion over every function of a module (also a PassManager callable).
    Identical fused groups are lowered once and cloned (LOWERING_MEMO, for this run only:
    what it holds is this module's, alive until the run ends); rules read `threads` from
    LOWERING_THREADS."""
    token = LOWERING_MEMO.set({})
    threads_token = LOWERING_THREADS.set(threads)
    try:
        for child in module_op.regions[0].blocks[0].operations:
            if child.operation.name != "func.func":
                continue
            f = child if isinstance(child, func.FuncOp) else func.FuncOp(child.operation)
            if not f.body.blocks:
                continue
            _retype_function(f)
            lower_block(f.body.blocks[0])
    finally:
        LOWERING_THREADS.reset(threads_token)
        LOWERING_MEMO.reset(token)


@dataclass(frozen=True)
class ConvertTnToLinalgOptions:
    threads: int = 1  # the OpenMP team (CompileOptions.threads; 0: OpenMP's default): kernels that split work themselves


class ConvertTnToLinalg(Pass):
    """Lower every tn op to linalg/tensor/arith/math."""

    NAME = NAME
    Options = ConvertTnToLinalgOptions

    @classmethod
    def from_compile_options(cls, opts: CompileOptions) -> ConvertTnToLinalgOptions:
        return ConvertTnToLinalgOptions(threads=opts.threads if opts.openmp else 1)

    @classmethod
    def run(cls, module_op: ir.Operation, options: ConvertTnToLinalgOptions) -> None:
        convert_tn_to_linalg(module_op, threads=options.threads)
