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

The summed index can be folded too: the weight gradient of a loop whose per-step products
tn-scan-accumulate-to-matmat gathered after it, `sum_{t,b} Xᵀ[i, t, b] D[t, b, j]` with maps
(d0, d2, d3), (d2, d3, d1), (d0, d1), is `collapse(Xᵀ) [i, t*b] @ collapse(D) [t*b, j]`; left as
loops it made a static Elman RNN's value_and_grad (B=16, H=100, T=50) ~6x slower than the
same program compiled with dynamic shapes (which keeps the products per step). Any split of
rows, summed and column indices into contiguous groups is undone the same way, also with an
operand read transposed: LeNet's backward `d @ W2.T` reshaped to the pooled maps
[500, 50, 4, 4] became a generic over (b, c, h, w, k) that ran as scalar loops (a third of the
training step) and is a transposed-B product again.

An operand whose copy elementwise fusion folded into the product is read through floordiv/mod
maps (LeNet's filters reshaped to (O, C*kh*kw), read as w[o, k floordiv 25, (k mod 25)
floordiv 5, k mod 5] once the im2col's collapse was folded into the product): that copy is
materialized again first (a generic over the dims the map uses, in rows/sums/cols order),
so the product reads it through plain dims; left fused, conv1's forward ran as scalar loops,
6x slower than the whole LeNet-5 step in BLAS.

