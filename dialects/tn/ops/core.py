"""Core ops: constants, dtype casts, broadcasting (control flow: `control.py`).

    %c = "tn.constant"() {value = dense<1.0> : tensor<3xf32>} : () -> tensor<3xf32>
    %y = "tn.cast"(%x) {dtype = f64} : (tensor<3xf32>) -> tensor<3xf64>
    %b = "tn.broadcast_to"(%x) {shape = array<i64: 4, 3>} : (tensor<3xf32>) -> tensor<4x3xf32>
"""
from __future__ import annotations

import numpy as np
from mlir import ir
from mlir.dialects import arith, complex as cx, linalg, tensor

from .. import lax
from ..lowering import (LowerCall, broadcast_map, check_same_size, dim_value, elementwise, empty, generic,
                        identity_map, iterator_attr, linalg_index, operand_sizes)
from .. import batching as vb
from ..registry import ShapeError, defop, elements_to_numpy
from ..types import TensorSpec, check_dtype, element_type, fill_dynamic, real_dtype, tensor_type

# ---------------------------------------------------------------- tn.constant
constant = defop("tn.constant", [], attrs={"value": "elements"}, differentiable=False,
                 doc="A dense constant tensor.")


@constant.def_infer
def _constant_infer(specs: list[TensorSpec], value: np.ndarray) -> list[TensorSpec]:
    return [TensorSpec(tuple(value.shape), check_dtype(value.dtype))]


@constant.def_reference
def _constant_reference(value: np.ndarray) -> np.ndarray:
    return np.array(value)


@constant.def_lower
def _constant_lower(call: LowerCall) -> list[ir.Value]:
    value = call.attrs["value"]
    spec = call.out
    if spec.dtype.kind == "c":
        return [_complex_constant(call, value)]
    if spec.dtype == np.bool_:
        value = value.astype(np.int8)
    t = tensor_type(spec, storage=True)
    elt = t.element_type
    if value.size and np.all(value == value.flat[0]) and not (value.dtype.kind == "f" and np.isnan(value.flat[0])):
        v = value.flat[0]
        scalar = ir.FloatAttr.get(elt, float(v)) if spec.dtype.kind == "f" else ir.IntegerAttr.get(elt, int(v))
        attr = ir.DenseElementsAttr.get_splat(t, scalar)
    else:
        attr = ir.DenseElementsAttr.get(np.ascontiguousarray(value), type=t)
    return [arith.ConstantOp(t, attr).result]


def _complex_constant(call: LowerCall, value: np.ndarray) -> ir.Value:
    """A complex constant without a complex elements attribute (registry.COMPLEX_ENCODING): a
    splat fills with one complex.constant; other values read their float parts from a constant
    of shape (..., 2) in a linalg.generic."""
    spec = call.out
    part = real_dtype(spec.dtype)
    part_t = element_type(part)
    if value.size == 0 or np.all(value == value.flat[0]):
        v = complex(value.flat[0]) if value.size else 0j
        scalar = cx.ConstantOp(element_type(spec.dtype), ir.ArrayAttr.get(
            [ir.FloatAttr.get(part_t, v.real), ir.FloatAttr.get(part_t, v.imag)])).result
        return linalg.fill(scalar, outs=[empty(spec)])
    parts = np.ascontiguousarray(value).reshape(-1).view(part).reshape(value.shape + (2,))
    parts_t = ir.RankedTensorType.get(list(parts.shape), part_t)
    table = arith.ConstantOp(parts_t, ir.DenseElementsAttr.get(parts, type=parts_t)).result
    rank = spec.ndim
    out = empty(spec)
    op = linalg.GenericOp_(inputs=[], outputs=[out], indexing_maps=ir.ArrayAttr.get([ir.AffineMapAttr.get(identity_map(rank))]),
                           iterator_types=ir.ArrayAttr.get([iterator_attr("parallel")] * rank))
    block = op.regions[0].blocks[0]
    with ir.InsertionPoint(block):
        idx = [linalg_index(d) for d in range(rank)]
        re_ = tensor.ExtractOp(table, idx + [arith.ConstantOp(ir.IndexType.get(), 0).result]).result
        im_ = tensor.ExtractOp(table, idx + [arith.ConstantOp(ir.IndexType.get(), 1).result]).result
        linalg.YieldOp([cx.CreateOp(element_type(spec.dtype), re_, im_).result])
    return op.results[0]


@constant.def_jvp
def _constant_jvp(primals, tangents, outs, value):
    return []


# tn.constant has no operands: it is never batched (the rule re-emits it, unbatched).
constant.def_batch(lambda args, batched, size, value: [vb.Unbatched(lax.constant(value))])


