"""Helpers for the batching rules (vmap) of `ops/*.py`: the vocabulary of `def_batch`.

A batching rule sees the operands of one op, a flag per operand saying whether it carries a
leading batch axis, and the batch size; it emits ops that compute every example at once and
returns one Value per result with the batch axis in front (JAX's `BatchTracer` with the batch
dim always moved to 0: one convention, so rules never move it around). `Unbatched(v)` marks a
result that is the same for every example (`tn.dim` of a per-example axis).

    @exp.def_batch                   # elementwise: the op on the batched operand
    def _(args, batched, size): return [lax.exp(args[0])]

`loop_rule(name)` is the fallback where a batched form would need a new op (bounds that
differ per example, per-example random keys): a `tn.scan` over the examples, each step
running the op on one example; `ops/control.py` does the same for a region op (tn.scan,
tn.cond) by cloning it into the loop body. `refuse(name, why)` is the rule of an op with no
batched form (a result shape that depends on the data): NotImplementedError naming the op.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from mlir import ir

from . import lax
from .lax import Value
from .registry import ShapeError
from .regions import Region, emit_region_op
from .types import TensorSpec


class Unbatched:
    """A rule's result that is the same for every example (no batch axis)."""

    __slots__ = ("value",)

    def __init__(self, value: Value):
        self.value = value


Size = Any  # int, or an int64 scalar Value (a dynamic batch size)


def materialize(x: Value, batched: bool, size: Size) -> Value:
    """`x` with the batch axis in front: an unbatched value is broadcast to every example."""
    if batched:
        return x
    return lax.broadcast_to(x, (size,) + lax.shape_of(x))


def materialize_all(args: Sequence[Value], batched: Sequence[bool], size: Size) -> list[Value]:
    return [materialize(a, b, size) for a, b in zip(args, batched)]


def static_size(name: str, size: Size) -> int:
    """The batch size as an int, for rules that write it into a static attribute."""
    if isinstance(size, int):
        return size
    raise NotImplementedError(f"vmap of {name}: the batch size must be static here (its "
                              f"attributes hold it); pass arrays whose mapped axis is static")


def mul_size(a: Size, b: Size) -> Size:
    """a * b for sizes that are ints or int64 scalar Values."""
    if isinstance(a, int) and isinstance(b, int):
        return a * b
    av = a if isinstance(a, Value) else lax.constant(np.int64(a))
    bv = b if isinstance(b, Value) else lax.constant(np.int64(b))
    return av * bv


def move_axis(x: Value, src: int, dst: int) -> Value:
    """np.moveaxis for one axis (a no-op when src == dst)."""
    src, dst = src % max(x.ndim, 1), dst % max(x.ndim, 1)
    perm = [d for d in range(x.ndim) if d != src]
    perm.insert(dst, src)
    return lax.transpose(x, perm)


def elementwise_rule(name: str) -> Callable:
    """The rule of an op whose operands share one shape: broadcast the unbatched ones."""
    def rule(args, batched, size, **attrs):
        return [lax.emit(name, materialize_all(args, batched, size), **attrs)]

    rule.__name__ = f"batch_{name.split('.')[1]}"
    return rule


def axes_rule(name: str, key: str = "axes") -> Callable:
    """The rule of a unary op that names axes of its operand (reductions, softmax): shift them."""
    def rule(args, batched, size, **attrs):
        attrs[key] = tuple(int(a) + 1 for a in attrs[key])
        return [lax.emit(name, [args[0]], **attrs)]

    rule.__name__ = f"batch_{name.split('.')[1]}"
    return rule


def refuse(name: str, why: str) -> Callable:
    """The rule of an op with no batched form: raises NotImplementedError naming the op."""
    def rule(*args, **attrs):
        raise NotImplementedError(f"vmap of {name} is not supported: {why}")

    rule.__name__ = f"batch_{name.split('.')[1]}_refused"
    rule.refused = why  # the op table's test lists these (tests/ops/test_vmap_table.py)
    return rule


def refuse_batched_sizes(name: str, args: Sequence[Value], batched: Sequence[bool], first: int) -> None:
    """Operands from `first` on are dynamic sizes: a size that differs per example is refused."""
    if any(batched[first:]):
        raise NotImplementedError(f"vmap of {name}: a result size that differs between examples "
                                  f"(a batched size operand) is not supported")


