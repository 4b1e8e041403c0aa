"""theanir-gpu-expand-remf: on the CUDA path, `arith.remf` (C's fmod) as arithmetic.

MLIR's NVVM lowering turns `arith.remf` into libdevice's `__nv_fmodf`, which needs the CUDA
toolkit's libdevice bitcode; we link none (DESIGN §5: no toolkit). So before the nvvm stage
maps loops to kernels, each remf becomes (f32 computed in f64):

    q = trunc(a / b)              # the truncated quotient, right to within 1
    r = fma(-q, b, a)             # a - q b, exact: fmod's result is representable
    r += copysign(|b|, a)  if r and a differ in sign        # q was one too big
    r -= copysign(|b|, a)  if |r| >= |b|                     # q was one too small
    r = copysign(r, a)            # fmod's zero keeps a's sign
    r = a  if b is infinite and a finite                     # fma(-0, inf, a) is NaN

b = 0 or a infinite give NaN (as fmod). Exact while |a / b| < 2**29 for f32 (the quotient
and its product with b are exact in f64) and < 2**52 for f64; beyond that the division's
rounding moves q by more than one and the result is wrong (docs/cuda.md lists it).
"""
from __future__ import annotations

from mlir import ir
from mlir.dialects import arith, math

from ..base import Pass

NAME = "theanir-gpu-expand-remf"


def _expand(op: ir.Operation) -> None:
    a, b = op.operands
    t = a.type
    with op.location, ir.InsertionPoint(op):
        wide = ir.F64Type.get()
        narrow = str(t) == "f32"
        x, y = (arith.ExtFOp(wide, v).result for v in (a, b)) if narrow else (a, b)
        q = math.TruncOp(arith.DivFOp(x, y).result).result
        r = math.FmaOp(arith.NegFOp(q).result, y, x).result
        zero = arith.ConstantOp(wide if narrow else t, 0.0).result
        ay = math.AbsFOp(y).result
        step = math.CopySignOp(ay, x).result
        r_neg = arith.CmpFOp(arith.CmpFPredicate.OLT, r, zero).result
        x_neg = arith.CmpFOp(arith.CmpFPredicate.OLT, x, zero).result
        r_nz = arith.CmpFOp(arith.CmpFPredicate.ONE, r, zero).result
        flipped = arith.AndIOp(r_nz, arith.XOrIOp(r_neg, x_neg).result).result
        r = arith.SelectOp(flipped, arith.AddFOp(r, step).result, r).result
        big = arith.CmpFOp(arith.CmpFPredicate.OGE, math.AbsFOp(r).result, ay).result
        r = arith.SelectOp(big, arith.SubFOp(r, step).result, r).result
        r = math.CopySignOp(r, x).result
        inf = arith.ConstantOp(wide if narrow else t, float("inf")).result
        y_inf = arith.CmpFOp(arith.CmpFPredicate.OEQ, ay, inf).result
        x_fin = arith.CmpFOp(arith.CmpFPredicate.OLT, math.AbsFOp(x).result, inf).result
        r = arith.SelectOp(arith.AndIOp(y_inf, x_fin).result, x, r).result
        if narrow:
            r = arith.TruncFOp(t, r).result
    op.results[0].replace_all_uses_with(r)
    op.erase()


def gpu_expand_remf(module_op: ir.Operation) -> int:
    """Expand every float `arith.remf` of the module; returns how many."""
    found: list[ir.Operation] = []

    def visit(op: ir.Operation) -> ir.WalkResult:
        op = op.operation if hasattr(op, "operation") else op
        if op.name == "arith.remf" and str(op.operands[0].type) in ("f32", "f64"):
            found.append(op)
        return ir.WalkResult.ADVANCE

    module_op.walk(visit)
    for op in found:
        _expand(op)
    return len(found)


class GpuExpandRemf(Pass):
    """CUDA target: `arith.remf` (fmod) as divide/trunc/fma with sign fix-ups, since the
    NVVM lowering's `__nv_fmodf` needs libdevice, which no wheel we use ships."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> int:
        return gpu_expand_remf(module_op)
