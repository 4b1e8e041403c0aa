"""convert-linalg-matmul-to-cublas: on the CUDA path, float matrix products call cuBLAS.

The GPU twin of convert-linalg-matmul-to-blas (same operand analysis, same call arguments):
before the nvvm stage maps loops to GPU threads, `linalg.matmul` / `linalg.batch_matmul` on
f32/f64 memrefs become a host-side call that the CUDA runtime routes to cuBLAS
(runtime/src/cuda_blas.cpp, `cublas?gemm` on the runtime's stream), as Theano's GPU back end
and XLA do, instead of a naive one-thread-per-element kernel:

    linalg.matmul ins(%a, %b : memref<MxKxf32>, ...) outs(%c : memref<MxNxf32>)
->  call @__theanir_cublas_sgemm(M, N, K, aligned pointer, offset, 2 strides of a, b, c, beta = 1)

`linalg.matmul` accumulates (C += A B), so beta = 1 and the fill before it stays. Layouts are
checked by the runtime (a device pointer cannot be inspected here): row- or column-major
operands go to cuBLAS, anything else is an error at read naming the product. A batch runs as
a host `scf.for` of calls (queued on one stream, no synchronization between them). Products
whose indexing maps are not a plain or transposed product, and integer products, stay loops
(the nvvm stage makes kernels of them). The calls appear in the kernel manifest
(codegen/cuda.py) as `cublas` entries.
"""
from __future__ import annotations

from mlir import ir
from mlir.dialects import arith, scf

from ..base import Pass
from .matmul_to_blas import _append_functions, _call, _candidates, _defined_symbols, _metadata, _transposes

NAME = "convert-linalg-matmul-to-cublas"
CUBLAS = {"f32": "__theanir_cublas_sgemm", "f64": "__theanir_cublas_dgemm"}
_DECL = "func.func private @{name}(index, index, index, index, index, index, index, index, index, " \
        "index, index, index, index, index, index, {t})\n"


def _rewrite(op: ir.Operation, kind: str) -> None:
    """matmul -> one runtime call (a host loop of calls for a batch)."""
    a, b, c = op.operands
    batched = op.name == "linalg.batch_matmul"
    ta, tb = _transposes(op)
    lo = 1 if batched else 0
    with op.location, ir.InsertionPoint(op):
        (pa, oa, sza, sa), (pb, ob, _, sb), (pc, oc, szc, sc) = (_metadata(v) for v in (a, b, c))
        # a transposed operand is the logical one with its last two sizes and strides swapped
        if ta:
            sza, sa = sza[:lo] + sza[lo:][::-1], sa[:lo] + sa[lo:][::-1]
        if tb:
            sb = sb[:lo] + sb[lo:][::-1]
        m, k, n = sza[lo], sza[lo + 1], szc[lo + 1]
        beta = arith.ConstantOp(ir.F32Type.get() if kind == "f32" else ir.F64Type.get(), 1.0).result
        if not batched:
            _call(CUBLAS[kind], [m, n, k, pa, oa, sa[0], sa[1], pb, ob, sb[0], sb[1],
                                 pc, oc, sc[0], sc[1], beta], [])
            op.erase()
            return
        zero = arith.ConstantOp(ir.IndexType.get(), 0).result
        one = arith.ConstantOp(ir.IndexType.get(), 1).result
        loop = scf.ForOp(zero, sza[0], one)
        with ir.InsertionPoint(loop.body):
            i = loop.induction_variable
            offs = [arith.AddIOp(o, arith.MulIOp(i, s[0]).result).result for o, s in ((oa, sa), (ob, sb), (oc, sc))]
            _call(CUBLAS[kind], [m, n, k, pa, offs[0], sa[1], sa[2], pb, offs[1], sb[1], sb[2],
                                 pc, offs[2], sc[1], sc[2], beta], [])
            scf.YieldOp([])
    op.erase()


def convert_linalg_matmul_to_cublas(module_op: ir.Operation) -> int:
    """Rewrite every float (batch_)matmul of the bufferized module into runtime cuBLAS calls;
    returns how many."""
    found = _candidates(module_op)
    for op, kind in found:
        _rewrite(op, kind)
    have = _defined_symbols(module_op)
    kinds = sorted({kind for _, kind in found})
    _append_functions(module_op, "".join(_DECL.format(name=CUBLAS[k], t=k) for k in kinds if CUBLAS[k] not in have))
    return len(found)


class ConvertLinalgMatmulToCublas(Pass):
    """After bufferization, CUDA target: float (batch_)matmul becomes a host call of the
    runtime's cuBLAS gemm (`__theanir_cublas_?gemm`), not a kernel."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> int:
        return convert_linalg_matmul_to_cublas(module_op)
