"""tn-canonicalize: rewrites that are always valid, applied to a fixed point.

Constant folding (each op's NumPy reference on constant operands), Theano's merge (tn-cse)
and dead-code removal (tn-dce), arithmetic identities, double negation, chains of
reshapes/broadcasts/transposes/casts, sums of broadcasts and products with a constant
identity. `x - x -> 0` for floats needs the `fast-math` option (inf - inf and NaN - NaN are
NaN); for ints it always holds.

Two rewrites change results only where IEEE specials are involved, as in Theano: `x + 0 -> x`
gives -0 where x is -0 (the sum is +0), and `x @ I -> x` keeps x's own values where a row
holds inf or NaN (the product spreads inf * 0 = NaN along the row).

    %c = "tn.constant"() {value = dense<1.0> : tensor<f32>} : () -> tensor<f32>
    %o = "tn.broadcast_to"(%c) {shape = array<i64: 4>} : (tensor<f32>) -> tensor<4xf32>
    %y = "tn.mul"(%x, %o) : (tensor<4xf32>, tensor<4xf32>) -> tensor<4xf32>   // -> %x
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from mlir import ir

from theanir.dialects.tn.ops.dynamic import python_slice
from theanir.dialects.tn.ops.elementwise import BINARY, COMPARE, UNARY
from theanir.dialects.tn.ops.reduction import REDUCTIONS
from theanir.dialects.tn.interpreter import fold, static_value
from theanir.dialects.tn.registry import OPS

from ..base import Pass
from ..options import CompileOptions
from .patterns import (FOLD_LIMIT, Pattern, apply_patterns, attrs_of, constant_value, filled,
                       is_splat, op1, producer, rewrite, spec, splat_value)

NAME = "tn-canonicalize"

# Not folded: constants are already folded; a broadcast constant stays a splat plus a
# broadcast (folding would grow the attribute, and patterns look through the broadcast).
NO_FOLD = {"tn.constant", "tn.broadcast_to"}
ELEMENTWISE = ({f"tn.{row[0]}" for row in UNARY + BINARY + COMPARE}
               | {"tn.isnan", "tn.where", "tn.cast"})


# ---------------------------------------------------------------- constant folding
def _operand_value(v: ir.Value) -> np.ndarray | None:
    """A constant operand's value, also through a broadcast (at most FOLD_LIMIT elements)."""
    src = producer(v, "tn.broadcast_to")
    if src is None:
        return constant_value(v)
    value = constant_value(src.operands[0])
    return None if value is None or spec(v).size_above(FOLD_LIMIT) else np.broadcast_to(value, spec(v).shape)


@rewrite(None)
def fold_constants(op: ir.OpView) -> ir.Value | None:
    # f(c1, ..., cn) -> c, c = f's NumPy reference on the constants (NumPy semantics);
    # a splat result stays a scalar constant plus a broadcast
    name = op.operation.name
    opdef = OPS[name]
    if name in NO_FOLD or not op.operands or opdef.reference is None or not opdef.pure or opdef.regions:
        return None
    if spec(op.results[0]).size_above(FOLD_LIMIT):
        return None
    args = [_operand_value(v) for v in op.operands]
    if any(a is None for a in args):
        return None
    out = fold(op, args)
    if out is None:
        return None
    if out.ndim and out.size and np.all(out == out.flat[0]):
        return filled(out.flat[0], spec(op.results[0]))
    return op1("tn.constant", value=out)


# ---------------------------------------------------------------- arithmetic identities
@rewrite("tn.add")
def remove_add_zero(op: ir.OpView) -> ir.Value | None:
    # x + 0 -> x, 0 + x -> x
    a, b = op.operands
    if is_splat(b, 0):
        return a
    return b if is_splat(a, 0) else None


@rewrite("tn.sub")
def remove_sub_zero(op: ir.OpView) -> ir.Value | None:
    # x - 0 -> x
    a, b = op.operands
    return a if is_splat(b, 0) else None


@rewrite("tn.mul")
def remove_mul_one(op: ir.OpView) -> ir.Value | None:
    # x * 1 -> x, 1 * x -> x
    a, b = op.operands
    if is_splat(b, 1):
        return a
    return b if is_splat(a, 1) else None


@rewrite("tn.div")
def remove_div_one(op: ir.OpView) -> ir.Value | None:
    # x / 1 -> x
    a, b = op.operands
    return a if is_splat(b, 1) else None


@rewrite("tn.sub")
def fold_sub_self(op: ir.OpView) -> ir.Value | None:
    # x - x -> 0 for integers (floats: fold_sub_self_fast_math, inf - inf and NaN - NaN are NaN)
    a, b = op.operands
    if a != b or spec(a).dtype.kind == "f":
        return None
    return filled(0, spec(a))


