"""theanir-matmul-into-result: a product that bufferization computed into a temporary only to
copy it into the entry function's result buffer is computed in that buffer.

    %t = memref.alloc() ; linalg.fill ins(%z) outs(%t) ; linalg.matmul ins(%a, %b) outs(%t)
    memref.copy %t, %out ; memref.dealloc %t
    // ->  linalg.fill ins(%z) outs(%out) ; linalg.matmul ins(%a, %b) outs(%out)

It applies to exactly the products the next passes turn into calls (theanir-small-gemm's
kernels, and with the `blas` option convert-linalg-matmul-to-blas's float products), which
is where the temporary cost a malloc, fresh-page faults and a pass over C per call; products
left to loops keep the copy (generated code stays what it was when this was part of those
passes). Run after bufferization, before theanir-small-gemm.
"""
from __future__ import annotations

from dataclasses import dataclass

from mlir import ir

from ..base import Pass
from .payloads import walk_outside_payloads
from ..options import CompileOptions
from .matmul_to_blas import _candidates
from .small_gemm import plan
from .small_gemm_dynamic import plan_dynamic

NAME = "theanir-matmul-into-result"


def _write_into_result(op: ir.Operation) -> None:
    """alloc T; fill T; matmul -> T; copy T -> %out; dealloc T  ==>  fill %out; matmul -> %out.

    Bufferization computes a result in a temporary and copies it into the caller's buffer;
    for a product that costs a malloc, fresh-page faults and a pass over C per call. Only in the entry function (its result buffers are fresh, never inputs), only
    when T has exactly those four uses in the product's block and %out has no other use.
    """
    func = op.parent
    while func is not None and func.name != "func.func":
        func = func.parent
    if func is None or "llvm.emit_c_interface" not in func.attributes:
        return
    c = op.operands[2]
    alloc = c.owner
    if not isinstance(alloc, ir.OpView) or alloc.name != "memref.alloc" or len(alloc.operands):
        return
    users: dict[str, list[ir.Operation]] = {}
    for use in c.uses:
        users.setdefault(use.owner.name, []).append(use.owner)
    if sorted(users) != sorted(["linalg.fill", op.name, "memref.copy", "memref.dealloc"]):
        return
    if any(len(v) != 1 or v[0].operation.block != op.block for v in users.values()):
        return
    copy = users["memref.copy"][0]
    dst = copy.operands[1]
    if copy.operands[0] != c or not isinstance(dst, ir.BlockArgument) or dst.owner != op.block:
        return
    if dst.type != c.type or len(list(dst.uses)) != 1:
        return
    copy.operation.erase()
    users["memref.dealloc"][0].operation.erase()
    c.replace_all_uses_with(dst)
    alloc.operation.erase()


def matmul_into_result(module_op: ir.Operation, pass_: object = None, blas: bool = True) -> None:
    """Write each kernel- (or, with `blas`, BLAS-) bound product straight into its result."""
    found: list[ir.Operation] = []

    def visit(o: ir.Operation) -> ir.WalkResult:
        o = o.operation if hasattr(o, "operation") else o
        if o.name == "linalg.matmul" and (plan(o) is not None or plan_dynamic(o) is not None):
            found.append(o)
        return ir.WalkResult.ADVANCE

    walk_outside_payloads(module_op, visit)  # finds linalg ops, not inside them
    if blas:  # a product in both lists is rewritten once: the second call finds no temporary
        found += [o for o, _ in _candidates(module_op)]
    for o in found:
        _write_into_result(o)


@dataclass(frozen=True)
class MatmulIntoResultOptions:
    blas: bool = True  # float products will call BLAS (convert-linalg-matmul-to-blas runs)


class MatmulIntoResult(Pass):
    """After bufferization: a (batch_)matmul bound for a small-GEMM kernel or BLAS call that
    bufferization computed into a temporary then copied into a result buffer writes that buffer."""

    NAME = NAME
    Options = MatmulIntoResultOptions

    @classmethod
    def from_compile_options(cls, opts: CompileOptions) -> MatmulIntoResultOptions:
        return MatmulIntoResultOptions(blas=bool(opts.blas))

    @classmethod
    def run(cls, module_op: ir.Operation, options: MatmulIntoResultOptions) -> None:
        matmul_into_result(module_op, blas=options.blas)
