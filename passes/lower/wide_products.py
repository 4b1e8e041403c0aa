"""theanir-wide-products: float32 matrix products left to loops accumulate in float64.

After the BLAS and small-GEMM passes, a `linalg.matmul` / `linalg.batch_matmul` on f32
memrefs is what runs as plain loops: `th.config.blas` off, no BLAS library, or the loops
branch that `convert-linalg-matmul-to-blas` keeps for layouts BLAS cannot take. Those loops
add each C element's K products into one float32 value, which stops growing at 2**24 and
loses ~sqrt(K) ulps (the sums of dialects/tn/ops/reduction.py had the same fault). The
product is rewritten to accumulate in a float64 buffer (f32 x f32 products are exact in
f64) and rounded once:

    linalg.matmul ins(%a, %b : memref<MxKxf32>, memref<KxNxf32>) outs(%c : memref<MxNxf32>)
->  %w = memref.alloc() : memref<MxNxf64>
    linalg.generic ins(%c) outs(%w)           { extf }            (matmul accumulates: C += A B)
    linalg.generic ins(%a, %b) outs(%w)       { w + extf(a) * extf(b) }
    linalg.generic ins(%w) outs(%c)           { truncf }
    memref.dealloc %w

Products with a static K <= WIDE_FROM (256: one block of a blocked sum) stay as they are, as do f64
and integer products and those already sent to BLAS or the small-GEMM kernels (whose float32
accumulation is BLAS's own). Runs before `convert-linalg-to-loops` and the OpenMP pass.
"""
from __future__ import annotations

import numpy as np
from mlir import ir
from mlir.dialects import arith, memref

from theanir.dialects.tn.lowering import generic, identity_map
from theanir.dialects.tn.ops.reduction import WIDE_FROM

from .matmul_to_blas import _transposes
from ..base import Pass
from .payloads import walk_outside_payloads

NAME = "theanir-wide-products"
F32, F64 = np.dtype(np.float32), np.dtype(np.float64)


def _f32_product(op: ir.Operation) -> bool:
    if op.name not in ("linalg.matmul", "linalg.batch_matmul") or len(op.operands) != 3:
        return False
    if not all(isinstance(v.type, ir.MemRefType) for v in op.operands):
        return False
    if any(not isinstance(ir.MemRefType(v.type).element_type, ir.F32Type) for v in op.operands):
        return False
    return _transposes(op) is not None


def _maps(rank: int, ta: bool, tb: bool) -> list[ir.AffineMap]:
    """(batch?, m, n, k) -> A, B, C indices, A and/or B read transposed."""
    d = [ir.AffineDimExpr.get(i) for i in range(rank + 1)]
    batch, (m, n, k) = d[:rank - 2], d[rank - 2:]
    exprs = (batch + ([k, m] if ta else [m, k]), batch + ([n, k] if tb else [k, n]), batch + [m, n])
    return [ir.AffineMap.get(rank + 1, 0, e) for e in exprs]


def _static_k(op: ir.Operation, ta: bool) -> int | None:
    a = ir.MemRefType(op.operands[0].type)
    k = a.shape[-2] if ta else a.shape[-1]
    return None if ir.ShapedType.is_dynamic_size(k) else int(k)


def _rewrite(op: ir.Operation) -> None:
    a, b, c = op.operands
    ta, tb = _transposes(op)
    ct = ir.MemRefType(c.type)
    rank = ct.rank
    with op.location, ir.InsertionPoint(op):
        dyn = [memref.dim(c, arith.ConstantOp(ir.IndexType.get(), i).result)
               for i, n in enumerate(ct.shape) if ir.ShapedType.is_dynamic_size(n)]
        wide = memref.alloc(ir.MemRefType.get(ct.shape, ir.F64Type.get()), dyn, [],
                            alignment=ir.IntegerAttr.get(ir.IntegerType.get_signless(64), 64))
        ident = identity_map(rank)
        par = ["parallel"] * rank
        generic([c], [F32], [ident], [wide], [F64], [ident], par,
                lambda x, _: arith.ExtFOp(ir.F64Type.get(), x).result)

        def body(x, y, acc):
            f64 = ir.F64Type.get()
            p = arith.MulFOp(arith.ExtFOp(f64, x).result, arith.ExtFOp(f64, y).result).result
            return arith.AddFOp(acc, p, fastmath=ir.Attribute.parse("#arith.fastmath<reassoc>")).result

        maps = _maps(rank, ta, tb)
        generic([a, b], [F32, F32], maps[:2], [wide], [F64], maps[2:], par + ["reduction"], body)
        generic([wide], [F64], [ident], [c], [F32], [ident], par,
                lambda x, _: arith.TruncFOp(ir.F32Type.get(), x).result)
        memref.dealloc(wide)
    op.erase()


def wide_products(module_op: ir.Operation, pass_: object = None) -> None:
    """Rewrite every float32 (batch_)matmul still on memrefs with K > WIDE_FROM."""
    found: list[ir.Operation] = []

    def visit(o: ir.Operation) -> ir.WalkResult:
        o = o.operation if hasattr(o, "operation") else o
        if _f32_product(o):
            k = _static_k(o, _transposes(o)[0])
            if k is None or k > WIDE_FROM:
                found.append(o)
        return ir.WalkResult.ADVANCE

    walk_outside_payloads(module_op, visit)  # finds linalg ops, not inside them
    for o in found:
        _rewrite(o)


class WideProducts(Pass):
    """After the BLAS passes: a float32 (batch_)matmul left to loops accumulates in a
    float64 buffer, rounded once (K > 256)."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> None:
        wide_products(module_op)
