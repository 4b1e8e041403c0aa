"""Shape ops: reshape, transpose, slicing, concatenate, take (and their transposes).

Every op here is linear in its data operand, so each has a jvp (the op applied to the
tangent) and a transpose; `tn.pad_slice` and `tn.scatter_add` exist as the transposes of
`tn.slice` and `tn.take` (and are each other's partners: their transposes are slice/take).
All attributes are static: NumPy's Python-level conventions (negative axes, -1 in shapes,
Python slices, negative indices of constant index arrays) are resolved by the frontend
(`frontend/np_shape.py`); the ops see explicit, in-range values.

    %r = "tn.reshape"(%x) {shape = array<i64: 6>} : (tensor<2x3xf32>) -> tensor<6xf32>
    %t = "tn.transpose"(%x) {perm = array<i64: 1, 0>} : (tensor<2x3xf32>) -> tensor<3x2xf32>
    %s = "tn.slice"(%x) {starts = array<i64: 4>, sizes = array<i64: 2>, steps = array<i64: -2>}
           : (tensor<5xf32>) -> tensor<2xf32>                        // x[4], x[2]
    %p = "tn.pad_slice"(%s) {starts = array<i64: 4>, steps = array<i64: -2>, shape = array<i64: 5>}
           : (tensor<2xf32>) -> tensor<5xf32>                        // zeros, s written back
    %c = "tn.concatenate"(%a, %b) {axis = 0} : (tensor<2xf32>, tensor<3xf32>) -> tensor<5xf32>
    %g = "tn.take"(%x, %i) {axis = 0} : (tensor<5x3xf32>, tensor<4xi64>) -> tensor<4x3xf32>
    %u = "tn.scatter_add"(%g, %i) {axis = 0, dim_size = 5}
           : (tensor<4x3xf32>, tensor<4xi64>) -> tensor<5x3xf32>
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

import numpy as np
from mlir import ir
from mlir.dialects import arith, complex as cx, linalg, scf, tensor

from .. import lax
from ..lowering import (LowerCall, at_line, dim_value, empty, fill, generic, identity_map, linalg_index,
                        operand_sizes, result_type)
from .. import batching as vb
from ..registry import Linear, ShapeError, defop
from ..types import TensorSpec, fill_dynamic, storage_element_type

INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))
_DYN = -(2**63)  # MLIR's kDynamic: marks an offset given as an SSA value (ShapedType.get_dynamic_size())


# ------------------------------------------------------------------ shared helpers
def _tn(name: str, xs: Sequence[Any], **attrs: Any):
    """Emit `name` on lax Values from inside a jvp/transpose rule; returns one Value."""
    return lax.emit(name, xs, **attrs)


def _is_float(spec: Any) -> bool:
    """Differentiable: float or complex (complex derivatives follow JAX, ops/complex_parts.py)."""
    return np.dtype(spec.dtype).kind in "fc"


def _adder(dtype: np.dtype):
    """The scalar add op for `dtype` (scatter-adds: the transposes of gathers)."""
    kind = np.dtype(dtype).kind
    return arith.AddFOp if kind == "f" else cx.AddOp if kind == "c" else arith.AddIOp


def _index_const(v: int) -> ir.Value:
    return arith.ConstantOp(ir.IndexType.get(), v).result


def _clamped_index(v: ir.Value, n: "int | ir.Value") -> ir.Value:
    """An integer index scalar -> `index` in [0, n): negative wraps once, then clamps (JAX).
    `n` is a static size or an index value (a dynamic axis)."""
    i = arith.IndexCastOp(ir.IndexType.get(), v).result
    zero = _index_const(0)
    if isinstance(n, int):
        size, last = _index_const(n), _index_const(n - 1)
    else:
        size, last = n, arith.SubIOp(n, _index_const(1)).result
    neg = arith.CmpIOp(arith.CmpIPredicate.slt, i, zero).result
    i = arith.SelectOp(neg, arith.AddIOp(i, size).result, i).result
    return arith.MinSIOp(arith.MaxSIOp(i, zero).result, last).result


def _clamped_index_np(indices: np.ndarray, n: int) -> np.ndarray:
    """NumPy twin of `_clamped_index`."""
    idx = np.asarray(indices, np.int64)
    idx = np.where(idx < 0, idx + n, idx)
    return np.clip(idx, 0, max(n - 1, 0))


def reshape_value(v: ir.Value, src: Sequence[int], dst: Sequence[int]) -> ir.Value:
    """A lowered (storage-typed) tensor reshaped from `src` to `dst` (same, nonzero size).

    Goes through a 1-D collapse/expand pair; canonicalize folds the pair to one op where the
    reassociation allows. Rank-0 ends use the empty reassociation (all-ones shapes).
    """
    src, dst = tuple(src), tuple(dst)
    if src == dst:
        return v
    elt = ir.RankedTensorType(v.type).element_type
    size = int(np.prod(src, dtype=np.int64))
    flat_t = ir.RankedTensorType.get([size], elt)
    if len(src) == 0:
        flat = tensor.ExpandShapeOp(flat_t, v, [], [], [size]).result
    elif len(src) == 1:
        flat = v
    else:
        flat = tensor.CollapseShapeOp(flat_t, v, [list(range(len(src)))]).result
    out_t = ir.RankedTensorType.get(list(dst), elt)
    if len(dst) == 0:
        return tensor.CollapseShapeOp(out_t, flat, []).result
    if len(dst) == 1:
        return flat
    return tensor.ExpandShapeOp(out_t, flat, [list(range(len(dst)))], [], list(dst)).result


def _check_strided(shape: Sequence[int], starts: Sequence[int], sizes: Sequence[int],
                   steps: Sequence[int]) -> None:
    """Every position start + step*i (i < size) lies inside its dimension."""
    if not len(starts) == len(sizes) == len(steps) == len(shape):
        raise ShapeError(f"starts {tuple(starts)}, sizes {tuple(sizes)} and steps {tuple(steps)} "
                         f"need one entry per dimension of {tuple(shape)}")
    if None in tuple(shape) or None in tuple(sizes):
        raise ShapeError(f"static positions cannot address a dynamic dim (shape {tuple(shape)}, "
                         f"sizes {tuple(sizes)}): slices of dynamic dims are tn.dynamic_slice / "
                         f"tn.dynamic_pad_slice")
    for d, (n, b, k, s) in enumerate(zip(shape, starts, sizes, steps)):
        if s == 0 or k < 0:
            raise ShapeError(f"dimension {d}: step must be nonzero and size >= 0, got step {s}, size {k}")
        last = b + s * (k - 1)
        if k > 0 and not (0 <= b < n and 0 <= last < n):
            raise ShapeError(f"dimension {d} of size {n}: positions {b}..{last} (step {s}) are out of range")


def _strided_positions(starts, sizes, steps) -> list[np.ndarray]:
    return [b + s * np.arange(k) for b, k, s in zip(starts, sizes, steps)]


def _reversed_dims(x: ir.Value, spec: TensorSpec, dims: Sequence[int]) -> ir.Value:
    """x with the dimensions `dims` reversed: a generic reading x[.., n-1-d, ..]."""
    rank = spec.ndim
    if any(spec.shape[d] is None for d in dims) or not spec.is_static:
        return _reversed_dims_dynamic(x, spec, dims)
    exprs = []
    for d in range(rank):
        e = ir.AffineDimExpr.get(d)
        if d in dims:
            e = ir.AffineConstantExpr.get(spec.shape[d] - 1) - e
        exprs.append(e)
    in_map = ir.AffineMap.get(rank, 0, exprs)
    return generic([x], [spec.dtype], [in_map], [empty(spec)], [spec.dtype],
                   [identity_map(rank)], ["parallel"] * rank, lambda a, o: a)[0]


def _reversed_dims_dynamic(x: ir.Value, spec: TensorSpec, dims: Sequence[int]) -> ir.Value:
    """`_reversed_dims` with dynamic sizes: each element reads x[.., n-1-d, ..] by tensor.extract
    (an affine map cannot hold a size known only at run time)."""
    rank = spec.ndim
    sizes = [n if n is not None else dim_value(x, d) for d, n in enumerate(spec.shape)]
    last = [arith.SubIOp(n if isinstance(n, ir.Value) else _index_const(n), _index_const(1)).result
            if d in dims else None for d, n in enumerate(sizes)]

    def body(_o: ir.Value) -> ir.Value:
        pos = [arith.SubIOp(last[d], linalg_index(d)).result if d in dims else linalg_index(d)
               for d in range(rank)]
        return tensor.ExtractOp(x, pos).result

    out = tensor.EmptyOp(sizes, storage_element_type(spec.dtype)).result
    return _generic_extract(out, spec, body)


def _generic_extract(out: ir.Value, spec: TensorSpec, body) -> ir.Value:
    # the element is read in storage type (tensor.extract of x), so the body works in it
    rank = spec.ndim
    op = linalg.GenericOp_(inputs=[], outputs=[out],
                           indexing_maps=ir.ArrayAttr.get([ir.AffineMapAttr.get(identity_map(rank))]),
                           iterator_types=ir.ArrayAttr.get(
                               [ir.Attribute.parse("#linalg.iterator_type<parallel>")] * rank))
    block = op.regions[0].blocks[0]
    with ir.InsertionPoint(block):
        linalg.YieldOp([body(block.arguments[0])])
    return op.results[0]


# ------------------------------------------------------------------ tn.reshape
reshape = defop("tn.reshape", ["x", "dims*"], attrs={"shape": "ints"},
                doc="Row-major reshape to `shape` (same size); -1 is a dynamic dim sized by the next "
                    "int64 scalar of `dims` (the frontend resolves NumPy's -1).")
# With dynamic dims (docs/dynamic-shapes.md) the sizes are operands and the element counts are
# compared when the code runs (a mismatch fails the call with a ValueError):
#   %y = "tn.reshape"(%x, %n) {shape = array<i64: -1, 1>} : (tensor<?xf32>, tensor<i64>) -> tensor<?x1xf32>


def _target(shape: Sequence[int]) -> tuple[int | None, ...]:
    return tuple(None if n == -1 else int(n) for n in shape)


@reshape.def_infer
def _reshape_infer(specs: list[TensorSpec], shape: tuple[int, ...]) -> list[TensorSpec]:
    x, dims = specs[0], specs[1:]
    target = _target(shape)
    if any(n is not None and n < 0 for n in target):
        raise ShapeError(f"cannot reshape into shape {tuple(shape)} (negative dims other than -1)")
    if len(dims) != target.count(None) or any(d.shape != () or d.dtype != np.int64 for d in dims):
        raise ShapeError(f"shape {tuple(shape)} needs one int64 scalar size per -1, got {len(dims)}")
    size = int(np.prod([n for n in target if n is not None], dtype=np.int64))
    if x.is_static and None not in target and size != x.size:
        raise ShapeError(f"cannot reshape shape {x.shape} (size {x.size}) into shape {tuple(shape)}")
    return [TensorSpec(target, x.dtype)]


@reshape.def_reference
def _reshape_reference(x: np.ndarray, *dims: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    return np.reshape(x, fill_dynamic(shape, (int(d) for d in dims))).copy()


@reshape.def_reify
def _reshape_reify(call: LowerCall) -> list[list]:
    return [operand_sizes(call.attrs["shape"], call.operands[1:])]


def _reshape_dynamic(call: LowerCall) -> ir.Value:
    """tensor.reshape by a shape tensor, after checking that the element counts agree."""
    from ..checks import VALUE_ERROR, emit_check

    x, v = call.in_specs[0], call.operands[0]
    i64 = ir.IntegerType.get_signless(64)
    out_dims = call.out_shape(0)
    as_index = [d if isinstance(d, ir.Value) else _index_const(d) for d in out_dims]
    have = _index_const(1)
    for i, n in enumerate(x.shape):
        have = arith.MulIOp(have, dim_value(v, i) if n is None else _index_const(n)).result
    want = _index_const(1)
    for d in as_index:
        want = arith.MulIOp(want, d).result
    ok = arith.CmpIOp(arith.CmpIPredicate.eq, have, want).result
    emit_check(call.op, ok, VALUE_ERROR,
               f"tn.reshape: cannot reshape {{0}} elements (a tensor of type {x}) into {{1}} "
               f"(shape {tuple('?' if n is None else n for n in call.out.shape)}){at_line(call)}",
               [arith.IndexCastOp(i64, have).result, arith.IndexCastOp(i64, want).result])
    shape_t = ir.RankedTensorType.get([call.out.ndim], i64)
    shape = tensor.FromElementsOp(shape_t, [arith.IndexCastOp(i64, d).result for d in as_index]).result
    return tensor.ReshapeOp(result_type(call.out), v, shape).result


@reshape.def_lower
def _reshape_lower(call: LowerCall) -> list[ir.Value]:
    x = call.in_specs[0]
    if not (x.is_static and call.out.is_static):
        return [_reshape_dynamic(call)]
    if call.out.size == 0:
        return [empty(call.out)]
    return [reshape_value(call.operands[0], x.shape, call.out.shape)]


@reshape.def_jvp
def _reshape_jvp(primals, tangents, outs, shape):
    t = tangents[0]
    if t is None or not _is_float(outs[0]):
        return [None]
    return [_tn("tn.reshape", [t, *primals[1:]], shape=shape)]


@reshape.def_transpose
def _reshape_transpose(cts, primals, shape):
    ct = cts[0]
    back = None if ct is None else lax.reshape(ct, lax.shape_of(primals[0]))
    return [back] + [None] * (len(primals) - 1)


# The batch axis leads every batched value: static attributes gain a leading entry for it.
@reshape.def_batch
def _reshape_batch(args, batched, size, shape):
    vb.refuse_batched_sizes("tn.reshape", args, batched, 1)
    x = args[0]
    return [lax.reshape(x, (lax.dim(x, 0),) + fill_dynamic(shape, args[1:]))]


# ------------------------------------------------------------------ tn.transpose
transpose = defop("tn.transpose", ["x"], attrs={"perm": "ints"},
                  doc="Permute dimensions: out.shape[i] = x.shape[perm[i]] (np.transpose).")


@transpose.def_reify
def _transpose_reify(call: LowerCall) -> list[list]:
    x = call.in_specs[0]
    return [[x.shape[p] if x.shape[p] is not None else dim_value(call.operands[0], p) for p in call.attrs["perm"]]]


@transpose.def_infer
def _transpose_infer(specs: list[TensorSpec], perm: tuple[int, ...]) -> list[TensorSpec]:
    (x,) = specs
    if sorted(perm) != list(range(x.ndim)):
        raise ShapeError(f"perm {tuple(perm)} is not a permutation of the {x.ndim} dimensions of {x.shape}")
    return [TensorSpec(tuple(x.shape[p] for p in perm), x.dtype)]


@transpose.def_reference
def _transpose_reference(x: np.ndarray, perm: tuple[int, ...]) -> np.ndarray:
    return np.transpose(x, perm).copy()


@transpose.def_lower
def _transpose_lower(call: LowerCall) -> list[ir.Value]:
    perm = list(call.attrs["perm"])
    if perm == sorted(perm):
        return [call.operands[0]]
    if call.out.size == 0:
        return [empty(call.out)]
    return [linalg.transpose(call.operands[0], outs=[empty(call.out)], permutation=perm).results[0]]


@transpose.def_jvp
def _transpose_jvp(primals, tangents, outs, perm):
    (t,) = tangents
    return [None if t is None or not _is_float(outs[0]) else _tn("tn.transpose", [t], perm=perm)]


@transpose.def_transpose
def _transpose_transpose(cts, primals, perm):
    (ct,) = cts
    inverse = tuple(int(i) for i in np.argsort(perm))
    return [None if ct is None else _tn("tn.transpose", [ct], perm=inverse)]


@transpose.def_batch
def _transpose_batch(args, batched, size, perm):
    return [lax.transpose(args[0], (0,) + tuple(p + 1 for p in perm))]


# ------------------------------------------------------------------ tn.slice
slice_ = defop(
    "tn.slice", ["x"], attrs={"starts": "ints", "sizes": "ints", "steps": "ints"},
    doc="Strided static slice: out[i] = x[starts + steps*i] per dimension (steps may be negative; "
        "every position is in range: the frontend resolved Python's slice rules).",
)


@slice_.def_infer
def _slice_infer(specs: list[TensorSpec], starts, sizes, steps) -> list[TensorSpec]:
    (x,) = specs
    _check_strided(x.shape, starts, sizes, steps)
    return [TensorSpec(tuple(sizes), x.dtype)]


@slice_.def_reference
def _slice_reference(x: np.ndarray, starts, sizes, steps) -> np.ndarray:
    if x.ndim == 0:
        return x.copy()
    return x[np.ix_(*_strided_positions(starts, sizes, steps))]


@slice_.def_lower
def _slice_lower(call: LowerCall) -> list[ir.Value]:
    starts, sizes, steps = (list(call.attrs[k]) for k in ("starts", "sizes", "steps"))
    out, x = call.out, call.operands[0]
    if out.size == 0:
        return [empty(out)]
    # a negative step reads the same positions as the positive step from the other end, reversed
    # (one generic reading x[start + step*d] directly is refused by linalg's verifier when another
    # dimension is a plain d over fewer elements than x has: `x[::-1, :1]`)
    neg = [d for d, s in enumerate(steps) if s < 0]
    for d in neg:
        starts[d] += steps[d] * (sizes[d] - 1)
        steps[d] = -steps[d]
    slab = tensor.ExtractSliceOp(result_type(out), x, [], [], [], starts, sizes, steps).result
    return [_reversed_dims(slab, out, neg) if neg else slab]


@slice_.def_jvp
def _slice_jvp(primals, tangents, outs, starts, sizes, steps):
    (t,) = tangents
    if t is None or not _is_float(outs[0]):
        return [None]
    return [_tn("tn.slice", [t], starts=starts, sizes=sizes, steps=steps)]


@slice_.def_transpose
def _slice_transpose(cts, primals, starts, sizes, steps):
    (ct,) = cts
    if ct is None:
        return [None]
    return [_tn("tn.pad_slice", [ct], starts=starts, steps=steps, shape=tuple(primals[0].shape))]


@slice_.def_batch
def _slice_batch(args, batched, size, starts, sizes, steps):
    n = vb.static_size("tn.slice", args[0].shape[0])
    return [_tn("tn.slice", [args[0]], starts=(0,) + tuple(starts), sizes=(n,) + tuple(sizes),
                steps=(1,) + tuple(steps))]


# ------------------------------------------------------------------ tn.pad_slice
pad_slice = defop(
    "tn.pad_slice", ["x"], attrs={"starts": "ints", "steps": "ints", "shape": "ints"},
    doc="Zeros of `shape` with out[starts + steps*i] = x[i]: the transpose of tn.slice "
        "(same attributes; the sizes are x's shape).",
)


@pad_slice.def_infer
def _pad_slice_infer(specs: list[TensorSpec], starts, steps, shape) -> list[TensorSpec]:
    (x,) = specs
    _check_strided(tuple(shape), starts, x.shape, steps)
    return [TensorSpec(tuple(shape), x.dtype)]


@pad_slice.def_reference
def _pad_slice_reference(x: np.ndarray, starts, steps, shape) -> np.ndarray:
    out = np.zeros(shape, x.dtype)
    if out.ndim == 0:
        return x.copy()
    out[np.ix_(*_strided_positions(starts, x.shape, steps))] = x
    return out


@pad_slice.def_lower
def _pad_slice_lower(call: LowerCall) -> list[ir.Value]:
    (x_spec,) = call.in_specs
    out, x = call.out, call.operands[0]
    if out.size == 0:
        return [empty(out)]
    zeros = fill(out, 0)
    if x_spec.size == 0:
        return [zeros]
    return [insert_strided(x, x_spec, zeros, call.attrs["starts"], call.attrs["steps"])]


def insert_strided(slab: ir.Value, slab_spec: TensorSpec, base: ir.Value, starts: Sequence[int],
                   steps: Sequence[int]) -> ir.Value:
    """tensor.insert_slice of `slab` into `base` at static starts with static (maybe negative)
    steps: a negative step writes the same positions as the reversed slab with the positive
    step. tn.pad_slice (into zeros) and tn.update_slice (into x)."""
    starts, steps = list(starts), list(steps)
    neg = [d for d, s in enumerate(steps) if s < 0]
    if neg:
        slab = _reversed_dims(slab, slab_spec, neg)
        for d in neg:
            starts[d] += steps[d] * (slab_spec.shape[d] - 1)
            steps[d] = -steps[d]
    return tensor.InsertSliceOp(slab, base, [], [], [], starts, list(slab_spec.shape), steps).result


@pad_slice.def_jvp
def _pad_slice_jvp(primals, tangents, outs, starts, steps, shape):
    (t,) = tangents
    if t is None or not _is_float(outs[0]):
        return [None]
    return [_tn("tn.pad_slice", [t], starts=starts, steps=steps, shape=shape)]


@pad_slice.def_transpose
def _pad_slice_transpose(cts, primals, starts, steps, shape):
    (ct,) = cts
    if ct is None:
        return [None]
    return [_tn("tn.slice", [ct], starts=starts, sizes=tuple(primals[0].shape), steps=steps)]


@pad_slice.def_batch
def _pad_slice_batch(args, batched, size, starts, steps, shape):
    n = vb.static_size("tn.pad_slice", args[0].shape[0])
    return [_tn("tn.pad_slice", [args[0]], starts=(0,) + tuple(starts), steps=(1,) + tuple(steps),
                shape=(n,) + tuple(shape))]


# ------------------------------------------------------------------ tn.concatenate
# Binary, not variadic: IRDL binds one constraint variable to every element of a variadic
# operand, so `xs*` would force all pieces to one type (same shape). The frontend folds
# n pieces into a chain; eliminate-empty-tensors then builds the chain in place.
concatenate = defop("tn.concatenate", ["lhs", "rhs"], attrs={"axis": "int"},
                    doc="Join two same-dtype, same-rank tensors along `axis` (np.concatenate); "
                        "the frontend promotes dtypes and chains more pieces.")


@concatenate.def_infer
def _concatenate_infer(specs: list[TensorSpec], axis: int) -> list[TensorSpec]:
    a, b = specs
    if not 0 <= axis < a.ndim:
        raise ShapeError(f"axis {axis} is out of range for rank {a.ndim}")
    same_rest = b.ndim == a.ndim and all(
        p == q for d, (p, q) in enumerate(zip(a.shape, b.shape)) if d != axis)
    if a.dtype != b.dtype or not same_rest:
        raise ShapeError(f"operands {a} and {b} differ outside axis {axis}")
    shape = list(a.shape)
    shape[axis] = None if None in (a.shape[axis], b.shape[axis]) else a.shape[axis] + b.shape[axis]
    return [TensorSpec(tuple(shape), a.dtype)]


@concatenate.def_reify
def _concatenate_reify(call: LowerCall) -> list[list]:
    axis = call.attrs["axis"]
    (a, b), (va, vb) = call.in_specs, call.operands
    dims = []
    for d, n in enumerate(call.out.shape):
        if n is not None:
            dims.append(n)
        elif d == axis:
            na = a.shape[d] if a.shape[d] is not None else dim_value(va, d)
            nb = b.shape[d] if b.shape[d] is not None else dim_value(vb, d)
            dims.append(arith.AddIOp(na if isinstance(na, ir.Value) else _index_const(na),
                                     nb if isinstance(nb, ir.Value) else _index_const(nb)).result)
        else:
            dims.append(dim_value(va, d))
    return [dims]


@concatenate.def_reference
def _concatenate_reference(a: np.ndarray, b: np.ndarray, axis: int) -> np.ndarray:
    return np.concatenate([a, b], axis=axis)


@concatenate.def_lower
def _concatenate_lower(call: LowerCall) -> list[ir.Value]:
    axis, out = call.attrs["axis"], call.out
    if not all(s.is_static for s in call.in_specs):
        return [_concatenate_dynamic(call)]
    dest = empty(out)
    if out.size == 0:
        return [dest]
    offset = 0
    for x, spec in zip(call.operands, call.in_specs):
        if spec.size > 0:
            offsets = [offset if d == axis else 0 for d in range(out.ndim)]
            dest = tensor.InsertSliceOp(x, dest, [], [], [], offsets, list(spec.shape),
                                        [1] * out.ndim).result
        offset += spec.shape[axis]
    return [dest]


def _concatenate_dynamic(call: LowerCall) -> ir.Value:
    """Both pieces inserted at run-time offsets; the dims off the axis must agree (checked)."""
    from ..lowering import check_equal_dims

    axis = call.attrs["axis"]
    rest = TensorSpec(tuple(None if d == axis else n for d, n in enumerate(call.out.shape)), call.out.dtype)
    check_equal_dims(call, call.operands, [TensorSpec(tuple(1 if d == axis else n for d, n in enumerate(s.shape)),
                                                      s.dtype) for s in call.in_specs], rest)
    dest = empty(call.out)
    offset: Any = _index_const(0)
    for x, spec in zip(call.operands, call.in_specs):
        sizes = [n if n is not None else dim_value(x, d) for d, n in enumerate(spec.shape)]
        offsets = [offset if d == axis else _index_const(0) for d in range(spec.ndim)]
        dest = tensor.InsertSliceOp(x, dest, offsets, [n for n in sizes if isinstance(n, ir.Value)], [],
                                    [_DYN] * spec.ndim, [_DYN if isinstance(n, ir.Value) else n for n in sizes],
                                    [1] * spec.ndim).result
        n = sizes[axis]
        offset = arith.AddIOp(offset, n if isinstance(n, ir.Value) else _index_const(n)).result
    return dest


@concatenate.def_jvp
def _concatenate_jvp(primals, tangents, outs, axis):
    if all(t is None for t in tangents) or not _is_float(outs[0]):
        return [None]
    ts = [lax.zeros_like(p) if t is None else t for p, t in zip(primals, tangents)]
    return [_tn("tn.concatenate", ts, axis=axis)]


@concatenate.def_transpose
def _concatenate_transpose(cts, primals, axis):
    from ..registry import Linear

    (ct,) = cts
    if ct is None:
        return [None] * len(primals)
    if any(None in tuple(p.shape) for p in primals):
        return _concatenate_transpose_dynamic(ct, primals, axis)
    out, offset = [], 0
    for p in primals:
        shape = tuple(p.shape)
        if isinstance(p, Linear):
            starts = [offset if d == axis else 0 for d in range(len(shape))]
            out.append(_tn("tn.slice", [ct], starts=starts, sizes=shape, steps=[1] * len(shape)))
        else:
            out.append(None)
        offset += shape[axis]
    return out


def _concatenate_transpose_dynamic(ct, primals, axis: int) -> list:
    """The cotangent's pieces by tn.dynamic_slice at run-time offsets (dynamic lengths)."""
    i64 = np.int64
    first = lax.shape_of(primals[0])[axis]
    rank = len(primals[0].shape)
    far = 2**62

    def vector(entries):
        parts = [lax.constant(np.array([e], i64)) if isinstance(e, int)
                 else lax.reshape(e, (1,)) for e in entries]
        out = parts[0]
        for p in parts[1:]:
            out = _tn("tn.concatenate", [out, p], axis=0)
        return out

    out = []
    for k, p in enumerate(primals):
        if not isinstance(p, Linear):
            out.append(None)
            continue
        start = [0] * rank
        stop = [far] * rank
        if k == 0:
            stop[axis] = first
        else:
            start[axis] = first
        sizes = tuple(-1 if n is None else n for n in p.shape)
        out.append(_tn("tn.dynamic_slice", [ct, vector(start), vector(stop)], sizes=sizes, steps=[1] * rank))
    return out