# ---------------------------------------------------------------- tn.cast
cast = defop("tn.cast", ["x"], attrs={"dtype": "dtype"},
             doc="Elementwise conversion to `dtype` with NumPy's astype semantics.")


@cast.def_infer
def _cast_infer(specs: list[TensorSpec], dtype: np.dtype) -> list[TensorSpec]:
    return [TensorSpec(specs[0].shape, check_dtype(dtype))]


@cast.def_reference
def _cast_reference(x: np.ndarray, dtype: np.dtype) -> np.ndarray:
    if x.dtype.kind == "c" and np.dtype(dtype).kind != "c":  # the real part (NumPy warns)
        return x.real.astype(dtype) if np.dtype(dtype) != np.bool_ else x != 0
    return x.astype(dtype)


def convert_scalar(v: ir.Value, src: np.dtype, dst: np.dtype) -> ir.Value:
    """Scalar conversion in compute types, NumPy astype semantics (x != 0 for bool)."""
    src, dst = np.dtype(src), np.dtype(dst)
    t = element_type(dst)
    if src == dst:
        return v
    if "c" in (src.kind, dst.kind):
        return _convert_complex(v, src, dst)
    if dst == np.bool_:
        if src.kind == "f":
            zero = arith.ConstantOp(v.type, ir.FloatAttr.get(v.type, 0.0)).result
            return arith.CmpFOp(arith.CmpFPredicate.UNE, v, zero).result
        zero = arith.ConstantOp(v.type, ir.IntegerAttr.get(v.type, 0)).result
        return arith.CmpIOp(arith.CmpIPredicate.ne, v, zero).result
    if src == np.bool_:
        return arith.UIToFPOp(t, v).result if dst.kind == "f" else arith.ExtUIOp(t, v).result
    if src.kind == "f" and dst.kind == "f":
        return (arith.ExtFOp if dst.itemsize > src.itemsize else arith.TruncFOp)(t, v).result
    if src.kind == "f":
        return arith.FPToSIOp(t, v).result
    if dst.kind == "f":
        return arith.SIToFPOp(t, v).result
    return (arith.ExtSIOp if dst.itemsize > src.itemsize else arith.TruncIOp)(t, v).result


def _convert_complex(v: ir.Value, src: np.dtype, dst: np.dtype) -> ir.Value:
    """Conversions to or from complex, as NumPy's astype: a real value gets a zero imaginary
    part, a complex one to a real dtype keeps its real part, to bool tests z != 0."""
    if src.kind == "c":
        ps = real_dtype(src)
        re_, im_ = cx.ReOp(v).result, cx.ImOp(v).result
        if dst == np.bool_:
            return arith.OrIOp(convert_scalar(re_, ps, dst), convert_scalar(im_, ps, dst)).result
        if dst.kind != "c":
            return convert_scalar(re_, ps, dst)
        pd = real_dtype(dst)
        return cx.CreateOp(element_type(dst), convert_scalar(re_, ps, pd), convert_scalar(im_, ps, pd)).result
    pd = real_dtype(dst)
    re_ = convert_scalar(v, src, pd)
    zero = arith.ConstantOp(re_.type, ir.FloatAttr.get(re_.type, 0.0)).result
    return cx.CreateOp(element_type(dst), re_, zero).result


@cast.def_lower
def _cast_lower(call: LowerCall) -> list[ir.Value]:
    src, dst = call.in_specs[0].dtype, call.out.dtype
    return [elementwise(call, lambda x: convert_scalar(x, src, dst))]


@cast.def_scalar
def _cast_scalar(call: LowerCall, x: ir.Value) -> ir.Value:
    return convert_scalar(x, call.in_specs[0].dtype, call.out.dtype)


@cast.def_jvp
def _cast_jvp(primals, tangents, outs, dtype):
    (t,) = tangents
    if t is None or np.dtype(dtype).kind not in "fc" or primals[0].dtype.kind not in "fc":
        return [None]
    return [lax.convert(t, dtype)]


@cast.def_transpose
def _cast_transpose(cts, primals, dtype):
    (ct,) = cts
    return [lax.convert(ct, primals[0].dtype) if ct is not None else None]


cast.def_batch(vb.elementwise_rule("tn.cast"))  # elementwise


# ---------------------------------------------------------------- tn.broadcast_to
broadcast_to = defop("tn.broadcast_to", ["x", "dims*"], attrs={"shape": "ints"},
                     doc="NumPy broadcasting of `x` to `shape` (explicit: binary ops need equal shapes); "
                         "a -1 in `shape` is a dynamic dim, sized by the next int64 scalar of `dims`.")
