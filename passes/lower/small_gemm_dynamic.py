"""theanir-small-gemm for products sized at run time: branch on the sizes, kernels or BLAS.

Code compiled with dynamic dims (`th.function`, `th.jit(dynamic_shapes=True)`) has products
such as `memref<?x?xf32> @ memref<?x?xf32>` whose sizes are known only in the call. The static
rewrite (small_gemm.py) cannot pick its kernel block then, so these products went to BLAS,
and at batch 10 the dynamic MLP steps ran 5-34% slower than the static ones
(bench/results/mlp_dynamic_cost.md). Here the product becomes

    scf.if (2 <= M and 2 <= N and K <= 1024 and (M <= 16 or K <= 16)) {   // dk: M <= 16 only
      the kernels over blocks sized at run time
    } else {
      linalg.matmul (the BLAS pass or the loops take it, as before)
    }

so one compile serves every batch and a minibatch still runs register-blocked loops. Only the
unit strides the kernels read along must be static (an identity layout has them); sizes and
other strides come from the memrefs at run time.

Blocks, chosen in the call from M:
  rk  ceil(M / R) blocks of equal rows (R: the most rows the registers hold, 6 with AVX2 and
      2 vectors of columns, at most 8), each a call of the kernel for exactly its row count
      (a chain of scf.if on the count picks one of R kernels). With K known, the prefetching
      variant as in the static rewrite; with K dynamic, always the prefetching one.
  dk  2 x 6 blocks, the odd row and the leftover columns one at a time (4 kernels in all).
Products whose K may exceed 1024 stay with BLAS here: the static rewrite's K chunking is not
repeated at run time.
"""
from __future__ import annotations

from mlir import ir
from mlir.dialects import arith, scf

from .matmul_to_blas import _call, _float_kind, _transposes
from .small_gemm_kernels import (K_CHUNKED_FROM, SMALL, _base, _index, _lanes, _registers, dk_name,
                                 rk_name)

_DK_ROWS, _DK_COLS = 2, 6
_RK_MAX_ROWS = 8  # rows per rk block at most (AVX2's registers hold 6 with 2 column vectors)


def _dims(v: ir.Value) -> tuple[list[int | None], list[int | None]]:
    """(sizes, strides) of a memref, None where dynamic."""
    mt = ir.MemRefType(v.type)
    strides, _ = mt.get_strides_and_offset()
    sizes = [None if ir.ShapedType.is_dynamic_size(s) else s for s in mt.shape]
    return sizes, [None if mt.is_dynamic_stride_or_offset(s) else s for s in strides]


def plan_dynamic(op: ir.Operation) -> str | None:
    """'rk' or 'dk' for a float linalg.matmul with a run-time size that the kernels may run
    (decided in the call), None for anything else (all sizes static: the static plan's)."""
    if op.name != "linalg.matmul" or _float_kind(op) is None:
        return None
    tr = _transposes(op)
    if tr is None:
        return None
    (sa, ta_strides), (_, tb_strides), (sc, tc_strides) = (_dims(v) for v in op.operands)
    ta, tb = tr
    m, n = sc
    k = sa[0] if ta else sa[1]
    if None not in (m, n, k):
        return None
    a_strides = ta_strides[::-1] if ta else ta_strides  # logical (m, k)
    b_strides = tb_strides[::-1] if tb else tb_strides  # logical (k, n)
    if tc_strides[1] != 1 or (m is not None and m <= 1) or (n is not None and n <= 1):
        return None
    if k is not None and k > K_CHUNKED_FROM:
        return None
    if b_strides[1] == 1:
        if m is not None and k is not None and m > SMALL and k > SMALL:
            return None
        return "rk"
    if a_strides[1] == 1 and b_strides[0] == 1 and (m is None or m <= SMALL):
        return "dk"
    return None


def _size(v: ir.Value, d: int) -> ir.Value:
    """Size `d` of memref `v`: a constant when static."""
    s = ir.MemRefType(v.type).shape[d]
    if not ir.ShapedType.is_dynamic_size(s):
        return _index(s)
    return ir.Operation.create("memref.dim", results=[ir.IndexType.get()], operands=[v, _index(d)]).results[0]


def _cmp(pred: str, a: ir.Value, b: int | ir.Value) -> ir.Value:
    b = _index(b) if isinstance(b, int) else b
    return arith.CmpIOp(getattr(arith.CmpIPredicate, pred), a, b).result


def _if(cond: ir.Value, then, otherwise=None) -> None:
    """scf.if without results: then() in its then-block, otherwise() (if any) in the else."""
    branch = scf.IfOp(cond, has_else=otherwise is not None)
    with ir.InsertionPoint(branch.then_block):
        then()
        scf.YieldOp([])
    if otherwise is not None:
        with ir.InsertionPoint(branch.else_block):
            otherwise()
            scf.YieldOp([])


def _for(lo: ir.Value, hi: ir.Value, step: ir.Value, body) -> None:
    loop = scf.ForOp(lo, hi, step)
    with ir.InsertionPoint(loop.body):
        body(loop.induction_variable)
        scf.YieldOp([])


