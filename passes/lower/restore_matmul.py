"""linalg-restore-matmul: a matrix product that reshape fusion turned into a `linalg.generic`
becomes a 2-D `linalg.matmul` between reshapes again, so it can call BLAS.

`tn.matmul` of a folded batch (`x @ W` with x [T, B, n], which the frontend reshapes to
[T*B, n]; or the product tn-scan-vecmat-to-matmat moves before a loop) lowers to
`collapse_shape -> linalg.matmul -> expand_shape`. `linalg-fuse-elementwise-ops` then folds
both reshapes into the product by expanding its iteration space: a generic contraction over
(t, b, m, k) that `convert-linalg-matmul-to-blas` does not recognize (naive loops, ~50x slower
than BLAS at [6400, 64] x [64, 64]). This pass undoes exactly that form:

    linalg.generic {maps (d0..dq-1, dk), (dk, dq), (d0..dq) ; iterators parallel..., reduction}
        ins(%a : tensor<T x B x K>, %w : tensor<K x N>) outs(%c) { mulf ; addf acc }
 -> %a2 = tensor.collapse_shape %a [[0, 1], [2]] ; %c2 = tensor.collapse_shape %c ...
    %m = linalg.matmul ins(%a2, %w) outs(%c2) ; tensor.expand_shape %m [[0, 1], [2]]

Same arithmetic in the same order per output element (linalg.matmul accumulates into its
init as the generic did), and after bufferization the reshapes are views.
"""
from __future__ import annotations

from mlir import ir
from mlir.dialects import linalg, tensor
from ..base import Pass

NAME = "linalg-restore-matmul"


def _dims(m: ir.AffineMap) -> list[int] | None:
    out = []
    for e in m.results:
        try:  # MLIR 22: the results are AffineExpr; the cast raises for other kinds
            out.append(ir.AffineDimExpr(e).position)
        except (TypeError, ValueError):
            return None
    return out


def _is_multiply_accumulate(op: ir.Operation) -> bool:
    """The body is `out + a * b` (either addition order) on floats."""
    block = op.regions[0].blocks[0]
    body = [o.operation for o in block.operations]
    if [o.name for o in body] != ["arith.mulf", "arith.addf", "linalg.yield"]:
        return False
    a, b, acc = block.arguments
    mul, add, yld = body
    if set(mul.operands) != {a, b} or a == b or yld.operands[0] != add.results[0]:
        return False
    return set(add.operands) == {acc, mul.results[0]}


def _folded_rows(op: ir.Operation) -> int | None:
    """q >= 2 when `op` is a matmul whose row index is split into q loops, else None."""
    if op.name != "linalg.generic" or len(op.operands) != 3 or len(op.results) != 1:
        return None
    maps = [ir.AffineMapAttr(a).value for a in op.attributes["indexing_maps"]]
    iters = [str(t) for t in op.attributes["iterator_types"]]
    n = len(iters)
    q = n - 2
    if q < 2 or any("reduction" in t for t in iters[:-1]) or "reduction" not in iters[-1]:
        return None
    rows = list(range(q))
    if [_dims(m) for m in maps] != [rows + [n - 1], [n - 1, q], rows + [q]]:
        return None
    if not all(isinstance(v.type, ir.RankedTensorType) and ir.RankedTensorType(v.type).has_static_shape
               for v in op.operands):  # the folded rows are multiplied out statically
        return None
    if str(ir.RankedTensorType(op.results[0].type).element_type) not in ("f32", "f64"):
        return None
    return q if _is_multiply_accumulate(op) else None


def _collapse(v: ir.Value, q: int) -> ir.Value:
    t = ir.RankedTensorType(v.type)
    rows = 1
    for d in t.shape[:q]:
        rows *= d
    flat = ir.RankedTensorType.get([rows, t.shape[q]], t.element_type)
    return tensor.CollapseShapeOp(flat, v, [list(range(q)), [q]]).result


def restore(op: ir.Operation, q: int) -> None:
    a, w, c = op.operands
    out_t = ir.RankedTensorType(op.results[0].type)
    with ir.InsertionPoint(op), op.location:
        product = linalg.matmul(_collapse(a, q), w, outs=[_collapse(c, q)])
        shaped = tensor.ExpandShapeOp(out_t, product, [list(range(q)), [q]], [],
                                      list(out_t.shape)).result
    op.results[0].replace_all_uses_with(shaped)
    op.erase()


def restore_matmuls(module_op: ir.Operation, pass_: object = None) -> int:
    """Rewrite every folded-row matrix product of the module; returns how many."""
    found: list[tuple[ir.Operation, int]] = []

    def visit(o: ir.Operation) -> ir.WalkResult:
        q = _folded_rows(o)
        if q is not None:
            found.append((o, q))
        return ir.WalkResult.ADVANCE

    module_op.walk(visit)
    with module_op.context:
        for o, q in found:
            restore(o, q)
    return len(found)


class RestoreMatmul(Pass):
    """A matmul over folded rows that reshape fusion made a linalg.generic becomes
    collapse_shape -> linalg.matmul -> expand_shape again."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> None:
        restore_matmuls(module_op)