@concatenate.def_batch
def _concatenate_batch(args, batched, size, axis):
    return [_tn("tn.concatenate", vb.materialize_all(args, batched, size), axis=axis + 1)]


# ------------------------------------------------------------------ tn.take
take = defop(
    "tn.take", ["x", "indices"], attrs={"axis": "int"},
    doc="np.take(x, indices, axis) with an int32/int64 index tensor of any shape: "
        "out.shape = x.shape[:axis] + indices.shape + x.shape[axis+1:]. A negative index i "
        "reads i + n (NumPy); indices still out of [0, n) are clamped to the nearest end, as "
        "JAX does: there is no runtime error path in compiled code.",
)


def _check_index_spec(idx: TensorSpec) -> None:
    if idx.dtype not in INDEX_DTYPES:
        raise ShapeError(f"indices must be int32 or int64, got {idx.dtype.name}")


@take.def_infer
def _take_infer(specs: list[TensorSpec], axis: int) -> list[TensorSpec]:
    x, idx = specs
    _check_index_spec(idx)
    if not 0 <= axis < x.ndim:
        raise ShapeError(f"axis {axis} is out of range for rank {x.ndim}")
    if x.shape[axis] == 0 and idx.size > 0:
        raise ShapeError(f"cannot take from the empty axis {axis} of {x.shape}")
    return [TensorSpec(x.shape[:axis] + idx.shape + x.shape[axis + 1:], x.dtype)]


