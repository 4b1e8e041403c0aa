"""tn-outer-product-to-mul: the specialize phase's speed heuristic for outer products.

`a[M, 1] @ b[1, N]` becomes `broadcast(a) * broadcast(b)` when a row is long enough
(N >= OUTER_MIN_ROW): elementwise, it fuses with its consumer instead of being a product into
a zero-filled temporary. Not a canonical form (it is a bet on the CPU back end), so it is a
pass of its own that the stage table runs after tn-stabilize, not a canonicalize pattern.

    %p = "tn.matmul"(%a, %b) : (tensor<32x1xf32>, tensor<1x32xf32>) -> tensor<32x32xf32>
    // -> tn.mul(tn.broadcast_to(%a), tn.broadcast_to(%b))
"""
from __future__ import annotations

from mlir import ir

from ..base import Pass
from .patterns import Pattern, apply_patterns, op1, rewrite, spec

NAME = "tn-outer-product-to-mul"

OUTER_MIN_ROW = 16  # LLVM level 2 fully unrolls loops of <= 16 steps (passes/native.py)


@rewrite("tn.matmul")
def outer_product_to_mul(op: ir.OpView) -> ir.Value | None:
    # a[M, 1] @ b[1, N] -> broadcast(a) * broadcast(b): an outer product is elementwise, so it
    # fuses with its consumer (an SGD step's w - lr * x^T d at batch 1) instead of a product
    # into a zero-filled temporary. Not for rows shorter than OUTER_MIN_ROW: LLVM unrolls
    # such a row fully and, unable to rule out aliasing, leaves it scalar, while the product
    # (accumulated into w by theanir-gemm-updates) runs theanir-small-gemm's vector kernel
    # (logistic regression 784x10 at batch 1: 156k -> 196k SGD steps/s).
    a, b = op.operands
    sa, sb = spec(a), spec(b)
    if sa.ndim != 2 or sb.ndim != 2 or sa.shape[1] != 1 or sb.shape[0] != 1:
        return None
    if sb.shape[1] is None or sb.shape[1] < OUTER_MIN_ROW:
        return None  # a row of run-time length stays a product (theanir-small-gemm sizes it in the call)
    shape = spec(op.results[0]).shape
    return op1("tn.mul", op1("tn.broadcast_to", a, shape=shape), op1("tn.broadcast_to", b, shape=shape))


SPECIALIZE: list[Pattern] = [outer_product_to_mul]


def specialize_outer_products(module_op: ir.Operation, pass_: object = None) -> int:
    return apply_patterns(module_op, SPECIALIZE)


class OuterProductToMul(Pass):
    """Outer products a[M, 1] @ b[1, N] with N >= 16 become broadcast(a) * broadcast(b), which
    fuses with its consumer (a speed heuristic of the specialize phase)."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> int:
        return specialize_outer_products(module_op)
