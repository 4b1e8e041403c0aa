"""theanir-sparsify: MLIR's sparsifier compiles the sparse kernels, bufferizing the module.

The `tn.sparse_*` lowerings (dialects/tn/ops/sparse.py) build `#sparse_tensor.encoding`
tensors with `sparse_tensor.assemble` from SciPy's three arrays and compute on them with
`linalg.generic`. A module holding any `sparse_tensor` op goes through
`sparse-reinterpret-map` and `sparsification-and-bufferization` (the core of upstream's
`sparsifier` pipeline, without the runtime library: the storage is the caller's buffers):
loops over the nonzeros, then one-shot bufferization of the whole module (the pass inserts
the tensor copies the sparse rewrites need; our own `one-shot-bufferize` step that follows
finds nothing left); sparse results (dialects/tn/ops/sparse_out.py) grow their buffers
with `memref.realloc` (`expand-realloc`: alloc + copy) and keep their sizes in a storage
specifier (`sparse-storage-specifier-to-llvm`). The sparsifier's own frees are removed:
our deallocation pipeline (ownership-based, which refuses IR that frees already) places them. A module without sparse ops is left untouched.
"""
from __future__ import annotations

from mlir import ir, passmanager
from mlir.dialects import arith, memref, scf

from ..base import Pass

NAME = "theanir-sparsify"
PIPELINE = ("builtin.module(sparse-reinterpret-map{scope=except-generic},"
            "func.func(lower-sparse-foreach-to-scf),sparsification-and-bufferization,"
            "sparse-storage-specifier-to-llvm,expand-realloc{emit-deallocs=false},canonicalize)")


def has_sparse(op: ir.Operation) -> bool:
    """Whether `op` holds a sparse_tensor op (the only source of sparse encodings here)."""
    found = []

    def visit(o: ir.Operation) -> ir.WalkResult:
        if o.name.startswith("sparse_tensor."):
            found.append(o)
            return ir.WalkResult.INTERRUPT
        return ir.WalkResult.ADVANCE

    op.walk(visit)
    return bool(found)


class Sparsify(Pass):
    """Sparse kernels (sparse_tensor.assemble + linalg.generic) -> loops over the nonzeros, module bufferized (MLIR's sparsifier)."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> None:
        if not has_sparse(module_op):
            return
        passmanager.PassManager.parse(PIPELINE, module_op.context).run(module_op)
        _erase_deallocs(module_op)
        _boolean_fills_to_loops(module_op)


def _boolean_fills_to_loops(op: ir.Operation) -> None:
    """`linalg.fill` of an i1 buffer (SpGEMM's expanded-access flags) -> a store loop, which
    theanir-widen-i1-memrefs then widens (it retypes buffers, not fills)."""
    found: list[ir.Operation] = []

    def visit(o: ir.Operation) -> ir.WalkResult:
        if o.name == "linalg.fill" and isinstance(o.operands[1].type, ir.MemRefType):
            mt = ir.MemRefType(o.operands[1].type)
            if mt.rank == 1 and isinstance(mt.element_type, ir.IntegerType) and \
                    ir.IntegerType(mt.element_type).width == 1:
                found.append(o)
        return ir.WalkResult.ADVANCE

    op.walk(visit)
    idx = ir.IndexType.get()
    for fill in found:
        with ir.InsertionPoint(fill), fill.location:
            value, buf = fill.operands[0], fill.operands[1]
            c0 = arith.ConstantOp(idx, 0).result
            c1 = arith.ConstantOp(idx, 1).result
            loop = scf.ForOp(c0, memref.DimOp(buf, c0).result, c1)
            with ir.InsertionPoint(loop.body):
                memref.StoreOp(value, buf, [loop.induction_variable])
                scf.YieldOp([])
        fill.erase()


def _erase_deallocs(op: ir.Operation) -> None:
    """Drop the sparsifier's own `memref.dealloc`s: `buffer-deallocation-pipeline` (in the
    BUFFERIZE step) refuses IR that frees memory already, and places every free itself,
    through loops and the sparsifier's insertion helpers (ownership of reallocated buffers)."""
    found: list[ir.Operation] = []

    def visit(o: ir.Operation) -> ir.WalkResult:
        if o.name == "memref.dealloc":
            found.append(o)
        return ir.WalkResult.ADVANCE

    op.walk(visit)
    for o in found:
        o.erase()