@take.def_reference
def _take_reference(x: np.ndarray, indices: np.ndarray, axis: int) -> np.ndarray:
    return np.take(x, _clamped_index_np(indices, x.shape[axis]), axis=axis)


@take.def_reify
def _take_reify(call: LowerCall) -> list[list]:
    x_spec, idx_spec = call.in_specs
    x, idx = call.operands
    axis = call.attrs["axis"]

    def dims(v: ir.Value, spec: TensorSpec, axes: range) -> list:
        return [spec.shape[d] if spec.shape[d] is not None else dim_value(v, d) for d in axes]

    return [dims(x, x_spec, range(axis)) + dims(idx, idx_spec, range(idx_spec.ndim))
            + dims(x, x_spec, range(axis + 1, x_spec.ndim))]


def _check_not_empty(call: LowerCall, n: ir.Value) -> None:
    """A dynamic axis may be empty when the code runs: taking from it has no row to clamp to
    (the static rule refuses it while tracing)."""
    from ..checks import INDEX_ERROR, emit_check

    x_spec, idx_spec = call.in_specs
    ok = arith.CmpIOp(arith.CmpIPredicate.sgt, n, _index_const(0)).result
    if idx_spec.size is None:
        count = _index_const(1)
        for d, m in enumerate(idx_spec.shape):
            count = arith.MulIOp(count, dim_value(call.operands[1], d) if m is None else _index_const(m)).result
        none = arith.CmpIOp(arith.CmpIPredicate.eq, count, _index_const(0)).result
        ok = arith.OrIOp(ok, none).result
    emit_check(call.op, ok, INDEX_ERROR,
               f"tn.take: cannot take from the empty axis {call.attrs['axis']} of a tensor of type "
               f"{x_spec}{at_line(call)}")