@rewrite("tn.sub")
def fold_sub_self_fast_math(op: ir.OpView) -> ir.Value | None:
    # x - x -> 0, floats included (only under the fast-math option)
    a, b = op.operands
    return filled(0, spec(a)) if a == b else None


@rewrite("tn.neg")
def remove_double_negation(op: ir.OpView) -> ir.Value | None:
    # -(-x) -> x
    inner = producer(op.operands[0], "tn.neg")
    return None if inner is None else inner.operands[0]


# ---------------------------------------------------------------- shape and dtype chains
def _same_type(op: ir.OpView) -> ir.Value | None:
    x = op.operands[0]
    return x if x.type == op.results[0].type else None


@rewrite("tn.broadcast_to")
def remove_identity_broadcast(op: ir.OpView) -> ir.Value | None:
    # broadcast_to(x, shape(x)) -> x
    return _same_type(op)


@rewrite("tn.reshape")
def remove_identity_reshape(op: ir.OpView) -> ir.Value | None:
    # reshape(x, shape(x)) -> x; with dynamic dims only when each size operand is x's own dim
    # there (reshape(x[?, ?], (dim(x, 1), dim(x, 0))) has x's type but transposes the sizes)
    x = _same_type(op)
    if x is None or len(op.operands) == 1:
        return x
    dynamic_axes = [d for d, n in enumerate(spec(x).shape) if n is None]
    for d, size in zip(dynamic_axes, list(op.operands)[1:]):
        dim = producer(size, "tn.dim")
        if dim is None or dim.operands[0] != x or attrs_of(dim)["axis"] != d:
            return None
    return x


@rewrite("tn.cast")
def remove_identity_cast(op: ir.OpView) -> ir.Value | None:
    # cast(x, dtype(x)) -> x
    return _same_type(op)


@rewrite("tn.transpose")
def remove_identity_transpose(op: ir.OpView) -> ir.Value | None:
    # transpose(x, (0, 1, ..., n-1)) -> x
    perm = attrs_of(op)["perm"]
    return op.operands[0] if perm == tuple(range(len(perm))) else None


@rewrite("tn.transpose")
def unit_axes_transpose_to_reshape(op: ir.OpView) -> ir.Value | None:
    # transpose that keeps the order of the non-unit axes (e.g. [1, n] -> [n, 1]) -> reshape:
    # the data does not move (reverse mode makes one per step of a loop from x^T of a row)
    perm = attrs_of(op)["perm"]
    shape = spec(op.operands[0]).shape
    moved = [a for a in perm if shape[a] != 1]
    if moved != sorted(moved) or perm == tuple(range(len(perm))):
        return None
    return op1("tn.reshape", op.operands[0], shape=spec(op.results[0]).shape)


@rewrite("tn.broadcast_to")
def merge_broadcasts(op: ir.OpView) -> ir.Value | None:
    # broadcast_to(broadcast_to(x, s1), s2) -> broadcast_to(x, s2)
    inner = producer(op.operands[0], "tn.broadcast_to")
    if inner is None:
        return None
    return op1("tn.broadcast_to", inner.operands[0], *list(op.operands)[1:], shape=attrs_of(op)["shape"])


@rewrite("tn.reshape")
def merge_reshapes(op: ir.OpView) -> ir.Value | None:
    # reshape(reshape(x, s1), s2) -> reshape(x, s2)
    inner = producer(op.operands[0], "tn.reshape")
    if inner is None:
        return None
    # (the outer op's size operands, if any, size the result's dynamic dims)
    return op1("tn.reshape", inner.operands[0], *list(op.operands)[1:], shape=attrs_of(op)["shape"])


@rewrite("tn.transpose")
def merge_transposes(op: ir.OpView) -> ir.Value | None:
    # transpose(transpose(x, p), q) -> transpose(x, p[q])  (x itself when p[q] is the identity)
    inner = producer(op.operands[0], "tn.transpose")
    if inner is None:
        return None
    p, q = attrs_of(inner)["perm"], attrs_of(op)["perm"]
    perm = tuple(p[i] for i in q)
    if perm == tuple(range(len(perm))):
        return inner.operands[0]
    return op1("tn.transpose", inner.operands[0], perm=perm)


def _exact(src: np.dtype, dst: np.dtype) -> bool:
    """Every value of `src` is one of `dst` (so converting back recovers it)."""
    if src == dst or src == np.bool_:
        return True
    if src.kind == "i" and dst.kind == "i":
        return dst.itemsize >= src.itemsize
    if src.kind == "i" and dst.kind == "f":
        return np.finfo(dst).nmant >= 8 * src.itemsize - 1
    return src.kind == "f" and dst.kind == "f" and dst.itemsize >= src.itemsize