def rewrite_dynamic(op: ir.Operation, kind: str, needed: set[tuple[str, str, int, int]]) -> None:
    """Replace `op` by scf.if(sizes small) { kernel calls } else { op }."""
    elt = _float_kind(op)
    ta, tb = _transposes(op)
    a, b, c = op.operands
    with op.location, ir.InsertionPoint(op):
        m, n, k = _size(c, 0), _size(c, 1), _size(a, 0 if ta else 1)
        small = _cmp("ule", m, SMALL)
        if kind == "rk":
            small = arith.OrIOp(small, _cmp("ule", k, SMALL)).result
        for extra in (_cmp("uge", m, 2), _cmp("uge", n, 2), _cmp("ule", k, K_CHUNKED_FROM)):
            small = arith.AndIOp(small, extra).result
        branch = scf.IfOp(small, has_else=True)
        with ir.InsertionPoint(branch.then_block):
            (pa, sa), (pb, sb), (pc, sc) = (_base(v, elt) for v in (a, b, c))
            sa = sa[::-1] if ta else sa
            sb = sb[::-1] if tb else sb
            if kind == "rk":
                _rk_calls(elt, (pa, sa), (pb, sb), (pc, sc), m, n, k, needed,
                          None if ir.ShapedType.is_dynamic_size(ir.MemRefType(c.type).shape[1])
                          else ir.MemRefType(c.type).shape[1],
                          None if ir.ShapedType.is_dynamic_size(ir.MemRefType(a.type).shape[0 if ta else 1])
                          else ir.MemRefType(a.type).shape[0 if ta else 1])
            else:
                _dk_calls(elt, (pa, sa), (pb, sb), (pc, sc), m, n, k, needed)
            scf.YieldOp([])
        with ir.InsertionPoint(branch.else_block):
            keep = scf.YieldOp([])
    op.move_before(keep.operation)


def _rk_calls(elt: str, a, b, c, m: ir.Value, n: ir.Value, k: ir.Value,
              needed: set[tuple[str, str, int, int]], n_static: int | None, k_static: int | None) -> None:
    (pa, sa), (pb, sb), (pc, sc) = a, b, c
    vl = _lanes(elt)
    nv = 2 if n_static is None else min(2, -(-n_static // vl))
    most = min(_RK_MAX_ROWS, (_registers() - 2 - nv) // nv)
    sizes = list(range(1, most + 1))
    top = _index(sizes[-1])
    blocks = arith.CeilDivUIOp(m, top).result
    rows = arith.CeilDivUIOp(m, blocks).result  # equal blocks: 10 rows are 2 x 5, not 6 + 4

    def calls(prefetch: bool) -> None:
        kind = "rkp" if prefetch else "rk"

        def block(bi: ir.Value) -> None:
            i0 = arith.MulIOp(bi, rows).result
            here = arith.MinUIOp(rows, arith.SubIOp(m, i0).result).result

            def call(mr: int) -> None:
                needed.add((kind, elt, mr, nv))
                _call(rk_name(elt, mr, nv, prefetch), [pa, sa[0], sa[1], pb, sb[0], pc, sc[0], i0, n, k], [])

            def pick(i: int) -> None:  # the smallest even size >= here
                if i == len(sizes) - 1:
                    call(sizes[i])
                else:
                    _if(_cmp("ule", here, sizes[i]), lambda: call(sizes[i]), lambda: pick(i + 1))

            pick(0)

        _for(_index(0), blocks, _index(1), block)

    # K known: prefetch when B streams (K > 16), as the static rewrite; K dynamic: always (a
    # prefetch past B's end is harmless, and one kernel family instead of two halves the
    # kernels this adds to the compile)
    calls(k_static is None or k_static > SMALL)


def _dk_calls(elt: str, a, b, c, m: ir.Value, n: ir.Value, k: ir.Value,
              needed: set[tuple[str, str, int, int]]) -> None:
    (pa, sa), (pb, sb), (pc, sc) = a, b, c
    m_full = arith.SubIOp(m, arith.RemUIOp(m, _index(_DK_ROWS)).result).result
    n_full = arith.SubIOp(n, arith.RemUIOp(n, _index(_DK_COLS)).result).result

    def call(mi: int, nj: int, i0: ir.Value, j0: ir.Value) -> None:
        needed.add(("dk", elt, mi, nj))
        _call(dk_name(elt, mi, nj), [pa, sa[0], pb, sb[1], pc, sc[0], i0, j0, k], [])

    def columns(j0: ir.Value, nj: int) -> None:
        _for(_index(0), m_full, _index(_DK_ROWS), lambda i0: call(_DK_ROWS, nj, i0, j0))
        _if(_cmp("ult", m_full, m), lambda: call(1, nj, m_full, j0))

    _for(_index(0), n_full, _index(_DK_COLS), lambda j0: columns(j0, _DK_COLS))
    _for(n_full, n, _index(1), lambda j0: columns(j0, 1))