@take.def_lower
def _take_lower(call: LowerCall) -> list[ir.Value]:
    axis, out = call.attrs["axis"], call.out
    x_spec, idx_spec = call.in_specs
    x, idx = call.operands
    if out.size == 0:
        return [empty(out)]
    rank, k, n = out.ndim, idx_spec.ndim, x_spec.shape[axis]
    if n is None:
        n = dim_value(x, axis)
        if idx_spec.size != 0:
            _check_not_empty(call, n)
    if idx_spec.size == 1 and k <= 1:
        # one row (a loop reading its sequence, a minibatch of 1): a slice at the clamped
        # index, no copy (a 1-element index vector keeps the axis, of size 1)
        first = tensor.ExtractOp(idx, [_index_const(0)] * k).result
        j = _clamped_index(first, n)
        offsets = [_DYN if d == axis else 0 for d in range(x_spec.ndim)]
        sizes = [1 if d == axis else (_DYN if s is None else s) for d, s in enumerate(x_spec.shape)]
        dyn = [dim_value(x, d) for d, s in enumerate(x_spec.shape) if s is None and d != axis]
        return [tensor.ExtractSliceOp(result_type(out), x, [j], dyn, [], offsets, sizes,
                                      [1] * x_spec.ndim).result]
    idx_map = ir.AffineMap.get(rank, 0, [ir.AffineDimExpr.get(axis + j) for j in range(k)])

    def body(i: ir.Value, _out: ir.Value) -> ir.Value:
        pos = [linalg_index(d) for d in range(axis)]
        pos.append(_clamped_index(i, n))
        pos += [linalg_index(d) for d in range(axis + k, rank)]
        return tensor.ExtractOp(x, pos).result

    return generic([idx], [idx_spec.dtype], [idx_map], [empty(out)], [out.dtype],
                   [identity_map(rank)], ["parallel"] * rank, body)


