"""tn.fusion: a group of elementwise ops, optionally ending in one reduction, as one loop nest.

`tn-fuse` (passes/optimize/fuse.py) moves such a group into the region of a `tn.fusion`; its
lowering emits ONE `linalg.generic` whose body chains the ops' scalar lowerings (the `scalar`
rule of each op), so no intermediate tensor is ever materialized.

    %r = "tn.fusion"() ({
      %0 = "tn.broadcast_to"(%b) {shape = array<i64: 3, 4>} : (tensor<4xf32>) -> tensor<3x4xf32>
      %1 = "tn.add"(%x, %0) : (tensor<3x4xf32>, tensor<3x4xf32>) -> tensor<3x4xf32>
      %2 = "tn.exp"(%1) : (tensor<3x4xf32>) -> tensor<3x4xf32>
      %3 = "tn.reduce_sum"(%2) {axes = array<i64: 1>, keepdims = false} : (tensor<3x4xf32>) -> tensor<3xf32>
      "gpu.yield"(%3) : (tensor<3xf32>) -> ()
    }) : () -> tensor<3xf32>

No operands: the region reads the group's inputs from above (regions are not isolated), which
sidesteps IRDL's one-type-per-variadic-operand limit (docs/design.md). The body holds, in
order: `tn.broadcast_to` ops whose operand comes from outside (they become the input's
indexing map), ops with a `scalar` rule, all on one loop shape, and at most one reduction,
last; it ends in `gpu.yield` of the result. Autodiff never meets this op: differentiation runs
at trace time, before the optimizer.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from mlir import ir
from mlir.dialects import arith

from ..lowering import (LOWERING_MEMO, LowerCall, broadcast_map, check_equal_dims, dim_value, empty, fill,
                        generic, identity_map, to_compute)
from .. import batching as vb
from ..registry import OPS, ShapeError, defop
from ..types import TensorSpec, spec_of_type, spec_of_value
from .reduction import (_MAX_MIN_INIT, REDUCTIONS, _iterators, _out_map, blocked, blocked_sum,
                        finish_wide, reduced_shape, split_last, widen, wide_accumulator)

BROADCAST = "tn.broadcast_to"
YIELD = "gpu.yield"
# reduction name -> (identity(dtype), combine(acc, x)): the rows of reduction.REDUCTIONS
REDUCERS: dict[str, tuple[Callable, Callable]] = {
    f"tn.{name}": (identity or _MAX_MIN_INIT[name], combine)
    for name, _, _, identity, combine, _ in REDUCTIONS
}

fusion = defop("tn.fusion", [], ["out"], regions=("body",), differentiable=False,
               doc="Elementwise ops (+ one trailing reduction) run as one loop nest; "
                   "the region ends with gpu.yield.")


def fusible_kind(op: ir.Operation | ir.OpView) -> str | None:
    """'map' (has a scalar rule), 'broadcast', 'reduce', or None: what a group may hold."""
    name = op.operation.name
    if name == BROADCAST:
        return "broadcast"
    if name in REDUCERS:
        return "reduce"
    opdef = OPS.get(name)
    return "map" if opdef is not None and opdef.scalar is not None else None


def body_ops(op: ir.Operation) -> list[ir.Operation]:
    """The group's ops in order (the terminator excluded)."""
    return [o.operation for o in op.regions[0].blocks[0].operations][:-1]


def yielded(op: ir.Operation) -> ir.Value:
    return list(op.regions[0].blocks[0].operations)[-1].operands[0]


def loop_spec(op: ir.Operation) -> TensorSpec:
    """The iteration space: the reduction's input, else the result itself."""
    ops = body_ops(op)
    last = ops[-1]
    if last.name in REDUCERS:
        return spec_of_value(last.operands[0])
    return spec_of_type(last.results[0].type)


# ---------------------------------------------------------------- shape rule
@fusion.def_infer_region
def _fusion_infer(op: ir.Operation) -> list[TensorSpec]:
    """Result = the yielded value's type; the body is a well-formed group (see module doc)."""
    blocks = list(op.regions[0].blocks)
    if len(blocks) != 1 or len(blocks[0].arguments) != 0:
        raise ShapeError("the body must be one block without arguments")
    ops = [o.operation for o in blocks[0].operations]
    if len(ops) < 2 or ops[-1].name != YIELD or len(ops[-1].operands) != 1:
        raise ShapeError("the body must hold ops and end with gpu.yield of one value")
    loop = loop_spec(op)
    for i, o in enumerate(ops[:-1]):
        kind = fusible_kind(o)
        if kind is None or (kind == "reduce" and i != len(ops) - 2):
            raise ShapeError(f"{o.name} cannot be fused (only elementwise ops, broadcast_to and "
                             f"one trailing reduction)")
        if kind != "reduce" and tuple(spec_of_type(o.results[0].type).shape) != loop.shape:
            raise ShapeError(f"{o.name} has shape {spec_of_type(o.results[0].type).shape}, "
                             f"not the loop shape {loop.shape}")
    if ops[-1].operands[0] != ops[-2].results[0]:
        raise ShapeError("gpu.yield must yield the last op's result")
    return [spec_of_value(ops[-1].operands[0])]


