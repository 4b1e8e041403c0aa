"""What the tn.scan passes share: finding scans, their static trip counts, which values a body
reads from outside, and building a scan with other carries and results (the body moves over).

Trip count (control.py): trip = max(n_steps, 0), at most `length` when the scan stacks
outputs (M > 0); with `until` the loop may stop earlier, after at least one step.
"""
from __future__ import annotations

from typing import Iterator, Sequence

from mlir import ir
from mlir.dialects import gpu

from theanir.dialects.tn.interpreter import static_value
from theanir.dialects.tn.ops.control import (YIELD, body_block, captured_values, scan,
                                             scan_counts, terminator)
from theanir.dialects.tn.ops.control_ad import TRUNCATE
from theanir.dialects.tn.registry import OPERAND_SEGMENTS, OPS, RESULT_SEGMENTS, encode_attr

SCAN = "tn.scan"
SEGMENTS = (OPERAND_SEGMENTS, RESULT_SEGMENTS)
# What these passes understand: `length`, `until`, and `truncate_gradient` (read by reverse
# mode only, which runs while tracing, before them). Other attributes (e.g. a future `reverse`)
# are copied as they are, and the passes that depend on the step order refuse such scans.
KNOWN_ATTRS = ("length", "until", TRUNCATE)


# ---------------------------------------------------------------- finding scans
def function_blocks(module_op: ir.Operation) -> Iterator[ir.Block]:
    for op in module_op.regions[0].blocks[0].operations:
        if op.operation.name == "func.func" and op.regions[0].blocks:
            yield op.regions[0].blocks[0]


def all_blocks(module_op: ir.Operation) -> list[ir.Block]:
    """Every block of every function, nested regions included, inner blocks first."""
    out: list[ir.Block] = []

    def visit(block: ir.Block) -> None:
        for op in block.operations:
            for region in op.regions:
                for b in region.blocks:
                    visit(b)
        out.append(block)

    for block in function_blocks(module_op):
        visit(block)
    return out


def scans(module_op: ir.Operation) -> list[ir.Operation]:
    """Every tn.scan of the module, inner scans before the scans whose bodies hold them."""
    out = []
    for block in all_blocks(module_op):
        out += [op.operation for op in block.operations if op.operation.name == SCAN]
    return out


# ---------------------------------------------------------------- attributes and trips
def length(op: ir.Operation) -> int:
    """The stacked outputs' rows; -1 (control.DYNAMIC): as many as steps ran."""
    return scan.decode_attrs(op)["length"]


def until(op: ir.Operation) -> bool:
    return scan.decode_attrs(op)["until"]


def extra_attrs(op: ir.Operation) -> dict[str, ir.Attribute]:
    """Every attribute but the segment sizes (which a rebuilt scan recomputes)."""
    return {name: op.attributes[name] for name in op.attributes if name not in SEGMENTS}


def with_length(attrs: dict[str, ir.Attribute], value: int) -> dict[str, ir.Attribute]:
    return {**attrs, "length": encode_attr("int", value)}


def is_plain(op: ir.Operation) -> bool:
    """Every attribute beyond KNOWN_ATTRS is false or zero: the steps run forward from index
    0 as control.py describes."""
    for name, attr in extra_attrs(op).items():
        if name in KNOWN_ATTRS:
            continue
        if not _is_zero(attr):
            return False
    return True


def _is_zero(attr: ir.Attribute) -> bool:
    if isinstance(attr, ir.BoolAttr):
        return not ir.BoolAttr(attr).value
    return isinstance(attr, ir.IntegerAttr) and ir.IntegerAttr(attr).value == 0


def static_steps(op: ir.Operation) -> int | None:
    """n_steps when it is known at compile time (a constant, or folds from constants)."""
    value = static_value(op.operands[0], limit=1)
    return None if value is None else int(value)


def static_trip(op: ir.Operation) -> int | None:
    """The number of steps (an upper bound with `until`) when n_steps is static, else None."""
    n = static_steps(op)
    if n is None:
        return None
    _, m = scan_counts(op)
    return min(max(n, 0), length(op)) if m and length(op) >= 0 else max(n, 0)