@rewrite("tn.cast")
def skip_exact_cast(op: ir.OpView) -> ir.Value | None:
    # cast(cast(x, B), C) -> cast(x, C) when x -> B is exact (x itself when C = dtype(x))
    inner = producer(op.operands[0], "tn.cast")
    if inner is None:
        return None
    x = inner.operands[0]
    if not _exact(spec(x).dtype, spec(inner.results[0]).dtype):
        return None
    if x.type == op.results[0].type:
        return x
    return op1("tn.cast", x, dtype=attrs_of(op)["dtype"])


def hoist_broadcast(op: ir.OpView) -> ir.Value | None:
    # f(broadcast_to(a, s), broadcast_to(b, s)) -> broadcast_to(f(a, b), s), a and b of one shape
    srcs = [producer(v, "tn.broadcast_to") for v in op.operands]
    if any(s is None for s in srcs):
        return None
    ins = [s.operands[0] for s in srcs]
    if any(spec(v).shape != spec(ins[0]).shape for v in ins):
        return None
    inner = op1(op.operation.name, *ins, **attrs_of(op))
    return op1("tn.broadcast_to", inner, *list(srcs[0].operands)[1:], shape=attrs_of(srcs[0])["shape"])


# ---------------------------------------------------------------- reductions and products
def remove_empty_reduction(op: ir.OpView) -> ir.Value | None:
    # reduce(x, axes=()) -> x
    return op.operands[0] if not attrs_of(op)["axes"] and _same_type(op) is not None else None


@rewrite("tn.reduce_sum")
def sum_of_broadcast(op: ir.OpView) -> ir.Value | None:
    # sum_A(broadcast_to(x, s)) -> broadcast(sum_{A not copied}(x) * prod_{a in A copied} s[a]),
    # the copied axes being those the broadcast created (x has no dim or a 1 there)
    src = producer(op.operands[0], "tn.broadcast_to")
    if src is None:
        return None
    x = src.operands[0]
    xs, s = spec(x).shape, spec(src.results[0]).shape
    axes, keepdims = attrs_of(op)["axes"], attrs_of(op)["keepdims"]
    lead = len(s) - len(xs)
    copied = [a for a in axes if a < lead or xs[a - lead] == 1]
    count = int(np.prod([s[a] for a in copied], dtype=np.int64))
    if count == 0:  # an empty sum is 0, but 0 * x is NaN where x is inf
        return None
    summed = tuple(a - lead for a in axes if a not in copied)
    y = op1("tn.reduce_sum", x, axes=summed, keepdims=True) if summed else x
    if count != 1:
        y = op1("tn.mul", y, filled(count, spec(y)))
    out = spec(op.results[0]).shape
    if not keepdims:  # drop the reduced axes (all of size 1 in y, padded to rank len(s))
        padded = (1,) * lead + spec(y).shape
        kept = tuple(n for d, n in enumerate(padded) if d not in axes)
        y = y if kept == spec(y).shape else op1("tn.reshape", y, shape=kept)
    return y if spec(y).shape == out else op1("tn.broadcast_to", y, shape=out)


def _loop_carried(v: ir.Value) -> bool:
    """`v` is a carry of a tn.scan body (a block argument after the step index)."""
    if not isinstance(v, ir.BlockArgument) or v.arg_number == 0:
        return False
    return v.owner.owner.operation.name == "tn.scan"


@rewrite("tn.add")
def add_row_update_in_place(op: ir.OpView) -> ir.Value | None:
    # acc + scatter_add(u, i) -> index_add(acc, u, i), acc a loop carry, i a scalar index and
    # the scatter read only here: each step adds its row into acc instead of building a zero
    # tensor of acc's size and adding it whole, O(row) instead of O(acc) per step. Reverse
    # mode through a loop that reads a sequence row by row (tn.take(xs, i)) accumulates the
    # sequence's cotangent this way. (Outside a loop the dense add runs once: left alone.)
    # A sequence of dynamic length gives `acc + index_add(zeros, u, i)` (tn.take's transpose
    # along a dynamic axis): the same rewrite, with the zeros dropped.
    acc, s = op.operands
    src = producer(s, "tn.scatter_add")
    upd, idx = (src.operands[0], src.operands[1]) if src is not None else (None, None)
    if src is None:
        src = producer(s, "tn.index_add")
        if src is None or splat_value(src.operands[0]) != 0:
            return None
        upd, idx = src.operands[1], src.operands[2]
    if spec(idx).ndim != 0 or sum(1 for _ in s.uses) != 1:
        return None
    if not _loop_carried(acc):
        return None
    return op1("tn.index_add", acc, upd, idx, axis=attrs_of(src)["axis"])