def normalized_index(idx: Value, n: Size) -> Value:
    """Indices wrapped once and clamped into [0, n) as tn.take reads them (so adding an
    example offset keeps each example inside its own rows)."""
    idx = lax.convert(idx, np.int64)
    nv = lax.full(lax.shape_of(idx), n, np.int64) if isinstance(n, int) else \
        lax.broadcast_to(lax.convert(n, np.int64), lax.shape_of(idx))
    wrapped = lax.where(idx < 0, idx + nv, idx)
    last = nv - 1
    zero = lax.zeros_like(idx)
    clipped = lax.where(wrapped > last, last, wrapped)
    return lax.where(clipped < zero, zero, clipped)


def example_offsets(idx: Value, n: Size) -> Value:
    """`idx` (batch axis in front) plus example * n: row indices into the examples' rows
    stacked into one axis."""
    ex = lax.iota(idx.shape, 0, np.int64) if idx.spec.is_static else \
        _dynamic_iota(idx)
    nn = lax.full(lax.shape_of(idx), n, np.int64) if isinstance(n, int) else \
        lax.broadcast_to(lax.convert(n, np.int64), lax.shape_of(idx))
    return normalized_index(idx, n) + ex * nn


def _dynamic_iota(x: Value) -> Value:
    dims = [d for d in lax.shape_of(x) if isinstance(d, Value)]
    shape = tuple(-1 if n is None else n for n in x.shape)
    return lax.emit("tn.iota", dims, shape=shape, dimension=0, dtype=np.dtype(np.int64))


# ------------------------------------------------------------------ the loop fallback
def loop(size: Size, body: Callable[[Value], list[Value]]) -> list[Value]:
    """A tn.scan of `size` steps stacking what `body(i)` returns (i: int64 scalar)."""
    n = lax.constant(np.int64(size)) if isinstance(size, int) else lax.convert(size, np.int64)
    region = Region([TensorSpec((), np.dtype(np.int64))])
    outs = region.trace(body, region.args[0])
    region.close(outs)
    rows = size if isinstance(size, int) else None
    specs = [TensorSpec((rows,) + o.shape, o.dtype) for o in outs]
    attrs = {"length": size if isinstance(size, int) else -1, "until": False}
    return emit_region_op("tn.scan", [n], attrs, specs, [region])


def example(x: Value, i: Value) -> Value:
    """Example `i` of a batched value (its batch axis dropped)."""
    return lax.emit("tn.take", [x, i], axis=0)


def loop_rule(name: str) -> Callable:
    """Batch `name` by a loop over the examples (one op per step, results stacked)."""
    def rule(args, batched, size, **attrs):
        def body(i):
            xs = [example(a, i) if b else a for a, b in zip(args, batched)]
            from .builder import emit
            return [Value(r) for r in emit(name, [x.value for x in xs], attrs)]

        return loop(size, body)

    rule.__name__ = f"batch_{name.split('.')[1]}_loop"
    return rule


def fold_rule(name: str, per_example: Sequence[int]) -> Callable:
    """Batch an op that works example by example along axis 0 of the operands `per_example`
    (a convolution's or a pooling's NCHW batch): the vmapped axis is folded into that axis,
    (B, N, ...) -> (B*N, ...), the op runs once, and each result is unfolded. Any other
    operand batched (the filters of a convolution) runs the loop fallback instead."""
    fallback = loop_rule(name)

    def rule(args, batched, size, **attrs):
        others_batched = any(b for i, b in enumerate(batched) if i not in per_example)
        if others_batched:
            return fallback(args, batched, size, **attrs)
        xs = list(args)
        for i in per_example:
            x = materialize(args[i], batched[i], size)
            shape = lax.shape_of(x)
            xs[i] = lax.reshape(x, (mul_size(shape[0], shape[1]),) + tuple(shape[2:]))
        from .builder import emit
        results = [Value(r) for r in emit(name, [x.value for x in xs], attrs)]
        first = per_example[0]
        n = lax.shape_of(args[first])[1 if batched[first] else 0]  # one example's N
        return [lax.reshape(r, (size, n) + tuple(lax.shape_of(r)[1:])) for r in results]

    rule.__name__ = f"batch_{name.split('.')[1]}_fold"
    return rule


def remap(op: ir.Operation, mapping: dict) -> None:
    """Replace the operands of `op` and of every op nested in it by `mapping` (in place)."""
    for k, v in enumerate(op.operands):
        if v in mapping:
            op.operands[k] = mapping[v]
    for region in op.regions:
        for block in region.blocks:
            for child in block.operations:
                remap(child.operation, mapping)


def check_rank(name: str, x: Value, rank: int) -> None:
    if x.ndim != rank:
        raise ShapeError(f"vmap of {name}: expected a batched operand of rank {rank}, got {x.spec}")