# ---------------------------------------------------------------- lowering
def _splat(v: ir.Value) -> ir.Attribute | None:
    """The scalar of a lowered splat constant (emitted in the loop body, not read per element)."""
    owner = v.owner
    if not isinstance(owner, ir.OpView) or owner.operation.name != "arith.constant":
        return None
    attr = owner.operation.attributes["value"]
    if not isinstance(attr, ir.DenseElementsAttr) or not attr.is_splat:
        return None
    return attr.get_splat_value()


class _Inputs:
    """The generic's inputs: outside values (deduplicated per indexing map) and splats."""

    def __init__(self, loop: TensorSpec):
        self.loop = loop
        self.values: list[ir.Value] = []
        self.maps: list[ir.AffineMap] = []
        self.dtypes: list[np.dtype] = []
        self._slots: dict[tuple[ir.Value, str], int] = {}

    def source(self, v: ir.Value, broadcast: bool) -> tuple[str, Any]:
        """('const', (attr, dtype)) for a splat, else ('arg', index into the inputs)."""
        spec = spec_of_value(v)
        splat = _splat(v)
        if splat is not None:
            return "const", (splat, spec.dtype)
        amap = broadcast_map(spec.shape, self.loop.shape) if broadcast else identity_map(self.loop.ndim)
        key = (v, str(amap))
        if key not in self._slots:
            self._slots[key] = len(self.values)
            self.values.append(v)
            self.maps.append(amap)
            self.dtypes.append(spec.dtype)
        return "arg", self._slots[key]

    def cover_loop(self, out_map: ir.AffineMap) -> None:
        """Give linalg the loop's extents when no operand has them.

        linalg derives each loop's range from an operand indexed by it; a reduction whose
        inputs are all broadcasts (sum(where(c, s, t)) with scalar s, t) indexes the reduced
        dims nowhere (maps like (d0) -> (0)), which linalg's verifier refuses. An unread
        i8 tensor of the loop shape, indexed by every dim, supplies them.
        """
        dims = {e.position for m in [*self.maps, out_map] for e in m.results
                if isinstance(e, ir.AffineDimExpr)}
        if len(dims) == self.loop.ndim:
            return
        self.values.append(empty(TensorSpec(self.loop.shape, np.dtype(np.bool_))))
        self.maps.append(identity_map(self.loop.ndim))
        self.dtypes.append(np.dtype(np.bool_))


def _scalar_call(o: ir.Operation) -> LowerCall:
    opdef = OPS[o.name]
    return LowerCall(op=o, operands=[], in_specs=[spec_of_value(v) for v in o.operands],
                     out_specs=[spec_of_type(r.type) for r in o.results],
                     attrs=opdef.decode_attrs(o))


def _loop_dims(call: LowerCall, loop: TensorSpec) -> list:
    """The loop's extents: static ints, dynamic ones read from an outside operand that has the
    dim itself (right-aligned; docs/dynamic-shapes.md)."""
    ops = body_ops(call.op)
    inner = {r for o in ops for r in o.results}
    outside = [v for o in ops for v in o.operands if v not in inner]
    dims: list = []
    for i, n in enumerate(loop.shape):
        if n is not None:
            dims.append(n)
            continue
        for v in outside:
            s = spec_of_value(v)
            a = i - (loop.ndim - s.ndim)
            if 0 <= a < s.ndim and s.shape[a] is None:
                dims.append(dim_value(v, a))
                break
        else:
            raise NotImplementedError(f"tn.fusion: no operand gives the size of dynamic loop dim {i}")
    return dims


@fusion.def_reify
def _fusion_reify(call: LowerCall) -> list[list]:
    loop = loop_spec(call.op)
    dims = _loop_dims(call, loop)
    last = body_ops(call.op)[-1]
    if last.name not in REDUCERS:
        return [dims]
    attrs = OPS[last.name].decode_attrs(last)
    axes, keepdims = tuple(attrs["axes"]), attrs["keepdims"]
    return [[1 if i in axes else d for i, d in enumerate(dims) if keepdims or i not in axes]]


