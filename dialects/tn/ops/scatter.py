"""Writing into parts: tn.update_slice (a strided slab), tn.index_set, tn.index_reduce (rows).

They write into part of a tensor (Theano's `set_subtensor`, JAX's `x.at[idx].set(y)`,
`.multiply`, `.min`, `.max`); the "add" half already exists as `tn.pad_slice` + add and
`tn.index_add` (shape.py). update_slice and index_set are linear in their two data operands
together, so their jvp is the op on the tangents and their transpose splits the cotangent:
the part written over goes to the update, the rest to the original tensor. index_reduce is
not linear: its jvp is written with linear ops (index_add, take, products with primals).

    %u = "tn.update_slice"(%x, %y) {starts = array<i64: 1, 0>, steps = array<i64: 2, 1>}
           : (tensor<5x3xf32>, tensor<2x3xf32>) -> tensor<5x3xf32>      // x[1:5:2] = y
    %s = "tn.index_set"(%x, %y, %i) {axis = 0 : i64}
           : (tensor<5x3xf32>, tensor<4x3xf32>, tensor<4xi64>) -> tensor<5x3xf32>  // x[i] = y
    %m = "tn.index_reduce"(%x, %y, %i) {axis = 0 : i64, kind = "max"}
           : (tensor<5x3xf32>, tensor<4x3xf32>, tensor<4xi64>) -> tensor<5x3xf32>  // np.maximum.at

`tn.index_set` writes the update slabs in index order, so with a repeated index the last
slab wins (NumPy's `x[i] = y` in practice); its transpose gives the cotangent to that last
slab only, so gradients agree with the forward value. Indices are wrapped and clamped
exactly as `tn.take` reads them.
"""
from __future__ import annotations

from typing import Any, Callable

import numpy as np
from mlir import ir
from mlir.dialects import arith, scf, tensor

from .. import lax
from ..lowering import LowerCall, generic, identity_map, result_type
from .. import batching as vb
from ..registry import Linear, ShapeError, defop
from ..types import TensorSpec
from .shape import (_DYN, rows_dynamic, _check_index_spec, _check_strided, _clamped_index, _clamped_index_np,
                    _index_const, _is_float, _strided_positions, _tn, indexed_update_rule, insert_strided,
                    reshape_value)


# ------------------------------------------------------------------ tn.update_slice
update_slice = defop(
    "tn.update_slice", ["x", "y"], attrs={"starts": "ints", "steps": "ints"},
    doc="x with the strided slab out[starts + steps*i] = y[i] written over (same dtype; the "
        "slab's sizes are y's shape; every position is in range). The write of a basic "
        "index: x[1:5:2, 0] = y.",
)


@update_slice.def_infer
def _update_slice_infer(specs: list[TensorSpec], starts, steps) -> list[TensorSpec]:
    x, y = specs
    if x.dtype != y.dtype:
        raise ShapeError(f"x {x} and y {y} must have the same dtype")
    _check_strided(x.shape, starts, y.shape, steps)
    return [x]


@update_slice.def_reference
def _update_slice_reference(x: np.ndarray, y: np.ndarray, starts, steps) -> np.ndarray:
    if x.ndim == 0:
        return y.copy()
    out = x.copy()
    out[np.ix_(*_strided_positions(starts, y.shape, steps))] = y
    return out


@update_slice.def_lower
def _update_slice_lower(call: LowerCall) -> list[ir.Value]:
    x_spec, y_spec = call.in_specs
    x, y = call.operands
    if y_spec.size == 0:
        return [x]
    if x_spec.ndim == 0:
        return [y]
    return [insert_strided(y, y_spec, x, call.attrs["starts"], call.attrs["steps"])]


@update_slice.def_jvp
def _update_slice_jvp(primals, tangents, outs, starts, steps):
    tx, ty = tangents
    if (tx is None and ty is None) or not _is_float(outs[0]):
        return [None]
    tx = lax.zeros_like(primals[0]) if tx is None else tx
    ty = lax.zeros_like(primals[1]) if ty is None else ty
    return [_tn("tn.update_slice", [tx, ty], starts=starts, steps=steps)]


@update_slice.def_transpose
def _update_slice_transpose(cts, primals, starts, steps):
    (ct,) = cts
    x, y = primals
    if ct is None:
        return [None, None]
    ct_x = ct_y = None
    if isinstance(x, Linear):  # what was written over gets nothing
        ct_x = _tn("tn.update_slice", [ct, lax.full(y.shape, 0, y.dtype)], starts=starts, steps=steps)
    if isinstance(y, Linear):
        ct_y = _tn("tn.slice", [ct], starts=starts, sizes=tuple(y.shape), steps=steps)
    return [ct_x, ct_y]


