"""theanir-inline-alloca-scopes: `memref.alloca_scope`s that allocate nothing are inlined.

`convert-scf-to-openmp` wraps the body of every OpenMP loop in a `memref.alloca_scope`
(stack memory allocated in one iteration is freed at its end), which becomes
`llvm.stacksave` / `llvm.stackrestore` around each iteration. Our LLVM pipeline at
opt_level 2 (codegen/native.py) does not remove the pair, and LLVM's loop vectorizer
refuses a loop that calls them ("call instruction cannot be vectorized"): a fused
`tanh(x * 1.5 + 0.5) * x - x` on 10^7 float32 took 53 ms as an OpenMP loop on one thread
against 19 ms as plain loops (codegen/threads.py's "one thread slower"); inlined, 16 ms.
A scope whose body holds no `memref.alloca` frees nothing, so inlining it changes nothing
else. (Upstream `canonicalize` does the same but walks the whole module for everything.)
"""
from __future__ import annotations

from mlir import ir

from ..base import Pass

NAME = "theanir-inline-alloca-scopes"


class InlineAllocaScopes(Pass):
    """Inline memref.alloca_scope ops whose bodies allocate nothing (stacksave/stackrestore per iteration kept OpenMP loops from vectorizing)."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> int:
        return inline_alloca_scopes(module_op)


def inline_alloca_scopes(module_op: ir.Operation) -> int:
    """Inline every alloca-free memref.alloca_scope; returns how many."""
    scopes: list[ir.Operation] = []

    def visit(op: ir.Operation) -> ir.WalkResult:
        if op.name == "memref.alloca_scope":
            scopes.append(op)
        return ir.WalkResult.ADVANCE

    module_op.walk(visit, ir.WalkOrder.POST_ORDER)  # inner scopes first
    done = 0
    for scope in scopes:
        if _allocates(scope):
            continue
        body = scope.regions[0].blocks[0]
        ops = [op.operation for op in body.operations]
        ret = ops[-1]
        for op in ops[:-1]:
            op.move_before(scope)
        for result, value in zip(scope.results, ret.operands):
            result.replace_all_uses_with(value)
        scope.erase()
        done += 1
    return done


def _allocates(scope: ir.Operation) -> bool:
    found = []

    def visit(op: ir.Operation) -> ir.WalkResult:
        if op.name == "memref.alloca":
            found.append(op)
            return ir.WalkResult.INTERRUPT
        return ir.WalkResult.ADVANCE

    scope.walk(visit, ir.WalkOrder.PRE_ORDER)
    return bool(found)
