"""tn-scan-vecmat-to-matmat: a product of a sequence's row with an invariant matrix, computed
once per step, becomes one matrix-matrix product before the loop and a row read in the body.

    xs: [T, n] or [T, p..., n] outside the loop, W: [n, m] invariant, j: any int scalar
    matmul(reshape?(take(xs, j, 0)) : [p, n], W) -> take(reshape(xs, [T*p, n]) @ W ~ [T,p,m], j, 0)
    matmul(W', transpose(R) or R as [n, 1], ...)  ->  the same with W'^T, the row transposed back

Valid for every index (row j of xs @ W is row j of xs times W, and tn.take clamps both the
same way; only the rounding of a GEMM row may differ from a GEMV's), so `j` may be `i`,
`i + k` or `T - 1 - i` (go_backwards, reverse). The
frontend reads a sequence with `tn.take(xs, j, axis=0)` and promotes a vector with a reshape
to [1, n] (or folds a batch into rows, [T, B, n] -> [B, n]), which is the form matched. All
T rows are computed up front, so the rewrite applies only when the loop visits at least half
of them (T <= 2 * the static bound on its trip count). Run tn-scan-hoist first: W must be
defined outside the scan.

Elementwise ops on a row go first the same way, so chains reach the product:

    f(take(xs, j, 0), c...)  ->  take(f(xs, broadcast_to(c, [T, ...])...), j, 0)    (c invariant)
"""
from __future__ import annotations

from dataclasses import dataclass

from mlir import ir

from theanir.dialects.tn.builder import emit1, location_override
from theanir.dialects.tn.ops.control import body_block
from theanir.dialects.tn.ops.fusion import fusible_kind

from ..patterns import attrs_of, op1, producer, spec
from .common import dce, defined_in, scans, trip_bound
from ...base import Pass

NAME = "tn-scan-vecmat-to-matmat"


@dataclass(frozen=True)
class Rows:
    """A [p, n] operand that is row j of an outer xs ([T, ...], p * n elements a row)."""

    xs: ir.Value
    j: ir.Value
    p: int
    n: int


def _row_of(v: ir.Value, loop: ir.Operation) -> tuple[ir.Value, ir.Value] | None:
    """(xs, j) when v = take(xs, j, axis=0) with xs outside the loop and j a scalar. A row
    refined to static dims (ensure_shape of a row of a dynamic xs) refines xs instead, once,
    before the loop."""
    ens = producer(v, "tn.ensure_shape")
    if ens is not None:
        row = _row_of(ens.operands[0], loop)
        if row is None:
            return None
        xs, j = row
        shape = spec(xs).shape[:1] + spec(v).shape
        with ir.InsertionPoint(loop), location_override(loop.location):
            xs = emit1("tn.ensure_shape", [xs], {"shape": tuple(-1 if n is None else n for n in shape)})
        return xs, j
    take = producer(v, "tn.take")
    if take is None or attrs_of(take)["axis"] != 0:
        return None
    xs, j = take.operands
    return None if spec(j).shape != () or defined_in(xs, loop) else (xs, j)


def _rows(v: ir.Value, loop: ir.Operation) -> Rows | None:
    s = spec(v)
    if s.ndim != 2:
        return None
    reshape = producer(v, "tn.reshape")
    row = _row_of(reshape.operands[0] if reshape is not None else v, loop)
    return None if row is None else Rows(row[0], row[1], s.shape[0], s.shape[1])


def _worth_it(xs: ir.Value, loop: ir.Operation) -> bool:
    if spec(xs).shape[0] is None:  # dynamic rows: when the loop steps over all of them
        return _steps_over(loop.operands[0], xs) and all(n is not None for n in spec(xs).shape[1:])
    bound = trip_bound(loop)
    return bound is not None and spec(xs).is_static and spec(xs).shape[0] <= 2 * bound


def _steps_over(n: ir.Value, xs: ir.Value, depth: int = 0) -> bool:
    """n_steps is dim 0 of xs (or of what xs refines), up to max(., 0) and minus a constant:
    the loop visits every row, as a scan over xs does."""
    op = producer(n)
    if op is None or depth > 4:
        return False
    name = op.operation.name
    if name == "tn.dim":
        src, ens = op.operands[0], producer(xs, "tn.ensure_shape")
        return attrs_of(op)["axis"] == 0 and (src == xs or (ens is not None and src == ens.operands[0]))
    if name in ("tn.maximum", "tn.sub"):
        return _steps_over(op.operands[0], xs, depth + 1)
    return False


def _products(rows: Rows, w: ir.Value, loop: ir.Operation) -> ir.Value:
    """Before the loop: xs @ w as [T, m] (p = 1) or [T, p, m]."""
    t, m = spec(rows.xs).shape[0], spec(w).shape[1]
    with ir.InsertionPoint(loop), location_override(loop.location):
        x2 = rows.xs
        if t is None:  # dynamic rows (only p = 1 gets here): [T, n] @ w
            return op1("tn.matmul", x2, w)
        if spec(x2).shape != (t * rows.p, rows.n):
            x2 = op1("tn.reshape", x2, shape=(t * rows.p, rows.n))
        xw = op1("tn.matmul", x2, w)
        return xw if rows.p == 1 else op1("tn.reshape", xw, shape=(t, rows.p, m))