Dynamic dims (a convolution's batch sized at run time, its remainder block) are restored
too: a group holding one is collapsed to a dynamic size, and the result's expand reads that
size from the init operand; only the copies of fused operands need static sizes (the
filters). Left as generics, LeNet's conv2 forward at a run-time batch of 500 ran 6.5 s in
scalar loops against 30 ms in BLAS.

Same arithmetic in the same order per output element (linalg.matmul accumulates into its
init as the generic did), and after bufferization the reshapes are views.
"""
from __future__ import annotations

from mlir import ir
from mlir.dialects import arith, linalg, tensor
from ..base import Pass
from .parallel_loops import _defined_outside
from .payloads import walk_outside_payloads

NAME = "linalg-restore-matmul"
DYN = ir.ShapedType.get_dynamic_size()


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


def _groups(op: ir.Operation) -> tuple[int, int, int, bool, bool] | None:
    """(q, r, c, ta, tb) when `op` is a matrix product whose row index is split into q loops,
    its summed index into r and its column index into c (each group contiguous, in the same
    order in both operands), A read as (R, S) or transposed (S, R), B as (S, C) or transposed
    (C, S), out (R, C); else None (also for a plain untransposed product: nothing to restore)."""
    if op.name != "linalg.generic" or len(op.operands) != 3 or len(op.results) != 1:
        return None
    maps = [_dims(ir.AffineMapAttr(x).value) for x in op.attributes["indexing_maps"]]
    iters = ["reduction" in str(t) for t in op.attributes["iterator_types"]]
    if any(m is None for m in maps):
        return None
    a, b, out = maps
    reds = [d for d in range(len(iters)) if iters[d]]
    r = len(reds)
    q = len(a) - r
    c = len(out) - q
    if r == 0 or q < 1 or c < 1 or len(b) != r + c or q + r + c != len(iters):
        return None
    rows, cols = out[:q], out[q:]
    if any(iters[d] for d in rows + cols):
        return None
    if a[:q] == rows:
        ta, sums = False, a[q:]
    elif a[r:] == rows:
        ta, sums = True, a[:r]
    else:
        return None
    if sorted(sums) != reds:
        return None
    if b == sums + cols:
        tb = False
    elif b == cols + sums:
        tb = True
    else:
        return None
    if (q, r, c) == (1, 1, 1) and not (ta or tb):
        return None  # a plain product
    if not all(isinstance(v.type, ir.RankedTensorType) for v in op.operands):
        return None
    if str(ir.RankedTensorType(op.results[0].type).element_type) not in ("f32", "f64"):
        return None
    return (q, r, c, ta, tb) if _is_multiply_accumulate(op) else None


def _product(sizes: list[int]) -> int:
    """The size of a group of dims: dynamic when one of them is (a remainder block's batch)."""
    out = 1
    for d in sizes:
        if d == DYN:
            return DYN
        out *= d
    return out


def _collapse(v: ir.Value, first: int) -> ir.Value:
    """`v` as a matrix: its first `first` dims as rows, the others as columns."""
    t = ir.RankedTensorType(v.type)
    rows, cols = _product(list(t.shape[:first])), _product(list(t.shape[first:]))
    flat = ir.RankedTensorType.get([rows, cols], t.element_type)
    if t.rank == 2:
        return v
    return tensor.CollapseShapeOp(flat, v, [list(range(first)), list(range(first, t.rank))]).result


def _maps(ta: bool, tb: bool) -> list[ir.AffineMap]:
    """linalg.matmul's indexing maps over (m, n, k) with A and/or B read transposed (the maps
    tn.matmul emits for `d @ W.T`, which the BLAS pass passes as transposed operands)."""
    m, n, k = (ir.AffineDimExpr.get(i) for i in range(3))
    exprs = ([k, m] if ta else [m, k], [n, k] if tb else [k, n], [m, n])
    return [ir.AffineMap.get(3, 0, e) for e in exprs]


def restore(op: ir.Operation, groups: tuple[int, int, int, bool, bool]) -> None:
    q, r, c, ta, tb = groups
    a, w, out = op.operands
    out_t = ir.RankedTensorType(op.results[0].type)
    with ir.InsertionPoint(op), op.location:
        a2, w2, c2 = _collapse(a, r if ta else q), _collapse(w, c if tb else r), _collapse(out, q)
        if ta or tb:
            product = linalg.matmul(a2, w2, outs=[c2], indexing_maps=_maps(ta, tb))
        else:
            product = linalg.matmul(a2, w2, outs=[c2])
        # a dynamic dim of the result (a remainder block's batch) is the init's
        sizes = [tensor.DimOp(out, arith.ConstantOp(ir.IndexType.get(), i).result).result
                 for i, d in enumerate(out_t.shape) if d == DYN]
        shaped = product if out_t.rank == 2 else tensor.ExpandShapeOp(
            out_t, product, [list(range(q)), list(range(q, q + c))], sizes, list(out_t.shape)).result
    op.results[0].replace_all_uses_with(shaped)
    op.erase()


def _dims_in(e: ir.AffineExpr) -> set[int]:
    """The dims an affine expression reads."""
    e = e.maybe_downcast()
    if isinstance(e, ir.AffineDimExpr):
        return {e.position}
    if isinstance(e, ir.AffineBinaryExpr):
        return _dims_in(e.lhs) | _dims_in(e.rhs)
    return set()


def _unfuse_plan(op: ir.Operation) -> list[tuple[int, list[int]]] | None:
    """For a multiply-accumulate generic whose output map is plain dims and some input map is
    not: per such input, the dims its copy is materialized over (rows of the output it reads,
    then the summed dims, then the output's other dims, each in output or ascending order),
    provided every loop it copies over has a static size read from a plain-dim operand (checked
    by `unfuse`; the others may be dynamic: a remainder block's batch); else None."""
    if op.name != "linalg.generic" or len(op.operands) != 3 or len(op.results) != 1:
        return None
    if not _is_multiply_accumulate(op):
        return None
    maps = [ir.AffineMapAttr(x).value for x in op.attributes["indexing_maps"]]
    plain = [_dims(m) for m in maps]
    if plain[2] is None or all(p is not None for p in plain[:2]):
        return None
    if not all(isinstance(v.type, ir.RankedTensorType) for v in op.operands):
        return None
    iters = ["reduction" in str(t) for t in op.attributes["iterator_types"]]
    out, reds = plain[2], [d for d in range(len(iters)) if iters[d]]
    plan = []
    for k in range(2):
        if plain[k] is not None:
            continue
        used = set()
        for e in maps[k].results:
            used.update(_dims_in(e))
        order = [d for d in out if d in used]
        rows_first = k == 0
        sums = [d for d in (plain[1 - k] or reds) if d in reds and d in used]
        if sorted(sums) != sorted(d for d in used if d in reds):
            return None
        order = order + sums if rows_first else sums + order
        plan.append((k, order))
    return plan


def _loop_sizes(op: ir.Operation) -> dict[int, int]:
    """Static loop sizes from the operands indexed by plain dims."""
    sizes: dict[int, int] = {}
    for v, m in zip(op.operands, op.attributes["indexing_maps"]):
        dims = _dims(ir.AffineMapAttr(m).value)
        if dims is not None:
            sizes.update((d, n) for d, n in zip(dims, ir.RankedTensorType(v.type).shape) if n != DYN)
    return sizes


def _groups_after(op: ir.Operation, plan: list[tuple[int, list[int]]]) -> bool:
    """Whether the product would be restorable once `plan` is applied (only then unfuse)."""
    maps = [_dims(ir.AffineMapAttr(x).value) for x in op.attributes["indexing_maps"]]
    for k, order in plan:
        maps[k] = order
    iters = ["reduction" in str(t) for t in op.attributes["iterator_types"]]
    a, b, out = maps
    reds = [d for d in range(len(iters)) if iters[d]]
    q = len(a) - len(reds)
    rows, cols = out[:q], out[q:]
    ok_a = a in (rows + a[q:], a[:len(reds)] + rows) and sorted(set(a) - set(rows)) == reds
    ok_b = b in (a_sums(a, rows) + cols, cols + a_sums(a, rows))
    return bool(q >= 1 and cols and ok_a and ok_b)


def a_sums(a: list[int], rows: list[int]) -> list[int]:
    return [d for d in a if d not in rows]


LOOPS = ("scf.forall", "scf.for", "scf.parallel")


def _hoisted(op: ir.Operation, v: ir.Value) -> ir.Operation:
    """Where the copy of operand `v` goes: before the outermost loop around `op` that `v` is
    defined outside of (a product in a convolution's batch blocks reads the same filters in
    every block: one copy), else before `op`."""
    at, parent = op, op.parent
    while parent is not None and parent.name in LOOPS and _defined_outside(v, parent.operation):
        at, parent = parent, parent.parent
    return at


def unfuse(op: ir.Operation, plan: list[tuple[int, list[int]]]) -> bool:
    """Materialize each planned operand as a copy over its dims; the product reads it plainly."""
    sizes = _loop_sizes(op)
    if any(d not in sizes for _, order in plan for d in order):
        return False
    maps = [ir.AffineMapAttr(x).value for x in op.attributes["indexing_maps"]]
    n = len(op.attributes["iterator_types"])
    with op.location:
        for k, order in plan:
            v = op.operands[k]
            op.operands[k] = _copy(v, order, maps[k], sizes, n, _hoisted(op, v))
            maps[k] = ir.AffineMap.get(n, 0, [ir.AffineDimExpr.get(d) for d in order])
        op.attributes["indexing_maps"] = ir.ArrayAttr.get([ir.AffineMapAttr.get(m) for m in maps])
    return True


def _copy(v: ir.Value, order: list[int], m: ir.AffineMap, sizes: dict[int, int], n: int,
          before: ir.Operation) -> ir.Value:
    """`v` (read through the product's map `m`) materialized over the product's dims `order`."""
    with ir.InsertionPoint(before):
        elt = ir.RankedTensorType(v.type).element_type
        # the copy's dims e_i stand for the product's dims order[i]; the others never occur
        sub = ir.AffineMap.get(len(order), 0, [ir.AffineDimExpr.get(order.index(d)) if d in order
                                               else ir.AffineConstantExpr.get(0) for d in range(n)])
        read = ir.AffineMap.get(len(order), 0, [e.compose(sub) for e in m.results])
        init = tensor.EmptyOp([sizes[d] for d in order], elt).result
        copy = linalg.GenericOp([init.type], [v], [init],
                                ir.ArrayAttr.get([ir.AffineMapAttr.get(read),
                                                  ir.AffineMapAttr.get(ir.AffineMap.get_identity(len(order)))]),
                                ir.ArrayAttr.get([ir.Attribute.parse("#linalg.iterator_type<parallel>")]
                                                 * len(order)))
        block = copy.regions[0].blocks.append(elt, elt)
        with ir.InsertionPoint(block):
            linalg.YieldOp([block.arguments[0]])
    return copy.results[0]


def restore_matmuls(module_op: ir.Operation, pass_: object = None) -> int:
    """Rewrite every folded matrix product of the module; returns how many."""
    found: list[tuple[ir.Operation, tuple[int, int, int, bool, bool]]] = []

    def visit(o: ir.Operation) -> ir.WalkResult:
        plan = _unfuse_plan(o)
        if plan and _groups_after(o, plan):
            with module_op.context:
                unfuse(o, plan)
        groups = _groups(o)
        if groups is not None:
            found.append((o, groups))
        return ir.WalkResult.ADVANCE

    walk_outside_payloads(module_op, visit)  # finds linalg ops, not inside them
    with module_op.context:
        for o, groups in found:
            restore(o, groups)
    return len(found)


class RestoreMatmul(Pass):
    """A matmul over folded rows that reshape fusion made a linalg.generic becomes
    collapse_shape -> linalg.matmul -> expand_shape again."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> None:
        restore_matmuls(module_op)
