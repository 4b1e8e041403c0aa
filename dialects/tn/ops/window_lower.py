"""Lowering helpers shared by the window ops (ops/conv.py, ops/pool.py): NCHW tensors whose
batch dim N may be dynamic, padded, gathered into im2col columns, multiplied and permuted.

Every helper takes and returns tensor-level ir.Values plus their dims (`Dim`: an int, or an
index value for a dynamic N). Only N is ever dynamic here (the ops' shape rules refuse the
others), so the spatial arithmetic stays in Python ints.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from mlir import ir
from mlir.dialects import arith, linalg, tensor

from ..lowering import Dim, dim_value, empty, fill, generic, identity_map
from ..types import TensorSpec, storage_element_type

DYN = ir.ShapedType.get_dynamic_size()


def dims_of(v: ir.Value, spec: TensorSpec) -> list[Dim]:
    """spec's shape with each dynamic dim read from `v` (an index value)."""
    return [n if n is not None else dim_value(v, i) for i, n in enumerate(spec.shape)]


def spec_like(dims: Sequence[Dim], dtype: np.dtype) -> TensorSpec:
    return TensorSpec(tuple(n if isinstance(n, int) else None for n in dims), dtype)


def ttype(dims: Sequence[Dim], dtype: np.dtype) -> ir.RankedTensorType:
    return ir.RankedTensorType.get([n if isinstance(n, int) else DYN for n in dims],
                                   storage_element_type(dtype))


def full(dims: Sequence[Dim], dtype: np.dtype, value: float) -> ir.Value:
    """A tensor of `dims` filled with `value`."""
    return fill(spec_like(dims, dtype), value, list(dims))


def _dyn(dims: Sequence[Dim]) -> tuple[list[ir.Value], list[int]]:
    return [n for n in dims if not isinstance(n, int)], [n if isinstance(n, int) else DYN for n in dims]


def insert(src: ir.Value, src_dims: Sequence[Dim], dest: ir.Value, offsets: Sequence[int],
           strides: Sequence[int] | None = None) -> ir.Value:
    """tensor.insert_slice of all of `src` into `dest` at static offsets (and strides)."""
    dyn, static = _dyn(src_dims)
    return tensor.InsertSliceOp(src, dest, [], dyn, [], list(offsets), static,
                                list(strides or [1] * len(static))).result


def extract(src: ir.Value, offsets: Sequence[int], dims: Sequence[Dim], dtype: np.dtype,
            strides: Sequence[int] | None = None) -> ir.Value:
    """tensor.extract_slice of `dims` elements from static offsets (and strides)."""
    dyn, static = _dyn(dims)
    return tensor.ExtractSliceOp(ttype(dims, dtype), src, [], dyn, [], list(offsets), static,
                                 list(strides or [1] * len(static))).result


def pad_spatial(x: ir.Value, dims: Sequence[Dim], pads: Sequence[int], dtype: np.dtype,
                value: float = 0.0) -> tuple[ir.Value, list[Dim]]:
    """x (N, C, H, W) with `pads` = (lo_h, hi_h, lo_w, hi_w) rows/columns of `value` around H, W."""
    lo_h, hi_h, lo_w, hi_w = pads
    if not any(pads):
        return x, list(dims)
    n, c, h, w = dims
    out = [n, c, h + lo_h + hi_h, w + lo_w + hi_w]
    return insert(x, dims, full(out, dtype, value), [0, 0, lo_h, lo_w]), out