@update_slice.def_batch
def _update_slice_batch(args, batched, size, starts, steps):
    x, y = vb.materialize_all(args, batched, size)
    return [_tn("tn.update_slice", [x, y], starts=(0,) + tuple(starts), steps=(1,) + tuple(steps))]


# ------------------------------------------------------------------ tn.index_set
index_set = defop(
    "tn.index_set", ["acc", "updates", "indices"], attrs={"axis": "int"},
    doc="acc with the slabs at rows indices[p] of `axis` overwritten by the updates slab at "
        "index position p (updates.shape = acc.shape[:axis] + indices.shape + "
        "acc.shape[axis+1:]); written in index order, so for a repeated index the last slab "
        "wins. Indices wrap and clamp as in tn.take.",
)


@index_set.def_infer
def _index_set_infer(specs: list[TensorSpec], axis: int) -> list[TensorSpec]:
    acc, upd, idx = specs
    _check_index_spec(idx)
    if not 0 <= axis < acc.ndim:
        raise ShapeError(f"axis {axis} is out of range for rank {acc.ndim}")
    expect = acc.shape[:axis] + idx.shape + acc.shape[axis + 1:]
    if upd.dtype != acc.dtype or upd.shape != expect:
        raise ShapeError(f"updates {upd} must be {acc.dtype.name} of shape {expect} "
                         f"(acc {acc.shape}, indices {idx.shape} at axis {axis})")
    if acc.shape[axis] == 0 and idx.size > 0:
        raise ShapeError(f"cannot write {idx.size} rows into the empty axis {axis} of {acc.shape}")
    return [acc]


@index_set.def_reference
def _index_set_reference(acc: np.ndarray, updates: np.ndarray, indices: np.ndarray,
                         axis: int) -> np.ndarray:
    out = acc.copy()
    rows = _clamped_index_np(indices, acc.shape[axis]).reshape(-1)
    pre = (slice(None),) * axis
    upd = updates.reshape(updates.shape[:axis] + (rows.size,) + acc.shape[axis + 1:])
    for p, j in enumerate(rows):  # in order: the last write of a row wins
        out[pre + (j,)] = upd[pre + (p,)]
    return out


def _row_loop(call: LowerCall, combine: Callable[..., ir.Value]) -> list[ir.Value]:
    """One scf.for over the index positions, in order: each reads its update slab, and
    inserts `combine(slab_type, rank, update, result, row)` at its (clamped) row of the
    loop-carried result (in place after bufferization). tn.index_set and tn.index_reduce."""
    _acc_spec, upd_spec, idx_spec = call.in_specs
    acc, updates, indices = call.operands
    axis, out = call.attrs["axis"], call.out
    if out.size == 0 or idx_spec.size == 0:
        return [acc]
    n, count = out.shape[axis], idx_spec.size
    pre, post = out.shape[:axis], out.shape[axis + 1:]
    upd = reshape_value(updates, upd_spec.shape, pre + (count,) + post)
    idx = reshape_value(indices, idx_spec.shape, (count,))
    slab = TensorSpec(pre + (1,) + post, out.dtype)
    slab_t, rank = result_type(slab), slab.ndim
    offsets = [_DYN if d == axis else 0 for d in range(rank)]
    sizes, strides = list(slab.shape), [1] * rank
    loop = scf.ForOp(_index_const(0), _index_const(count), _index_const(1), [acc])
    with ir.InsertionPoint(loop.body):
        p, cur = loop.induction_variable, loop.inner_iter_args[0]
        j = _clamped_index(tensor.ExtractOp(idx, [p]).result, n)
        u = tensor.ExtractSliceOp(slab_t, upd, [p], [], [], offsets, sizes, strides).result
        row = lambda: tensor.ExtractSliceOp(slab_t, cur, [j], [], [], offsets, sizes, strides).result  # noqa: E731
        new = tensor.InsertSliceOp(combine(rank, u, row), cur, [j], [], [], offsets, sizes, strides).result
        scf.YieldOp([new])
    return [loop.results[0]]


@index_set.def_lower
def _index_set_lower(call: LowerCall) -> list[ir.Value]:
    """The row loop (`_row_loop`), each position overwriting its row: the last write wins."""
    if not all(s.is_static for s in call.in_specs):
        return [rows_dynamic(call, lambda u, row: u)]
    return _row_loop(call, lambda rank, u, row: u)