# With dynamic dims (docs/dynamic-shapes.md) `shape` holds -1 where the size is known only at
# run time and `dims` gives those sizes in order; a dim of `x` that is dynamic must meet a
# dynamic target dim (the ops that combine them check that the sizes agree):
#   %y = "tn.broadcast_to"(%b, %n) {shape = array<i64: -1, 3>} : (tensor<3xf32>, tensor<i64>) -> tensor<?x3xf32>


def broadcast_shapes(*shapes: tuple[int | None, ...]) -> tuple[int | None, ...]:
    """NumPy's broadcast rule; raises ShapeError naming the shapes. A None (dynamic) dim
    broadcasts with 1 and with None to None; next to a static n > 1 the result is n (the
    dynamic operand must then be refined to n: tn.ensure_shape)."""
    rank = max((len(s) for s in shapes), default=0)
    out: list[int | None] = []
    for i in range(rank):
        dims = {s[len(s) - rank + i] for s in shapes if len(s) - rank + i >= 0}
        dims.discard(1)
        dynamic = None in dims
        dims.discard(None)
        if len(dims) > 1:
            raise ShapeError(
                "shapes " + " and ".join(str(tuple(s)) for s in shapes) + " cannot be broadcast together"
            )
        out.append(dims.pop() if dims else None if dynamic else 1)
    return tuple(out)


@broadcast_to.def_infer
def _broadcast_infer(specs: list[TensorSpec], shape: tuple[int, ...]) -> list[TensorSpec]:
    x, dims = specs[0], specs[1:]
    target = tuple(None if n == -1 else n for n in shape)
    if any(n is not None and n < 0 for n in target):
        raise ShapeError(f"shape {tuple(shape)} has a negative dim other than -1 (dynamic)")
    if len(dims) != target.count(None):
        raise ShapeError(f"shape {tuple(shape)} has {target.count(None)} dynamic dims but {len(dims)} sizes were given")
    if any(d.shape != () or d.dtype != np.int64 for d in dims):
        raise ShapeError("the sizes of dynamic dims must be int64 scalars")
    lead = len(target) - x.ndim
    if lead < 0 or any(n != 1 and n != t for n, t in zip(x.shape, target[lead:])):
        raise ShapeError(f"cannot broadcast shape {x.shape} to {tuple(shape)}")
    return [TensorSpec(target, x.dtype)]


@broadcast_to.def_reference
def _broadcast_reference(x: np.ndarray, *dims: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.broadcast_to(x, fill_dynamic(shape, (int(d) for d in dims))).copy()


@broadcast_to.def_reify
def _broadcast_reify(call: LowerCall) -> list[list]:
    return [operand_sizes(call.attrs["shape"], call.operands[1:])]


@broadcast_to.def_lower
def _broadcast_lower(call: LowerCall) -> list[ir.Value]:
    out = call.out
    x = call.in_specs[0]
    lead = out.ndim - x.ndim
    sizes = call.out_shape(0)
    for a, n in enumerate(x.shape):  # a dynamic dim of x is not broadcast: it must fit its size
        if n is None:
            check_same_size(call, dim_value(call.operands[0], a), sizes[lead + a],
                            f"tn.broadcast_to: dim {a} of the operand ({x}) is {{0}} but the "
                            f"target dim {lead + a} is {{1}}")
    return generic(call.operands[:1], [x.dtype], [broadcast_map(x.shape, out.shape)], [empty(out)],
                   [out.dtype], [identity_map(out.ndim)], ["parallel"] * out.ndim, lambda a, o: a)


@broadcast_to.def_jvp
def _broadcast_jvp(primals, tangents, outs, shape):
    t = tangents[0]
    return [None if t is None else lax.broadcast_to(t, fill_dynamic(shape, primals[1:]))]


@broadcast_to.def_transpose
def _broadcast_transpose(cts, primals, shape):
    (ct,) = cts
    return [None if ct is None else lax.sum_to_shape(ct, tuple(primals[0].shape))] + [None] * (len(primals) - 1)


@broadcast_to.def_batch
def _broadcast_batch(args, batched, size, shape):
    """x (n, *xs) -> (n, *shape): ones inserted after the batch axis, then broadcast."""
    vb.refuse_batched_sizes("tn.broadcast_to", args, batched, 1)
    x = args[0]
    xs = lax.shape_of(x)
    lead = len(shape) - (x.ndim - 1)
    x = lax.reshape(x, (xs[0],) + (1,) * lead + xs[1:])
    return [lax.broadcast_to(x, (xs[0],) + fill_dynamic(shape, args[1:]))]
