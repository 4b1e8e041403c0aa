"""theanir-results-in-place: compute a result directly in the caller's output buffer.

The entry function writes each result into the buffer the runtime allocated for it
(passes/lower/entry_abi.py: `materialize_in_destination %r in restrict writable %out`, a
memref argument). Without `eliminate-empty-tensors` (not used: docs/design.md, it let two
reductions share one buffer after `cse` merged their inits), one-shot bufferization computes
`%r` into a temporary and copies it into `%out`: for 10^7 float32 draws (bench/random_draws.py)
the copy was a third of the time. This pass is that elimination restricted to a chain it can
see whole: from the result back through ops whose result is their init's buffer (a
`linalg.generic`'s or `linalg.fill`'s outs, an `scf.for`'s iter_args, `tensor.insert`'s
destination, static `tensor.expand_shape`/`collapse_shape`) to a `tensor.empty`, where every
value on the way has exactly one use (the next op of the chain). That empty (whose contents
nobody reads) becomes `to_tensor %out restrict writable`, reshaped back where the chain
reshaped; bufferization then writes in place (or, should it find a conflict, copies: still
correct), and the materialize folds away. A destination with any other use (a donated
input's buffer: passes/lower/donated_inits.py) is left alone.

    %e = tensor.empty()                          %t = to_tensor %out restrict writable
    %r = scf.for ... iter_args(%a = %e) ...  ->  %r = scf.for ... iter_args(%a = %t) ...
    materialize_in_destination %r in %out        materialize_in_destination %r in %out
"""
from __future__ import annotations

from mlir import ir
from mlir.dialects import bufferization, tensor

from ..base import Pass
from .payloads import defining_op, ops_named

NAME = "theanir-results-in-place"
_RESHAPES = ("tensor.expand_shape", "tensor.collapse_shape")


def _static(t: ir.Type) -> bool:
    return isinstance(t, ir.RankedTensorType) and ir.RankedTensorType(t).has_static_shape


def _tied_init(op: ir.Operation, value: ir.Value) -> int | None:
    """The index of the operand whose buffer `value` (a result of `op`) is written into."""
    number = ir.OpResult(value).result_number
    if op.name in ("linalg.generic", "linalg.fill"):
        return ir.DenseI32ArrayAttr(op.attributes["operandSegmentSizes"])[0] + number
    if op.name == "scf.for":
        return 3 + number  # lower bound, upper bound, step, then the inits
    if op.name == "scf.forall":
        return len(op.operands) - len(op.results) + number  # bounds, then the shared outs
    if op.name == "tensor.insert":
        return 1
    if op.name in _RESHAPES and len(op.operands) == 1 and _static(op.operands[0].type):
        return 0
    return None


def _root(source: ir.Value) -> tuple[ir.Operation, int, ir.Operation, list[ir.Operation]] | None:
    """(the op whose init is a tensor.empty, that operand's index, the empty, the reshapes on
    the way, result side first) for the chain that ends in `source`; None if it has a branch."""
    value, reshapes = source, []
    while True:
        op = defining_op(value)
        if op is None or len(list(value.uses)) != 1:
            return None
        index = _tied_init(op, value)
        if index is None:
            return None
        init = op.operands[index]
        if op.name in _RESHAPES:
            reshapes.append(op)
        elif init.type != value.type:
            return None
        owner = defining_op(init)
        if owner is not None and owner.name == "tensor.empty" and (_static(init.type) or not reshapes):
            # a dynamic empty: the output's sizes are the same values (theanir-shape-function
            # sized the destination from this very chain's dims)
            return op, index, owner, reshapes  # the empty may have other users: they keep it
        value = init


def _undo(reshape: ir.Operation, value: ir.Value) -> ir.Value:
    """`value` (of the reshape's result type) back in the reshape's source type."""
    src = reshape.operands[0].type
    reassociation = reshape.attributes["reassociation"]
    if reshape.name == "tensor.expand_shape":
        return tensor.CollapseShapeOp(src, value, reassociation).result
    shape = ir.RankedTensorType(src).shape
    return tensor.ExpandShapeOp(src, value, reassociation, [], shape).result