def _is_identity(v: ir.Value) -> bool:
    """`v` is statically known and every matrix in it (last two axes) is an identity."""
    shape = spec(v).shape
    if len(shape) < 2 or shape[-1] != shape[-2]:
        return False
    value = static_value(v)
    return value is not None and bool(np.all(value == np.eye(shape[-1], dtype=value.dtype)))


@rewrite("tn.matmul")
def remove_identity_matmul(op: ir.OpView) -> ir.Value | None:
    # x @ I -> x, I @ x -> x (I constant, e.g. eye(n) built from iotas)
    a, b = op.operands
    out = op.results[0].type
    if a.type == out and _is_identity(b):
        return a
    return b if b.type == out and _is_identity(a) else None


def _static_bounds(op: ir.OpView, shape: tuple[int, ...], sizes, steps) -> list[int] | None:
    """The first positions of a dynamic slice whose bounds are constants and whose Python
    lengths equal its static sizes; None otherwise (a length that differs fails at run time)."""
    starts, stops = constant_value(op.operands[1]), constant_value(op.operands[2])
    if starts is None or stops is None or None in shape or -1 in shape or -1 in sizes or None in sizes:
        return None  # a dynamic dim: the positions are known only when the code runs
    firsts = []
    for n, b, e, k, s in zip(shape, starts, stops, sizes, steps):
        first, got = python_slice(n, int(b), int(e), int(s))
        if got != k:
            return None
        firsts.append(first if k > 0 else 0)
    return firsts


@rewrite("tn.dynamic_slice")
def static_dynamic_slice(op: ir.OpView) -> ir.Value | None:
    # dynamic_slice(x, c_starts, c_stops) -> slice(x) (constant bounds, e.g. after inlining a loop)
    a = attrs_of(op)
    firsts = _static_bounds(op, spec(op.operands[0]).shape, a["sizes"], a["steps"])
    if firsts is None:
        return None
    return op1("tn.slice", op.operands[0], starts=firsts, sizes=a["sizes"], steps=a["steps"])


@rewrite("tn.dynamic_pad_slice")
def static_dynamic_pad_slice(op: ir.OpView) -> ir.Value | None:
    # dynamic_pad_slice(x, c_starts, c_stops) -> pad_slice(x) (constant bounds)
    a = attrs_of(op)
    firsts = _static_bounds(op, tuple(a["shape"]), spec(op.operands[0]).shape, a["steps"])
    if firsts is None:
        return None
    return op1("tn.pad_slice", op.operands[0], starts=firsts, steps=a["steps"], shape=a["shape"])


CANONICALIZE: list[Pattern] = [
    fold_constants,
    remove_add_zero, remove_sub_zero, remove_mul_one, remove_div_one, fold_sub_self,
    remove_double_negation,
    remove_identity_broadcast, remove_identity_reshape, remove_identity_cast,
    remove_identity_transpose, unit_axes_transpose_to_reshape, merge_broadcasts, merge_reshapes,
    merge_transposes,
    skip_exact_cast,
    *[Pattern("hoist_broadcast", name, hoist_broadcast) for name in sorted(ELEMENTWISE)],
    *[Pattern("remove_empty_reduction", f"tn.{row[0]}", remove_empty_reduction) for row in REDUCTIONS],
    sum_of_broadcast, add_row_update_in_place,
    remove_identity_matmul,
    static_dynamic_slice, static_dynamic_pad_slice,
]


# The same list with x - x -> 0 for floats too (the fast-math option).
CANONICALIZE_FAST_MATH: list[Pattern] = [fold_sub_self_fast_math if p is fold_sub_self else p
                                         for p in CANONICALIZE]


def canonicalize(module_op: ir.Operation, pass_: object = None, fast_math: bool = False) -> int:
    """Run the canonicalization patterns (with tn-cse and tn-dce) to a fixed point; returns
    the change count."""
    return apply_patterns(module_op, CANONICALIZE_FAST_MATH if fast_math else CANONICALIZE)


@dataclass(frozen=True)
class CanonicalizeOptions:
    fast_math: bool = False  # rewrites that assume finite values: x - x -> 0 for floats


class Canonicalize(Pass):
    """Constant folding, merge (cse), dce, identities, shape chains, sums of broadcasts, to a
    fixed point."""

    NAME = NAME
    Options = CanonicalizeOptions

    @classmethod
    def from_compile_options(cls, opts: CompileOptions) -> CanonicalizeOptions:
        return CanonicalizeOptions(fast_math=opts.fast_math)

    @classmethod
    def run(cls, module_op: ir.Operation, options: CanonicalizeOptions) -> int:
        return canonicalize(module_op, fast_math=options.fast_math)
