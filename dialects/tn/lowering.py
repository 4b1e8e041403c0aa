"""Building blocks for the tn -> linalg lowering rules of every op family.

A lowering rule receives a `LowerCall` (the op, its already-lowered operands, specs and
attributes) and returns the lowered result values. Values below `tn` use storage types
(booleans as i8); `generic` converts to i1 inside loop bodies so rules reason in i1.
"""
from __future__ import annotations

import threading
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from mlir import ir
from mlir.dialects import arith, complex as complex_dialect, linalg, tensor

from .types import TensorSpec, element_type, fill_dynamic, storage_element_type, tensor_type

Body = Callable[..., Sequence[ir.Value] | ir.Value]
Dim = Any  # a static int or an index ir.Value (a dynamic dim read when the code runs)
_state = threading.local()


# Set by convert-tn-to-linalg for the length of one run: the lowering rules of ops that repeat
# verbatim in huge programs (tn.fusion) keep what they built here, keyed by everything the
# lowering reads, and clone it for the next identical op (dialects/tn/ops/fusion.py).
LOWERING_MEMO: ContextVar[dict[Any, Any] | None] = ContextVar("LOWERING_MEMO", default=None)
# Set by convert-tn-to-linalg (its `threads` option, CompileOptions.threads: 1 without OpenMP,
# 0 for OpenMP's default team): the kernels that split work over threads themselves, with
# partial results a 1-thread program must not pay for (dialects/tn/ops/sparse_csc.py).
LOWERING_THREADS: ContextVar[int] = ContextVar("LOWERING_THREADS", default=1)


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
    # the op's `reify` rule (registry.OpDef.reify), for results with dynamic dims
    reify: Callable[["LowerCall"], list[list[Dim]]] | None = None
    # without `reify`, dynamic result dims are read from the operands at the same position:
    # right only for elementwise ops (those with a scalar rule, and tn.ensure_shape)
    aligned: bool = False
    _shapes: list[list[Dim]] | None = field(default=None, repr=False)

    @property
    def out(self) -> TensorSpec:
        return self.out_specs[0]

    def out_shape(self, k: int = 0) -> list[Dim]:
        """Result k's shape, dynamic dims as index values (read once, at the op)."""
        spec = self.out_specs[k]
        if spec.is_static:
            return list(spec.shape)
        if self._shapes is None:
            self._shapes = [list(s) for s in self.reify(self)] if self.reify else [None] * len(self.out_specs)
        if self._shapes[k] is None:
            if not self.aligned:
                raise NotImplementedError(f"{self.op.name} cannot lower a result with dynamic dims yet ({spec})")
            self._shapes[k] = operand_aligned_shape(self, spec)
        return self._shapes[k]


def dim_value(v: ir.Value, axis: int) -> ir.Value:
    """The size of tensor `v` along `axis`, an index value (a constant when static)."""
    return tensor.DimOp(v, arith.ConstantOp(ir.IndexType.get(), axis).result).result


def operand_sizes(shape: Sequence[int], sizes: Sequence[ir.Value]) -> list[Dim]:
    """`shape` (an attribute, -1 = dynamic) with each -1 read from the next int64 scalar
    operand of `sizes`, as an index value."""
    idx = ir.IndexType.get()
    return list(fill_dynamic(shape, (arith.IndexCastOp(idx, tensor.ExtractOp(v, []).result).result
                                     for v in sizes)))


def operand_aligned_shape(call: LowerCall, spec: TensorSpec) -> list[Dim]:
    """The default reification: each dynamic dim of `spec` from the first operand with a
    dynamic dim at the same right-aligned position (elementwise ops, casts, NumPy broadcasts)."""
    out: list[Dim] = []
    for i, n in enumerate(spec.shape):
        if n is not None:
            out.append(n)
            continue
        for v, s in zip(call.operands, call.in_specs):
            a = i - (spec.ndim - s.ndim)
            if 0 <= a < s.ndim and s.shape[a] is None:
                out.append(dim_value(v, a))
                break
        else:
            raise NotImplementedError(f"{call.op.name}: cannot size dim {i} of its {spec} result "
                                      f"(no reify rule for dynamic shapes)")
    return out


class lowering_call:
    """Within a lowering rule: `empty`/`fill` of a result spec with dynamic dims size it from
    the call (`LowerCall.out_shape`)."""

    def __init__(self, call: LowerCall):
        self.call = call

    def __enter__(self) -> LowerCall:
        self.prev = getattr(_state, "call", None)
        _state.call = self.call
        return self.call

    def __exit__(self, *exc: Any) -> None:
        _state.call = self.prev


