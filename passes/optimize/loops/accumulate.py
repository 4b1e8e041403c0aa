"""tn-scan-accumulate-to-matmat: a carry that sums one matrix product per step becomes two
stacked per-step outputs and one matrix-matrix product after the loop.

    carry acc:  acc' = acc + matmul(P_i, Q_i)   (P_i: [n, k], Q_i: [k, m], made in the body)
    ->  stack P_i and Q_i over the steps: SP [L, n, k], SQ [L, k, m]
        acc_final = acc0 + reshape(transpose(SP, (1, 0, 2)), [n, L*k]) @ reshape(SQ, [L*k, m])

Reverse mode produces exactly this: the transpose of `x_t @ W` inside a loop accumulates the
outer product x_t^T * dy_t into dW at every step (the backward loop of an RNN does it for every
weight matrix). One [n, L] x [L, m] product after the loop runs at GEMM speed instead of L
rank-1 updates, each a pass over the whole [n, m] accumulator.

Needs a static bound L on the steps (a constant n_steps, `length` when outputs are stacked,
or n_steps = minimum(..., c) as reverse mode emits) and no `until`; rows of steps that did
not run (the loop's tail repeats its last row) are masked out of SQ. Without one, when the trip count is
a dim of a tensor (a scan over a sequence of dynamic length, and its backward loop: dynamic
shapes), outer-product accumulations still become one product: the loop stacks one row per
step that ran (`length` = -1, docs/dynamic-shapes.md); an arbitrary traced count is left alone.
"""
from __future__ import annotations

import numpy as np
from mlir import ir

from theanir.dialects.tn.builder import emit1, location_override
from theanir.dialects.tn.interpreter import static_value
from theanir.dialects.tn.ops.control import body_block, scan_counts, terminator
from theanir.dialects.tn.types import TensorSpec, spec_of_value, tensor_type

from ..patterns import producer
from .common import (defined_in, extra_attrs, is_plain, length, new_scan, scans, set_yield,
                     static_steps, until, with_length)
from ...base import Pass

NAME = "tn-scan-accumulate-to-matmat"


def _bound(op: ir.Operation) -> tuple[int | None, bool]:
    """(L: a static bound on the steps, whether every step up to L surely runs)."""
    _, m = scan_counts(op)
    n = static_steps(op)
    if m and length(op) >= 0:
        return length(op), n is not None and n >= length(op)
    if m:
        return None, False  # a dynamic length (rows = steps): no static bound
    if n is not None:
        return max(n, 0), True
    mn = producer(op.operands[0], "tn.minimum")
    if mn is not None:
        caps = [static_value(v, limit=1) for v in mn.operands]
        caps = [int(c) for c in caps if c is not None and np.ndim(c) == 0]
        if caps:
            return max(min(caps), 0), False
    return None, False


def _sized_by_data(n: ir.Value, depth: int = 0) -> bool:
    """n_steps is a dim of a tensor (through max/min/sub/add): the stacks then hold no more
    rows than data that exists already (a scan over a sequence, its backward loop), never an
    arbitrary traced count."""
    op = producer(n)
    if op is None or depth > 6:
        return False
    name = op.operation.name
    if name == "tn.dim":
        return True
    if name in ("tn.maximum", "tn.minimum", "tn.sub", "tn.add"):
        return any(_sized_by_data(v, depth + 1) for v in op.operands)
    return False


def _candidate(op: ir.Operation, j: int) -> tuple[ir.Value, ir.Value] | None:
    """(P, Q) when carry j is updated as acc + matmul(P, Q), acc read nowhere else."""
    block = body_block(op)
    arg = block.arguments[1 + j]
    y = terminator(block).operands[j]
    add = producer(y, "tn.add")
    if add is None or len(list(arg.uses)) != 1:
        return None
    a, b = add.operands
    d = b if a == arg else a if b == arg else None
    if d is None or d == arg or len(list(d.uses)) != 1:
        return None
    pq = _factors(d)
    if pq is None:
        return None
    p, q = pq
    sp, sq = spec_of_value(p), spec_of_value(q)
    if sp.ndim != 2 or sq.ndim != 2 or sp.dtype.kind != "f":
        return None
    if not (defined_in(p, op) and defined_in(q, op)):
        return None  # an invariant product: nothing to stack
    return p, q


def _factors(d: ir.Value) -> tuple[ir.Value, ir.Value] | None:
    """(P, Q) of D = matmul(P, Q), or of the outer product tn-outer-product-to-mul writes as
    broadcast(P[n, 1]) * broadcast(Q[1, m])."""
    mm = producer(d, "tn.matmul")
    if mm is not None:
        return mm.operands[0], mm.operands[1]
    mul = producer(d, "tn.mul")
    if mul is None:
        return None
    bs = [producer(v, "tn.broadcast_to") for v in mul.operands]
    if any(b is None for b in bs):
        return None
    p, q = bs[0].operands[0], bs[1].operands[0]
    sp, sq = spec_of_value(p), spec_of_value(q)
    if sp.ndim == 2 and sq.ndim == 2 and sp.shape[1] == 1 and sq.shape[0] == 1:
        return p, q
    if sp.ndim == 2 and sq.ndim == 2 and sq.shape[1] == 1 and sp.shape[0] == 1:
        return q, p
    return None


