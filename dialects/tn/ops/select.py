"""Data-dependent shapes: tn.masked_select, tn.masked_scatter, tn.nonzero, tn.unique.

Their result length is a count of True (or nonzero) elements, known only when the code runs,
so the result's first dim is always `?` (docs/data-dependent-shapes.md):

    %y = "tn.masked_select"(%x, %m) : (tensor<4x3xf32>, tensor<4xi1>) -> tensor<?x3xf32>   // x[m]
    %z = "tn.masked_scatter"(%y, %m) : (tensor<?x3xf32>, tensor<4xi1>) -> tensor<4x3xf32>
    %i = "tn.nonzero"(%x) {axes = array<i64: 0, 1>} : (tensor<4x3xf32>) -> tensor<?x2xi64>
    %v, %first, %inv, %n = "tn.unique"(%x) : (tensor<5xf32>)
           -> (tensor<?xf32>, tensor<?xi64>, tensor<5xi64>, tensor<?xi64>)

`tn.masked_select(x, mask)` is NumPy's `x[mask]` for a bool mask of x's leading dims
(mask.shape == x.shape[:k], k >= 1): the rows x[i] at the True positions of mask in
row-major order, stacked: shape (count, *x.shape[k:]). `tn.masked_scatter(y, mask)` is its
transpose: zeros of shape mask.shape + y.shape[1:] with y's rows written, in order, at the
True positions (`out[mask] = y`; PyTorch's masked_scatter onto zeros); y must have exactly
count rows, checked when the code runs. Each is linear in its first operand, so each one's
jvp is itself on the tangent and its transpose is the other. `tn.nonzero(x){axes}` is
np.argwhere restricted to `axes`: row r holds, for the r-th nonzero element of x (row-major;
NaN counts as nonzero, as in NumPy), its coordinate along each axis in `axes` (-1: the flat
row-major index, np.flatnonzero's), shape (count, len(axes)), int64; not differentiable.

`tn.unique(x)` is np.unique of a 1-D x with all three extras (below, at its definition).

Lowering (count then fill): one linalg reduction counts the True elements, the result is
allocated with that length, and one `scf.for` over the (flattened) mask writes each
selected row at the next free position; tn.unique sorts first (a stable merge sort). No
vmap rule: the count differs per batch element. NumPy references: x[mask], np.argwhere,
np.unique.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from mlir import ir
from mlir.dialects import arith, bufferization, linalg, scf, tensor

from .. import lax
from ..checks import VALUE_ERROR, emit_check
from ..lowering import LowerCall, at_line, check_same_size, dim_value, fill, generic, result_type, to_compute
from .. import batching as vb
from ..registry import ShapeError, defop
from ..types import TensorSpec, mlir_shape, storage_element_type

_I64 = np.dtype(np.int64)


def _tn(name: str, xs: Sequence[Any], **attrs: Any) -> lax.Value:
    return lax.emit(name, xs, **attrs)


def _index(v: int) -> ir.Value:
    return arith.ConstantOp(ir.IndexType.get(), v).result


def _alloc(sizes: Sequence[Any], elt: ir.Type) -> ir.Value:
    """A new tensor that a loop writes into. Not `tensor.empty`: CSE merges two empties of one
    type and sizes, and two buffers carried through one loop would then alias."""
    dyn = [d for d in sizes if isinstance(d, ir.Value)]
    shape = [ir.ShapedType.get_dynamic_size() if isinstance(d, ir.Value) else d for d in sizes]
    return bufferization.AllocTensorOp(ir.RankedTensorType.get(shape, elt), dyn).result


def _check_mask(mask: TensorSpec, lead: tuple[int | None, ...], what: str) -> None:
    if mask.dtype != np.bool_:
        raise ShapeError(f"mask must be bool, got {mask.dtype.name}")
    if mask.ndim < 1:
        raise ShapeError("mask must have at least one dim (reshape a 0-d mask to (1,))")
    if len(lead) < mask.ndim:
        raise ShapeError(f"mask {mask} has more dims than {what}")
    for d, (a, b) in enumerate(zip(mask.shape, lead)):
        if a is not None and b is not None and a != b:
            raise ShapeError(f"mask {mask} does not match {what} along dim {d} ({a} vs {b})")


def _collapse_lead(v: ir.Value, spec: TensorSpec, k: int) -> tuple[ir.Value, TensorSpec]:
    """`v` with its first k dims collapsed into one: shape (N, *rest)."""
    if k == 1:
        return v, spec
    lead = spec.shape[:k]
    n = None if None in lead else int(np.prod(lead, dtype=np.int64))
    flat = TensorSpec((n,) + spec.shape[k:], spec.dtype)
    groups = [list(range(k))] + [[d] for d in range(k, spec.ndim)]
    i64 = ir.IntegerType.get_signless(64)
    attr = ir.ArrayAttr.get([ir.ArrayAttr.get([ir.IntegerAttr.get(i64, d) for d in g]) for g in groups])
    return tensor.CollapseShapeOp(result_type(flat), v, attr).result, flat


def _nonzero_scalar(v: ir.Value, dtype: np.dtype) -> ir.Value:
    """i1: a compute-type scalar is nonzero (NaN is nonzero, as in NumPy)."""
    if dtype == np.bool_:
        return v
    if dtype.kind == "f":
        zero = arith.ConstantOp(v.type, ir.FloatAttr.get(v.type, 0.0)).result
        return arith.CmpFOp(arith.CmpFPredicate.UNE, v, zero).result
    zero = arith.ConstantOp(v.type, ir.IntegerAttr.get(v.type, 0)).result
    return arith.CmpIOp(arith.CmpIPredicate.ne, v, zero).result


def count_nonzero(flat: ir.Value, dtype: np.dtype) -> ir.Value:
    """The first pass: how many elements of the 1-D tensor `flat` are nonzero, as an index."""
    i64 = ir.IntegerType.get_signless(64)
    acc = fill(TensorSpec((), _I64), 0)
    maps = [ir.AffineMap.get_identity(1), ir.AffineMap.get(1, 0, [])]

    def body(x: ir.Value, a: ir.Value) -> ir.Value:
        return arith.AddIOp(a, arith.ExtUIOp(i64, _nonzero_scalar(x, dtype)).result).result

    total = generic([flat], [dtype], maps[:1], [acc], [_I64], maps[1:], ["reduction"], body)[0]
    return arith.IndexCastOp(ir.IndexType.get(), tensor.ExtractOp(total, []).result).result


def _row_slice(rest: Sequence[int | None], rest_dims: Sequence[ir.Value]) -> tuple[list, list, list, list]:
    """(dynamic sizes, static offsets, static sizes, strides) of row i: a (1, *rest) slab."""
    dyn = ir.ShapedType.get_dynamic_size()
    sizes = [1] + [dyn if n is None else n for n in rest]
    offsets = [dyn] + [0] * len(rest)
    dyn_sizes = [d for n, d in zip(rest, rest_dims) if n is None]
    return dyn_sizes, offsets, sizes, [1] * (len(rest) + 1)


def _copy_row(src: ir.Value, i: ir.Value, dst: ir.Value, j: ir.Value, spec: TensorSpec,
              rest_dims: Sequence[ir.Value]) -> ir.Value:
    """dst with row j replaced by row i of src (both (N, *rest) tensors of `spec`'s dtype)."""
    rest = spec.shape[1:]
    if not rest:
        return tensor.InsertOp(tensor.ExtractOp(src, [i]).result, dst, [j]).result
    dyn_sizes, offsets, sizes, strides = _row_slice(rest, rest_dims)
    slab_t = ir.RankedTensorType.get(mlir_shape((1,) + rest), storage_element_type(spec.dtype))
    slab = tensor.ExtractSliceOp(slab_t, src, [i], dyn_sizes, [], offsets, sizes, strides).result
    return tensor.InsertSliceOp(slab, dst, [j], dyn_sizes, [], offsets, sizes, strides).result


def _mask_loop(n: ir.Value, mask: ir.Value, mask_dtype: np.dtype, init: ir.Value,
               write: Any, guard: ir.Value | None = None) -> ir.Value:
    """The second pass: for i in [0, n) where mask[i] is nonzero (and j < guard, so a failed
    count check never writes out of bounds), `init = write(init, i, j)` with j counting the
    hits so far. Returns the final tensor."""
    loop = scf.ForOp(_index(0), n, _index(1), [init, _index(0)])
    with ir.InsertionPoint(loop.body):
        i = loop.induction_variable
        cur, j = loop.inner_iter_args
        hit = _nonzero_scalar(to_compute(tensor.ExtractOp(mask, [i]).result, mask_dtype), mask_dtype)
        if guard is not None:
            hit = arith.AndIOp(hit, arith.CmpIOp(arith.CmpIPredicate.ult, j, guard).result).result
        branch = scf.IfOp(hit, [cur.type, j.type], has_else=True)
        with ir.InsertionPoint(branch.then_block):
            scf.YieldOp([write(cur, i, j), arith.AddIOp(j, _index(1)).result])
        with ir.InsertionPoint(branch.else_block):
            scf.YieldOp([cur, j])
        scf.YieldOp(list(branch.results))
    return loop.results[0]


def _check_lead_dims(call: LowerCall, v: ir.Value, spec: TensorSpec, mask_v: ir.Value,
                     mask: TensorSpec, what: str) -> None:
    """Dynamic leading dims of the data must equal the mask's (a run-time check)."""
    for d in range(mask.ndim):
        if spec.shape[d] is not None and mask.shape[d] is not None:
            continue
        check_same_size(call, dim_value(v, d), dim_value(mask_v, d),
                        f"{call.op.name}: the mask has {{1}} along dim {d}, {what} has {{0}} (mask {mask}, "
                        f"{what} {spec})")


# ------------------------------------------------------------------ tn.masked_select
masked_select = defop(
    "tn.masked_select", ["x", "mask"],
    doc="x[mask] (NumPy) for a bool mask of x's leading dims: the rows at the True positions in "
        "row-major order, shape (count, *x.shape[mask.ndim:]); count is known at run time.",
)


@masked_select.def_infer
def _masked_select_infer(specs: list[TensorSpec]) -> list[TensorSpec]:
    x, mask = specs
    _check_mask(mask, x.shape, f"x {x}")
    return [TensorSpec((None,) + x.shape[mask.ndim:], x.dtype)]


@masked_select.def_reference
def _masked_select_reference(x: np.ndarray, mask: np.ndarray) -> np.ndarray:
    return x[mask.astype(bool)]


@masked_select.def_lower
def _masked_select_lower(call: LowerCall) -> list[ir.Value]:
    x_spec, m_spec = call.in_specs
    x, mask = call.operands
    _check_lead_dims(call, x, x_spec, mask, m_spec, "x")
    xf, xf_spec = _collapse_lead(x, x_spec, m_spec.ndim)
    mf, _ = _collapse_lead(mask, m_spec, m_spec.ndim) if m_spec.ndim > 1 else (mask, m_spec)
    n = dim_value(mf, 0)
    count = count_nonzero(mf, np.dtype(np.bool_))
    rest_dims = [dim_value(xf, d) for d in range(1, xf_spec.ndim)]
    sizes = [count] + [r if s is None else s for r, s in zip(rest_dims, xf_spec.shape[1:])]
    out = _alloc(sizes, storage_element_type(x_spec.dtype))
    write = lambda cur, i, j: _copy_row(xf, i, cur, j, xf_spec, rest_dims)  # noqa: E731
    return [_mask_loop(n, mf, np.dtype(np.bool_), out, write)]


@masked_select.def_jvp
def _masked_select_jvp(primals, tangents, outs):
    t = tangents[0]
    return [None if t is None else _tn("tn.masked_select", [t, primals[1]])]


@masked_select.def_transpose
def _masked_select_transpose(cts, primals):
    (ct,) = cts
    return [None if ct is None else _tn("tn.masked_scatter", [ct, primals[1]]), None]


# ------------------------------------------------------------------ tn.masked_scatter
masked_scatter = defop(
    "tn.masked_scatter", ["y", "mask"],
    doc="Zeros of shape mask.shape + y.shape[1:] with y's rows written, in order, at the True "
        "positions of the bool mask (out[mask] = y); y has exactly count(mask) rows (checked "
        "when the code runs). The transpose of tn.masked_select.",
)


@masked_scatter.def_infer
def _masked_scatter_infer(specs: list[TensorSpec]) -> list[TensorSpec]:
    y, mask = specs
    if mask.dtype != np.bool_ or mask.ndim < 1:
        raise ShapeError(f"mask must be a bool tensor of at least one dim, got {mask}")
    if y.ndim < 1:
        raise ShapeError(f"y must have a leading (row) dim, got {y}")
    if mask.size is not None and y.shape[0] is not None and y.shape[0] > mask.size:
        raise ShapeError(f"y {y} has more rows than mask {mask} has elements")
    return [TensorSpec(mask.shape + y.shape[1:], y.dtype)]


@masked_scatter.def_reference
def _masked_scatter_reference(y: np.ndarray, mask: np.ndarray) -> np.ndarray:
    m = mask.astype(bool)
    if y.shape[0] != int(m.sum()):
        raise ValueError(f"tn.masked_scatter: {y.shape[0]} rows for a mask with {int(m.sum())} True")
    out = np.zeros(m.shape + y.shape[1:], y.dtype)
    out[m] = y
    return out


@masked_scatter.def_reify
def _masked_scatter_reify(call: LowerCall) -> list[list]:
    y, mask = call.in_specs
    dims = [n if n is not None else dim_value(call.operands[1], d) for d, n in enumerate(mask.shape)]
    dims += [n if n is not None else dim_value(call.operands[0], d) for d, n in enumerate(y.shape) if d]
    return [dims]


def _coords(i: ir.Value, dims: Sequence[ir.Value]) -> list[ir.Value]:
    """The row-major multi-index of flat position i in a tensor of `dims`."""
    out = []
    for d in reversed(dims[1:]):
        out.append(arith.RemUIOp(i, d).result)
        i = arith.DivUIOp(i, d).result
    return [i] + out[::-1]


def _scatter_row(y: ir.Value, j: ir.Value, dst: ir.Value, at: list[ir.Value], spec: TensorSpec,
                 rest_dims: Sequence[ir.Value]) -> ir.Value:
    """dst with y's row j written at multi-index `at` (then the rest dims whole)."""
    rest = spec.shape[len(at):]
    if not rest:
        return tensor.InsertOp(tensor.ExtractOp(y, [j]).result, dst, at).result
    dyn = ir.ShapedType.get_dynamic_size()
    dyn_sizes = [d for n, d in zip(rest, rest_dims) if n is None]
    row_t = ir.RankedTensorType.get(mlir_shape(rest), storage_element_type(spec.dtype))
    rest_sizes = [dyn if n is None else n for n in rest]
    row = tensor.ExtractSliceOp(row_t, y, [j], dyn_sizes, [], [dyn] + [0] * len(rest), [1] + rest_sizes,
                                [1] * (len(rest) + 1)).result
    k = len(at)
    return tensor.InsertSliceOp(row, dst, at, dyn_sizes, [], [dyn] * k + [0] * len(rest),
                                [1] * k + rest_sizes, [1] * (k + len(rest))).result


@masked_scatter.def_lower
def _masked_scatter_lower(call: LowerCall) -> list[ir.Value]:
    """Zeros, then the mask loop writes row j of y at the multi-index of the j-th True
    position (written in place: no reshape of the result, whose dims may all be dynamic)."""
    y_spec, m_spec = call.in_specs
    y, mask = call.operands
    out_spec = call.out
    zeros = fill(out_spec, 0)
    mf, _ = _collapse_lead(mask, m_spec, m_spec.ndim)
    n = dim_value(mf, 0)
    count, rows = count_nonzero(mf, np.dtype(np.bool_)), dim_value(y, 0)
    i64 = ir.IntegerType.get_signless(64)
    emit_check(call.op, arith.CmpIOp(arith.CmpIPredicate.eq, count, rows).result, VALUE_ERROR,
               f"tn.masked_scatter: {{0}} rows for a mask with {{1}} True elements (mask {m_spec}){at_line(call)}",
               [arith.IndexCastOp(i64, rows).result, arith.IndexCastOp(i64, count).result])
    mdims = [dim_value(mask, d) for d in range(m_spec.ndim)]
    rest_dims = [dim_value(zeros, d) for d in range(m_spec.ndim, out_spec.ndim)]
    write = lambda cur, i, j: _scatter_row(y, j, cur, _coords(i, mdims), out_spec, rest_dims)  # noqa: E731
    return [_mask_loop(n, mf, np.dtype(np.bool_), zeros, write, guard=rows)]


@masked_scatter.def_jvp
def _masked_scatter_jvp(primals, tangents, outs):
    t = tangents[0]
    return [None if t is None else _tn("tn.masked_scatter", [t, primals[1]])]


@masked_scatter.def_transpose
def _masked_scatter_transpose(cts, primals):
    (ct,) = cts
    if ct is None:
        return [None, None]
    rows = _tn("tn.masked_select", [ct, primals[1]])  # (?, ...): y's own type again
    y_shape = tuple(primals[0].shape)
    if rows.shape != y_shape:
        rows = _tn("tn.ensure_shape", [rows], shape=tuple(-1 if n is None else n for n in y_shape))
    return [rows, None]


# ------------------------------------------------------------------ tn.nonzero
nonzero = defop(
    "tn.nonzero", ["x"], attrs={"axes": "ints"}, differentiable=False,
    doc="np.argwhere(x)[:, axes] (axis -1: the flat row-major index): one row per nonzero "
        "element of x (NaN counts), in row-major order, int64, shape (count, len(axes)).",
)


@nonzero.def_infer
def _nonzero_infer(specs: list[TensorSpec], axes: tuple[int, ...]) -> list[TensorSpec]:
    (x,) = specs
    if x.ndim < 1:
        raise ShapeError("x must have at least one dim (NumPy refuses nonzero of a 0-d array)")
    bad = [a for a in axes if not -1 <= a < x.ndim]
    if bad:
        raise ShapeError(f"axes {tuple(axes)} name axis {bad[0]}, out of range for {x} (-1: flat index)")
    return [TensorSpec((None, len(axes)), _I64)]


@nonzero.def_reference
def _nonzero_reference(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    coords = np.argwhere(x)
    flat = np.flatnonzero(x).reshape(-1, 1)
    cols = [flat if a == -1 else coords[:, a:a + 1] for a in axes]
    return np.concatenate(cols, axis=1).astype(np.int64) if cols else np.zeros((len(flat), 0), np.int64)


@nonzero.def_lower
def _nonzero_lower(call: LowerCall) -> list[ir.Value]:
    (x_spec,) = call.in_specs
    (x,) = call.operands
    axes = call.attrs["axes"]
    xf, _ = _collapse_lead(x, x_spec, x_spec.ndim)
    n = dim_value(xf, 0)
    count = count_nonzero(xf, x_spec.dtype)
    dims = [dim_value(x, d) for d in range(x_spec.ndim)]
    strides = [_index(1)] * x_spec.ndim
    for d in range(x_spec.ndim - 2, -1, -1):
        strides[d] = arith.MulIOp(strides[d + 1], dims[d + 1]).result
    i64 = ir.IntegerType.get_signless(64)
    out = _alloc([count, len(axes)], i64)

    def write(cur: ir.Value, i: ir.Value, j: ir.Value) -> ir.Value:
        for c, a in enumerate(axes):
            v = i if a == -1 else arith.RemUIOp(arith.DivUIOp(i, strides[a]).result, dims[a]).result
            cur = tensor.InsertOp(arith.IndexCastOp(i64, v).result, cur, [j, _index(c)]).result
        return cur

    return [_mask_loop(n, xf, x_spec.dtype, out, write)]


# ------------------------------------------------------------------ tn.unique
unique = defop(
    "tn.unique", ["x"], ["values", "index", "inverse", "counts"], differentiable=False,
    doc="np.unique of a 1-D x with return_index, return_inverse and return_counts (NaNs "
        "collapse into one, sorted last): the sorted distinct values (?,), the position of "
        "each one's first occurrence (?,), each element's group (x's length) and each "
        "group's size (?,), int64. Not differentiable (the values' derivative is a gather "
        "at `index`, which the frontend can build).",
)


@unique.def_infer
def _unique_infer(specs: list[TensorSpec]) -> list[TensorSpec]:
    (x,) = specs
    if x.ndim != 1:
        raise ShapeError(f"x must be 1-D (ravel it first), got {x}")
    return [TensorSpec((None,), x.dtype), TensorSpec((None,), _I64), TensorSpec(x.shape, _I64),
            TensorSpec((None,), _I64)]


@unique.def_reference
def _unique_reference(x: np.ndarray) -> tuple[np.ndarray, ...]:
    v, i, inv, c = np.unique(x, return_index=True, return_inverse=True, return_counts=True)
    return v, i.astype(np.int64), inv.reshape(-1).astype(np.int64), c.astype(np.int64)


def _less(a: ir.Value, b: ir.Value, dtype: np.dtype) -> ir.Value:
    """i1: storage scalar a sorts before b (NaN last, as NumPy sorts)."""
    if dtype.kind == "f":
        lt = arith.CmpFOp(arith.CmpFPredicate.OLT, a, b).result
        b_nan = arith.CmpFOp(arith.CmpFPredicate.UNO, b, b).result
        a_num = arith.CmpFOp(arith.CmpFPredicate.ORD, a, a).result
        return arith.OrIOp(lt, arith.AndIOp(b_nan, a_num).result).result
    pred = arith.CmpIPredicate.ult if dtype == np.bool_ else arith.CmpIPredicate.slt
    return arith.CmpIOp(pred, a, b).result


def _same(a: ir.Value, b: ir.Value, dtype: np.dtype) -> ir.Value:
    """i1: a and b are one value for np.unique (all NaNs are one)."""
    if dtype.kind == "f":
        eq = arith.CmpFOp(arith.CmpFPredicate.OEQ, a, b).result
        both_nan = arith.AndIOp(arith.CmpFOp(arith.CmpFPredicate.UNO, a, a).result,
                                arith.CmpFOp(arith.CmpFPredicate.UNO, b, b).result).result
        return arith.OrIOp(eq, both_nan).result
    return arith.CmpIOp(arith.CmpIPredicate.eq, a, b).result


def _minu(a: ir.Value, b: ir.Value) -> ir.Value:
    return arith.MinUIOp(a, b).result


def _merge_pass(n: ir.Value, w: ir.Value, src: tuple[ir.Value, ir.Value], dst: tuple[ir.Value, ir.Value],
                dtype: np.dtype) -> list[ir.Value]:
    """One bottom-up merge sort pass: runs of length w of src (keys, positions) merged in
    pairs into dst, stably (on equal keys the left run goes first)."""
    keys, pos = src
    one = _index(1)
    step = arith.AddIOp(w, w).result
    blocks = scf.ForOp(_index(0), n, step, list(dst))
    with ir.InsertionPoint(blocks.body):
        lo = blocks.induction_variable
        mid = _minu(arith.AddIOp(lo, w).result, n)
        hi = _minu(arith.AddIOp(lo, step).result, n)
        last_l, last_r = arith.SubIOp(mid, one).result, arith.SubIOp(hi, one).result
        inner = scf.ForOp(lo, hi, one, [*blocks.inner_iter_args, lo, mid])
        with ir.InsertionPoint(inner.body):
            k = inner.induction_variable
            dk, dp, i, j = inner.inner_iter_args
            ic, jc = _minu(i, last_l), _minu(j, last_r)
            a, b = tensor.ExtractOp(keys, [ic]).result, tensor.ExtractOp(keys, [jc]).result
            left_ok = arith.CmpIOp(arith.CmpIPredicate.ult, i, mid).result
            right_done = arith.CmpIOp(arith.CmpIPredicate.uge, j, hi).result
            true = arith.ConstantOp(ir.IntegerType.get_signless(1), 1).result
            not_less = arith.XOrIOp(_less(b, a, dtype), true).result
            take_l = arith.AndIOp(left_ok, arith.OrIOp(right_done, not_less).result).result
            v = arith.SelectOp(take_l, a, b).result
            p = arith.SelectOp(take_l, tensor.ExtractOp(pos, [ic]).result, tensor.ExtractOp(pos, [jc]).result).result
            dk = tensor.InsertOp(v, dk, [k]).result
            dp = tensor.InsertOp(p, dp, [k]).result
            step_l = arith.IndexCastOp(ir.IndexType.get(), arith.ExtUIOp(ir.IntegerType.get_signless(64), take_l).result).result
            i2 = arith.AddIOp(i, step_l).result
            j2 = arith.AddIOp(j, arith.SubIOp(one, step_l).result).result
            scf.YieldOp([dk, dp, i2, j2])
        scf.YieldOp(list(inner.results[:2]))
    return list(blocks.results)


def sort_with_positions(x: ir.Value, n: ir.Value, dtype: np.dtype) -> tuple[ir.Value, ir.Value]:
    """(sorted keys, their original positions): a stable bottom-up merge sort, two passes per
    scf.while step (src -> scratch -> src, so the carried buffers never swap)."""
    i64 = ir.IntegerType.get_signless(64)
    elt = storage_element_type(dtype)
    pos = _alloc([n], i64)
    init = scf.ForOp(_index(0), n, _index(1), [pos])
    with ir.InsertionPoint(init.body):
        k = init.induction_variable
        scf.YieldOp([tensor.InsertOp(arith.IndexCastOp(i64, k).result, init.inner_iter_args[0], [k]).result])
    keys = _alloc([n], elt)
    copy = scf.ForOp(_index(0), n, _index(1), [keys])
    with ir.InsertionPoint(copy.body):
        k = copy.induction_variable
        scf.YieldOp([tensor.InsertOp(tensor.ExtractOp(x, [k]).result, copy.inner_iter_args[0], [k]).result])
    scratch = [_alloc([n], elt), _alloc([n], i64)]
    carried = [copy.results[0], init.results[0], *scratch, _index(1)]
    loop = scf.WhileOp([v.type for v in carried], carried)
    before = loop.before.blocks.append(*[v.type for v in carried])
    with ir.InsertionPoint(before):
        w = before.arguments[4]
        scf.ConditionOp(arith.CmpIOp(arith.CmpIPredicate.ult, w, n).result, list(before.arguments))
    after = loop.after.blocks.append(*[v.type for v in carried])
    with ir.InsertionPoint(after):
        k, p, sk, sp, w = after.arguments
        sk, sp = _merge_pass(n, w, (k, p), (sk, sp), dtype)
        w2 = arith.AddIOp(w, w).result
        k, p = _merge_pass(n, w2, (sk, sp), (k, p), dtype)
        scf.YieldOp([k, p, sk, sp, arith.AddIOp(w2, w2).result])
    return loop.results[0], loop.results[1]


@unique.def_lower
def _unique_lower(call: LowerCall) -> list[ir.Value]:
    """Sort (keys with positions), count the groups, then one pass writes each group's value,
    first position and size, and each element's group."""
    (x_spec,) = call.in_specs
    (x,) = call.operands
    dtype = x_spec.dtype
    i64 = ir.IntegerType.get_signless(64)
    one, zero = _index(1), _index(0)
    n = dim_value(x, 0)
    keys, pos = sort_with_positions(x, n, dtype)

    def starts_group(k: ir.Value) -> ir.Value:
        prev = arith.SubIOp(arith.MaxUIOp(k, one).result, one).result
        same = _same(tensor.ExtractOp(keys, [k]).result, tensor.ExtractOp(keys, [prev]).result, dtype)
        first = arith.CmpIOp(arith.CmpIPredicate.eq, k, zero).result
        true = arith.ConstantOp(ir.IntegerType.get_signless(1), 1).result
        return arith.OrIOp(first, arith.XOrIOp(same, true).result).result

    def as_index(b: ir.Value) -> ir.Value:
        return arith.IndexCastOp(ir.IndexType.get(), arith.ExtUIOp(i64, b).result).result

    count = scf.ForOp(zero, n, one, [zero])
    with ir.InsertionPoint(count.body):
        g = count.inner_iter_args[0]
        scf.YieldOp([arith.AddIOp(g, as_index(starts_group(count.induction_variable))).result])
    u = count.results[0]
    values = _alloc([u], storage_element_type(dtype))
    index = _alloc([u], i64)
    counts = linalg.fill(arith.ConstantOp(i64, 0).result, outs=[_alloc([u], i64)])
    inverse = _alloc([n], i64)
    loop = scf.ForOp(zero, n, one, [values, index, counts, inverse, zero])
    with ir.InsertionPoint(loop.body):
        k = loop.induction_variable
        vals, idx, cnts, inv, g = loop.inner_iter_args
        first = starts_group(k)
        g1 = arith.AddIOp(g, as_index(first)).result
        grp = arith.SubIOp(g1, one).result
        p = tensor.ExtractOp(pos, [k]).result
        branch = scf.IfOp(first, [vals.type, idx.type], has_else=True)
        with ir.InsertionPoint(branch.then_block):
            scf.YieldOp([tensor.InsertOp(tensor.ExtractOp(keys, [k]).result, vals, [grp]).result,
                         tensor.InsertOp(p, idx, [grp]).result])
        with ir.InsertionPoint(branch.else_block):
            scf.YieldOp([vals, idx])
        c = arith.AddIOp(tensor.ExtractOp(cnts, [grp]).result, arith.ConstantOp(i64, 1).result).result
        cnts = tensor.InsertOp(c, cnts, [grp]).result
        inv = tensor.InsertOp(arith.IndexCastOp(i64, grp).result, inv, [arith.IndexCastOp(ir.IndexType.get(), p).result]).result
        scf.YieldOp([*branch.results, cnts, inv, g1])
    vals, idx, cnts, inv = list(loop.results[:4])
    if x_spec.shape[0] is not None:  # inverse has x's (static) length
        inv = tensor.CastOp(result_type(call.out_specs[2]), inv).result
    return [vals, idx, inv, cnts]


# ------------------------------------------------------------------ batching rules (vmap)
# A result whose size depends on the data cannot stack over examples (JAX refuses these
# too, without a static size). masked_scatter's result shape is the mask's: a loop works.
masked_select.def_batch(vb.refuse("tn.masked_select", "its result size depends on each example's data"))
nonzero.def_batch(vb.refuse("tn.nonzero", "its result size depends on each example's data"))
unique.def_batch(vb.refuse("tn.unique", "its result size depends on each example's data"))
masked_scatter.def_batch(vb.loop_rule("tn.masked_scatter"))