def trip_bound(op: ir.Operation) -> int | None:
    """An upper bound on the steps run: the static trip, else `length` when outputs are stacked."""
    t = static_trip(op)
    if t is not None:
        return t
    return length(op) if scan_counts(op)[1] and length(op) >= 0 else None


# ---------------------------------------------------------------- what a body reads
def reads(op: ir.Operation) -> list[ir.Value]:
    """The values `op` reads: its operands and, for a region op, the values its body captures."""
    out = list(op.operands)
    return out + captured_values(op) if len(op.regions) else out


def defined_in(v: ir.Value, op: ir.Operation) -> bool:
    """`v` is a block argument or a result of an op nested in `op`'s regions (or of `op`)."""
    owner = v.owner.owner if isinstance(v, ir.BlockArgument) else v.owner
    cur = owner.operation if owner is not None else None
    while cur is not None:
        if cur == op:
            return True
        if cur.name in ("func.func", "builtin.module"):
            return False
        cur = cur.parent
    return False


def is_pure(op: ir.Operation) -> bool:
    """A pure tn op whose regions (if any) hold only pure tn ops and terminators."""
    opdef = OPS.get(op.name)
    if opdef is None or not opdef.pure:
        return False
    for region in op.regions:
        for block in region.blocks:
            for child in block.operations:
                if child.operation.name != YIELD and not is_pure(child.operation):
                    return False
    return True


def used(v: ir.Value) -> bool:
    return any(True for _ in v.uses)


def dce(block: ir.Block) -> int:
    """Erase unused pure tn ops (region ops too: an unused pure loop is dead), inner blocks
    first, last op to first, so dead chains go in one sweep."""
    removed = 0
    for op in reversed(list(block.operations)):
        o = op.operation
        for region in o.regions:
            for b in region.blocks:
                removed += dce(b)
        if list(o.results) and not any(used(r) for r in o.results) and is_pure(o):
            o.erase()
            removed += 1
    return removed


# ---------------------------------------------------------------- building scans
def new_scan(before: ir.Operation, n_steps: ir.Value, inits: Sequence[ir.Value],
             result_types: Sequence[ir.Type], attrs: dict[str, ir.Attribute],
             loc: ir.Location) -> ir.Operation:
    """An empty-bodied tn.scan before `before`: the caller moves a body block into it."""
    operands = [n_steps, *inits]
    return ir.Operation.create(
        SCAN, results=list(result_types), operands=operands,
        attributes={**attrs, **scan.segment_attrs(len(operands), len(result_types))},
        regions=1, loc=loc, ip=ir.InsertionPoint(before))


def set_yield(block: ir.Block, values: Sequence[ir.Value]) -> None:
    """Replace the block's gpu.yield by one of `values`."""
    old = terminator(block)
    loc = old.location
    old.erase()
    with ir.InsertionPoint(block), loc:
        gpu.YieldOp(list(values))


def rebuild(op: ir.Operation, carries: Sequence[int], outputs: Sequence[int],
            n_steps: ir.Value | None = None) -> ir.Operation:
    """`op` keeping only the carries and stacked outputs at these positions (the stop flag
    always stays); the body moves into the new scan, dropped carries' block arguments go (their
    remaining readers are dead: they read the initial value instead, and die in `dce`).
    Uses of the kept results are redirected; `op` is erased."""
    k, _ = scan_counts(op)
    block = body_block(op)
    ys = list(terminator(block).operands)
    results = list(op.results)
    keep = list(carries) + [k + j for j in outputs]
    new = new_scan(op, op.operands[0] if n_steps is None else n_steps,
                   [op.operands[1 + c] for c in carries], [results[r].type for r in keep],
                   extra_attrs(op), op.location)
    set_yield(block, [ys[r] for r in keep] + ([ys[-1]] if until(op) else []))
    dropped = [c for c in range(k) if c not in set(carries)]
    for c in dropped:
        block.arguments[1 + c].replace_all_uses_with(op.operands[1 + c])
    dce(block)
    for c in reversed(dropped):
        block.erase_argument(1 + c)
    block.append_to(new.regions[0])
    for r, res in zip(keep, new.results):
        results[r].replace_all_uses_with(res)
    op.erase()
    return new
