"""tn-fuse: chains of elementwise ops (and a reduction they feed) become one `tn.fusion`.

A group is grown backwards from a root (the last op of the chain, or a reduction) through the
producers of its operands; a producer joins when

  - it is elementwise (has a `scalar` rule: arithmetic, comparisons, `tn.cast`, `tn.where`)
    on the loop shape, or a `tn.broadcast_to` to the loop shape (its operand then stays
    outside and is read through a broadcasting indexing map; an identity broadcast, as
    autodiff inserts, is a plain link of the chain), and
  - every use of its result is already in the group (intermediates are never needed outside,
    so none has to be materialized).

Producers are visited last-to-first in block order, so when one is considered every user it
could ever share a group with has been decided: one look per producer suffices. Groups of
one op are left alone. Each group moves into the region of a `tn.fusion` placed at its root,
whose lowering (dialects/tn/ops/fusion.py) is one `linalg.generic`:

    %1 = tn.exp(%x); %2 = tn.add(%1, %y); %3 = tn.reduce_sum(%2)
      -> %3 = tn.fusion { exp; add; reduce_sum; gpu.yield }      (no %1, %2 tensors below tn)

    theanir-opt in.mlir --pass-pipeline='builtin.module(tn-canonicalize,tn-fuse,tn-to-linalg)'

Option `min-ops` (`tn-fuse{min-ops=1024}`): only functions of more top-level ops than this
are fused. fast_run fuses every function (0); fast_compile, which runs no rewrite for speed
of the code, fuses only huge ones (FAST_COMPILE_MIN_OPS, where theanir-outline-kernels and
theanir-split-functions also start): there fusion is a compile-time rewrite. Unfused, each
elementwise op of a 10^4-op program is its own loop nest through bufferization, the LLVM
dialect and LLVM (bench/compile_ops.py, fast_compile, 10^4 ops: 52 s, lowering 28 s and
LLVM 23 s, against 20 s at fast_run). Ordinary programs keep fast_compile's unfused form.
"""
from __future__ import annotations

import heapq
from dataclasses import dataclass

from mlir import ir
from mlir.dialects import gpu

from theanir.dialects.tn.ops.fusion import fusible_kind
from theanir.dialects.tn.types import spec_of_type, spec_of_value
from ..base import Pass
from ..options import CompileOptions

NAME = "tn-fuse"
FAST_COMPILE_MIN_OPS = 1024  # = theanir-split-functions' MIN_OPS: every ordinary program is below


@dataclass(frozen=True)
class FuseOptions:
    """min_ops: fuse only in functions of more top-level ops than this (0: every function)."""

    min_ops: int = 0


def _loop_shape(root: ir.Operation) -> tuple[int, ...]:
    if fusible_kind(root) == "reduce":
        return spec_of_value(root.operands[0]).shape
    return spec_of_type(root.results[0].type).shape


def _joins(op: ir.Operation, shape: tuple[int, ...], members: set[ir.Operation]) -> bool:
    """May producer `op` join a group with loop `shape` and these members?"""
    kind = fusible_kind(op)
    if kind not in ("map", "broadcast") or len(op.results) != 1:
        return False
    if spec_of_type(op.results[0].type).shape != shape:
        return False
    return all(use.owner.operation in members for use in op.results[0].uses)


def _grow(root: ir.Operation, pos: dict[ir.Operation, int], taken: set[ir.Operation]) -> list[ir.Operation]:
    """The group rooted at `root`, in block order."""
    shape = _loop_shape(root)
    members = {root}
    heap: list[tuple[int, ir.Operation]] = []  # max-heap on block position

    def push_producers(op: ir.Operation) -> None:
        if fusible_kind(op) == "broadcast" and spec_of_value(op.operands[0]).shape != shape:
            return  # a real broadcast: its operand is read through the indexing map
        for v in op.operands:
            owner = v.owner
            if isinstance(owner, ir.OpView) and owner.operation in pos:
                heapq.heappush(heap, (-pos[owner.operation], id(owner.operation), owner.operation))

    push_producers(root)
    while heap:
        _, _, op = heapq.heappop(heap)
        if op in members or op in taken or not _joins(op, shape, members):
            continue
        members.add(op)
        push_producers(op)
    return sorted(members, key=pos.__getitem__)