@take.def_jvp
def _take_jvp(primals, tangents, outs, axis):
    t = tangents[0]
    if t is None or not _is_float(outs[0]):
        return [None]
    return [_tn("tn.take", [t, primals[1]], axis=axis)]


@take.def_transpose
def _take_transpose(cts, primals, axis):
    (ct,) = cts
    x, idx = primals
    if ct is None:
        return [None, None]
    if x.shape[axis] is None or None in idx.shape or None in ct.shape:
        # dynamic dims: rows added into zeros of x's (run-time) shape
        zeros = lax.full(lax.shape_of(x), 0, ct.dtype)
        return [_tn("tn.index_add", [zeros, ct, idx], axis=axis), None]
    return [_tn("tn.scatter_add", [ct, idx], axis=axis, dim_size=x.shape[axis]), None]


def _index_first(x, axis: int, k: int):
    """(n, pre[axis], I[k], post) -> (n, I, pre, post): the index dims right after the batch."""
    perm = (0,) + tuple(range(1 + axis, 1 + axis + k)) + tuple(range(1, 1 + axis)) + \
        tuple(range(1 + axis + k, x.ndim))
    return lax.transpose(x, perm)


def _index_back(x, axis: int, k: int):
    """The inverse of `_index_first`: (n, I[k], pre[axis], post) -> (n, pre, I, post)."""
    perm = (0,) + tuple(range(1 + k, 1 + k + axis)) + tuple(range(1, 1 + k)) + \
        tuple(range(1 + k + axis, x.ndim))
    return lax.transpose(x, perm)


