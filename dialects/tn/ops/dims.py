"""Dynamic dimensions: tn.dim reads one, tn.ensure_shape asserts and refines them.

A `?` dim (a `None` in a TensorSpec) is known only when the code runs (docs/dynamic-shapes.md).
Two ops connect such dims to the rest of the dialect:

    %n = "tn.dim"(%x) {axis = 0 : i64} : (tensor<?x3xf32>) -> tensor<i64>
    %y = "tn.ensure_shape"(%x) {shape = array<i64: 4, -1>} : (tensor<?x?xf32>) -> tensor<4x?xf32>

`tn.dim` is a dim as an int64 scalar tensor (Theano's `x.shape[0]`, a mean's divisor, a scan
length); a static dim folds to a constant. `tn.ensure_shape` is `tensor.cast` with a check, the run-time
form of a shape rule: where an op needs two dims equal and one or both are dynamic, the
frontend refines the operand to the shape the op needs (the result has exactly `shape`; `-1`
makes a dim dynamic) and the generated code checks every dim that turns static: a mismatch
fails the call with a ValueError naming both shapes (dialects/tn/checks.py). Its
lowering is the check plus a `tensor.cast`, so it costs one compare per dim. It is linear: its
jvp refines the tangent the same way and its transpose casts the cotangent back to the
operand's type (the check already ran forward).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from mlir import ir
from mlir.dialects import arith, tensor

from .. import lax
from ..checks import VALUE_ERROR, emit_check
from ..lowering import LowerCall, at_line, dim_value, result_type
from .. import batching as vb
from ..registry import ShapeError, defop
from ..types import TensorSpec

_I64 = np.dtype(np.int64)


def shape_attr(shape: Sequence[int | None]) -> tuple[int, ...]:
    """A shape with None dims as the `ints` attribute spelling (-1 = dynamic)."""
    return tuple(-1 if n is None else int(n) for n in shape)


def shape_of_attr(shape: Sequence[int]) -> tuple[int | None, ...]:
    return tuple(None if n is None or n == -1 else int(n) for n in shape)


# ------------------------------------------------------------------ tn.dim
dim = defop("tn.dim", ["x"], attrs={"axis": "int"}, differentiable=False,
            doc="The size of `x` along `axis`, an int64 scalar (dynamic dims are read at run time).")


@dim.def_infer
def _dim_infer(specs: list[TensorSpec], axis: int) -> list[TensorSpec]:
    (x,) = specs
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"axis {axis} is out of range for a {x.ndim}-d tensor")
    return [TensorSpec((), _I64)]


@dim.def_reference
def _dim_reference(x: np.ndarray, axis: int) -> np.ndarray:
    return np.asarray(x.shape[axis], dtype=np.int64)


@dim.def_lower
def _dim_lower(call: LowerCall) -> list[ir.Value]:
    n = dim_value(call.operands[0], call.attrs["axis"])
    i64 = ir.IntegerType.get_signless(64)
    return [tensor.FromElementsOp(result_type(call.out), [arith.IndexCastOp(i64, n).result]).result]


@dim.def_batch
def _dim_batch(args, batched, size, axis):
    """A per-example dim is the batched value's next one, the same for every example."""
    return [vb.Unbatched(lax.emit("tn.dim", [args[0]], axis=axis + 1))]


# ------------------------------------------------------------------ tn.ensure_shape
ensure_shape = defop("tn.ensure_shape", ["x"], attrs={"shape": "ints"},
                     doc="`x` with the dims of `shape` (-1: keep dynamic), checked when the code runs.")


@ensure_shape.def_infer
def _ensure_infer(specs: list[TensorSpec], shape: tuple[int, ...]) -> list[TensorSpec]:
    (x,) = specs
    want = shape_of_attr(shape)
    if len(want) != x.ndim:
        raise ShapeError(f"shape {shape_attr(want)} has {len(want)} dims, the operand {x.ndim}")
    for d, (a, b) in enumerate(zip(x.shape, want)):
        if b is not None and b < 0:
            raise ShapeError(f"dim {d} of shape {shape_attr(want)} must be >= 0 or -1 (dynamic)")
        if a is not None and b is not None and a != b:
            raise ShapeError(f"dim {d} is {a}, not {b}")
    return [TensorSpec(want, x.dtype)]


@ensure_shape.def_reference
def _ensure_reference(x: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    want = shape_of_attr(shape)
    if any(b is not None and a != b for a, b in zip(x.shape, want)):
        shown = tuple("?" if b is None else b for b in want)
        raise ValueError(f"tn.ensure_shape: a tensor of shape {x.shape} where shape {shown} is required")
    return x.copy()


def shape_text(shape: Sequence[int | None]) -> str:
    return "(" + ", ".join("?" if n is None else str(n) for n in shape) + ("," if len(shape) == 1 else "") + ")"


@ensure_shape.def_lower
def _ensure_lower(call: LowerCall) -> list[ir.Value]:
    (x,) = call.in_specs
    v = call.operands[0]
    i64 = ir.IntegerType.get_signless(64)
    for d, (a, b) in enumerate(zip(x.shape, call.out.shape)):
        if a is None and b is not None:
            got = dim_value(v, d)
            ok = arith.CmpIOp(arith.CmpIPredicate.eq, got, arith.ConstantOp(ir.IndexType.get(), b).result).result
            emit_check(call.op, ok, VALUE_ERROR,
                       f"shape mismatch: dim {d} of a tensor of shape {shape_text(x.shape)} is {{0}}, "
                       f"where {b} is required (shape {shape_text(call.out.shape)}){at_line(call)}",
                       [arith.IndexCastOp(i64, got).result])
    if x.shape == call.out.shape:
        return [v]
    return [tensor.CastOp(result_type(call.out), v).result]


@ensure_shape.def_jvp
def _ensure_jvp(primals, tangents, outs, shape):
    (t,) = tangents
    return [None if t is None else lax.emit("tn.ensure_shape", [t], shape=shape)]


@ensure_shape.def_transpose
def _ensure_transpose(cts, primals, shape):
    (ct,) = cts
    return [None if ct is None else lax.emit("tn.ensure_shape", [ct], shape=shape_attr(primals[0].shape))]


@ensure_shape.def_batch
def _ensure_shape_batch(args, batched, size, shape):
    n = args[0].shape[0]
    return [lax.emit("tn.ensure_shape", [args[0]], shape=(-1 if n is None else n,) + tuple(shape))]
