"""theanir-gemm-updates: an SGD-style update of a donated weight accumulates into the weight.

Theano's `gemm_inplace`: `W - lr * (A @ B)` computed as GEMM(C=W, alpha=-lr, beta=1). After
`tn-to-linalg` and fusion the update is a matrix product into a zero-filled temporary
followed by an elementwise `w - c * g`, both over the whole weight:

    %g = linalg.matmul ins(%a, %b) outs(%zero)               (writes |W| floats)
    %new = linalg.generic ins(%g, %w) outs(..) { sub(w, mul(g, c)) }   (reads 2|W|, writes |W|)
    materialize_in_destination %new in %w                     (an in-place update)
 ->
    %a2 = linalg.generic ins(%a) { mul(a, -c) }               (the smaller operand, scaled)
    %new = linalg.matmul ins(%a2, %b) outs(%w)                (BLAS: C += A B, C = W)

linalg.matmul accumulates into its init, so with the weight as init the product adds
straight into it: the gradient is never stored and the weight is read and written once, not
three passes (in the deep MLP at batch 10, 3 of the 4 MB-sized passes per layer). Only for a
donated result (the weight's buffer is the output, so bufferization computes in place) whose
gradient product has no other use; `w + c * g` works the same with +c. A result that is not
donated (`th.jit` returning new parameters) accumulates into a copy of the weight
(`bufferization.alloc_tensor copy(w)`, a memcpy):
two passes (copy, product) instead of three, and no elementwise loop (a 784x10 one was left
scalar by LLVM, unable to rule out aliasing). Rounding differs
from the unfused form only in where c is applied (c * (a . b) vs (c * a) . b).
"""
from __future__ import annotations

from mlir import ir
from mlir.dialects import arith, bufferization, linalg, tensor

from .payloads import defining_op, ops_named
from ..base import Pass

NAME = "theanir-gemm-updates"
_PRODUCTS = ("linalg.matmul", "linalg.batch_matmul")


def _is_identity(m: ir.AffineMap) -> bool:
    return m == ir.AffineMap.get_identity(m.n_dims)


def _scale(generic: ir.Operation) -> tuple[int, int, ir.Value, bool] | None:
    """(gradient input, weight input, c, subtract) for a payload `w -/+ g * c` (c a scalar
    from outside the region, or the 0-d tensor of an input), all on identity maps; else None."""
    block = generic.regions[0].blocks[0]
    body = [o.operation for o in block.operations]
    if len(body) != 3:
        return None
    if [o.name for o in body[:-1]] != ["arith.mulf", body[1].name] or body[1].name not in ("arith.subf", "arith.addf"):
        return None
    mul, upd, yld = body
    if yld.operands[0] != upd.results[0] or len(yld.operands) != 1:
        return None
    n_ins = ir.DenseI32ArrayAttr(generic.attributes["operandSegmentSizes"])[0]
    maps = [ir.AffineMapAttr(a).value for a in generic.attributes["indexing_maps"]]
    args = list(block.arguments)

    def arg_index(v: ir.Value) -> int | None:
        return next((i for i, a in enumerate(args[:n_ins]) if a == v), None)

    w, prod = upd.operands
    wi = arg_index(w)
    if wi is None or upd.name == "arith.addf" and arg_index(prod) is not None:
        w, prod = prod, w  # addf is commutative
        wi = arg_index(w)
    if wi is None or prod != mul.results[0]:
        return None
    for g, c in (tuple(mul.operands), tuple(mul.operands)[::-1]):
        gi = arg_index(g)
        if gi is None or gi == wi or not (_is_identity(maps[gi]) and _is_identity(maps[wi])):
            continue
        ci = arg_index(c)
        if ci is not None:  # a 0-d tensor input read at every point: its operand
            if len(maps[ci].results) != 0:
                continue
            c = generic.operands[ci]
        elif isinstance(c, ir.BlockArgument) and c.owner == block:
            continue  # the init: an accumulation, not a scale
        return gi, wi, c, upd.name == "arith.subf"
    return None