def _row(xw: ir.Value, rows: Rows) -> ir.Value:
    """In the body: row j of xw as [p, m]."""
    row = op1("tn.take", xw, rows.j, axis=0)
    return op1("tn.reshape", row, shape=(1,) + spec(row).shape) if rows.p == 1 else row


def _row_times(mm: ir.OpView, loop: ir.Operation) -> ir.Value | None:
    # R @ W -> take(xs @ W, j)
    a, w = mm.operands
    rows = _rows(a, loop)
    if rows is None or spec(w).ndim != 2 or defined_in(w, loop) or not _worth_it(rows.xs, loop):
        return None
    if spec(rows.xs).shape[0] is None and (rows.p != 1 or spec(rows.xs).shape[1:] != (rows.n,)):
        return None
    return _row(_products(rows, w, loop), rows)


def _times_column(mm: ir.OpView, loop: ir.Operation) -> ir.Value | None:
    # W @ R^T -> (R @ W^T)^T, R^T a tn.transpose of a row or a row reshaped to [n, 1]
    w, a = mm.operands
    if spec(w).ndim != 2 or defined_in(w, loop):
        return None
    tr = producer(a, "tn.transpose")
    if tr is not None and attrs_of(tr)["perm"] == (1, 0):
        rows = _rows(tr.operands[0], loop)
    elif spec(a).shape[1] == 1 and (col := _rows(a, loop)) is not None:
        rows = Rows(col.xs, col.j, 1, col.p)  # [n, 1] holds the row's n elements in order
    else:
        rows = None
    if rows is None or not _worth_it(rows.xs, loop):
        return None
    if spec(rows.xs).shape[0] is None and (rows.p != 1 or spec(rows.xs).shape[1:] != (rows.n,)):
        return None
    with ir.InsertionPoint(loop), location_override(loop.location):
        wt = op1("tn.transpose", w, perm=(1, 0))
    row = _row(_products(rows, wt, loop), rows)
    return op1("tn.transpose", row, perm=(1, 0))


def _map_rows(op: ir.OpView, loop: ir.Operation) -> ir.Value | None:
    # f(take(xs, j), c...) -> take(f(xs, broadcast_to(c, [T, ...])...), j)
    if fusible_kind(op) != "map" or len(op.results) != 1:
        return None
    rows = [(k, r) for k, v in enumerate(op.operands) if (r := _row_of(v, loop)) is not None]
    if len(rows) != 1:
        return None
    k, (xs, j) = rows[0]
    shape = spec(op.operands[k]).shape
    others = [v for i, v in enumerate(op.operands) if i != k]
    if any(defined_in(v, loop) or spec(v).shape != shape for v in others):
        return None
    if not _worth_it(xs, loop) or spec(xs).shape[0] is None:  # (dynamic: no static broadcast)
        return None
    t = spec(xs).shape[0]
    with ir.InsertionPoint(loop), location_override(loop.location):
        ins = [xs if i == k else op1("tn.broadcast_to", v, shape=(t,) + shape)
               for i, v in enumerate(op.operands)]
        whole = emit1(op.operation.name, ins, attrs_of(op))
    return op1("tn.take", whole, j, axis=0)


def _rewrite(op: ir.OpView, loop: ir.Operation) -> ir.Value | None:
    if op.operation.name == "tn.matmul":
        if spec(op.results[0]).ndim != 2 or not all(spec(v).is_static for v in op.operands):
            return None  # (a row of a dynamic xs is static once refined: see _row_of)
        return _row_times(op, loop) or _times_column(op, loop)
    return _map_rows(op, loop)


def vecmat_scan(loop: ir.Operation) -> int:
    """Rewrite the matching ops of `loop`'s body, in order; returns how many."""
    done = 0
    for child in list(body_block(loop).operations)[:-1]:
        with ir.InsertionPoint(child), location_override(child.location):
            new = _rewrite(child, loop)
        if new is None:
            continue
        child.results[0].replace_all_uses_with(new)
        child.operation.erase()
        done += 1
    if done:
        dce(body_block(loop))  # the rows of xs the products read
    return done


def run_scan_vecmat_to_matmat(module_op: ir.Operation, pass_: object = None) -> int:
    with module_op.context, ir.Location.unknown(module_op.context):
        return sum(vecmat_scan(op) for op in scans(module_op))


class ScanVecmatToMatmat(Pass):
    """tn.scan: take(xs, i) @ W per step -> take(xs @ W, i), one matrix-matrix product
    before the loop."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> int:
        return run_scan_vecmat_to_matmat(module_op)
