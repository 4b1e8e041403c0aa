"""Build region ops (`tn.scan`, `tn.cond`): trace a body first, then create the op around it.

A body is traced before its op can be built (the result types come from the body), so it
goes into a scratch holder op first and moves into the real op in `emit_region_op`. The
frontend's control flow (`th.scan`, `th.cond`, ...) and the autodiff rules of region ops
(`passes/autodiff/control.py`) both build their loops and branches with these two.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from mlir import ir
from mlir.dialects import gpu

from .builder import current_location, describe_location, size_problem
from .lax import Value, value_of
from .registry import ShapeError, lookup
from .types import TensorSpec, tensor_type


class Region:
    """A block traced before its op exists: lives in a scratch holder op until `emit_region_op`.

    `args` are the block's arguments as lax Values; `close` takes the yielded values (lax
    Values, frontend Tensors or ir.Values).
    """

    def __init__(self, arg_specs: Sequence[TensorSpec]):
        self.holder = ir.Operation.create("scf.execute_region", results=[], regions=1)
        self.block = self.holder.regions[0].blocks.append(*[tensor_type(s) for s in arg_specs])
        self.args = [Value(a) for a in self.block.arguments]
        self.yielded: list[Any] = []

    def trace(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run `fn` with the insertion point in this block (the holder goes on failure)."""
        try:
            with ir.InsertionPoint(self.block):
                return fn(*args)
        except BaseException:
            self.discard()
            raise

    def close(self, values: Sequence[Any]) -> None:
        self.yielded = list(values)
        with ir.InsertionPoint(self.block), current_location():
            gpu.YieldOp([value_of(v) for v in values])

    def discard(self) -> None:
        if self.holder is not None:
            self.holder.erase()
            self.holder = None


def emit_region_op(name: str, operands: Sequence[Any], attrs: dict[str, Any],
                   result_specs: Sequence[TensorSpec], regions: Sequence[Region]) -> list[Value]:
    """Build the region op where the first holder sits, move the traced blocks into it, and
    check it with the op's region shape rule; returns its results as lax Values."""
    opdef = lookup(name)
    loc = current_location()
    for spec in result_specs:  # stacked outputs: (length, ...) may exceed what a tensor can hold
        problem = size_problem(spec)
        if problem is not None:
            for r in regions:
                r.discard()
            raise ShapeError(f"{name}: {problem} at {describe_location(loc)}")
    op = ir.Operation.create(
        name, results=[tensor_type(s) for s in result_specs], operands=[value_of(t) for t in operands],
        attributes={**opdef.encode_attrs(attrs), **opdef.segment_attrs(len(operands), len(result_specs))},
        regions=len(regions), loc=loc, ip=ir.InsertionPoint(regions[0].holder))
    for i, r in enumerate(regions):
        r.block.append_to(op.regions[i])
        r.discard()
    try:
        opdef.infer_region(op)
    except ShapeError as e:  # a frontend bug if it happens: the frontend checked everything
        raise ShapeError(f"{name}: {e} at {describe_location(loc)}") from None
    return [Value(r) for r in op.results]