def accumulate_to_matmat(op: ir.Operation) -> bool:
    if until(op) or not is_plain(op):
        return False
    k, m = scan_counts(op)
    bound, full = _bound(op)
    if bound is None and (m == 0 or length(op) == -1) and _sized_by_data(op.operands[0]):
        bound, full = -1, True  # dynamic: stacks of one row per step that ran (length -1)
    if bound is None or bound == 0:
        return False
    found = [(j, pq) for j in range(k) if (pq := _candidate(op, j)) is not None]
    if bound == -1:  # outer products only: [n, L] @ [L, m] needs no reshape of the dynamic L
        found = [(j, (p, q)) for j, (p, q) in found if spec_of_value(p).shape[1] == 1]
    if not found:
        return False
    block = body_block(op)
    ys = list(terminator(block).operands)
    args = list(block.arguments)
    new_ys = list(ys)
    extra = []
    for j, (p, q) in found:
        new_ys[j] = args[1 + j]  # the carry now passes its initial value through (dead)
        if spec_of_value(p).shape[1] == 1:  # outer products: stack the vectors, [L, n] / [L, m]
            with ir.InsertionPoint(terminator(block)), location_override(op.location):
                p = emit1("tn.reshape", [p], {"shape": [spec_of_value(p).shape[0]]})
                q = emit1("tn.reshape", [q], {"shape": [spec_of_value(q).shape[1]]})
        extra += [p, q]
    results = list(op.results)
    rows = None if bound == -1 else bound
    extra_types = [tensor_type(TensorSpec((rows,) + spec_of_value(v).shape, spec_of_value(v).dtype))
                   for v in extra]
    attrs = with_length(extra_attrs(op), bound) if not m else extra_attrs(op)
    new = new_scan(op, op.operands[0], list(op.operands)[1:],
                   [r.type for r in results] + extra_types, attrs, op.location)
    set_yield(block, new_ys + extra)
    block.append_to(new.regions[0])
    for old, res in zip(results, new.results):
        old.replace_all_uses_with(res)
    stacks = list(new.results)[k + m:]
    with ir.InsertionPoint(op), location_override(op.location):
        for a, (j, _) in enumerate(found):
            total = _product(stacks[2 * a], stacks[2 * a + 1], op.operands[0], bound, full)
            acc = emit1("tn.add", [op.operands[1 + j], total])
            new.results[j].replace_all_uses_with(acc)
    op.erase()
    return True


def _product(sp: ir.Value, sq: ir.Value, n_steps: ir.Value, bound: int, full: bool) -> ir.Value:
    """sum over steps s < n_steps of SP[s] @ SQ[s], as one matmul. Rank-2 stacks hold the
    vectors of outer products ([L, n] and [L, m]); rank-3 ones the [n, k] / [k, m] factors."""
    q_spec = spec_of_value(sq)
    if not full:  # zero the rows of steps that did not run
        rows = emit1("tn.constant", [], {"value": np.arange(bound, dtype=np.int64)})
        steps = emit1("tn.broadcast_to", [n_steps], {"shape": [bound]})
        ran = emit1("tn.lt", [rows, steps])
        ran = emit1("tn.reshape", [ran], {"shape": [bound] + [1] * (q_spec.ndim - 1)})
        ran = emit1("tn.broadcast_to", [ran], {"shape": list(q_spec.shape)})
        zero = emit1("tn.constant", [], {"value": np.zeros(q_spec.shape, q_spec.dtype)})
        sq = emit1("tn.where", [ran, sq, zero])
    if q_spec.ndim == 2:
        return emit1("tn.matmul", [emit1("tn.transpose", [sp], {"perm": [1, 0]}), sq])
    _, n, kk = spec_of_value(sp).shape
    m = q_spec.shape[2]
    lhs = emit1("tn.transpose", [sp], {"perm": [1, 0, 2]})
    lhs = emit1("tn.reshape", [lhs], {"shape": [n, bound * kk]})
    rhs = emit1("tn.reshape", [sq], {"shape": [bound * kk, m]})
    return emit1("tn.matmul", [lhs, rhs])


def run_scan_accumulate_to_matmat(module_op: ir.Operation, pass_: object = None) -> int:
    return sum(accumulate_to_matmat(op) for op in scans(module_op))


class ScanAccumulateToMatmat(Pass):
    """tn.scan: a carry summing matmul(P_i, Q_i) per step -> P, Q stacked and one matrix-
    matrix product after the loop."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> int:
        return run_scan_accumulate_to_matmat(module_op)