def _rows_of_examples(x, axis: int):
    """(n, pre, m, post) -> ((n*m, pre, post), shape of (n, m, pre, post)): every example's
    rows of `axis` stacked into one axis, which per-example indices offset into."""
    moved = vb.move_axis(x, axis + 1, 1)
    sh = lax.shape_of(moved)
    return lax.reshape(moved, (vb.mul_size(sh[0], sh[1]),) + sh[2:]), sh


@take.def_batch
def _take_batch(args, batched, size, axis):
    """x batched: take one axis further right. Indices batched: take along `axis` and move the
    examples' axis to the front; both: per-example indices offset into the stacked rows."""
    x, idx = args
    bx, bi = batched
    if not bi:
        return [_tn("tn.take", [x, idx], axis=axis + 1)]
    if not bx:
        return [vb.move_axis(_tn("tn.take", [x, idx], axis=axis), axis, 0)]
    flat, _ = _rows_of_examples(x, axis)
    rows = vb.example_offsets(idx, lax.dim(x, axis + 1))
    return [_index_back(_tn("tn.take", [flat, rows], axis=0), axis, idx.ndim - 1)]


# ------------------------------------------------------------------ tn.scatter_add
scatter_add = defop(
    "tn.scatter_add", ["updates", "indices"], attrs={"axis": "int", "dim_size": "int"},
    doc="The transpose of tn.take: zeros of shape updates.shape[:axis] + (dim_size,) + "
        "updates.shape[axis+k:] (k = indices.ndim), to which every updates slab at index "
        "position p is added at row indices[p] (wrapped and clamped exactly as tn.take). "
        "np.add.at semantics: repeated indices accumulate.",
)


@scatter_add.def_infer
def _scatter_add_infer(specs: list[TensorSpec], axis: int, dim_size: int) -> list[TensorSpec]:
    upd, idx = specs
    _check_index_spec(idx)
    k = idx.ndim
    if upd.dtype.kind not in "fi":
        raise ShapeError(f"updates must be float or int, got {upd.dtype.name}")
    if not (0 <= axis and axis + k <= upd.ndim and upd.shape[axis:axis + k] == idx.shape):
        raise ShapeError(f"updates {upd.shape} do not hold indices {idx.shape} at axis {axis}")
    if dim_size < 0 or (dim_size == 0 and idx.size > 0):
        raise ShapeError(f"dim_size {dim_size} cannot receive {idx.size} indices")
    return [TensorSpec(upd.shape[:axis] + (dim_size,) + upd.shape[axis + k:], upd.dtype)]


