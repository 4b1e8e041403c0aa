"""theanir-sparse-kernels: the sparse kernels compiled by theanir-sparsify take their places back.

After the bufferized stage's `one-shot-bufferize` and deallocation (which saw only their
declarations, with memref signatures now), each kernel that theanir-sparsify compiled for
this module (`PENDING` under its `theanir.sparse_kernels` token) replaces its declaration (the same name and, with identity
layouts on both sides, the same type); the sparsifier's helper functions come along. The
callers own what a kernel returns (freshly allocated arrays) and free it; a kernel frees its
own temporaries.

A kernel's result that the caller only copies into one of its own arguments (the runtime's
output buffer: `memref.copy %r, %out`, then frees `%r`) is computed in that buffer instead:
the kernel takes it as a last argument in place of its `memref.alloc` (CSR x dense at
10^4 x 64 float64 allocated, zeroed and copied 5 MB per call, ~12% of the call). Done only
where the copy is the destination's one use (a donated input's buffer is read too) and the
kernel has that one caller.
"""
from __future__ import annotations

from mlir import ir
from mlir.dialects import func

from ..base import Pass
from .payloads import defining_op
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
        kernels = {}
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
            kernels[name] = fn
        _results_into_destinations(body, kernels)


def _calls(body: ir.Block, names: dict) -> dict[str, list[ir.Operation]]:
    """The func.call ops of `names` in the module's functions, per callee."""
    found: dict[str, list[ir.Operation]] = {n: [] for n in names}

    def visit(o: ir.Operation) -> ir.WalkResult:
        if o.name == "func.call":
            callee = ir.FlatSymbolRefAttr(o.attributes["callee"]).value
            if callee in found:
                found[callee].append(o)
        return ir.WalkResult.ADVANCE

    for op in body.operations:
        if op.operation.name == "func.func":
            op.operation.walk(visit)
    return found


def _entry_argument(value: ir.Value) -> bool:
    """Whether `value` is an argument of its function's entry block."""
    try:
        arg = ir.BlockArgument(value)
    except ValueError:
        return False
    return arg.owner.owner.operation.name == "func.func"


def _copy_target(call: ir.Operation) -> tuple[ir.Operation, list[ir.Operation]] | None:
    """(the memref.copy of the call's one result into an entry argument that nothing else
    uses, the ops that only free the result), or None."""
    if len(call.results) != 1:
        return None
    copy, frees = None, []
    for use in call.results[0].uses:
        user = use.owner.operation
        if user.name == "memref.copy" and use.operand_number == 0 and copy is None:
            copy = user
        elif user.name == "memref.extract_strided_metadata":
            rest = [u.owner for r in list(user.results)[1:] for u in r.uses]
            deallocs = [u.owner.operation for u in user.results[0].uses]
            if rest or any(d.name != "memref.dealloc" for d in deallocs):
                return None
            frees += deallocs + [user]
        elif user.name == "memref.dealloc":
            frees.append(user)
        else:
            return None
    if copy is None:
        return None
    dst = copy.operands[1]
    if not _entry_argument(dst) or dst.type != call.results[0].type or len(list(dst.uses)) != 1:
        return None
    return copy, frees


def _returned_alloc(fn: ir.Operation) -> tuple[ir.Operation, ir.Operation] | None:
    """(the kernel's return, the static memref.alloc it returns), when the kernel returns one
    such buffer and never frees it."""
    blocks = list(fn.regions[0].blocks)
    if len(blocks) != 1:
        return None
    ret = list(blocks[0].operations)[-1].operation
    if ret.name != "func.return" or len(ret.operands) != 1:
        return None
    alloc = defining_op(ret.operands[0])
    if alloc is None or alloc.name != "memref.alloc" or len(alloc.operands) != 0:
        return None
    if any(u.owner.operation.name == "memref.dealloc" for u in alloc.results[0].uses):
        return None
    return ret, alloc


def _results_into_destinations(body: ir.Block, kernels: dict) -> None:
    """Each kernel whose one caller copies its result into an output buffer writes there."""
    for name, calls in _calls(body, kernels).items():
        if len(calls) != 1:
            continue
        call, fn = calls[0], kernels[name]
        target, returned = _copy_target(call), _returned_alloc(fn)
        if target is None or returned is None:
            continue
        copy, frees = target
        ret, alloc = returned
        out_type = alloc.results[0].type
        if out_type != call.results[0].type:
            continue
        entry = fn.regions[0].blocks[0]
        arg = entry.add_argument(out_type, alloc.location)
        alloc.results[0].replace_all_uses_with(arg)
        alloc.erase()
        with ir.InsertionPoint(ret), ret.location:
            func.ReturnOp([])
        ret.erase()
        ftype = ir.FunctionType(ir.TypeAttr(fn.attributes["function_type"]).value)
        fn.attributes["function_type"] = ir.TypeAttr.get(ir.FunctionType.get(list(ftype.inputs) + [out_type], []))
        if "arg_attrs" in fn.attributes:
            fn.attributes["arg_attrs"] = ir.ArrayAttr.get(list(ir.ArrayAttr(fn.attributes["arg_attrs"]))
                                                          + [ir.DictAttr.get({})])
        if "res_attrs" in fn.attributes:
            del fn.attributes["res_attrs"]
        dst = copy.operands[1]
        with ir.InsertionPoint(call), call.location:
            func.CallOp([], ir.FlatSymbolRefAttr.get(name), list(call.operands) + [dst])
        for op in [copy] + frees:
            op.erase()
        call.erase()
