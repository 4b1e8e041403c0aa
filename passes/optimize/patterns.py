"""The rewrite driver shared by the optimizer phases, and the matchers their patterns use.

A `Pattern` matches one op (its `root`, e.g. "tn.log"; `None` matches every tn op) and
returns the value that replaces the op's single result, or None when it does not apply. It
must decide before it builds anything: a pattern that emits ops and then returns None leaves
garbage that the next sweep removes, and the driver would never reach a fixed point.

`apply_patterns(module_op, patterns)` walks every block of every function (nested regions
included), tries the patterns of each op in list order at `ir.InsertionPoint(op)` with the
op's location, redirects the uses of a rewritten op to the replacement, then merges identical
ops (tn-cse) and erases dead ones (tn-dce), sweeping until nothing changes.

    @rewrite("tn.neg")
    def remove_double_negation(op):
        # -(-x) -> x
        inner = producer(op.operands[0], "tn.neg")
        return None if inner is None else inner.operands[0]
"""
from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from typing import Callable, Iterator, Sequence

import numpy as np
from mlir import ir

from theanir.dialects.tn.builder import emit1, location_override
from theanir.dialects.tn.interpreter import FOLD_LIMIT
from theanir.dialects.tn.registry import OPS, elements_to_numpy
from theanir.dialects.tn.types import TensorSpec, spec_of_value

from .dce_cse import cse_block, dce_block

MAX_SWEEPS = 64

RewriteFn = Callable[[ir.OpView], "ir.Value | None"]


@dataclass(frozen=True)
class Pattern:
    """One named rewrite: `fn(op)` returns the replacement of op's result, or None."""

    name: str
    root: str | None
    fn: RewriteFn


def rewrite(root: str | None) -> Callable[[RewriteFn], Pattern]:
    """Decorator: the function becomes a Pattern named after it, matching ops `root`."""
    def wrap(fn: RewriteFn) -> Pattern:
        return Pattern(fn.__name__, root, fn)
    return wrap


class RewriteError(RuntimeError):
    """A pattern produced an ill-typed replacement or the driver did not converge."""


# ---------------------------------------------------------------- the driver
def blocks_of(module_op: ir.Operation) -> Iterator[ir.Block]:
    """Every block of every function body, nested regions included (outer blocks first)."""
    for op in module_op.regions[0].blocks[0].operations:
        if op.operation.name == "func.func":
            for region in op.regions:
                for block in region.blocks:
                    yield from _nested(block)


def _nested(block: ir.Block) -> Iterator[ir.Block]:
    yield block
    for op in block.operations:
        for region in op.regions:
            for b in region.blocks:
                yield from _nested(b)


def _used(op: ir.OpView) -> bool:
    return any(True for r in op.results for _ in r.uses)


def _sweep(block: ir.Block, table: dict[str | None, list[Pattern]]) -> int:
    """One pass over the block's ops; returns how many ops were rewritten."""
    rewritten = 0
    for op in list(block.operations):  # rewrites insert before `op` and erase nothing
        name = op.operation.name
        patterns = table.get(name, [])
        if name in OPS:
            patterns = patterns + table.get(None, [])
        if not patterns or len(op.results) != 1 or not _used(op):
            continue
        for p in patterns:
            with ir.InsertionPoint(op), location_override(op.location):
                try:
                    new = p.fn(op)
                except DynamicDims:
                    continue  # the rewrite needs static shapes (the ops it emitted are dead)
            if new is None or new == op.results[0]:
                continue
            old = op.results[0]
            if new.type != old.type:
                raise RewriteError(f"pattern {p.name} replaced {name} ({old.type}) by a value of "
                                   f"type {new.type}")
            old.replace_all_uses_with(new)
            rewritten += 1
            break
    return rewritten


def apply_patterns(module_op: ir.Operation, patterns: Sequence[Pattern]) -> int:
    """Apply `patterns` (plus tn-cse and tn-dce) to a fixed point; returns the change count."""
    table: dict[str | None, list[Pattern]] = defaultdict(list)
    for p in patterns:
        table[p.root].append(p)
    total = 0
    with module_op.context, ir.Location.unknown(module_op.context):  # types need a location
        for _ in range(MAX_SWEEPS):
            changed = 0
            for block in list(blocks_of(module_op)):
                changed += cse_block(block)
                changed += _sweep(block, table)
                changed += dce_block(block)
            total += changed
            if not changed:
                return total
    raise RewriteError(f"rewrites did not reach a fixed point in {MAX_SWEEPS} sweeps "
                       f"(patterns: {', '.join(p.name for p in patterns)})")


# ---------------------------------------------------------------- matchers
def producer(v: ir.Value, name: str | None = None) -> ir.OpView | None:
    """The op defining `v` (if it is named `name`), else None (block arguments too)."""
    if not isinstance(v, ir.OpResult):
        return None
    op = v.owner
    if name is not None and op.operation.name != name:
        return None
    return op


def attrs_of(op: ir.OpView) -> dict:
    """The op's attributes as Python values (its OpDef's kinds)."""
    return OPS[op.operation.name].decode_attrs(op.operation)


def spec(v: ir.Value) -> TensorSpec:
    return spec_of_value(v)


def constant_value(v: ir.Value, limit: int = FOLD_LIMIT) -> np.ndarray | None:
    """The value of a `tn.constant` result (at most `limit` elements), else None."""
    op = producer(v, "tn.constant")
    if op is None or spec(v).size_above(limit):
        return None
    return elements_to_numpy(op.attributes["value"])


def splat_value(v: ir.Value) -> float | int | bool | None:
    """The scalar every element of `v` equals, when `v` is a constant (possibly broadcast or
    reshaped) whose elements are all one value; else None."""
    while (op := producer(v)) is not None and op.operation.name in ("tn.broadcast_to", "tn.reshape"):
        v = op.operands[0]
    op = producer(v, "tn.constant")
    if op is None or spec(v).size == 0:
        return None
    dense = ir.DenseElementsAttr(op.attributes["value"])
    if dense.is_splat:  # read the one stored element; never materialize the tensor
        sv = dense.get_splat_value()
        if spec(v).dtype == np.bool_:
            return bool(ir.BoolAttr(sv).value if isinstance(sv, ir.BoolAttr) else sv.value)
        return sv.value
    arr = constant_value(v, limit=4096)
    if arr is None or not np.all(arr == arr.flat[0]):
        return None
    return arr.flat[0].item()


def is_splat(v: ir.Value, value: float) -> bool:
    """`v` is a constant (through broadcasts) with every element equal to `value`."""
    s = splat_value(v)
    return s is not None and s == value


# ---------------------------------------------------------------- builders (for replacements)
class DynamicDims(Exception):
    """A rewrite would need the size of a dynamic dim it has no value for: it is skipped."""


def op1(name: str, *operands: ir.Value, **attrs) -> ir.Value:
    """Emit one tn op at the current insertion point; its shape rule types the result.
    A `shape` attribute with dynamic (None) dims raises DynamicDims: the pattern is skipped."""
    if any(n is None for n in attrs.get("shape", ()) or ()):
        raise DynamicDims(name)
    return emit1(name, list(operands), attrs)


def filled(value: float, like: TensorSpec) -> ir.Value:
    """A constant `value` of `like`'s dtype, broadcast to its shape (a splat, no big attr)."""
    c = op1("tn.constant", value=np.asarray(value, dtype=like.dtype))
    return c if not like.shape else op1("tn.broadcast_to", c, shape=like.shape)