@scatter_add.def_reference
def _scatter_add_reference(updates: np.ndarray, indices: np.ndarray, axis: int,
                           dim_size: int) -> np.ndarray:
    k = np.ndim(indices)
    out = np.zeros(updates.shape[:axis] + (dim_size,) + updates.shape[axis + k:], updates.dtype)
    np.add.at(out, (slice(None),) * axis + (_clamped_index_np(indices, dim_size),), updates)
    return out


@scatter_add.def_lower
def _scatter_add_lower(call: LowerCall) -> list[ir.Value]:
    axis = call.attrs["axis"]
    return [_add_rows(fill(call.out, 0), call.operands[0], call.operands[1], call.in_specs[0],
                      call.in_specs[1], call.out, axis)]


def _add_rows(acc: ir.Value, updates: ir.Value, indices: ir.Value, upd_spec: TensorSpec,
              idx_spec: TensorSpec, out: TensorSpec, axis: int) -> ir.Value:
    """One scf.for over the index positions: acc[.., j, ..] += updates[.., p, ..]. Each step
    updates one slab of the loop-carried `acc` (in place after bufferization)."""
    if out.size == 0 or idx_spec.size == 0:
        return acc
    n = out.shape[axis]
    count = idx_spec.size
    pre, post = upd_spec.shape[:axis], upd_spec.shape[axis + idx_spec.ndim:]
    upd = reshape_value(updates, upd_spec.shape, pre + (count,) + post)
    idx = reshape_value(indices, idx_spec.shape, (count,))
    slab = TensorSpec(pre + (1,) + post, out.dtype)
    slab_t, rank = result_type(slab), slab.ndim
    static_offsets = [_DYN if d == axis else 0 for d in range(rank)]
    sizes, strides = list(slab.shape), [1] * rank
    loop = scf.ForOp(_index_const(0), _index_const(count), _index_const(1), [acc])
    with ir.InsertionPoint(loop.body):
        p, cur = loop.induction_variable, loop.inner_iter_args[0]
        j = _clamped_index(tensor.ExtractOp(idx, [p]).result, n)
        u = tensor.ExtractSliceOp(slab_t, upd, [p], [], [], static_offsets, sizes, strides).result
        a = tensor.ExtractSliceOp(slab_t, cur, [j], [], [], static_offsets, sizes, strides).result
        add = _adder(out.dtype)
        s = generic([u], [out.dtype], [identity_map(rank)], [a], [out.dtype], [identity_map(rank)],
                    ["parallel"] * rank, lambda x, y: add(x, y).result)[0]
        new = tensor.InsertSliceOp(s, cur, [j], [], [], static_offsets, sizes, strides).result
        scf.YieldOp([new])
    return loop.results[0]


@scatter_add.def_jvp
def _scatter_add_jvp(primals, tangents, outs, axis, dim_size):
    t = tangents[0]
    if t is None or not _is_float(outs[0]):
        return [None]
    return [_tn("tn.scatter_add", [t, primals[1]], axis=axis, dim_size=dim_size)]


@scatter_add.def_transpose
def _scatter_add_transpose(cts, primals, axis, dim_size):
    (ct,) = cts
    if ct is None:
        return [None, None]
    return [_tn("tn.take", [ct, primals[1]], axis=axis), None]


@scatter_add.def_batch
def _scatter_add_batch(args, batched, size, axis, dim_size):
    """Indices batched: each example's rows offset by example * dim_size in one scatter."""
    upd, idx = args
    if not batched[1]:
        return [_tn("tn.scatter_add", [upd, idx], axis=axis + 1, dim_size=dim_size)]
    upd = vb.materialize(upd, batched[0], size)
    n = vb.static_size("tn.scatter_add", idx.shape[0])
    k = idx.ndim - 1
    ut = _index_first(upd, axis, k)  # (n, I, pre, post)
    out = _tn("tn.scatter_add", [ut, vb.example_offsets(idx, dim_size)], axis=0, dim_size=n * dim_size)
    rest = lax.shape_of(out)[1:]
    return [vb.move_axis(lax.reshape(out, (n, dim_size) + rest), 1, axis + 1)]


# ------------------------------------------------------------------ tn.index_add
index_add = defop(
    "tn.index_add", ["acc", "updates", "indices"], attrs={"axis": "int"},
    doc="acc + scatter_add(updates, indices, axis, dim_size=acc.shape[axis]) without the "
        "zero tensor: rows indices[p] of `acc` receive the updates slabs. Reverse-mode loops "
        "accumulate a sequence's cotangent with it, one row per step, in place.",
)


@index_add.def_infer
def _index_add_infer(specs: list[TensorSpec], axis: int) -> list[TensorSpec]:
    acc, upd, idx = specs
    if not (acc.is_static and upd.is_static and idx.is_static):
        return _index_add_infer_dynamic(acc, upd, idx, axis)
    (expect,) = _scatter_add_infer([upd, idx], axis, acc.shape[axis] if 0 <= axis < acc.ndim else 0)
    if expect != acc:
        raise ShapeError(f"updates {upd} at indices {idx.shape} (axis {axis}) do not fit acc {acc}")
    return [acc]


@index_add.def_reference
def _index_add_reference(acc: np.ndarray, updates: np.ndarray, indices: np.ndarray,
                         axis: int) -> np.ndarray:
    return acc + _scatter_add_reference(updates, indices, axis, acc.shape[axis])


def _index_add_infer_dynamic(acc: TensorSpec, upd: TensorSpec, idx: TensorSpec, axis: int) -> list[TensorSpec]:
    """Dynamic dims (the cotangent of a sequence read row by row in a loop of dynamic
    length): dims must agree where both are known; the lowering checks the others."""
    _check_index_spec(idx)
    k = idx.ndim
    if k > 1:
        raise ShapeError(f"indices of rank {k} with dynamic dims are not supported (0 or 1)")
    want = upd.shape[:axis] + (acc.shape[axis] if 0 <= axis < acc.ndim else None,) + upd.shape[axis + k:]
    given = upd.shape[axis:axis + k]
    ok = (0 <= axis < acc.ndim and len(want) == acc.ndim and upd.dtype == acc.dtype
          and all(a is None or b is None or a == b for a, b in zip(want, acc.shape))
          and all(a is None or b is None or a == b for a, b in zip(given, idx.shape)))
    if not ok:
        raise ShapeError(f"updates {upd} at indices {idx.shape} (axis {axis}) do not fit acc {acc}")
    return [acc]