@index_set.def_jvp
def _index_set_jvp(primals, tangents, outs, axis):
    t_acc, t_upd = tangents[0], tangents[1]
    if (t_acc is None and t_upd is None) or not _is_float(outs[0]):
        return [None]
    t_acc = lax.zeros_like(primals[0]) if t_acc is None else t_acc
    t_upd = lax.zeros_like(primals[1]) if t_upd is None else t_upd
    return [_tn("tn.index_set", [t_acc, t_upd, primals[2]], axis=axis)]


def last_writers(indices: lax.Value, n: int | lax.Value) -> lax.Value:
    """Bool of indices' shape: position p is the last one writing its (clamped) row of n.

    The rows' last writers come from an index_set of the positions themselves, so they agree
    with the forward op's order and clamping."""
    if None in indices.shape:  # sizes known at run time: a vector of indices
        if indices.ndim != 1:
            raise NotImplementedError(f"the last writers of an index array of dynamic shape {indices.shape}")
        pos = lax.iota(lax.shape_of(indices), 0, np.int64)
    else:
        pos = lax.reshape(lax.iota((indices.size,), 0, np.int64), indices.shape)
    winner = _tn("tn.index_set", [lax.full((n,), -1, np.int64), pos, indices], axis=0)
    return lax.eq(_tn("tn.take", [winner, indices], axis=0), pos)


@index_set.def_transpose
def _index_set_transpose(cts, primals, axis):
    (ct,) = cts
    acc, upd, idx = primals
    if ct is None:
        return [None, None, None]
    ct_acc = ct_upd = None
    dynamic = None in upd.shape or None in acc.shape or None in idx.shape
    # the rows of ct at idx: upd's shape, also where its dims are known only at run time
    taken = _tn("tn.take", [ct, idx], axis=axis) if isinstance(upd, Linear) or dynamic else None
    if isinstance(acc, Linear):  # the rows written over get nothing
        zeros = lax.zeros_like(taken) if dynamic else lax.full(upd.shape, 0, upd.dtype)
        ct_acc = _tn("tn.index_set", [ct, zeros, idx], axis=axis)
    if isinstance(upd, Linear):
        ct_upd = taken
        if idx.ndim > 0 and idx.size != 1:  # a repeated row: only its last writer gets it
            n = acc.shape[axis] if acc.shape[axis] is not None else lax.dim(ct, axis)
            won = last_writers(idx, n)
            shape = lax.shape_of(ct_upd) if dynamic else upd.shape
            won = lax.broadcast_to(lax.reshape(won, (1,) * axis + tuple(idx.shape)
                                               + (1,) * (len(upd.shape) - axis - idx.ndim)), shape)
            ct_upd = lax.where(won, ct_upd, lax.zeros_like(ct_upd))
    return [ct_acc, ct_upd, None]


index_set.def_batch(indexed_update_rule("tn.index_set"))  # per example, the last write wins


# ------------------------------------------------------------------ tn.index_reduce
_REDUCE_NP = {"mul": np.multiply, "min": np.minimum, "max": np.maximum}

index_reduce = defop(
    "tn.index_reduce", ["acc", "updates", "indices"], attrs={"axis": "int", "kind": "str"},
    doc="acc with each row indices[p] of `axis` combined with the updates slab at index "
        "position p by `kind` (mul, min, max), every update of a repeated row included "
        "(np.multiply.at / np.minimum.at / np.maximum.at; JAX's scatter_mul/min/max). Shapes "
        "as tn.index_set; min/max propagate NaN as tn.minimum/tn.maximum do.",
)


@index_reduce.def_infer
def _index_reduce_infer(specs: list[TensorSpec], axis: int, kind: str) -> list[TensorSpec]:
    if kind not in _REDUCE_NP:
        raise ShapeError(f"kind must be one of {sorted(_REDUCE_NP)}, got {kind!r}")
    if specs[0].dtype.kind not in "fi":
        raise ShapeError(f"acc must be float or int, got {specs[0].dtype.name}")
    return _index_set_infer(specs, axis)


@index_reduce.def_reference
def _index_reduce_reference(acc: np.ndarray, updates: np.ndarray, indices: np.ndarray,
                            axis: int, kind: str) -> np.ndarray:
    out = acc.copy()
    rows = _clamped_index_np(indices, acc.shape[axis])
    _REDUCE_NP[kind].at(out, (slice(None),) * axis + (rows,), updates)
    return out


