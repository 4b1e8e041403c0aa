"""Differentiate tn IR in place: the derivative is more tn ops in the same block.

Forward mode walks the ops between the inputs and the outputs in order and applies each
op's `jvp` rule. Reverse mode is forward mode with placeholder tangents, followed by a
transpose of the resulting linear ops in reverse order (each op's `transpose` rule), after
which the forward tangent ops are erased (JAX's linearize + transpose, on MLIR values).
Everything is emitted at the current insertion point, so it composes with tracing: grad of
grad, jit of grad and Theano's `T.grad` on a symbolic graph all use these two functions.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from mlir import ir

from theanir.dialects.tn.builder import describe_location, emit1, location_override
from theanir.dialects.tn.lax import Value
from theanir.dialects.tn.registry import OPS, Linear
from theanir.dialects.tn.types import spec_of_value


class DifferentiationError(TypeError):
    """An op on the differentiated path has no derivative rule, or the request is ill-posed."""


def _current_block() -> ir.Block:
    return ir.InsertionPoint.current.block


def reads(op) -> list[ir.Value]:
    """What an op depends on: its operands and, for region ops (tn.scan, tn.cond), the outer
    values their bodies read (regions capture values instead of taking them as operands)."""
    if not len(op.regions):
        return list(op.operands)
    from theanir.dialects.tn.ops.control import captured_values

    return list(op.operands) + captured_values(op.operation)


def needed_ops(ops: Sequence, roots, ignore: frozenset = frozenset()) -> list:
    """The ops among `ops` (in program order) that the values `roots` transitively need
    (not counting reads of `ignore` values)."""
    need = set(roots)
    keep = []
    for op in reversed(list(ops)):
        if any(r in need for r in op.results):
            keep.append(op)
            need.update(v for v in reads(op) if v not in ignore)
    keep.reverse()
    return keep


def _active_ops(block: ir.Block, inputs: Sequence[ir.Value], outputs: Sequence[ir.Value],
                stop: frozenset = frozenset(), cut: frozenset = frozenset()) -> list:
    """Ops of `block` on a path from `inputs` to `outputs`, in program order. A path does not
    go through a `stop` value (its tangent is not computed from its producer: that producer
    is not needed for it) nor through a `cut` one (its users see no tangent)."""
    forward = {v for v in inputs if v not in cut}
    fwd_ops = []
    for op in block.operations:
        if any(v in forward for v in reads(op)):
            fwd_ops.append(op)
            forward.update(r for r in op.results if r not in stop and r not in cut)
    return needed_ops(fwd_ops, outputs, stop)


def _is_float(v: ir.Value) -> bool:
    return spec_of_value(v).dtype.kind in "fc"  # complex too: JAX's convention (ops/complex_parts.py)


class _Tangents:
    """The tangent map of one sweep, with the two cuts Theano's `T.grad` asks for.

    `stop` (consider_constant): a value's tangent does not come from the op that computes
    it (its own seed, when it is a differentiated input, still counts). `cut` (known_grads):
    a value's tangent is recorded (it is asked for as an output) but its users see none.
    A seeded value that an active op also computes gets the sum (d/dθ and d/dh for an
    intermediate h = g(θ) among the inputs).
    """

    def __init__(self, seeds: dict, stop: frozenset, cut: frozenset):
        self.seeds, self.stop, self.cut = seeds, stop, cut
        self.tmap: dict[ir.Value, Value] = {}
        self.held: dict[ir.Value, Value] = {}
        for v, t in seeds.items():
            (self.held if v in cut else self.tmap)[v] = t

    def get(self, v: ir.Value) -> Value | None:
        return self.tmap.get(v)

    def set(self, v: ir.Value, t) -> None:
        """The tangent an op computed for its result `v` (None: zero)."""
        t = None if t is None or v in self.stop else _plain(t)
        seed = self.seeds.get(v)
        if seed is not None:
            t = seed if t is None else seed + t
        if t is None:
            return
        (self.held if v in self.cut else self.tmap)[v] = t

    def of_output(self, v: ir.Value) -> ir.Value | None:
        t = self.held.get(v) if v in self.cut else self.tmap.get(v)
        return None if t is None else t.value


def jvp_values(outputs: Sequence[ir.Value], inputs: Sequence[ir.Value],
               tangents: Sequence[ir.Value | None], *, linearize: bool = False,
               stop: Sequence[ir.Value] = (), cut: Sequence[ir.Value] = (),
               primal_of: dict | None = None) -> list[ir.Value | None]:
    """Tangents of `outputs` given `tangents` of `inputs` (None = zero); emits tn ops.

    `primal_of`, when given, receives tangent value -> primal value (same dims): the
    transpose rules read the sizes of dynamic dims from the primal (`Linear.like`).

    `linearize=True` (reverse mode) asks region ops for a tangent computation that is a
    separate, transposable op: a loop is split into a primal loop that also stacks the
    values the tangent needs and a linear tangent loop reading them (JAX's partial
    evaluation); without it a loop's tangent runs alongside a copy of its primal.
    `stop` and `cut` (see `_Tangents`) serve `T.grad`'s consider_constant and known_grads.
    """
    block = _current_block()
    seeds = {v: Value(t) for v, t in zip(inputs, tangents) if t is not None and _is_float(v)}
    tans = _Tangents(seeds, frozenset(stop), frozenset(cut))
    for op in _active_ops(block, list(seeds), outputs, tans.stop, tans.cut):
        in_tangents = [tans.get(v) for v in op.operands]
        if all(tans.get(v) is None for v in reads(op)):  # captured values count too
            continue
        name = op.operation.name
        opdef = OPS.get(name)
        if not any(_is_float(r) for r in op.results):
            continue  # integer/bool results carry no tangent
        if len(op.regions):
            if opdef is None or opdef.jvp_region is None:
                raise DifferentiationError(
                    f"{name} at {describe_location(op.location)} has no derivative rule (jvp)")
            with location_override(op.location):
                found = opdef.jvp_region(op.operation, tans.get, linearize)
            for v, t in found.items():
                if t is not None and _is_float(v):
                    tans.set(v, t)
                    if primal_of is not None and t is not None:
                        primal_of[_plain(t).value] = v
            continue
        if opdef is None or opdef.jvp is None:
            raise DifferentiationError(
                f"{name} at {describe_location(op.location)} has no derivative rule (jvp)")
        with location_override(op.location):
            primals = [Value(v) for v in op.operands]
            outs = [Value(r) for r in op.results]
            out_t = opdef.jvp(primals, in_tangents, outs, **opdef.decode_attrs(op.operation))
        for r, t in zip(op.results, out_t):
            if t is not None and _is_float(r):
                if t.shape != spec_of_value(r).shape or t.dtype != spec_of_value(r).dtype:
                    raise DifferentiationError(
                        f"jvp rule of {name} returned {t.spec} for a result of type {spec_of_value(r)}")
                tans.set(r, t)
                if primal_of is not None:
                    primal_of[t.value] = r
    return [tans.of_output(o) for o in outputs]


def _placeholder(v: ir.Value) -> ir.Value:
    """A fresh value standing for the tangent of `v` while linearizing (erased afterwards)."""
    spec = spec_of_value(v)
    if not spec.is_static:  # a constant cannot have dynamic dims: an identity of v (same type)
        return emit1("tn.ensure_shape", [v], {"shape": tuple(-1 if n is None else n for n in spec.shape)})
    return emit1("tn.constant", [], {"value": np.zeros(spec.shape, spec.dtype)})


def vjp_values(outputs: Sequence[ir.Value], inputs: Sequence[ir.Value],
               cotangents: Sequence[ir.Value | None], *, stop: Sequence[ir.Value] = (),
               cut: Sequence[ir.Value] = ()) -> list[ir.Value | None]:
    """Cotangents of `inputs` given `cotangents` of `outputs` (None = disconnected).

    `stop`: values the gradient does not flow through to what computes them (Theano's
    consider_constant). `cut`: values whose cotangent is the one given for them as an
    output only, not what flows back from their users (Theano's known_grads)."""
    block = _current_block()
    seeds = [_placeholder(v) if _is_float(v) else None for v in inputs]
    primal_of = {s: v for s, v in zip(seeds, inputs) if s is not None}
    out_tangents = jvp_values(outputs, inputs, seeds, linearize=True, stop=stop, cut=cut,
                              primal_of=primal_of)
    linear = {s for s in seeds if s is not None}
    linear_ops = linear_ops_of(block, linear, primal_of)
    cts: dict[ir.Value, Value] = {}
    for t, ct in zip(out_tangents, cotangents):
        if t is not None and ct is not None:
            _accumulate(cts, t, Value(ct))
    transpose_ops(linear_ops, linear, cts, primal_of)
    grads: list[ir.Value | None] = []
    for s in seeds:
        g = cts.get(s) if s is not None else None
        grads.append(None if g is None else g.value)
    # The forward tangent ops were only scaffolding for the transpose: remove them.
    erase_unused(linear_ops)
    for s in seeds:
        if s is not None and not list(s.uses):
            s.owner.erase()
    return grads


def linear_ops_of(block: ir.Block, linear: set, primal_of: dict | None = None) -> list:
    """Ops of `block` that read (operands or captured) a value of `linear`, in order; their
    results join `linear` (the set is updated). With `primal_of`, a `tn.dim` of a linear
    value (a literal's size in a jvp rule: `t * 2`) reads the same dim from a primal
    instead: a size is not linear in the tangent, and the transpose needs it."""
    out = []
    for op in list(block.operations):
        if primal_of is not None and op.operation.name == "tn.dim" and op.operands[0] in linear \
                and _dim_from_primal(op, primal_of, linear):
            continue
        if any(v in linear for v in reads(op)):
            out.append(op)
            linear.update(op.results)
    return out


def _dim_from_primal(op, primal_of: dict, linear: set) -> bool:
    """Replace `tn.dim(t)` of a linear t by the dim of t's primal; False when unknown."""
    from theanir.dialects.tn import lax

    with ir.InsertionPoint(op), op.location:
        sizes = _sizes_of(op.operands[0], primal_of, linear, 0)
        if sizes is None:
            return False
        n = sizes[ir.IntegerAttr(op.attributes["axis"]).value]
        value = n.value if isinstance(n, Value) else lax.constant(np.asarray(n, np.int64)).value
    op.results[0].replace_all_uses_with(value)
    op.operation.erase()
    return True


def transpose_ops(linear_ops: Sequence, linear: set, cts: dict, primal_of: dict | None = None) -> None:
    """Transpose `linear_ops` in reverse order, emitting at the current insertion point:
    `cts` maps values to cotangent Values (seeded with the outputs'); afterwards it holds
    the cotangents of the linear values the ops read (`linear` is the set of linear values)."""
    for op in reversed(linear_ops):
        out_cts = [cts.pop(r, None) for r in op.results]
        if all(c is None for c in out_cts):
            continue
        name = op.operation.name
        opdef = OPS.get(name)
        if len(op.regions):
            if opdef is None or opdef.transpose_region is None:
                raise DifferentiationError(
                    f"{name} at {describe_location(op.location)} has no transpose rule")
            with location_override(op.location):
                _region_primals.append(primal_of or {})
                try:
                    found = opdef.transpose_region(op.operation, out_cts, linear.__contains__)
                finally:
                    _region_primals.pop()
            for v, c in found.items():
                if c is not None and v in linear:
                    _accumulate(cts, v, c)
            continue
        if opdef is None or opdef.transpose is None:
            raise DifferentiationError(
                f"{name} at {describe_location(op.location)} has no transpose rule: reverse mode "
                f"through it is not supported yet")
        slots = [Linear(spec_of_value(v).shape, spec_of_value(v).dtype, _like(v, primal_of, linear)) if v in linear
                 else Value(v) for v in op.operands]
        with location_override(op.location):
            in_cts = opdef.transpose(out_cts, slots, **opdef.decode_attrs(op.operation))
        for v, c in zip(op.operands, in_cts):
            if c is not None and v in linear:
                _accumulate(cts, v, c)


# The primal_of map of the transpose_ops call running a region op's transpose rule: the
# rule sizes zeros of a linear outer value with dynamic dims by its primal (`primal_for`).
_region_primals: list[dict] = []


def primal_for(v: ir.Value) -> ir.Value | None:
    """Inside a region op's transpose rule: the primal value linear value `v` stands for (same
    dims), when known."""
    for m in reversed(_region_primals):
        if v in m:
            return m[v]
    return None


def _like(v: ir.Value, primal_of: dict | None, linear: Any = ()) -> Any:
    """For `Linear.like`: a function giving the dims of linear value `v` when it has dynamic
    dims (read from its primal, or for an intermediate of a jvp rule, from `_sizes_of`), called
    only by a transpose rule that needs them."""
    if spec_of_value(v).is_static or primal_of is None:
        return None
    return lambda: _sizes_of(v, primal_of, linear, 0)


_SAME_DIMS_DEPTH = 64  # how far _sizes_of follows a chain of linear values


def _sizes_of(v: ir.Value, primal_of: dict, linear: Any, depth: int) -> tuple | None:
    """The dims of `v` (ints and int64 scalar Values read from primal values), following the
    ops of a jvp rule back to a primal: an operand with the same dims pattern (elementwise
    ops), a reduction's operand, or the sizes a broadcast_to/reshape was given. None when
    no rule applies (the transpose rule then reports the unknown sizes)."""
    from theanir.dialects.tn import lax

    spec = spec_of_value(v)
    if spec.is_static:
        return tuple(spec.shape)
    if v in primal_of:
        return lax.shape_of(Value(primal_of[v]))
    if v not in linear and depth > 0:
        return lax.shape_of(Value(v))
    owner = v.owner
    op = getattr(owner, "operation", owner)
    if depth > _SAME_DIMS_DEPTH or not isinstance(op, ir.Operation):
        return None
    name = op.name
    if name in ("tn.broadcast_to", "tn.reshape"):
        shape = [int(n) for n in ir.DenseI64ArrayAttr(op.attributes["shape"])]
        dims = iter(Value(d) for d in list(op.operands)[1:])
        return tuple(next(dims) if n == -1 else n for n in shape)
    if name.startswith("tn.reduce_") and "axes" in op.attributes:
        src = _sizes_of(op.operands[0], primal_of, linear, depth + 1)
        if src is None:
            return None
        axes = {int(a) for a in ir.DenseI64ArrayAttr(op.attributes["axes"])}
        keep = "keepdims" in op.attributes and ir.BoolAttr(op.attributes["keepdims"]).value
        return tuple(1 if i in axes else n for i, n in enumerate(src) if keep or i not in axes)
    for u in op.operands:
        if tuple(spec_of_value(u).shape) == tuple(spec.shape):
            found = _sizes_of(u, primal_of, linear, depth + 1)
            if found is not None:
                return found
    return None


def erase_unused(ops: Sequence) -> None:
    """Erase those of `ops` (in reverse order) whose results are no longer used."""
    for op in reversed(ops):
        if all(not list(r.uses) for r in op.results):
            op.operation.erase()


def _plain(x) -> Value:
    """`x` (an ir.Value, a lax Value or a subclass such as the frontend's Tensor) as a plain
    lax Value, so that derivative code always follows the dialect's strict operators."""
    return x if type(x) is Value else Value(x if isinstance(x, ir.Value) else x.value)


def _accumulate(cts: dict, v: ir.Value, c) -> None:
    c = _plain(c)
    spec = spec_of_value(v)
    if (c.shape != spec.shape and c.dtype == spec.dtype and len(c.shape) == len(spec.shape)
            and all(a == b or a is None or b is None for a, b in zip(c.shape, spec.shape))):
        # a rule's cotangent with dims known only at run time where the value's are static (or
        # the reverse): the same sizes, so the value's type is restored (checked at run time)
        c = _plain(emit1("tn.ensure_shape", [c.value], {"shape": tuple(-1 if n is None else n for n in spec.shape)}))
    if c.shape != spec.shape or c.dtype != spec.dtype:
        raise DifferentiationError(f"cotangent {c.spec} does not match value type {spec}")
    prev = cts.get(v)
    cts[v] = c if prev is None else prev + c