def _add_rows_dynamic(call: LowerCall) -> ir.Value:
    """index_add with dynamic dims: one scf.for over the index positions (0 or 1-d indices),
    each step adding one slab (extracted rank-reduced, sizes read at run time) in place."""
    add = _adder(call.in_specs[0].dtype)
    r = call.in_specs[0].ndim - 1
    return rows_dynamic(call, lambda u, row: generic(
        [u], [call.in_specs[0].dtype], [identity_map(r)], [row()], [call.in_specs[0].dtype], [identity_map(r)],
        ["parallel"] * r, lambda x, y: add(x, y).result)[0])


def rows_dynamic(call: LowerCall, combine: Callable[[ir.Value, Callable[[], ir.Value]], ir.Value]) -> ir.Value:
    """A row update (tn.index_add/index_set/index_reduce) with dynamic dims: one scf.for over
    the index positions (0 or 1-d indices) in order, each step inserting `combine(update slab,
    row())` (row() extracts the current row) at its clamped row, in place; slab sizes are read
    at run time and checked against the updates'."""
    from ..checks import VALUE_ERROR, emit_check

    acc, upd, idx = call.operands
    acc_s, upd_s, idx_s = call.in_specs
    axis, k = call.attrs["axis"], idx_s.ndim
    i64 = ir.IntegerType.get_signless(64)

    def size(v: ir.Value, spec: TensorSpec, d: int) -> ir.Value:
        return dim_value(v, d) if spec.shape[d] is None else _index_const(spec.shape[d])

    slab_dims = [size(acc, acc_s, d) for d in range(acc_s.ndim) if d != axis]
    upd_dims = [size(upd, upd_s, d) for d in range(upd_s.ndim) if not axis <= d < axis + k]
    for d, (a, b) in enumerate(zip(slab_dims, upd_dims)):
        ok = arith.CmpIOp(arith.CmpIPredicate.eq, a, b).result
        emit_check(call.op, ok, VALUE_ERROR,
                   f"{call.op.operation.name}: updates {upd_s} do not fit acc {acc_s} (a slab dim {d}: {{0}} vs "
                   f"{{1}}){at_line(call)}",
                   [arith.IndexCastOp(i64, b).result, arith.IndexCastOp(i64, a).result])
    count = _index_const(1) if k == 0 else size(idx, idx_s, 0)
    slab_shape = [n if n is not None else None for d, n in enumerate(acc_s.shape) if d != axis]
    elt = storage_element_type(acc_s.dtype)
    slab_t = ir.RankedTensorType.get([ir.ShapedType.get_dynamic_size() if m is None else m
                                      for m in slab_shape], elt)
    dyn_sizes = [dv for dv, m in zip(slab_dims, slab_shape) if m is None]
    rank = acc_s.ndim
    static_sizes = []
    it = iter(slab_shape)
    for d in range(rank):
        static_sizes.append(1 if d == axis else (lambda m: _DYN if m is None else m)(next(it)))
    offsets = [_DYN if d == axis else 0 for d in range(rank)]
    loop = scf.ForOp(_index_const(0), count, _index_const(1), [acc])
    with ir.InsertionPoint(loop.body):
        p, cur = loop.induction_variable, loop.inner_iter_args[0]
        raw = tensor.ExtractOp(idx, [p] if k == 1 else []).result
        j = _clamped_index(raw, size(acc, acc_s, axis))
        if k == 0:
            u = upd
        else:
            u = tensor.ExtractSliceOp(slab_t, upd, [p], dyn_sizes, [], offsets, static_sizes,
                                      [1] * rank).result
        row = lambda: tensor.ExtractSliceOp(slab_t, cur, [j], dyn_sizes, [], offsets,  # noqa: E731
                                            static_sizes, [1] * rank).result
        new = tensor.InsertSliceOp(combine(u, row), cur, [j], dyn_sizes, [], offsets, static_sizes,
                                   [1] * rank).result
        scf.YieldOp([new])
    return loop.results[0]


@index_add.def_lower
def _index_add_lower(call: LowerCall) -> list[ir.Value]:
    if not all(s.is_static for s in call.in_specs):
        return [_add_rows_dynamic(call)]
    acc, upd, idx = call.operands
    return [_add_rows(acc, upd, idx, call.in_specs[1], call.in_specs[2], call.out,
                      call.attrs["axis"])]


@index_add.def_jvp
def _index_add_jvp(primals, tangents, outs, axis):
    t_acc, t_upd = tangents[0], tangents[1]
    if (t_acc is None and t_upd is None) or not _is_float(outs[0]):
        return [None]
    if t_upd is None:
        return [t_acc]
    if t_acc is None:
        return [_tn("tn.scatter_add", [t_upd, primals[2]], axis=axis,
                    dim_size=outs[0].shape[axis])]
    return [_tn("tn.index_add", [t_acc, t_upd, primals[2]], axis=axis)]


@index_add.def_transpose
def _index_add_transpose(cts, primals, axis):
    (ct,) = cts
    if ct is None:
        return [None, None, None]
    acc, upd, idx = primals
    ct_upd = _tn("tn.take", [ct, idx], axis=axis) if isinstance(upd, Linear) else None
    return [ct if isinstance(acc, Linear) else None, ct_upd, None]


def indexed_update_rule(name: str):
    """The rule of tn.index_add / tn.index_set / tn.index_reduce (acc, updates, indices)."""
    def rule(args, batched, size, axis, **attrs):
        acc, upd, idx = args
        acc = vb.materialize(acc, batched[0], size)
        upd = vb.materialize(upd, batched[1], size)
        if not batched[2]:
            return [_tn(name, [acc, upd, idx], axis=axis + 1, **attrs)]
        flat, sh = _rows_of_examples(acc, axis)
        ut = _index_first(upd, axis, idx.ndim - 1)
        out = _tn(name, [flat, ut, vb.example_offsets(idx, lax.dim(acc, axis + 1))], axis=0, **attrs)
        return [vb.move_axis(lax.reshape(out, sh), 1, axis + 1)]

    return rule


index_add.def_batch(indexed_update_rule("tn.index_add"))
