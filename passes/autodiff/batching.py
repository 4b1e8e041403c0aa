"""Batch tn IR in place (vmap): each op that reads a batched value is re-emitted batched.

The frontend traces the user's function once on per-example stand-ins (`placeholder`) and
then calls `batch_values`: it walks the ops that depend on the stand-ins in program order
and applies each op's batching rule (`OpDef.batch`, `OpDef.batch_region` for region ops),
which emits the same computation for all examples at once with the batch axis in front.
Ops that do not depend on the stand-ins stay as they are (unbatched values that batched
ops read), and the per-example trace is erased afterwards. Like the AD driver (`ad.py`),
everything is emitted at the current insertion point, so vmap composes with grad, jit,
scan bodies and itself (an inner vmap batches its ops first; the outer one then sees
ordinary tn ops).
"""
from __future__ import annotations

from typing import Any, Sequence

from mlir import ir

from theanir.dialects.tn.batching import Unbatched
from theanir.dialects.tn.builder import describe_location, location_override
from theanir.dialects.tn.lax import Value
from theanir.dialects.tn.registry import OPS
from theanir.dialects.tn.types import TensorSpec, spec_of_value, tensor_type

from .ad import needed_ops, reads

PLACEHOLDER = "builtin.unrealized_conversion_cast"


class BatchingError(NotImplementedError):
    """An op on the batched path has no batching rule."""


def placeholder(batched: Value, spec: TensorSpec) -> ir.Value:
    """A per-example stand-in of spec `spec` for the batched value `batched`.

    It is an `unrealized_conversion_cast` of the batched value: it depends on it (so nothing
    that uses it runs before it) but is no tn op, so constant folding and static-value
    queries never see through it (a per-example value is not a constant, even when the
    batched value is). `batch_values` erases it.
    """
    op = ir.Operation.create(PLACEHOLDER, results=[tensor_type(spec)], operands=[batched.value])
    return op.results[0]


def _current_block() -> ir.Block:
    return ir.InsertionPoint.current.block


def _forward_ops(block: ir.Block, inputs: Sequence[ir.Value]) -> list:
    """Ops of `block` that (transitively) read one of `inputs`, in program order."""
    forward = set(inputs)
    out = []
    for op in block.operations:
        if any(v in forward for v in reads(op)):
            out.append(op)
            forward.update(op.results)
    return out


def batch_values(outputs: Sequence[ir.Value], stand_ins: dict, size: Any) -> list[tuple[Value, bool]]:
    """The batched form of each of `outputs`: (value, True) with the batch axis in front,
    or (value, False) for an output that does not depend on the batched inputs.

    `stand_ins` maps each per-example placeholder to its batched value (batch axis in front,
    `size` rows: an int or an int64 scalar Value). Emits tn ops at the current insertion
    point and erases the per-example ops of the trace (the placeholders included).
    """
    block = _current_block()
    fwd = _forward_ops(block, list(stand_ins))
    impure = [r for op in fwd if not OPS.get(op.operation.name, _PURE).pure for r in op.results]
    active = needed_ops(fwd, list(outputs) + impure)
    bmap: dict[ir.Value, Value] = {v: b for v, b in stand_ins.items()}
    unbatched: dict[ir.Value, Value] = {}
    for op in active:
        if op.operation.name == PLACEHOLDER:
            continue
        _batch_op(op, bmap, unbatched, size)
    out = []
    for o in outputs:
        if o in bmap:
            out.append((bmap[o], True))
        else:
            out.append((unbatched.get(o, Value(o)), False))
    _erase(fwd, stand_ins)
    return out


class _Pure:
    pure = True


_PURE = _Pure()


def _batch_op(op, bmap: dict, unbatched: dict, size: Any) -> None:
    name = op.operation.name
    opdef = OPS.get(name)
    where = describe_location(op.location)
    with location_override(op.location):
        if len(op.regions):
            if opdef is None or opdef.batch_region is None:
                raise BatchingError(f"{name} at {where} has no batching rule (vmap)")
            outs = opdef.batch_region(op.operation, lambda v: bmap.get(v), size)
        else:
            if opdef is None or opdef.batch is None:
                raise BatchingError(f"{name} at {where} has no batching rule (vmap)")
            args = [bmap[v] if v in bmap else unbatched[v] if v in unbatched else Value(v)
                    for v in op.operands]
            batched = [v in bmap for v in op.operands]
            outs = opdef.batch(args, batched, size, **opdef.decode_attrs(op.operation))
    if len(outs) != len(op.results):
        raise BatchingError(f"the batching rule of {name} returned {len(outs)} values for "
                            f"{len(op.results)} results")
    for r, b in zip(op.results, outs):
        spec = spec_of_value(r)
        if isinstance(b, Unbatched):
            u = _plain(b.value)
            _check(name, u.spec, spec, False)
            unbatched[r] = u
            continue
        b = _plain(b)
        _check(name, b.spec, spec, True)
        bmap[r] = b


def _plain(x) -> Value:
    return x if type(x) is Value else Value(x if isinstance(x, ir.Value) else x.value)


def _check(name: str, got: TensorSpec, spec: TensorSpec, batched: bool) -> None:
    want = spec.shape if not batched else None
    ok = got.dtype == spec.dtype and (got.shape == want if not batched else
                                      _compatible(got.shape[1:], spec.shape) and got.ndim == spec.ndim + 1)
    if not ok:
        raise BatchingError(f"the batching rule of {name} returned {got} for a result of type {spec}"
                            f"{' (batched)' if batched else ''}")


def _compatible(a: tuple, b: tuple) -> bool:
    return len(a) == len(b) and all(x == y or x is None or y is None for x, y in zip(a, b))


def _erase(fwd: list, stand_ins: dict) -> None:
    """Erase the per-example ops (all of them read a stand-in) and then the stand-ins."""
    for op in reversed(fwd):
        if all(not list(r.uses) for r in op.results):
            op.operation.erase()
        else:
            raise BatchingError(f"{op.operation.name} of the per-example trace is still used after vmap")
    for v in stand_ins:
        owner = v.owner
        if not list(v.uses):
            (owner.operation if hasattr(owner, "operation") else owner).erase()
