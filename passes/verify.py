"""tn-verify: MLIR's verifier plus every tn op's shape rule (IRDL cannot express those)."""
from __future__ import annotations

from mlir import ir

from theanir.dialects.tn.builder import describe_location
from theanir.dialects.tn.registry import OPS, ShapeError
from theanir.dialects.tn.types import spec_of_type, spec_of_value
from .base import Pass

NAME = "tn-verify"


class VerificationError(ValueError):
    """The module is ill-typed; the message names the op and its location."""

    def __init__(self, message: str, location: ir.Location | None = None):
        super().__init__(message)
        self.location = location  # the op's, for tools that report file:line:col (theanir-opt)


def _walk(block: ir.Block):
    for op in block.operations:
        yield op
        for region in op.regions:
            for b in region.blocks:
                yield from _walk(b)


def verify_module(module_op: ir.Operation, pass_: object = None) -> None:
    try:
        module_op.verify()
    except ir.MLIRError as e:
        raise VerificationError(str(e)) from None
    for op in _walk(module_op.regions[0].blocks[0]):
        opdef = OPS.get(op.operation.name)
        if opdef is None or (opdef.infer is None and opdef.infer_region is None):
            continue
        where = f"{op.operation.name} at {describe_location(op.location)}"
        try:
            specs = [spec_of_value(v) for v in op.operands]
            if opdef.infer_region is not None:  # region ops: the rule reads the region
                expected = opdef.infer_region(op.operation)
            else:
                expected = opdef.infer(specs, **opdef.decode_attrs(op.operation))
            actual = [spec_of_type(r.type) for r in op.results]
        except (ShapeError, TypeError, KeyError) as e:
            raise VerificationError(f"{where}: {e}", op.location) from None
        if expected != actual:
            raise VerificationError(
                f"{where}: result types {[str(a) for a in actual]} differ from the op's rule "
                f"{[str(x) for x in expected]}", op.location)


class Verify(Pass):
    """MLIR's verifier plus every tn op's shape/dtype rule."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> None:
        verify_module(module_op)