def results_in_place(module_op: ir.Operation, pass_: object = None) -> int:
    """Compute each result whose chain qualifies in its output buffer; the number changed."""
    changed = 0
    for mat in ops_named(module_op, "bufferization.materialize_in_destination"):
        if len(mat.results) != 0:
            continue  # a tensor destination: a donated input (donated_inits.py)
        source, dest = mat.operands[0], mat.operands[1]
        if not isinstance(dest.type, ir.MemRefType) or len(list(dest.uses)) != 1:
            continue
        t = ir.RankedTensorType(source.type)
        if dest.type != ir.MemRefType.get(t.shape, t.element_type):
            continue  # not a contiguous buffer of the result's type
        found = _root(source)
        if found is None:
            continue
        user, index, empty, reshapes = found
        with ir.InsertionPoint(empty), empty.location:
            value = bufferization.ToTensorOp(source.type, dest, restrict=True, writable=True).result
            for reshape in reshapes:
                value = _undo(reshape, value)
        if value.type != empty.results[0].type:
            continue  # the (unused) to_tensor folds away
        user.operands[index] = value
        if not list(empty.results[0].uses):
            empty.erase()
        changed += 1
    return changed


def blocks_in_place(module_op: ir.Operation) -> int:
    """In each scf.forall, a block computed into a tensor.empty (a chain as above, no
    reshape) and then inserted into a shared output is computed in that output's slice: the
    empty becomes the `tensor.extract_slice` of the slice the `parallel_insert_slice` writes
    (the blocks of a convolution's batch, ops/window_lower.py: disjoint by construction, so
    bufferization writes each in place instead of a temporary and a copy)."""
    changed = 0
    for loop in ops_named(module_op, "scf.forall"):
        body = loop.regions[0].blocks[0]
        shared = list(body.arguments)[len(body.arguments) - len(loop.results):]
        term = list(body.operations)[-1].operation
        for ins in [op.operation for op in term.regions[0].blocks[0].operations]:
            if ins.name != "tensor.parallel_insert_slice" or ins.operands[1] not in shared:
                continue
            found = _root(ins.operands[0])
            if found is None or found[3] or not _static(found[2].results[0].type):
                continue
            user, index, empty, _ = found
            if not all(_before(v, user, body) for v in list(ins.operands)[2:]):
                continue
            with ir.InsertionPoint(user), user.location:
                a = ins.attributes
                value = tensor.ExtractSliceOp(empty.results[0].type, ins.operands[1], *_slice_operands(ins),
                                              a["static_offsets"], a["static_sizes"], a["static_strides"]).result
            user.operands[index] = value
            if not list(empty.results[0].uses):
                empty.erase()
            changed += 1
    return changed


def _slice_operands(ins: ir.Operation) -> tuple[list[ir.Value], list[ir.Value], list[ir.Value]]:
    """A parallel_insert_slice's dynamic offsets, sizes and strides."""
    counts = ir.DenseI32ArrayAttr(ins.attributes["operandSegmentSizes"])
    ops, at, out = list(ins.operands), counts[0] + counts[1], []
    for n in list(counts)[2:]:
        out.append(ops[at:at + n])
        at += n
    return out[0], out[1], out[2]


def _before(v: ir.Value, user: ir.Operation, body: ir.Block) -> bool:
    """Whether `v` is available at `user` (inside `body`): a block argument, defined outside
    the loop, or by an op of `body` before the op of `body` that holds `user`."""
    owner = defining_op(v)
    if owner is None:
        return True
    top = user
    while top.parent is not None and top.parent.operation != body.owner.operation:
        top = top.parent.operation
    ops = [op.operation for op in body.operations]
    if owner not in ops:
        return True  # defined outside the loop (or it would not dominate the insert)
    return top in ops and ops.index(owner) < ops.index(top)


class ResultsInPlace(Pass):
    """A result computed into a tensor.empty through a chain of in-place ops is computed
    in the caller's output buffer instead (no temporary, no copy)."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> int:
        return results_in_place(module_op) + blocks_in_place(module_op)