def _numel(v: ir.Value) -> tuple[int, int]:
    """A size key: (dynamic dims, product of the static ones). The operands of a product share
    K, which is the dynamic dim of a minibatch's update (x: ? x 784, d: ? x 10), so fewer dynamic
    dims, then the static product, tell the smaller one (scaling x there cost a copy of the
    minibatch per step: logistic regression at batch 60 ran 8-18% slower than static code)."""
    t = ir.RankedTensorType(v.type)
    n = 1
    for i, d in enumerate(t.shape):
        if not t.is_dynamic_dim(i):
            n *= d
    return sum(t.is_dynamic_dim(i) for i in range(t.rank)), n


def _scaled(x: ir.Value, c: ir.Value) -> ir.Value:
    """x * c elementwise (a fresh tensor)."""
    t = ir.RankedTensorType(x.type)
    idx = ir.IndexType.get()
    sizes = [tensor.DimOp(x, arith.ConstantOp(idx, i).result).result if t.is_dynamic_dim(i) else n
             for i, n in enumerate(t.shape)]
    init = tensor.EmptyOp(sizes, t.element_type).result
    ident = ir.AffineMap.get_identity(t.rank)

    @linalg.generic(inputs=[x], outputs=[init], indexing_maps=[ident, ident],
                    iterator_types=[linalg.IteratorType.parallel] * t.rank)
    def body(a: ir.Value, _out: ir.Value) -> ir.Value:
        return arith.MulFOp(a, c).result

    return body


def _fold(mat: ir.Operation) -> bool:
    source, dest = mat.operands[0], mat.operands[1]
    generic = defining_op(source)
    if generic is None or generic.name != "linalg.generic" or len(generic.results) != 1:
        return False
    return _fold_generic(generic, dest)


def _fold_generic(generic: ir.Operation, dest: ir.Value | None) -> bool:
    """The update `generic` as one product accumulating into `dest` (the donated weight), or,
    with dest None, into a copy of the weight (a result that is not donated: a copy and an
    accumulating product instead of a zero fill, a product and an elementwise pass)."""
    found = _scale(generic)
    if found is None:
        return False
    gi, wi, c, subtract = found
    g, w = generic.operands[gi], generic.operands[wi]
    product = defining_op(g)
    if product is None or product.name not in _PRODUCTS or dest is not None and w != dest or g.type != w.type:
        return False
    if len(list(g.uses)) != 1 or "cast" in product.attributes and "cast_signed" not in str(product.attributes["cast"]):
        return False
    a, b = product.operands[0], product.operands[1]
    with ir.InsertionPoint(generic), generic.location:
        if dest is None:  # a fresh copy of the weight (bufferizes to alloc + memref.copy: memcpy)
            w = bufferization.AllocTensorOp(w.type, [], copy=w).result
        if isinstance(c.type, ir.RankedTensorType):
            c = tensor.ExtractOp(c, []).result
        factor = arith.NegFOp(c).result if subtract else c
        if _numel(a) <= _numel(b):
            a = _scaled(a, factor)
        else:
            b = _scaled(b, factor)
        maps = None
        if "indexing_maps" in product.attributes:
            maps = [ir.AffineMapAttr(m).value for m in product.attributes["indexing_maps"]]
        named = linalg.matmul if product.name == "linalg.matmul" else linalg.batch_matmul
        new = named(a, b, outs=[w], indexing_maps=maps)
    generic.results[0].replace_all_uses_with(new)
    generic.erase()
    init = defining_op(product.operands[2])
    product.erase()
    if init is not None and not list(init.results[0].uses):
        init.erase()
    return True


def gemm_updates(module_op: ir.Operation, pass_: object = None) -> None:
    """Fold `w -/+ c * (a @ b)` into the product: into the weight for every donated result,
    into a copy of it for the others (`th.jit` returning new parameters) (module doc)."""
    for mat in ops_named(module_op, "bufferization.materialize_in_destination"):
        if len(mat.results) == 1:
            _fold(mat)
    for generic in ops_named(module_op, "linalg.generic"):
        _fold_generic(generic, None)


class GemmUpdates(Pass):
    """An in-place update w -/+ c * (a @ b) of a donated result accumulates the product into
    w (linalg.matmul with w as init, the smaller operand scaled by -/+c)."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> None:
        gemm_updates(module_op)