def _outline(group: list[ir.Operation]) -> None:
    """Move `group` into a tn.fusion placed at its root (the last op)."""
    root = group[-1]
    result = root.results[0]
    fused = ir.Operation.create("tn.fusion", results=[result.type], operands=[], regions=1,
                                loc=root.location, ip=ir.InsertionPoint(root))
    result.replace_all_uses_with(fused.results[0])
    block = fused.regions[0].blocks.append()
    with ir.InsertionPoint(block), root.location:
        terminator = gpu.YieldOp([result])
    for op in group:
        op.move_before(terminator)


def _sink_shared_broadcasts(block: ir.Block) -> None:
    """Copy a real broadcast that several groups read into each of them.

    Why: a group only takes a producer whose every use is in it, so `lr` broadcast once to
    1000x1000 and read by two weight updates stayed outside both and was materialized (a
    4 MB fill and an extra read per update). Inside a fusion a broadcast costs nothing (an
    indexing map), so each group gets its own copy; uses outside fusions (a matmul) keep
    the original, which is erased when none remain."""
    for op in [o.operation for o in block.operations]:
        if fusible_kind(op) != "broadcast" or spec_of_value(op.operands[0]).shape == \
                spec_of_type(op.results[0].type).shape:
            continue
        copies: dict[ir.Operation, ir.Value] = {}
        for use in list(op.results[0].uses):
            user = use.owner.operation
            fusion = user.parent
            if user.block == block or fusion is None or fusion.name != "tn.fusion" or fusion.block != block:
                continue
            if fusion not in copies:
                first = fusion.regions[0].blocks[0].operations[0]
                copies[fusion] = op.clone(ir.InsertionPoint(first)).results[0]
            user.operands[use.operand_number] = copies[fusion]
        if copies and not list(op.results[0].uses):
            op.erase()


def fuse_block(block: ir.Block) -> int:
    """Outline every maximal fusible group of `block`; returns how many tn.fusion ops it made."""
    ops = [o.operation for o in block.operations]
    pos = {op: i for i, op in enumerate(ops)}
    taken: set[ir.Operation] = set()
    groups = []
    for root in reversed(ops):
        if root in taken or fusible_kind(root) not in ("map", "reduce"):
            continue
        group = _grow(root, pos, taken)
        taken.update(group)
        if len(group) > 1:
            groups.append(group)
    for group in groups:
        _outline(group)
    _sink_shared_broadcasts(block)
    return len(groups)


def run_fuse(module_op: ir.Operation, pass_: object = None, min_ops: int = 0) -> int:
    """Fuse in every func.func whose body has more than `min_ops` top-level ops; returns the
    number of tn.fusion ops made."""
    made = 0
    for op in module_op.regions[0].blocks[0].operations:
        if op.operation.name == "func.func" and op.regions[0].blocks:
            block = op.regions[0].blocks[0]
            if min_ops and sum(1 for _ in block.operations) <= min_ops:
                continue
            made += fuse_block(block)
    return made


class Fuse(Pass):
    """Group elementwise chains (+ a trailing reduction) into tn.fusion ops, each lowered to
    one linalg.generic."""

    NAME = NAME
    Options = FuseOptions

    @classmethod
    def from_compile_options(cls, opts: CompileOptions) -> FuseOptions:
        """fast_run: every function; fast_compile: only huge ones (a compile-time rewrite)."""
        return FuseOptions(min_ops=0 if opts.optimizer == "fast_run" else FAST_COMPILE_MIN_OPS)

    @classmethod
    def run(cls, module_op: ir.Operation, options: FuseOptions) -> int:
        return run_fuse(module_op, min_ops=options.min_ops)
