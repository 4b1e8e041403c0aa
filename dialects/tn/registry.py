"""The op table: one `OpDef` per `tn` op, with its rules attached beside it.

Every pass is a generic driver over these registries (infer, reference, lower, decompose,
jvp, transpose), so adding an op edits only its family module. The IRDL text that registers
the dialect in MLIR is generated from this table (`irdl.py`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import numpy as np
from mlir import ir

from .types import TensorSpec, check_dtype, complex_dtype, dtype_of_element, element_type, real_dtype

# Attribute kinds: Python value <-> MLIR attribute, and the IRDL base that constrains it.
ATTR_IRDL_BASE = {
    "ints": '"#builtin.dense_array"',
    "int": '"#builtin.integer"',
    "bool": '"#builtin.integer"',
    "float": '"#builtin.float"',
    "str": '"#builtin.string"',
    "dtype": '"#builtin.type"',
    "elements": None,  # dense elements attributes: checked by the shape rule
}


def encode_attr(kind: str, value: Any) -> ir.Attribute:
    """Python value -> MLIR attribute of the given kind."""
    if kind == "ints":
        return ir.DenseI64ArrayAttr.get([int(v) for v in value])
    if kind == "int":
        return ir.IntegerAttr.get(ir.IntegerType.get_signless(64), int(value))
    if kind == "bool":
        return ir.BoolAttr.get(bool(value))
    if kind == "float":
        return ir.FloatAttr.get(ir.F64Type.get(), float(value))
    if kind == "str":
        return ir.StringAttr.get(str(value))
    if kind == "dtype":
        return ir.TypeAttr.get(element_type(check_dtype(value)))
    if kind == "elements":
        return _encode_elements(value)
    raise ValueError(f"unknown attribute kind {kind!r}")


def _encode_elements(value: np.ndarray) -> ir.Attribute:
    arr = np.asarray(value)
    check_dtype(arr.dtype)
    t = ir.RankedTensorType.get(list(arr.shape), element_type(arr.dtype))
    if arr.dtype == np.bool_:
        return ir.DenseElementsAttr.get(np.packbits(arr.ravel(), bitorder="little"), type=t)
    if arr.dtype.kind == "c":
        return _encode_complex(arr)
    if arr.size > 0 and np.all(arr == arr.flat[0]) and not np.isnan(arr.flat[0]):
        return ir.DenseElementsAttr.get_splat(t, _scalar_attr(arr.dtype, arr.flat[0]))
    return ir.DenseElementsAttr.get(np.ascontiguousarray(arr), type=t)


def _scalar_attr(dtype: np.dtype, v: Any) -> ir.Attribute:
    elt = element_type(dtype)
    if dtype.kind == "c":
        part = ir.ComplexType(elt).element_type
        return ir.ArrayAttr.get([ir.FloatAttr.get(part, float(v.real)), ir.FloatAttr.get(part, float(v.imag))])
    if dtype.kind == "f":
        return ir.FloatAttr.get(elt, float(v))
    return ir.IntegerAttr.get(elt, int(v))


def decode_attr(kind: str, attr: ir.Attribute) -> Any:
    """MLIR attribute -> Python value of the given kind."""
    if kind == "ints":
        return tuple(int(v) for v in ir.DenseI64ArrayAttr(attr))
    if kind == "int":
        return int(ir.IntegerAttr(attr).value)
    if kind == "bool":
        if isinstance(attr, ir.BoolAttr):
            return bool(ir.BoolAttr(attr).value)
        return bool(ir.IntegerAttr(attr).value)
    if kind == "float":
        return float(ir.FloatAttr(attr).value)
    if kind == "str":
        return ir.StringAttr(attr).value
    if kind == "dtype":
        return dtype_of_element(ir.TypeAttr(attr).value)
    if kind == "elements":
        return elements_to_numpy(attr)
    raise ValueError(f"unknown attribute kind {kind!r}")


def elements_to_numpy(attr: ir.Attribute) -> np.ndarray:
    dense = ir.DenseElementsAttr(attr)
    t = ir.RankedTensorType(dense.type)
    dtype = dtype_of_element(t.element_type)
    shape = tuple(t.shape)
    if dense.is_splat:
        sv = dense.get_splat_value()
        v = sv.value if not isinstance(sv, ir.BoolAttr) else ir.BoolAttr(sv).value
        out = np.full(shape, v, dtype=dtype)
    else:
        out = np.array(dense, copy=True).astype(dtype, copy=False).reshape(shape)
    if isinstance(t.encoding, ir.StringAttr) and ir.StringAttr(t.encoding).value == COMPLEX_ENCODING:
        return np.ascontiguousarray(out).view(complex_dtype(dtype)).reshape(shape[:-1])
    return out


# Complex constants are stored as their float parts, a trailing dim of 2 (real, imaginary) in a
# tensor type marked with this encoding: the MLIR Python bindings cannot read back a dense
# attribute of complex elements (any access to one raises), so none appears in tn IR; the
# lowering of tn.constant rebuilds the complex values (ops/core.py).
COMPLEX_ENCODING = "theanir.complex"


def _encode_complex(arr: np.ndarray) -> ir.Attribute:
    part = real_dtype(arr.dtype)
    parts = np.ascontiguousarray(arr).reshape(-1).view(part).reshape(arr.shape + (2,))
    t = ir.RankedTensorType.get(list(parts.shape), element_type(part), ir.StringAttr.get(COMPLEX_ENCODING))
    return ir.DenseElementsAttr.get(parts, type=t)


class ShapeError(ValueError, TypeError):
    """A shape or dtype rule refused its operands; the builder adds the source line.

    Both a ValueError (NumPy raises one for shapes that do not broadcast) and a TypeError
    (JAX raises one for `dot` shape mismatches, and JAX programs catch that)."""


@dataclass
class OpDef:
    """Everything about one `tn` op.

    operands/results: names; a trailing `*` marks a variadic one, a trailing `?` an optional
    one (`slots(name, k)` makes k of them: values of different types, see `segment_sizes`).
    same_type: names of operands/results that must share one type (IRDL unifies them).
    infer(specs, **attrs) -> list[TensorSpec]; reference(*arrays, **attrs) -> array(s);
    lower(call) -> list[ir.Value] (linalg level); decompose(*Values, **attrs) -> Value(s)
    (expansion into other tn ops, used instead of `lower`); jvp(primals, tangents, outs,
    **attrs) -> tangent(s); transpose(cotangents, primals, linear_mask, **attrs) ->
    cotangents of the linear operands. Rules take and return `lax.Value`s and build with the
    `lax` builders: no implicit broadcasting or promotion, as in the ops themselves.
    """

    name: str
    operands: list[str]
    results: list[str]
    attrs: dict[str, str] = field(default_factory=dict)
    same_type: tuple[str, ...] = ()
    regions: tuple[str, ...] = ()
    doc: str = ""
    infer: Callable[..., list[TensorSpec]] | None = None
    reference: Callable[..., Any] | None = None
    lower: Callable[..., list[ir.Value]] | None = None
    decompose: Callable[..., Any] | None = None
    jvp: Callable[..., Any] | None = None
    transpose: Callable[..., Any] | None = None
    differentiable: bool = True
    pure: bool = True
    # scalar(call, *xs) -> Value: the op's loop-body lowering on compute-type scalars (i1 for
    # bool), for ops that are elementwise; `tn-fuse` chains these into one linalg.generic.
    scalar: Callable[..., ir.Value] | None = None
    # infer_region(op) -> list[TensorSpec]: the shape rule of a region op, which needs the op
    # itself (its region's yielded types); `tn-verify` runs it where `infer` cannot see enough.
    infer_region: Callable[[ir.Operation], list[TensorSpec]] | None = None
    # Derivatives of region ops (tn.scan, tn.cond), which need the op itself (its bodies):
    # jvp_region(op, tangent_of, linearize) -> {value: tangent lax.Value} for the op's results
    # (and the values that replace them); transpose_region(op, out_cts, is_linear) ->
    # {read value: cotangent lax.Value} for the linear values the op reads (operands or captured).
    jvp_region: Callable[..., dict] | None = None
    transpose_region: Callable[..., dict] | None = None
    # reify(call) -> one shape per result, each dim an int or an index ir.Value: how the
    # lowering sizes a result with dynamic dims (docs/dynamic-shapes.md). Without it a dynamic
    # result dim is read from the operand dim at the same (right-aligned) position.
    reify: Callable[..., list[list[Any]]] | None = None
    # batch(args, batched, size, **attrs) -> one lax.Value per result (vmap, docs/vmap.md):
    # `args` are the operands, those with batched[i] carry a leading batch axis of `size` (an
    # int, or an int64 scalar Value when dynamic); results carry it too, except those wrapped
    # in `batching.Unbatched`. batch_region(op, batched_of, size) is the same for region ops,
    # which need the op itself (batched_of(v) gives the batched value of an operand or a
    # captured value, or None when v is not batched). A rule that cannot batch raises
    # NotImplementedError naming the op.
    batch: Callable[..., list[Any]] | None = None
    batch_region: Callable[..., list[Any]] | None = None

    @property
    def mnemonic(self) -> str:
        return self.name.split(".", 1)[1]

    # Decorators so a family module writes each rule right under the op's definition.
    def def_infer(self, fn: Callable) -> Callable:
        self.infer = fn
        return fn

    def def_reference(self, fn: Callable) -> Callable:
        self.reference = fn
        return fn

    def def_lower(self, fn: Callable) -> Callable:
        self.lower = fn
        return fn

    def def_decompose(self, fn: Callable) -> Callable:
        self.decompose = fn
        return fn

    def def_jvp(self, fn: Callable) -> Callable:
        self.jvp = fn
        return fn

    def def_transpose(self, fn: Callable) -> Callable:
        self.transpose = fn
        return fn

    def def_scalar(self, fn: Callable) -> Callable:
        self.scalar = fn
        return fn

    def def_reify(self, fn: Callable) -> Callable:
        self.reify = fn
        return fn

    def def_batch(self, fn: Callable) -> Callable:
        self.batch = fn
        return fn

    def def_batch_region(self, fn: Callable) -> Callable:
        self.batch_region = fn
        return fn

    def def_infer_region(self, fn: Callable) -> Callable:
        self.infer_region = fn
        return fn

    def def_jvp_region(self, fn: Callable) -> Callable:
        self.jvp_region = fn
        return fn

    def def_transpose_region(self, fn: Callable) -> Callable:
        self.transpose_region = fn
        return fn

    def segment_attrs(self, n_operands: int, n_results: int) -> dict[str, ir.Attribute]:
        """The segment-sizes attributes IRDL needs when more than one operand (or result)
        group is optional or variadic; empty for every op without such groups."""
        out = {}
        for attr, names, n in ((OPERAND_SEGMENTS, self.operands, n_operands),
                               (RESULT_SEGMENTS, self.results, n_results)):
            sizes = segment_sizes(self.name, names, n)
            if sizes is not None:
                out[attr] = ir.DenseI32ArrayAttr.get(sizes)
        return out

    def decode_attrs(self, op: ir.Operation) -> dict[str, Any]:
        out = {}
        for name, kind in self.attrs.items():
            if name in op.attributes:
                out[name] = decode_attr(kind, op.attributes[name])
        return out

    def encode_attrs(self, attrs: dict[str, Any]) -> dict[str, ir.Attribute]:
        # IRDL attributes are required: every declared attribute is always present.
        unknown = set(attrs) - set(self.attrs)
        missing = set(self.attrs) - set(attrs)
        if unknown or missing:
            raise TypeError(
                f"{self.name}: unknown attributes {sorted(unknown)}, missing {sorted(missing)}"
            )
        return {k: encode_attr(self.attrs[k], v) for k, v in attrs.items()}


# IRDL (MLIR 22) reads these names; older MLIR spelled them operand_segment_sizes & co.
OPERAND_SEGMENTS = "operandSegmentSizes"
RESULT_SEGMENTS = "resultSegmentSizes"


def slots(name: str, count: int) -> list[str]:
    """`count` optional operand/result slots `name0?`, `name1?`, ...

    Each slot gets its own IRDL constraint variable, so the values in them may have different
    types; one `variadic` group would force a single type on all its values (IRDL binds a
    constraint variable once per op). Filled slots come first (`segment_sizes`).
    """
    return [f"{name}{i}?" for i in range(count)]


def segment_sizes(op: str, names: Sequence[str], count: int) -> list[int] | None:
    """Values per declared group for `count` actual values, or None when IRDL infers them
    itself (at most one optional/variadic group). Optional slots fill in order."""
    flexible = [n for n in names if n[-1] in "?*"]
    if len(flexible) < 2:
        return None
    if any(n.endswith("*") for n in flexible):
        raise ValueError(f"{op}: a variadic group cannot be mixed with other optional groups")
    extra = count - (len(names) - len(flexible))
    if not 0 <= extra <= len(flexible):
        raise ShapeError(f"{op} takes {len(names) - len(flexible)} to {len(names)} values, "
                         f"got {count}")
    sizes, filled = [], 0
    for n in names:
        if n.endswith("?"):
            sizes.append(1 if filled < extra else 0)
            filled += 1
        else:
            sizes.append(1)
    return sizes


OPS: dict[str, OpDef] = {}


def defop(
    name: str,
    operands: Sequence[str],
    results: Sequence[str] = ("out",),
    *,
    attrs: dict[str, str] | None = None,
    same_type: Sequence[str] = (),
    regions: Sequence[str] = (),
    doc: str = "",
    differentiable: bool = True,
    pure: bool = True,
) -> OpDef:
    """Declare a `tn` op; its rules are attached with the `def_*` decorators."""
    if not name.startswith("tn."):
        raise ValueError(f"op names live in the tn dialect: {name}")
    if name in OPS:
        raise ValueError(f"{name} is defined twice")
    op = OpDef(
        name=name,
        operands=list(operands),
        results=list(results),
        attrs=dict(attrs or {}),
        same_type=tuple(same_type),
        regions=tuple(regions),
        doc=doc,
        differentiable=differentiable,
        pure=pure,
    )
    OPS[name] = op
    return op


def lookup(name: str) -> OpDef:
    try:
        return OPS[name]
    except KeyError:
        raise KeyError(f"{name} is not a tn op") from None


def is_tn_op(op: ir.Operation | ir.OpView) -> bool:
    return op.operation.name in OPS


@dataclass(frozen=True)
class Linear:
    """Stands for an operand a transpose rule is linear in (JAX's UndefinedPrimal).

    transpose(cotangents, primals, **attrs): each primal slot is either a lax.Value (a known
    value the op is not linear in, e.g. the constant factor of `tn.mul`) or a `Linear` with
    the operand's shape and dtype; the rule returns one cotangent (or None) per operand.
    """

    shape: tuple[int | None, ...]
    dtype: np.dtype
    # the dims of dynamic dims (`sizes`): a function returning them (ints and int64 scalar
    # Values, read from the primal the linear operand is the tangent of, at the transpose
    # rule's insertion point: passes/autodiff/ad.py), or None when every dim is static
    like: Any = None

    def sizes(self) -> tuple[Any, ...]:
        """The shape with each dynamic dim as an int64 scalar Value (`tn.dim` of the primal)."""
        if None not in self.shape:
            return tuple(self.shape)
        found = self.like() if callable(self.like) else self.like
        if found is None:
            raise ShapeError(f"the sizes of a linear operand of shape {self.shape} are unknown")
        return tuple(found)
