"""tn-scan-merge: two independent loops over the same steps become one loop.

    %a:2 = "tn.scan"(%n, %a0) ({ BODY_A; gpu.yield %a1, %ya }) {length = L, until = false}
    %b:2 = "tn.scan"(%n, %b0) ({ BODY_B; gpu.yield %b1, %yb }) {length = L, until = false}
      -> %r:4 = "tn.scan"(%n, %a0, %b0) ({ ^bb0(%i, %ca, %cb): BODY_A; BODY_B;
                                          gpu.yield %a1, %b1, %ya, %yb })
         %a#0, %b#0, %a#1, %b#1 -> %r#0, %r#1, %r#2, %r#3

Two scans of one block merge when they run the same steps (the same n_steps value, or static
trip counts that agree, with outputs capped alike), stacked outputs have one `length`, neither
has `until`, their other attributes are equal, the merged slots fit (16 carries, 32 results),
and the later one reads (operands or captured values) nothing computed from the earlier one's
results. The merged scan sits where the later one was; the pure ops between the two that read
the earlier one's results (directly or not) move after it, so every use stays dominated.
Then the bodies share work (tn-cse merges their common `take(xs, i)`), and the step overhead
is paid once.
"""
from __future__ import annotations

from mlir import ir

from theanir.dialects.tn.ops.control import (MAX_CARRIES, MAX_SCAN_RESULTS, body_block,
                                             scan_counts, terminator)

from .common import (SCAN, all_blocks, extra_attrs, is_pure, length, new_scan, reads, set_yield,
                     static_trip, until, with_length)
from ...base import Pass

NAME = "tn-scan-merge"


def _same_steps(a: ir.Operation, b: ir.Operation) -> bool:
    (_, ma), (_, mb) = scan_counts(a), scan_counts(b)
    if ma and mb and length(a) != length(b):
        return False  # one length attribute for all stacked outputs
    ta, tb = static_trip(a), static_trip(b)
    if ta is not None and tb is not None:
        return ta == tb
    capped_alike = bool(ma) == bool(mb) and (not ma or length(a) == length(b))
    return a.operands[0] == b.operands[0] and capped_alike


def _compatible(a: ir.Operation, b: ir.Operation) -> bool:
    (ka, ma), (kb, mb) = scan_counts(a), scan_counts(b)
    if until(a) or until(b) or ka + kb > MAX_CARRIES or ka + kb + ma + mb > MAX_SCAN_RESULTS:
        return False
    ea, eb = extra_attrs(a), extra_attrs(b)
    ea.pop("length"), eb.pop("length")
    if {k: str(v) for k, v in ea.items()} != {k: str(v) for k, v in eb.items()}:
        return False
    return _same_steps(a, b)


def _dependents(a: ir.Operation, b: ir.Operation) -> list[ir.Operation] | None:
    """The ops strictly between a and b that read a's results (transitively), when b reads
    none of them and all can move after b; else None."""
    tainted = set(a.results)
    between: list[ir.Operation] = []
    ops = [o.operation for o in a.block.operations]
    for o in ops[ops.index(a) + 1:ops.index(b)]:
        if any(v in tainted for v in reads(o)):
            if not is_pure(o):
                return None
            between.append(o)
            tainted.update(o.results)
    return None if any(v in tainted for v in reads(b)) else between


def merge_scans(a: ir.Operation, b: ir.Operation) -> ir.Operation | None:
    """Merge b (later in the block) into a; returns the merged scan, or None."""
    if not _compatible(a, b):
        return None
    movers = _dependents(a, b)
    if movers is None:
        return None
    for o in reversed(movers):
        o.move_after(b)
    (ka, ma), (kb, mb) = scan_counts(a), scan_counts(b)
    ra, rb = list(a.results), list(b.results)
    results = ra[:ka] + rb[:kb] + ra[ka:] + rb[kb:]
    attrs = with_length(extra_attrs(a), length(a) if ma else length(b))
    merged = new_scan(b, a.operands[0], list(a.operands)[1:] + list(b.operands)[1:],
                      [r.type for r in results], attrs, a.location)
    block, other = body_block(a), body_block(b)
    index, *_ = block.arguments
    new_args = [block.add_argument(arg.type, arg.location) for arg in list(other.arguments)[1:]]
    other.arguments[0].replace_all_uses_with(index)
    for old, new in zip(list(other.arguments)[1:], new_args):
        old.replace_all_uses_with(new)
    ya, yb = list(terminator(block).operands), list(terminator(other).operands)
    for child in list(other.operations)[:-1]:
        child.operation.move_before(terminator(block))
    set_yield(block, ya[:ka] + yb[:kb] + ya[ka:] + yb[kb:])
    block.append_to(merged.regions[0])
    for old, new in zip(results, merged.results):
        old.replace_all_uses_with(new)
    a.erase()
    b.erase()
    return merged


def merge_block(block: ir.Block) -> int:
    """Merge the block's scans pairwise until no pair merges; returns how many merges."""
    merged = 0
    while True:
        loops = [o.operation for o in block.operations if o.operation.name == SCAN]
        pair = next(((a, b) for i, a in enumerate(loops) for b in loops[i + 1:]
                     if merge_scans(a, b) is not None), None)
        if pair is None:
            return merged
        merged += 1


def run_scan_merge(module_op: ir.Operation, pass_: object = None) -> int:
    with module_op.context, ir.Location.unknown(module_op.context):
        return sum(merge_block(block) for block in all_blocks(module_op))


class ScanMerge(Pass):
    """Merge independent tn.scans over the same steps into one loop."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> int:
        return run_scan_merge(module_op)
