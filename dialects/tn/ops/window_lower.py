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
from mlir.dialects import arith, linalg, scf, tensor

from ..lowering import Dim, dim_value, empty, fill, generic, identity_map
from ..types import TensorSpec, storage_element_type

DYN = ir.ShapedType.get_dynamic_size()
DYN_OFFSET = ir.ShapedType.get_dynamic_stride_or_offset()

# Batch blocks (ops/conv.py): an im2col GEMM whose temporary (the columns, or the product
# col2im folds) would exceed BLOCK_FROM_BYTES runs per block of images, each block's temporary
# at most BLOCK_BYTES (a core's L2), the blocks an scf.forall: independent, so the threads
# share them out (scf-forall-to-parallel, or -to-for, at the start of the llvm stage). Unblocked, LeNet-5's conv2 wrote and read 64 MB
# columns three times a step and its two threads slowed each other down on memory.
BLOCK_BYTES = 1 << 19
BLOCK_FROM_BYTES = 1 << 22
# a batch sized at run time: blocked when one image's temporary is at least this (a batch of
# 128 would be blocked), in blocks of BLOCK_BYTES and a remainder (`batch_block`)
DYNAMIC_FROM_BYTES = BLOCK_FROM_BYTES // 128


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


def batch_block(n: Dim, per_image_bytes: int) -> int | None:
    """Images per block, or None: unblocked.

    A static batch `n`: the largest divisor of `n` whose temporary fits BLOCK_BYTES (at least
    1), when the whole batch's temporary passes BLOCK_FROM_BYTES. A batch sized at run time
    (`th.function` over a symbolic batch): blocks of BLOCK_BYTES // per_image_bytes images and
    a remainder block of fewer, when an image's temporary is at least DYNAMIC_FROM_BYTES (a
    batch of 128 would be blocked). A smaller batch than one block runs as the remainder
    alone: the unblocked code, behind one compare."""
    if not isinstance(n, int):
        return max(1, BLOCK_BYTES // per_image_bytes) if per_image_bytes >= DYNAMIC_FROM_BYTES else None
    if n < 2 or n * per_image_bytes < BLOCK_FROM_BYTES:
        return None
    return max(d for d in range(1, n) if n % d == 0 and (d == 1 or d * per_image_bytes <= BLOCK_BYTES))


def index_mul(v: ir.Value, k: Dim) -> ir.Value:
    if isinstance(k, int):
        return v if k == 1 else arith.MulIOp(v, arith.ConstantOp(ir.IndexType.get(), k).result).result
    return arith.MulIOp(v, k).result


def _blocks(n: Dim, nb: int) -> Dim:
    """The number of full blocks of `nb` images in a batch of `n` (an index value if `n` is one)."""
    return n // nb if isinstance(n, int) else arith.DivUIOp(n, arith.ConstantOp(ir.IndexType.get(), nb).result).result


def extract_block(src: ir.Value, start: ir.Value, dims: Sequence[Dim], dtype: np.dtype) -> ir.Value:
    """src[start : start + dims[0], ...] along the batch dim (a run-time offset; dims[0] may be
    a run-time size), full in the others."""
    rank = len(dims)
    dyn, static = _dyn(dims)
    return tensor.ExtractSliceOp(ttype(dims, dtype), src, [start], dyn, [], [DYN_OFFSET] + [0] * (rank - 1),
                                 static, [1] * rank).result


def _insert_block(src: ir.Value, dest: ir.Value, start: ir.Value, dims: Sequence[Dim]) -> ir.Value:
    rank = len(dims)
    dyn, static = _dyn(dims)
    return tensor.InsertSliceOp(src, dest, [start], dyn, [], [DYN_OFFSET] + [0] * (rank - 1), static,
                                [1] * rank).result


def _remainder(n: Dim, nb: int, value: ir.Value, last) -> ir.Value:
    """A batch sized at run time: `last(start, size)` (the new `value`) for its last `size`
    images past the full blocks, when there are any; a static batch: `value` (nb divides it)."""
    if isinstance(n, int):
        return value
    idx = ir.IndexType.get()
    start = index_mul(_blocks(n, nb), nb)
    size = arith.SubIOp(n, start).result
    some = arith.CmpIOp(arith.CmpIPredicate.ugt, size, arith.ConstantOp(idx, 0).result).result
    branch = scf.IfOp(some, [value.type], has_else=True)
    with ir.InsertionPoint(branch.then_block):
        scf.YieldOp([last(start, size)])
    with ir.InsertionPoint(branch.else_block):
        scf.YieldOp([value])
    return branch.results[0]


def over_batch_blocks(n: Dim, nb: int, out_dims: Sequence[Dim], dtype: np.dtype, block) -> ir.Value:
    """The (n, ...) tensor whose images [s, s + size) are `block(s, dest, size)` (a (size, ...)
    tensor, best computed into `dest`, the result's slice) for s = 0, nb, 2 nb ... (size nb):
    an scf.forall over the full blocks; a batch sized at run time then computes its remainder
    (fewer than nb images) the same way."""
    loop = scf.ForallOp([0], [_blocks(n, nb)], [1], [empty(spec_like(out_dims, dtype), list(out_dims))])
    rest = list(out_dims[1:])
    with ir.InsertionPoint(loop.body):
        start = index_mul(loop.induction_variables[0], nb)
        value = block(start, extract_block(loop.inner_iter_args[0], start, [nb] + rest, dtype), nb)
    _insert_in_parallel(loop, value, start, [nb] + rest)
    whole = loop.results[0]
    return _remainder(n, nb, whole, lambda s, size: _insert_block(
        block(s, extract_block(whole, s, [size] + rest, dtype), size), whole, s, [size] + rest))


def _insert_in_parallel(loop: scf.ForallOp, value: ir.Value, start: ir.Value, sizes: Sequence[int]) -> None:
    """The forall's terminator: `value` into its shared output at [start, 0, ...] (sizes `sizes`;
    a value of lower rank drops the leading unit dims)."""
    rank = len(sizes)
    with ir.InsertionPoint(loop.terminator().region.blocks[0]):
        tensor.ParallelInsertSliceOp(value, loop.inner_iter_args[0], [start], [], [],
                                     [DYN_OFFSET] + [0] * (rank - 1), list(sizes), [1] * rank)


PARTS = 8  # workers of a sum over batch blocks: a few per thread, each one partial sum


def sum_over_batch_blocks(n: Dim, nb: int, dims: Sequence[int], dtype: np.dtype, block) -> ir.Value:
    """sum over s = 0, nb, ... of the block terms: `block(s, acc, size)` returns acc + the term
    of images [s, s + size) (size nb). An scf.forall over min(PARTS, blocks) workers (PARTS when
    the count is known at run time only), each an scf.for over its run of blocks into its own
    partial sum (a (dims) slice of a (workers, dims) tensor), then the partials summed; a batch
    sized at run time then adds its remainder's term (fewer than nb images)."""
    blocks = _blocks(n, nb)
    parts = min(PARTS, blocks) if isinstance(blocks, int) else PARTS
    rank = len(dims)
    idx = ir.IndexType.get()
    loop = scf.ForallOp([0], [parts], [1], [empty(spec_like([parts, *dims], dtype), [parts, *dims])])
    with ir.InsertionPoint(loop.body):
        p = loop.induction_variables[0]
        lo, hi = (arith.DivUIOp(index_mul(q, blocks), arith.ConstantOp(idx, parts).result).result
                  for q in (p, arith.AddIOp(p, arith.ConstantOp(idx, 1).result).result))
        run = scf.ForOp(lo, hi, arith.ConstantOp(idx, 1).result, [full(list(dims), dtype, 0)])
        with ir.InsertionPoint(run.body):
            scf.YieldOp([block(index_mul(run.induction_variable, nb), run.inner_iter_args[0], nb)])
    _insert_in_parallel(loop, run.results[0], p, [1, *dims])
    d = [ir.AffineDimExpr.get(i) for i in range(rank + 1)]
    total = generic([loop.results[0]], [dtype], [identity_map(rank + 1)], [full(list(dims), dtype, 0)], [dtype],
                    [ir.AffineMap.get(rank + 1, 0, d[1:])], ["reduction"] + ["parallel"] * rank,
                    lambda v, a: arith.AddFOp(a, v).result)[0]
    return _remainder(n, nb, total, lambda s, size: block(s, total, size))


def _delinearize(e: ir.AffineExpr, sizes: Sequence[int]) -> list[ir.AffineExpr]:
    """A row-major linear index over dims of `sizes` as one expression per dim (floordiv and
    mod by constants; the first size is never needed, so it may be dynamic: pass 0)."""
    out = []
    for a in range(len(sizes)):
        inner = int(np.prod(sizes[a + 1:], dtype=np.int64))
        x = e
        if a > 0:
            x = ir.AffineModExpr.get(x, ir.AffineConstantExpr.get(inner * int(sizes[a])))
        if inner != 1:
            x = ir.AffineFloorDivExpr.get(x, ir.AffineConstantExpr.get(inner))
        out.append(x)
    return out


def _linearize(es: Sequence[ir.AffineExpr], sizes: Sequence[int]) -> ir.AffineExpr:
    """Row-major linear index of `es` over dims of `sizes` (the first's size is not needed)."""
    acc = es[0]
    for e, n in zip(es[1:], sizes[1:]):
        acc = acc * n + e
    return acc


def im2col(xp: ir.Value, dims: Sequence[Dim], dtype: np.dtype, kernel: Sequence[int],
           strides: Sequence[int], dilation: Sequence[int], out_hw: Sequence[int]) -> tuple[ir.Value, list[Dim]]:
    """cols[(c, i, j), (n, oh, ow)] = xp[n, c, oh*s0 + i*d0, ow*s1 + j*d1]: the padded input's
    windows as the columns of one (C*kh*kw, N*OH*OW) matrix, so a convolution is one GEMM.

    Written as a 2-D generic that delinearizes its indices (floordiv/mod maps), not a 6-D one
    plus collapse_shape: linalg-fuse-elementwise-ops folds a reshape next to a linalg.matmul
    into it, turning the product into a generic contraction that never reaches BLAS."""
    n, c, _, _ = dims
    (kh, kw), (s0, s1), (d0, d1), (oh, ow) = kernel, strides, dilation, out_hw
    k = c * kh * kw
    npix = n * oh * ow if isinstance(n, int) else mul_dims([n, oh * ow])
    rows = n * oh if isinstance(n, int) else mul_dims([n, oh])
    # over (r, p, w): p = (n, oh) and r = (c, i, j) delinearized once per row of output, the
    # innermost w = ow a contiguous run of the input (for stride 1) and of the output, so the
    # copy vectorizes; a 2-D generic delinearizing every element ran scalar (about a third of
    # LeNet's training step). The (k, N*OH, OW) result is collapsed to the (k, npix) matrix.
    r, p, w = (ir.AffineDimExpr.get(i) for i in range(3))
    cc, ii, jj = _delinearize(r, [0, kh, kw])
    nn, hh = _delinearize(p, [0, oh])
    in_map = ir.AffineMap.get(3, 0, [nn, cc, hh * s0 + ii * d0, w * s1 + jj * d1])
    out3 = [k, rows, ow]
    cols3 = generic([xp], [dtype], [in_map], [empty(spec_like(out3, dtype), out3)], [dtype],
                    [identity_map(3)], ["parallel"] * 3, lambda v, _o: v)[0]
    out = [k, npix]
    return tensor.CollapseShapeOp(ttype(out, dtype), cols3, [[0], [1, 2]]).result, out


def to_matrix(v: ir.Value, dims: Sequence[Dim], rows: Sequence[int], cols: Sequence[int],
              dtype: np.dtype) -> tuple[ir.Value, list[Dim]]:
    """The 4-D `v` as a (prod rows, prod cols) matrix copy, axes in the given orders (a
    dynamic dim may only lead `cols`); a generic, for the reason im2col gives, unless a
    transpose keeps the last axis in place."""
    r_sizes, c_sizes = [dims[a] for a in rows], [dims[a] for a in cols]
    out = [int(np.prod(r_sizes)), int(np.prod(c_sizes)) if all(isinstance(x, int) for x in c_sizes)
           else mul_dims(c_sizes)]
    perm = list(rows) + list(cols)
    if perm != sorted(perm) and perm[-1] == len(dims) - 1:
        # a transpose that keeps the last axis last (a (N, C, H, W) gradient as (C, N*H*W)):
        # linalg.transpose then a collapse. Its loops copy runs of W contiguous elements and
        # vectorize; the 2-D generic below delinearizes every element and ran scalar (an
        # eighth of LeNet-5's step for conv1's 23 MB gradient). A named op, so elementwise
        # fusion fuses no producer into it; linalg-restore-matmul undoes the reshape fusion
        # that folds the collapse into the product.
        tdims = [dims[a] for a in perm]
        t = as_value(linalg.transpose(v, outs=[empty(spec_like(tdims, dtype), tdims)], permutation=perm))
        return tensor.CollapseShapeOp(ttype(out, dtype), t, [list(range(len(rows))),
                                                            list(range(len(rows), len(perm)))]).result, out
    exprs = [None] * len(dims)
    for axes, e, sizes in ((rows, ir.AffineDimExpr.get(0), r_sizes), (cols, ir.AffineDimExpr.get(1), c_sizes)):
        for a, x in zip(axes, _delinearize(e, [0] + [int(z) for z in sizes[1:]])):
            exprs[a] = x
    m = ir.AffineMap.get(2, 0, exprs)
    return generic([v], [dtype], [m], [empty(spec_like(out, dtype), out)], [dtype], [identity_map(2)],
                   ["parallel"] * 2, lambda x, _o: x)[0], out


def from_matrix(m: ir.Value, out_dims: Sequence[Dim], rows: Sequence[int], cols: Sequence[int],
                dtype: np.dtype, out: ir.Value | None = None) -> ir.Value:
    """The inverse of to_matrix: a 4-D tensor of `out_dims` read from the matrix `m` (into `out`)."""
    e = [ir.AffineDimExpr.get(a) for a in range(len(out_dims))]
    r = _linearize([e[a] for a in rows], [0] + [int(out_dims[a]) for a in rows[1:]])
    q = _linearize([e[a] for a in cols], [0] + [int(out_dims[a]) for a in cols[1:]])
    mp = ir.AffineMap.get(len(out_dims), 0, [r, q])
    nd = len(out_dims)
    return generic([m], [dtype], [mp], [out if out is not None else empty(spec_like(out_dims, dtype), out_dims)],
                   [dtype], [identity_map(nd)], ["parallel"] * nd, lambda x, _o: x)[0]


def mul_dims(parts: Sequence[Dim]) -> ir.Value:
    """The product of dims as an index value."""
    idx = ir.IndexType.get()
    acc = None
    for p in parts:
        pv = p if not isinstance(p, int) else arith.ConstantOp(idx, p).result
        acc = pv if acc is None else arith.MulIOp(acc, pv).result
    return acc


def as_value(v) -> ir.Value:
    """A named linalg builder's result: some return the value, some the op."""
    if isinstance(v, ir.Value):
        return v
    if isinstance(v, ir.OpResultList):
        return v[0]
    return v.results[0]


def gemm(a: ir.Value, b: ir.Value, m: Dim, n: Dim, dtype: np.dtype, ta: bool = False, tb: bool = False,
         acc: ir.Value | None = None) -> ir.Value:
    """(m, n) = op(a) @ op(b) (+ `acc`) as linalg.matmul (transposed operands through indexing
    maps, no copy): after bufferization convert-linalg-matmul-to-blas calls OpenBLAS on it."""
    init = full([m, n], dtype, 0) if acc is None else acc
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
