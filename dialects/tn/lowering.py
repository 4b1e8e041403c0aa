"""Building blocks for the tn -> linalg lowering rules of every op family.

A lowering rule receives a `LowerCall` (the op, its already-lowered operands, specs and
attributes) and returns the lowered result values. Values below `tn` use storage types
(booleans as i8); `generic` converts to i1 inside loop bodies so rules reason in i1.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable, Sequence

import numpy as np
from mlir import ir
from mlir.dialects import arith, linalg, tensor

from .types import TensorSpec, element_type, storage_element_type, tensor_type

Body = Callable[..., Sequence[ir.Value] | ir.Value]


@dataclass
class LowerCall:
    """One tn op being lowered (insertion point and location are already set)."""

    op: ir.Operation
    operands: list[ir.Value]
    in_specs: list[TensorSpec]
    out_specs: list[TensorSpec]
    attrs: dict[str, Any]
    # Region ops (tn.scan, tn.cond) move their body into an scf op, then call this to lower
    # the tn ops now in that block (the driver's own walk, nested regions included).
    lower_region: Callable[[ir.Block], None] | None = None

    @property
    def out(self) -> TensorSpec:
        return self.out_specs[0]


def iterator_attr(kind: str) -> ir.Attribute:
    return ir.Attribute.parse(f"#linalg.iterator_type<{kind}>")


def identity_map(rank: int) -> ir.AffineMap:
    return ir.AffineMap.get_identity(rank)


def broadcast_map(in_shape: Sequence[int], out_shape: Sequence[int]) -> ir.AffineMap:
    """Map output indices to a NumPy-broadcast input (missing leading dims, size-1 dims -> 0)."""
    rank = len(out_shape)
    lead = rank - len(in_shape)
    exprs = []
    for i, n in enumerate(in_shape):
        if n == 1 and out_shape[lead + i] != 1:
            exprs.append(ir.AffineConstantExpr.get(0))
        else:
            exprs.append(ir.AffineDimExpr.get(lead + i))
    return ir.AffineMap.get(rank, 0, exprs)


def empty(spec: TensorSpec) -> ir.Value:
    return tensor.EmptyOp(list(spec.shape), storage_element_type(spec.dtype)).result


def scalar_const(dtype: np.dtype, value: Any) -> ir.Value:
    """A scalar constant in compute type (i1 for bool)."""
    dt = np.dtype(dtype)
    t = element_type(dt)
    if dt.kind == "f":
        return arith.ConstantOp(t, ir.FloatAttr.get(t, float(value))).result
    if dt == np.bool_:
        return arith.ConstantOp(t, ir.IntegerAttr.get(t, int(bool(value)))).result
    return arith.ConstantOp(t, ir.IntegerAttr.get(t, int(value))).result


def to_compute(v: ir.Value, dtype: np.dtype) -> ir.Value:
    """Storage scalar -> compute scalar (i8 -> i1 for bool)."""
    if np.dtype(dtype) == np.bool_ and ir.IntegerType(v.type).width != 1:
        return arith.TruncIOp(ir.IntegerType.get_signless(1), v).result
    return v


def to_storage(v: ir.Value, dtype: np.dtype) -> ir.Value:
    """Compute scalar -> storage scalar (i1 -> i8 for bool)."""
    if np.dtype(dtype) == np.bool_ and ir.IntegerType(v.type).width == 1:
        return arith.ExtUIOp(ir.IntegerType.get_signless(8), v).result
    return v


def fill(spec: TensorSpec, value: Any) -> ir.Value:
    """A tensor of `spec` filled with the Python scalar `value`."""
    scalar = to_storage(scalar_const(spec.dtype, value), spec.dtype)
    return linalg.fill(scalar, outs=[empty(spec)])


def generic(
    inputs: Sequence[ir.Value],
    in_dtypes: Sequence[np.dtype],
    in_maps: Sequence[ir.AffineMap],
    outs: Sequence[ir.Value],
    out_dtypes: Sequence[np.dtype],
    out_maps: Sequence[ir.AffineMap],
    iterators: Sequence[str],
    body: Body,
) -> list[ir.Value]:
    """A linalg.generic whose `body(*input_scalars, *output_scalars)` works in compute types.

    `outs` are init tensors (from `empty` or `fill`). Returns the result tensors.
    """
    op = linalg.GenericOp_(
        inputs=list(inputs),
        outputs=list(outs),
        indexing_maps=ir.ArrayAttr.get([ir.AffineMapAttr.get(m) for m in [*in_maps, *out_maps]]),
        iterator_types=ir.ArrayAttr.get([iterator_attr(k) for k in iterators]),
    )
    block = op.regions[0].blocks[0]
    dtypes = [*in_dtypes, *out_dtypes]
    with ir.InsertionPoint(block):
        args = [to_compute(a, dt) for a, dt in zip(block.arguments, dtypes)]
        res = body(*args)
        res = [res] if isinstance(res, ir.Value) else list(res)
        res = [to_storage(r, dt) for r, dt in zip(res, out_dtypes)]
        linalg.YieldOp(res)
    return list(op.results)


def elementwise(
    call: LowerCall, body: Body, inputs: Sequence[ir.Value] | None = None
) -> ir.Value:
    """An elementwise op over same-shape (or NumPy-broadcast) operands producing `call.out`."""
    inputs = list(call.operands if inputs is None else inputs)
    out = call.out
    rank = out.ndim
    maps = [broadcast_map(s.shape, out.shape) for s in call.in_specs[: len(inputs)]]
    return generic(
        inputs,
        [s.dtype for s in call.in_specs[: len(inputs)]],
        maps,
        [empty(out)],
        [out.dtype],
        [identity_map(rank)],
        ["parallel"] * rank,
        lambda *args: body(*args[: len(inputs)]),
    )[0]


def linalg_index(dim: int) -> ir.Value:
    return linalg.IndexOp(dim).result


def index_cast(v: ir.Value, to: ir.Type) -> ir.Value:
    return arith.IndexCastOp(to, v).result


def result_type(spec: TensorSpec) -> ir.RankedTensorType:
    return tensor_type(spec, storage=True)
