"""tn.check_range: a run-time check that every element of a traced tensor lies in [lo, hi].

    %q = "tn.check_range"(%p) {lo = 0.0, hi = 1.0, what = "th.random.bernoulli: p"}
           : (tensor<3xf32>) -> tensor<3xf32>

A probability that is only known when the code runs (a traced `p` of `th.random.bernoulli`,
a stream's `binomial`) cannot be checked while tracing; compared against uniform draws it
would saturate silently (p = 1.7 behaves as 1). This op returns its operand unchanged and
makes the call fail with a ValueError naming `what` when an element lies outside [lo, hi] or
is NaN (dialects/tn/checks.py). Shape rule: the result has the operand's type (floats only).
Reference: the same test in NumPy, raising the same ValueError. Lowering: one linalg.generic
reduction counting the bad elements and finding the first one's flat index, then
`emit_check`; the operand itself is the result, so the check costs one read of the tensor.
Not pure (the tn optimizer never folds, merges or deletes it). Jvp: the identity's, the
tangent passes through unchanged (no op on it, so no transpose rule is needed: reverse mode
sees the identity); a probability used both in a check and elsewhere (Theano's
`binomial(p) * p`) keeps its gradient. No batching rule.
"""
from __future__ import annotations

import numpy as np
from mlir import ir
from mlir.dialects import arith, tensor

from ..checks import VALUE_ERROR, emit_check
from ..lowering import LowerCall, dim_value, fill, generic, identity_map, index_cast, linalg_index
from .. import batching as vb
from ..registry import ShapeError, defop
from ..types import TensorSpec

check_range = defop("tn.check_range", ["x"], attrs={"lo": "float", "hi": "float", "what": "str"},
                    pure=False,
                    doc="x unchanged; the call fails with ValueError when an element is outside "
                        "[lo, hi] or NaN.")


def message(what: str, lo: float, hi: float) -> str:
    """The failed check's text; {0} and {1} stand for the count and the first flat index."""
    return (f"{what} must lie in [{lo:g}, {hi:g}], got {{0}} element(s) outside it or NaN "
            f"(the first at flat index {{1}})")


@check_range.def_infer
def _check_range_infer(specs: list[TensorSpec], lo: float, hi: float, what: str) -> list[TensorSpec]:
    (x,) = specs
    if x.dtype.kind != "f":
        raise ShapeError(f"tn.check_range checks floats, got {x}")
    if not lo <= hi:
        raise ShapeError(f"tn.check_range: lo {lo} must not exceed hi {hi}")
    return [x]


@check_range.def_reference
def _check_range_reference(x: np.ndarray, lo: float, hi: float, what: str) -> np.ndarray:
    x = np.asarray(x)
    with np.errstate(invalid="ignore"):
        bad = ~((x >= lo) & (x <= hi))
    if bad.any():
        flat = bad.reshape(-1)
        raise ValueError(message(what, lo, hi).format(int(flat.sum()), int(np.argmax(flat))))
    return x


@check_range.def_lower
def _check_range_lower(call: LowerCall) -> list[ir.Value]:
    (x,) = call.operands
    spec = call.out
    lo, hi, what = call.attrs["lo"], call.attrs["hi"], call.attrs["what"]
    i64 = ir.IntegerType.get_signless(64)
    scalar = TensorSpec((), np.dtype(np.int64))
    rank = spec.ndim
    none = ir.AffineMap.get(rank, 0, [])
    big = np.iinfo(np.int64).max

    # the row-major strides of x, as i64 values (dynamic dims read before the loop)
    strides, stride = [], arith.ConstantOp(i64, 1).result
    for d in reversed(range(rank)):
        strides.insert(0, stride)
        n = spec.shape[d]
        size = arith.ConstantOp(i64, n).result if n is not None else index_cast(dim_value(x, d), i64)
        stride = arith.MulIOp(stride, size).result

    def body(v: ir.Value, count: ir.Value, first: ir.Value) -> list[ir.Value]:
        ft = v.type
        ok = arith.AndIOp(
            arith.CmpFOp(arith.CmpFPredicate.OGE, v, arith.ConstantOp(ft, float(lo)).result).result,
            arith.CmpFOp(arith.CmpFPredicate.OLE, v, arith.ConstantOp(ft, float(hi)).result).result).result
        flat = arith.ConstantOp(i64, 0).result
        for d in reversed(range(rank)):
            term = arith.MulIOp(index_cast(linalg_index(d), i64), strides[d]).result
            flat = arith.AddIOp(flat, term).result
        bad = arith.ExtUIOp(i64, arith.XOrIOp(ok, arith.ConstantOp(ir.IntegerType.get_signless(1), 1).result).result).result
        where = arith.SelectOp(ok, arith.ConstantOp(i64, big).result, flat).result
        return [arith.AddIOp(count, bad).result, arith.MinSIOp(first, where).result]

    count, first = generic([x], [spec.dtype], [identity_map(rank)], [fill(scalar, 0), fill(scalar, big)],
                           [scalar.dtype] * 2, [none, none], ["reduction"] * rank, body)
    n = tensor.ExtractOp(count, []).result
    at = tensor.ExtractOp(first, []).result
    ok = arith.CmpIOp(arith.CmpIPredicate.eq, n, arith.ConstantOp(i64, 0).result).result
    emit_check(call.op, ok, VALUE_ERROR, message(what, lo, hi), [n, at])
    return [x]


@check_range.def_jvp
def _check_range_jvp(primals, tangents, outs, lo, hi, what):
    return [tangents[0]]  # the identity: the check constrains values, not derivatives


# ---------------------------------------------------------------- batching rules (vmap)
# Elementwise in effect: the op on the batched operand.
check_range.def_batch(vb.elementwise_rule("tn.check_range"))
