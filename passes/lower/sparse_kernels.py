"""theanir-sparse-kernels: the sparse kernels compiled by theanir-sparsify take their places back.

After the bufferized stage's `one-shot-bufferize` and deallocation (which saw only their
declarations, with memref signatures now), each kernel that theanir-sparsify compiled for
this module (`PENDING` under its `theanir.sparse_kernels` token) replaces its declaration (the same name and, with identity
layouts on both sides, the same type); the sparsifier's helper functions come along. The
callers own what a kernel returns (freshly allocated arrays) and free it; a kernel frees its
own temporaries.
"""
from __future__ import annotations

from mlir import ir

from ..base import Pass
from .sparsify import KERNELS_ATTR, PENDING

NAME = "theanir-sparse-kernels"


class SparseKernels(Pass):
    """Sparse kernels compiled apart (theanir-sparsify) replace their declarations after bufferization."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> None:
        if KERNELS_ATTR not in module_op.attributes:
            return
        token = ir.StringAttr(module_op.attributes[KERNELS_ATTR]).value
        del module_op.attributes[KERNELS_ATTR]
        side = PENDING.pop(token, None)
        if side is None:
            raise RuntimeError(f"{NAME}: the sparse kernels of this module ({token}) are not pending "
                               f"(theanir-sparsify ran in another process, or twice)")
        body = module_op.regions[0].blocks[0]
        declared = {ir.StringAttr(op.operation.attributes["sym_name"]).value: op.operation
                    for op in body.operations if op.operation.name == "func.func"}
        for op in list(side.body.operations):
            fn = op.operation
            name = ir.StringAttr(fn.attributes["sym_name"]).value
            old = declared.get(name)
            if old is None:  # a helper of the sparsifier's
                body.append(fn)
                continue
            # (the types agree once the callers are bufferized; a mismatch fails verification)
            fn.move_before(old)
            old.erase()
