"""theanir-sparsify: MLIR's sparsifier compiles the sparse kernels, bufferizing the module.

The `tn.sparse_*` lowerings (dialects/tn/ops/sparse.py) build `#sparse_tensor.encoding`
tensors with `sparse_tensor.assemble` from SciPy's three arrays and compute on them with
`linalg.generic`. A module holding any `sparse_tensor` op goes through
`sparse-reinterpret-map` and `sparsification-and-bufferization` (the core of upstream's
`sparsifier` pipeline, without the runtime library: the storage is the caller's buffers):
loops over the nonzeros, then one-shot bufferization of the whole module (the pass inserts
the tensor copies the sparse rewrites need; our own `one-shot-bufferize` step that follows
finds nothing left). A module without sparse ops is left untouched.
"""
from __future__ import annotations

from mlir import ir, passmanager

from ..base import Pass

NAME = "theanir-sparsify"
PIPELINE = ("builtin.module(sparse-reinterpret-map{scope=except-generic},"
            "func.func(lower-sparse-foreach-to-scf),sparsification-and-bufferization,canonicalize)")


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