def im2col(xp: ir.Value, dims: Sequence[Dim], dtype: np.dtype, kernel: Sequence[int],
           strides: Sequence[int], dilation: Sequence[int], out_hw: Sequence[int]) -> tuple[ir.Value, list[Dim]]:
    """cols[c, i, j, n, oh, ow] = xp[n, c, oh*s0 + i*d0, ow*s1 + j*d1]: the padded input's
    windows as columns, so a convolution is one GEMM (K = C*kh*kw rows, N*OH*OW columns)."""
    n, c, _, _ = dims
    (kh, kw), (s0, s1), (d0, d1), (oh, ow) = kernel, strides, dilation, out_hw
    out_dims = [c, kh, kw, n, oh, ow]
    e = [ir.AffineDimExpr.get(k) for k in range(6)]
    in_map = ir.AffineMap.get(6, 0, [e[3], e[0], e[4] * s0 + e[1] * d0, e[5] * s1 + e[2] * d1])
    return generic([xp], [dtype], [in_map], [empty(spec_like(out_dims, dtype), out_dims)], [dtype],
                   [identity_map(6)], ["parallel"] * 6, lambda v, _o: v)[0], out_dims


def collapse(v: ir.Value, dims: Sequence[Dim], groups: Sequence[Sequence[int]], dtype: np.dtype) -> tuple[ir.Value, list[Dim]]:
    """tensor.collapse_shape into one dim per group of consecutive dims."""
    out: list[Dim] = []
    for g in groups:
        parts = [dims[i] for i in g]
        if all(isinstance(p, int) for p in parts):
            out.append(int(np.prod(parts)))
        else:
            out.append(mul_dims(parts))
    return tensor.CollapseShapeOp(ttype(out, dtype), v, [list(g) for g in groups]).result, out


def expand(v: ir.Value, groups: Sequence[Sequence[int]], out_dims: Sequence[Dim], dtype: np.dtype) -> ir.Value:
    """tensor.expand_shape of `v` into `out_dims` (groups index into out_dims)."""
    dyn, static = _dyn(out_dims)
    return tensor.ExpandShapeOp(ttype(out_dims, dtype), v, [list(g) for g in groups], dyn, static).result


def mul_dims(parts: Sequence[Dim]) -> ir.Value:
    """The product of dims as an index value."""
    idx = ir.IndexType.get()
    acc = None
    for p in parts:
        pv = p if not isinstance(p, int) else arith.ConstantOp(idx, p).result
        acc = pv if acc is None else arith.MulIOp(acc, pv).result
    return acc


def permute(v: ir.Value, dims: Sequence[Dim], perm: Sequence[int], dtype: np.dtype) -> tuple[ir.Value, list[Dim]]:
    """linalg.transpose: out.shape[i] = dims[perm[i]]."""
    out = [dims[p] for p in perm]
    op = linalg.transpose(v, outs=[empty(spec_like(out, dtype), out)], permutation=list(perm))
    return as_value(op), out


def as_value(v) -> ir.Value:
    """A named linalg builder's result: some return the value, some the op."""
    if isinstance(v, ir.Value):
        return v
    if isinstance(v, ir.OpResultList):
        return v[0]
    return v.results[0]


def gemm(a: ir.Value, b: ir.Value, m: Dim, n: Dim, dtype: np.dtype, ta: bool = False, tb: bool = False) -> ir.Value:
    """(m, n) = op(a) @ op(b) as linalg.matmul (transposed operands through indexing maps, no
    copy): after bufferization convert-linalg-matmul-to-blas calls OpenBLAS on it."""
    init = full([m, n], dtype, 0)
    if not (ta or tb):
        return as_value(linalg.matmul(a, b, outs=[init]))
    d = [ir.AffineDimExpr.get(i) for i in range(3)]
    mm, nn, kk = d
    exprs = ([kk, mm] if ta else [mm, kk], [nn, kk] if tb else [kk, nn], [mm, nn])
    return as_value(linalg.matmul(a, b, outs=[init], indexing_maps=[ir.AffineMap.get(3, 0, e) for e in exprs]))


def zeros_if_empty(call) -> list[ir.Value] | None:
    """The result as zeros when some operand or result has a static zero dim (an empty product
    sums nothing; MLIR's slice verifier refuses even offset 0 into a zero-length dim)."""
    if not any(0 in s.shape for s in [*call.in_specs, *call.out_specs]):
        return None
    return [full(call.out_shape(0), call.out.dtype, 0)]
