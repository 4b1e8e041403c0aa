"""theanir-outline-kernels: in a huge function, each linalg op becomes a call to a kernel
function, one per distinct kernel.

Run on memrefs (after bufferization), before theanir-split-functions. A program of 10^4 tn
ops is mostly the same few loop nests over and over (a layer repeated, the same fused
elementwise chain after every product): lowered in place, every copy went through
convert-linalg-to-loops, the conversions to the LLVM dialect and LLVM's loop vectorizer and
code generator again (bench/compile_ops.py, fast_run, 10^4 ops: ~30 of ~48 CPU seconds).
Here each top-level linalg op of a function of more than MIN_OPS top-level ops (the threshold
of theanir-split-functions: every ordinary program is left exactly as it is) moves into

    func.func private @__theanir_kernel3(%operands..., %captured...) { <the op>; return }

and is replaced by a call; a kernel whose text (signature and body) equals an earlier one's
is not kept, its call goes to the earlier one. Operands and the values the op's body reads
from outside (other than constants) become arguments in first-use order; constants
(`arith.constant`, `ub.poison`) are cloned into the kernel, so LLVM still sees the splats and
the loop bounds of static shapes. On memrefs the call passes descriptors: nothing is copied.
The loops compiled in a kernel are those compiled in place, less what LLVM knew from the
caller (the buffers' 64-byte alignment, that they do not overlap): a call and at most a
run-time overlap check per loop nest.
"""
from __future__ import annotations

from dataclasses import dataclass

from mlir import ir
from mlir.dialects import func as func_d

from ..base import Pass
from ..options import CompileOptions
from . import split_functions

NAME = "theanir-outline-kernels"
PREFIX = "__theanir_kernel"
_CONSTANT = frozenset({"arith.constant", "ub.poison"})


@dataclass(frozen=True)
class OutlineKernelsOptions:
    """min_ops: functions of more top-level ops than this are outlined (default: the
    threshold of theanir-split-functions)."""

    min_ops: int = split_functions.MIN_OPS


def _candidate(op: ir.Operation) -> bool:
    """A linalg op on memrefs (no results): what convert-linalg-to-loops expands."""
    return op.name.startswith("linalg.") and not op.results and len(op.regions) > 0


def _outside_uses(op: ir.Operation) -> tuple[list[ir.Value], list[tuple[ir.Operation, int, ir.Value]]]:
    """The values `op` reads (its operands, then what its regions read from outside it), once
    each, in first-use order; and every use of them: (op, operand index, value)."""
    uses = [(op, k, v) for k, v in enumerate(op.operands)]
    inner: set[ir.Value] = set()
    stack = [op]
    while stack:
        current = stack.pop()
        for region in current.regions:
            for block in region.blocks:
                inner.update(block.arguments)
                for child in block.operations:
                    child = child.operation
                    uses += [(child, k, v) for k, v in enumerate(child.operands) if v not in inner]
                    inner.update(child.results)
                    if len(child.regions):
                        stack.append(child)
    return list(dict.fromkeys(v for _, _, v in uses)), uses


def _is_constant(v: ir.Value) -> bool:
    owner = v.owner
    return isinstance(owner, ir.Operation | ir.OpView) and owner.name in _CONSTANT and not owner.operands


def outline_kernels(module_op: ir.Operation, min_ops: int = split_functions.MIN_OPS) -> int:
    """Outline the linalg ops of every func.func body of more than `min_ops` top-level ops;
    returns the number of ops outlined."""
    top = module_op.regions[0].blocks[0]
    kernels: dict[str, str] = {}  # kernel text -> its name
    outlined = 0
    for f in list(top.operations):
        if f.operation.name != "func.func" or len(f.regions[0].blocks) != 1:
            continue
        block = f.regions[0].blocks[0]
        ops = [op.operation for op in block.operations]
        if len(ops) <= min_ops:
            continue
        for op in ops:
            if _candidate(op):
                _outline(f.operation, op, kernels)
                outlined += 1
    return outlined


def _outline(f: ir.Operation, op: ir.Operation, kernels: dict[str, str]) -> None:
    """Move `op` into a kernel (or find its twin among `kernels`) and call it in its place."""
    values, uses = _outside_uses(op)
    args = [v for v in values if not _is_constant(v)]
    consts = [v for v in values if _is_constant(v)]
    with op.location:
        kernel = func_d.FuncOp(PREFIX, ([v.type for v in args], []), visibility="private",
                               ip=ir.InsertionPoint(f))
        entry = kernel.add_entry_block()
        inside: dict[ir.Value, ir.Value] = dict(zip(args, entry.arguments))
        for v in consts:
            inside[v] = v.owner.operation.clone(ir.InsertionPoint(entry)).results[0]
        call = func_d.CallOp(kernel, args, ip=ir.InsertionPoint(op))  # callee named below
        entry.append(op)
        for owner, k, v in uses:
            owner.operands[k] = inside[v]
        func_d.ReturnOp([], ip=ir.InsertionPoint(entry))
        # every candidate is named PREFIX here: its text is the kernel. Local scope: printing
        # a nested op without it numbers the whole module first (quadratic in all).
        key = kernel.operation.get_asm(use_local_scope=True)
        name = kernels.get(key)
        if name is None:
            name = kernels[key] = f"{PREFIX}{len(kernels)}"
            kernel.attributes["sym_name"] = ir.StringAttr.get(name)
        else:
            kernel.operation.erase()
        call.attributes["callee"] = ir.FlatSymbolRefAttr.get(name)


class OutlineKernels(Pass):
    """In a function of more than 1024 top-level ops, each linalg op becomes a call to a
    kernel function, identical kernels shared (compile time: each distinct loop nest is
    lowered and compiled once)."""

    NAME = NAME
    Options = OutlineKernelsOptions

    @classmethod
    def from_compile_options(cls, opts: CompileOptions) -> OutlineKernelsOptions:
        return OutlineKernelsOptions(min_ops=split_functions.MIN_OPS)

    @classmethod
    def run(cls, module_op: ir.Operation, options: OutlineKernelsOptions) -> int:
        return outline_kernels(module_op, options.min_ops)