def _resolve(spec: TensorSpec) -> list[Dim]:
    call = getattr(_state, "call", None)
    if call is not None:
        # the one result of this shape; two results of one dynamic shape may differ in size
        # when the code runs, so a rule that makes either passes its dims
        matches = [k for k, s in enumerate(call.out_specs) if s.shape == spec.shape]
        if len(matches) == 1:
            return call.out_shape(matches[0])
    where = f" in the lowering of {call.op.name}" if call is not None else ""
    raise NotImplementedError(f"cannot size a {spec} tensor{where}: pass its dims (dynamic shapes)")


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


def empty(spec: TensorSpec, dims: Sequence[Dim] | None = None) -> ir.Value:
    """An uninitialized tensor of `spec`; dynamic dims from `dims` or the current call."""
    if dims is None:
        dims = list(spec.shape) if spec.is_static else _resolve(spec)
    return tensor.EmptyOp(list(dims), storage_element_type(spec.dtype)).result


def scalar_const(dtype: np.dtype, value: Any) -> ir.Value:
    """A scalar constant in compute type (i1 for bool)."""
    dt = np.dtype(dtype)
    t = element_type(dt)
    if dt.kind == "f":
        return arith.ConstantOp(t, ir.FloatAttr.get(t, float(value))).result
    if dt.kind == "c":
        part, v = ir.ComplexType(t).element_type, complex(value)
        return complex_dialect.ConstantOp(t, ir.ArrayAttr.get([ir.FloatAttr.get(part, v.real),
                                                                ir.FloatAttr.get(part, v.imag)])).result
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


def fill(spec: TensorSpec, value: Any, dims: Sequence[Dim] | None = None) -> ir.Value:
    """A tensor of `spec` filled with the Python scalar `value`."""
    scalar = to_storage(scalar_const(spec.dtype, value), spec.dtype)
    return linalg.fill(scalar, outs=[empty(spec, dims)])


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
    check_equal_dims(call, inputs, call.in_specs[: len(inputs)], out)
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


def at_line(call: LowerCall) -> str:
    """' at file:line' of the op's user source line, for run-time check messages ('' if none).
    Modules with dynamic dims key their artifacts with locations (codegen/cache.py), so the
    line is the one of this trace."""
    from .builder import describe_location

    text = describe_location(call.op.location)
    return f" at {text}" if text and not text.startswith("loc(") else ""


def check_same_size(call: LowerCall, a: ir.Value, b: ir.Value, message: str) -> None:
    """A run-time check that two dims (index values) are equal; `message` has {0} and {1} for
    them and gets the op's source line appended (dialects/tn/checks.py: a failure fails the call)."""
    from .checks import VALUE_ERROR, emit_check

    i64 = ir.IntegerType.get_signless(64)
    ok = arith.CmpIOp(arith.CmpIPredicate.eq, a, b).result
    emit_check(call.op, ok, VALUE_ERROR, message + at_line(call),
               [arith.IndexCastOp(i64, a).result, arith.IndexCastOp(i64, b).result])


def check_equal_dims(call: LowerCall, values: Sequence[ir.Value], specs: Sequence[TensorSpec],
                     out: TensorSpec) -> None:
    """Operands of one type may still differ in their dynamic dims: check those that must be
    equal (right-aligned, NumPy style), so a mismatch fails the call instead of reading out of
    bounds (docs/dynamic-shapes.md)."""
    for i in range(out.ndim):
        if out.shape[i] is not None:
            continue
        dims = []
        for v, s in zip(values, specs):
            a = i - (out.ndim - s.ndim)
            if 0 <= a < s.ndim and s.shape[a] is None:
                dims.append(dim_value(v, a))
        for other in dims[1:]:
            check_same_size(call, dims[0], other,
                            f"{call.op.name}: operand shapes differ along axis {i} ({{0}} vs {{1}}); operand types "
                            + ", ".join(str(s) for s in specs))

def linalg_index(dim: int) -> ir.Value:
    return linalg.IndexOp(dim).result


def index_cast(v: ir.Value, to: ir.Type) -> ir.Value:
    return arith.IndexCastOp(to, v).result


def result_type(spec: TensorSpec) -> ir.RankedTensorType:
    return tensor_type(spec, storage=True)