def _combine_body(kind: str, dtype: np.dtype):
    ops = {("mul", "f"): arith.MulFOp, ("mul", "i"): arith.MulIOp,
           ("min", "f"): arith.MinimumFOp, ("min", "i"): arith.MinSIOp,
           ("max", "f"): arith.MaximumFOp, ("max", "i"): arith.MaxSIOp}
    op = ops[(kind, dtype.kind)]
    return lambda u, a: op(a, u).result


@index_reduce.def_lower
def _index_reduce_lower(call: LowerCall) -> list[ir.Value]:
    """The row loop (`_row_loop`), each position combining its row with its update."""
    dtype, body = call.out.dtype, _combine_body(call.attrs["kind"], call.out.dtype)

    def combine(rank: int, u: ir.Value, row: Any) -> ir.Value:
        return generic([u], [dtype], [identity_map(rank)], [row()], [dtype], [identity_map(rank)],
                       ["parallel"] * rank, body)[0]

    if not all(s.is_static for s in call.in_specs):
        return [rows_dynamic(call, lambda u, row: combine(call.out.ndim - 1, u, row))]

    return _row_loop(call, combine)


def _rows_of(x: lax.Value, idx: lax.Value, axis: int) -> lax.Value:
    return _tn("tn.take", [x, idx], axis=axis)


def _count_rows(x: lax.Value, idx: lax.Value, axis: int, n: int) -> lax.Value:
    return _tn("tn.scatter_add", [x, idx], axis=axis, dim_size=n)


@index_reduce.def_jvp
def _index_reduce_jvp(primals, tangents, outs, axis, kind):
    """min/max: the tangent of the value that won, split equally among ties (JAX's rule);
    mul: t_acc * P + acc * sum_p t_p * (product of the row's other updates), with the other
    products found exactly even when updates are zero (by counting the zeros)."""
    t_acc, t_upd = tangents[0], tangents[1]
    if (t_acc is None and t_upd is None) or not _is_float(outs[0]):
        return [None]
    acc, upd, idx = primals
    out = outs[0]
    n = acc.shape[axis]
    t_acc = lax.zeros_like(acc) if t_acc is None else t_acc
    t_upd = lax.zeros_like(upd) if t_upd is None else t_upd
    if kind == "mul":
        w_acc, w_upd = _mul_weights(acc, upd, idx, axis, n)
    else:
        w_acc, w_upd = _extremal_weights(acc, upd, idx, out, axis, n)
    return [_tn("tn.index_add", [lax.mul(t_acc, w_acc), lax.mul(t_upd, w_upd), idx], axis=axis)]


def _extremal_weights(acc, upd, idx, out, axis, n):
    hit_acc = lax.convert(lax.eq(acc, out), acc.dtype)
    hit_upd = lax.convert(lax.eq(upd, _rows_of(out, idx, axis)), acc.dtype)
    ties = lax.add(hit_acc, _count_rows(hit_upd, idx, axis, n))
    share = lax.div(lax.ones_like(ties), lax.maximum(ties, lax.ones_like(ties)))
    return lax.mul(hit_acc, share), lax.mul(hit_upd, _rows_of(share, idx, axis))


def _mul_weights(acc, upd, idx, axis, n):
    zero = lax.eq(upd, lax.zeros_like(upd))
    nonzero = lax.where(zero, lax.ones_like(upd), upd)
    prod_nz = _tn("tn.index_reduce", [lax.ones_like(acc), nonzero, idx], axis=axis, kind="mul")
    zeros = _count_rows(lax.convert(zero, acc.dtype), idx, axis, n)
    prod = lax.where(lax.eq(zeros, lax.zeros_like(zeros)), prod_nz, lax.zeros_like(prod_nz))
    z_p, pnz_p = _rows_of(zeros, idx, axis), _rows_of(prod_nz, idx, axis)
    lone_zero = lax.eq(z_p, lax.ones_like(z_p))
    no_zero = lax.eq(z_p, lax.zeros_like(z_p))
    others = lax.where(zero, lax.where(lone_zero, pnz_p, lax.zeros_like(pnz_p)),
                       lax.where(no_zero, lax.div(pnz_p, nonzero), lax.zeros_like(pnz_p)))
    return prod, lax.mul(others, _rows_of(acc, idx, axis))


index_reduce.def_batch(indexed_update_rule("tn.index_reduce"))  # rows offset per example