@fusion.def_lower
def _fusion_lower(call: LowerCall) -> list[ir.Value]:
    """One linalg.generic: inputs = the group's outside values, body = each op's scalar rule."""
    ops = body_ops(call.op)
    loop = loop_spec(call.op)
    inner = {r for o in ops for r in o.results}
    inputs = _Inputs(loop)
    sources = [[("inner", v) if v in inner else inputs.source(v, o.name == BROADCAST)
                 for v in o.operands] for o in ops]
    last = ops[-1]
    reducer = REDUCERS.get(last.name)
    out = call.out

    def body(*args: ir.Value) -> ir.Value:
        """The group on one element; args = the inputs' scalars (then the accumulator's)."""
        env: dict[ir.Value, ir.Value] = {}

        def get(src: tuple[str, Any]) -> ir.Value:
            kind, what = src
            if kind == "inner":
                return env[what]
            if kind == "arg":
                return args[what]
            attr, dtype = what
            return to_compute(arith.ConstantOp(attr.type, attr).result, dtype)

        for o, srcs in zip(ops, sources):
            xs = [get(s) for s in srcs]
            if o.name == BROADCAST:
                env[o.results[0]] = xs[0]
            elif o is last and reducer is not None:
                if len(args) == len(inputs.values):  # blocked_sum's element: the summand
                    return xs[0]
                env[o.results[0]] = reducer[1](args[-1], widen(xs[0], acc))
            else:
                env[o.results[0]] = OPS[o.name].scalar(_scalar_call(o), *xs)
        return env[last.results[0]]

    if not loop.is_static:  # operands that share a dynamic loop dim must agree on its size
        check_equal_dims(call, inputs.values, [spec_of_value(v) for v in inputs.values], loop)
    if reducer is None:
        memo = LOWERING_MEMO.get()
        key = _memo_key(ops, sources, inputs, out) if memo is not None and loop.is_static else None
        init, out_map, iters = empty(out), identity_map(loop.ndim), ["parallel"] * loop.ndim
        if key is not None and memo.get(key) is not None:
            return _clone_generic(memo[key], [*inputs.values, init])
        res = generic(inputs.values, inputs.dtypes, inputs.maps, [init], [out.dtype], [out_map],
                      iters, body)
        if key is not None:
            made = res[0].owner.operation
            memo[key] = made if _self_contained(made) else None
        return res
    attrs = OPS[last.name].decode_attrs(last)
    axes, keepdims = tuple(attrs["axes"]), attrs["keepdims"]
    acc = wide_accumulator(last.name, loop, axes) or out.dtype  # long f32 sums: f64
    if acc != out.dtype and blocked(loop, axes):  # f32 partials over blocks, combined in f64
        return [blocked_sum(inputs.values, inputs.dtypes, inputs.maps, loop, axes, keepdims, body, out)]
    first, first_keep = (loop.ndim - 1,), True  # the last axis alone first (split_last)
    if not (acc != out.dtype and split_last(loop.shape, axes)):
        first, first_keep = axes, keepdims
    part = TensorSpec(reduced_shape(loop.shape, first, first_keep), acc)
    inputs.cover_loop(_out_map(loop.ndim, first, first_keep))
    res = generic(inputs.values, inputs.dtypes, inputs.maps, [fill(part, reducer[0](acc))], [acc],
                  [_out_map(loop.ndim, first, first_keep)], _iterators(loop.ndim, first), body)[0]
    return [finish_wide(res, part, axes if first != axes else None, keepdims, acc, out)]


def _memo_key(ops: list[ir.Operation], sources: list[list[tuple[str, Any]]], inputs: "_Inputs",
              out: TensorSpec) -> tuple:
    """Everything the map lowering reads: per op its name, attributes, operand and result
    types and where its operands come from (an earlier op, an input, a splat); the inputs'
    types, dtypes and indexing maps; the result. Equal keys build equal linalg.generics."""
    pos = {r: (i, j) for i, o in enumerate(ops) for j, r in enumerate(o.results)}
    parts = []
    for o, srcs in zip(ops, sources):
        src = tuple((kind, pos[what]) if kind == "inner" else (kind, what) if kind == "arg"
                    else (kind, what[0], what[1].str) for kind, what in srcs)
        parts.append((o.name, tuple((a, o.attributes[a]) for a in o.attributes),
                      tuple(v.type for v in o.operands), tuple(r.type for r in o.results), src))
    return (tuple(parts), tuple(v.type for v in inputs.values), tuple(dt.str for dt in inputs.dtypes),
            tuple(inputs.maps), out.shape, out.dtype.str)


def _self_contained(generic_op: ir.Operation) -> bool:
    """Whether the payload reads only its block arguments and its own results (so a clone
    is valid anywhere its operands are)."""
    inside: set[ir.Value] = set()
    ok = [True]

    def visit(o: ir.Operation) -> ir.WalkResult:
        o = o.operation if isinstance(o, ir.OpView) else o
        if o != generic_op and any(v not in inside for v in o.operands):
            ok[0] = False
            return ir.WalkResult.INTERRUPT
        for region in o.regions:
            for block in region.blocks:
                inside.update(block.arguments)
        inside.update(o.results)
        return ir.WalkResult.ADVANCE

    generic_op.walk(visit, ir.WalkOrder.PRE_ORDER)
    return ok[0]


def _clone_generic(template: ir.Operation, operands: list[ir.Value]) -> list[ir.Value]:
    """`template` (an identical group's generic) cloned here, reading `operands`, with this
    op's location on it and on its payload."""
    new = template.clone()
    for i, v in enumerate(operands):
        new.operands[i] = v
    loc = ir.Location.current

    def relocate(o: ir.Operation) -> ir.WalkResult:
        o = o.operation if isinstance(o, ir.OpView) else o
        o.location = loc
        return ir.WalkResult.ADVANCE

    new.walk(relocate)
    return list(new.results)


# ---------------------------------------------------------------- batching rule (vmap)
fusion.def_batch_region(vb.refuse("tn.fusion", "it is made by the tn-fuse pass after tracing, "
                                               "where vmap never sees it"))
