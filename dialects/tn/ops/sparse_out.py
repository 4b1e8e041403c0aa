"""Sparse ops with sparse results whose pattern is computed when the code runs.

    %d, %i, %p = "tn.sparse_binary"(%d1, %i1, %p1, %d2, %i2, %p2) {shape = array<i64: 4, 6>, layout = "csr", kind = "add"}
    %d, %i, %p = "tn.sparse_spgemm"(%d1, %i1, %p1, %d2, %i2, %p2) {shape = array<i64: 4, 5, 6>, layout = "csr"}
    %d, %i, %p = "tn.sparse_from_dense"(%x) {layout = "csr", index = i32}

`tn.sparse_binary` is A + B (kind "add": the union of the patterns) or A * B (kind "mul":
the intersection), A and B of one shape and layout; `tn.sparse_spgemm` is A (M x K) @ B
(K x N), both CSR or both CSC, a sparse result of the same layout; `tn.sparse_from_dense`
stores the nonzeros of a dense matrix (explicit zeros are never stored, as in SciPy). Results
are the three arrays of the result (data and indices of a length known only at run time,
indptr of outer + 1). The pattern is structural: A + B stores every position stored in A
or B, even where the values cancel, so jvp/transposes reuse it.

Lowering: `tn.sparse_binary` and `tn.sparse_spgemm` run loop kernels of our own
(sparse_loops.py: scf/memref loops as SciPy's: SpGEMM counts each row's entries, allocates,
fills; A + B and A * B merge in one pass into arrays of the largest result size; sorted,
duplicate-free rows); the sparsifier assembled its results one insertion at a time (4-7x
slower than SciPy). `tn.sparse_from_dense` and `tn.sparse_convert` still go
through the sparsifier: it computes the result into a sparse tensor;
`sparse_tensor.number_of_entries` sizes three tensors and `sparse_tensor.disassemble` copies
the result's arrays into them (`sparsification-and-bufferization`, passes/lower/sparsify.py,
then `sparse-storage-specifier-to-llvm` and `expand-realloc`).
Gradients: data only (indices and indptr are integers). The jvp reuses the op on the
tangents (the same patterns give the same result pattern); the transposes read the result's
cotangent on an operand's pattern through a dense matrix (tn.sparse_to_dense then
tn.sparse_gather): O(M x N) memory, for correctness rather than speed.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np
from mlir import ir

from .. import batching as vb
from .. import lax
from ..lowering import LowerCall, fill
from ..registry import Linear, ShapeError, defop
from ..types import TensorSpec, element_type, tensor_type
from . import sparse_loops
from .sparse import _check_pattern, _densify, _dynamic_arrays, check_nnz, product_rule, _kernel_call, _tag, _types, sparse_type_text


def _outer(shape, layout: str) -> int:
    return int(shape[0]) if layout == "csr" else int(shape[1])


def _result_specs(dtype: np.dtype, idx: np.dtype, shape, layout: str) -> list[TensorSpec]:
    return [TensorSpec((None,), dtype), TensorSpec((None,), idx), TensorSpec((_outer(shape, layout) + 1,), idx)]


def _from_dense_np(dense: np.ndarray, layout: str, idx) -> tuple[np.ndarray, ...]:
    """(data, indices, indptr) of the nonzeros of `dense`, sorted (NumPy only)."""
    src = dense if layout == "csr" else dense.T
    r, c = np.nonzero(src)
    counts = np.bincount(r, minlength=src.shape[0]) if src.shape[0] else np.zeros(0, np.int64)
    indptr = np.concatenate([[0], np.cumsum(counts)]).astype(idx)
    return src[r, c].astype(dense.dtype), c.astype(idx), indptr


def _pattern_np(data, crd, pos, shape, layout) -> np.ndarray:
    """A boolean matrix of the stored positions."""
    return _densify(np.ones_like(data), crd, pos, shape, layout) != 0


def _stored_np(values: np.ndarray, mask: np.ndarray, layout: str, idx) -> tuple[np.ndarray, ...]:
    """The arrays of `values` at the positions of `mask` (explicit zeros kept)."""
    src_m, src_v = (mask, values) if layout == "csr" else (mask.T, values.T)
    r, c = np.nonzero(src_m)
    counts = np.bincount(r, minlength=src_m.shape[0]) if src_m.shape[0] else np.zeros(0, np.int64)
    return (src_v[r, c].astype(values.dtype), c.astype(idx),
            np.concatenate([[0], np.cumsum(counts)]).astype(idx))


def _gather_on(ct_data, out_crd, out_pos, shape, layout, crd, pos):
    """Cotangent of the result (on its pattern) read on another pattern (crd, pos)."""
    dense = lax.emit("tn.sparse_to_dense", [ct_data, out_crd, out_pos], shape=list(shape), layout=layout)
    return lax.emit("tn.sparse_gather", [crd, pos, dense], shape=list(shape), layout=layout)


def _emit3(name: str, xs, **attrs):
    from ..builder import emit
    outs = emit(name, [lax.value_of(x) for x in xs], attrs)
    return [lax.Value(v) for v in outs]


# ---------------------------------------------------------------- tn.sparse_binary
sparse_binary = defop(
    "tn.sparse_binary", ["data1", "indices1", "indptr1", "data2", "indices2", "indptr2"],
    ["data", "indices", "indptr"], attrs={"shape": "ints", "layout": "str", "kind": "str"},
    doc="A + B (kind add: union of the patterns) or A * B (kind mul: intersection), same shape and layout.",
)


@sparse_binary.def_infer
def _binary_infer(specs: list[TensorSpec], shape, layout, kind) -> list[TensorSpec]:
    d1, c1, p1, d2, c2, p2 = specs
    _check_pattern(d1.shape[0], c1, p1, shape, layout)
    _check_pattern(d2.shape[0], c2, p2, shape, layout)
    if kind not in ("add", "mul"):
        raise ShapeError(f"kind must be 'add' or 'mul', got {kind!r}")
    if d1.dtype != d2.dtype or d1.dtype.kind != "f" or c1.dtype != c2.dtype:
        raise ShapeError(f"operands must share one float dtype and one index dtype, got {d1}, {d2}, {c1}, {c2}")
    return _result_specs(d1.dtype, c1.dtype, shape, layout)


@sparse_binary.def_reference
def _binary_reference(d1, c1, p1, d2, c2, p2, shape, layout, kind):
    a, b = _densify(d1, c1, p1, shape, layout), _densify(d2, c2, p2, shape, layout)
    ma, mb = _pattern_np(d1, c1, p1, shape, layout), _pattern_np(d2, c2, p2, shape, layout)
    if kind == "add":
        return _stored_np(a + b, ma | mb, layout, c1.dtype)
    return _stored_np(a * b, ma & mb, layout, c1.dtype)


@sparse_binary.def_jvp
def _binary_jvp(primals, tangents, outs, shape, layout, kind):
    d1, c1, p1, d2, c2, p2 = primals
    t1, t2 = tangents[0], tangents[3]
    zero1 = t1 if t1 is not None else lax.zeros_like(d1)
    zero2 = t2 if t2 is not None else lax.zeros_like(d2)
    if t1 is None and t2 is None:
        return [None, None, None]
    if kind == "add":
        t = _emit3("tn.sparse_binary", [zero1, c1, p1, zero2, c2, p2], shape=shape, layout=layout, kind="add")[0]
        return [t, None, None]
    mul = product_rule(lambda a: _emit3("tn.sparse_binary", a, shape=shape, layout=layout, kind="mul")[0],
                       primals, tangents, 0, 3)
    return [mul, None, None]


@sparse_binary.def_transpose
def _binary_transpose(cts, primals, shape, layout, kind):
    ct = cts[0]
    d1, c1, p1, d2, c2, p2 = primals
    if ct is None:
        return [None] * 6
    # the result's pattern, recomputed from the operands' (structural: values do not matter)
    z1 = lax.zeros(TensorSpec(tuple(d1.shape), d1.dtype)) if isinstance(d1, Linear) else d1
    z2 = lax.zeros(TensorSpec(tuple(d2.shape), d2.dtype)) if isinstance(d2, Linear) else d2
    _, oc, op = _emit3("tn.sparse_binary", [z1, c1, p1, z2, c2, p2], shape=shape, layout=layout, kind=kind)
    out = [None] * 6
    for k, (d, c, p, other) in enumerate(((d1, c1, p1, (d2, c2, p2)), (d2, c2, p2, (d1, c1, p1)))):
        if not isinstance(d, Linear):
            continue
        g = _gather_on(ct, oc, op, shape, layout, c, p)
        if kind == "mul":  # linear in one operand: times the other's values on this pattern
            od, ocrd, opos = other
            g = g * _gather_on(od, ocrd, opos, shape, layout, c, p)
        out[3 * k] = g
    return out


# ---------------------------------------------------------------- tn.sparse_spgemm
sparse_spgemm = defop(
    "tn.sparse_spgemm", ["data1", "indices1", "indptr1", "data2", "indices2", "indptr2"],
    ["data", "indices", "indptr"], attrs={"shape": "ints", "layout": "str"},
    doc="A (M x K) @ B (K x N), both sparse of one layout (`shape` = [M, K, N]) -> sparse M x N.",
)


def _spgemm_shapes(shape):
    m, k, n = (int(v) for v in shape)
    return (m, k), (k, n), (m, n)


@sparse_spgemm.def_infer
def _spgemm_infer(specs: list[TensorSpec], shape, layout) -> list[TensorSpec]:
    d1, c1, p1, d2, c2, p2 = specs
    if len(shape) != 3:
        raise ShapeError(f"shape must be [M, K, N], got {tuple(shape)}")
    sa, sb, so = _spgemm_shapes(shape)
    _check_pattern(d1.shape[0], c1, p1, sa, layout)
    _check_pattern(d2.shape[0], c2, p2, sb, layout)
    if d1.dtype != d2.dtype or d1.dtype.kind != "f" or c1.dtype != c2.dtype:
        raise ShapeError(f"operands must share one float dtype and one index dtype, got {d1}, {d2}")
    return _result_specs(d1.dtype, c1.dtype, so, layout)


@sparse_spgemm.def_reference
def _spgemm_reference(d1, c1, p1, d2, c2, p2, shape, layout):
    sa, sb, so = _spgemm_shapes(shape)
    a, b = _densify(d1, c1, p1, sa, layout), _densify(d2, c2, p2, sb, layout)
    ma = _pattern_np(d1, c1, p1, sa, layout).astype(np.int64)
    mb = _pattern_np(d2, c2, p2, sb, layout).astype(np.int64)
    return _stored_np(a @ b, (ma @ mb) > 0, layout, c1.dtype)


@sparse_spgemm.def_jvp
def _spgemm_jvp(primals, tangents, outs, shape, layout):
    return [product_rule(lambda a: _emit3("tn.sparse_spgemm", a, shape=shape, layout=layout)[0],
                         primals, tangents, 0, 3), None, None]


@sparse_spgemm.def_transpose
def _spgemm_transpose(cts, primals, shape, layout):
    # C = A B on C's pattern: A_bar = (C_bar B^T) on A's pattern, B_bar = (A^T C_bar) on B's
    ct = cts[0]
    d1, c1, p1, d2, c2, p2 = primals
    if ct is None:
        return [None] * 6
    sa, sb, so = _spgemm_shapes(shape)
    z1 = lax.zeros(TensorSpec(tuple(d1.shape), d1.dtype)) if isinstance(d1, Linear) else d1
    z2 = lax.zeros(TensorSpec(tuple(d2.shape), d2.dtype)) if isinstance(d2, Linear) else d2
    _, oc, op = _emit3("tn.sparse_spgemm", [z1, c1, p1, z2, c2, p2], shape=shape, layout=layout)
    ct_dense = lax.emit("tn.sparse_to_dense", [ct, oc, op], shape=list(so), layout=layout)
    out = [None] * 6
    if isinstance(d1, Linear) and not isinstance(d2, Linear):
        b_dense = lax.emit("tn.sparse_to_dense", [d2, c2, p2], shape=list(sb), layout=layout)
        full = lax.matmul(ct_dense, lax.swap_last(b_dense))
        out[0] = lax.emit("tn.sparse_gather", [c1, p1, full], shape=list(sa), layout=layout)
    if isinstance(d2, Linear) and not isinstance(d1, Linear):
        a_dense = lax.emit("tn.sparse_to_dense", [d1, c1, p1], shape=list(sa), layout=layout)
        full = lax.matmul(lax.swap_last(a_dense), ct_dense)
        out[3] = lax.emit("tn.sparse_gather", [c2, p2, full], shape=list(sb), layout=layout)
    return out


# ---------------------------------------------------------------- tn.sparse_from_dense
sparse_from_dense = defop(
    "tn.sparse_from_dense", ["x"], ["data", "indices", "indptr"], attrs={"layout": "str", "index": "dtype"},
    doc="The nonzeros of a dense matrix as CSR/CSC arrays (indices of dtype `index`).",
)


@sparse_from_dense.def_infer
def _from_dense_infer(specs: list[TensorSpec], layout, index) -> list[TensorSpec]:
    (x,) = specs
    if x.ndim != 2 or x.dtype.kind != "f" or not x.is_static:
        if x.ndim == 2 and not x.is_static:
            raise NotImplementedError(f"tn.sparse_from_dense of a dynamic shape ({x})")
        raise ShapeError(f"x must be a 2-D float matrix, got {x}")
    if layout not in ("csr", "csc"):
        raise ShapeError(f"layout must be 'csr' or 'csc', got {layout!r}")
    idx = np.dtype(index)
    if idx not in (np.int32, np.int64):
        raise ShapeError(f"index must be int32 or int64, got {idx.name}")
    return _result_specs(x.dtype, idx, x.shape, layout)


@sparse_from_dense.def_reference
def _from_dense_reference(x, layout, index):
    return _from_dense_np(x, layout, np.dtype(index))


@sparse_from_dense.def_jvp
def _from_dense_jvp(primals, tangents, outs, layout, index):
    (x,) = primals
    (t,) = tangents
    if t is None:
        return [None, None, None]
    shape = list(x.shape)
    return [lax.emit("tn.sparse_gather", [outs[1], outs[2], t], shape=shape, layout=layout), None, None]


# ---------------------------------------------------------------- lowering
def _disassemble(st: str, e: str, iw: str, outer: int) -> str:
    """Text: the sparse tensor %r's arrays into fresh tensors of its entry count."""
    vt, it, pt = f"tensor<?x{e}>", f"tensor<?x{iw}>", f"tensor<{outer + 1}x{iw}>"
    return f"""  %n = sparse_tensor.number_of_entries %r : {st}
  %vo = tensor.empty(%n) : {vt}
  %co = tensor.empty(%n) : {it}
  %po = tensor.empty() : {pt}
  %rp, %rc, %rv, %lp, %lc, %lv = sparse_tensor.disassemble %r : {st} out_lvls(%po, %co : {pt}, {it}) out_vals(%vo : {vt}) -> ({pt}, {it}), {vt}, (index, index), index
  return %rv, %rc, %rp : {vt}, {it}, {pt}"""


def _no_entries(call: LowerCall, data_operands: Sequence[int]) -> bool:
    """Whether one of the data operands has a static size 0 (the kernels then need no loop;
    and a memref<0x...> makes the sparsifier's subviews fail to verify)."""
    return any(call.in_specs[i].shape[0] == 0 for i in data_operands)


def _empty_result(call: LowerCall) -> list[ir.Value]:
    """No stored entries: empty data and indices, an indptr of zeros."""
    from mlir.dialects import tensor as tensor_d
    d, i, p = call.out_specs
    outs = []
    for spec in (d, i):
        t = fill(TensorSpec((0,), spec.dtype), 0)
        outs.append(tensor_d.CastOp(tensor_type(spec), t).result if spec.shape[0] is None else t)
    return outs + [fill(p, 0)]


def _cast_to(v: ir.Value, spec: TensorSpec) -> ir.Value:
    from mlir.dialects import tensor as tensor_d
    want = tensor_type(spec)
    return v if v.type == want else tensor_d.CastOp(want, v).result


def _result_types(call: LowerCall) -> str:
    return ", ".join(str(tensor_type(s)) for s in call.out_specs)


def _loop_kernel_call(call: LowerCall, name: str, text: str, operands: Sequence[ir.Value]) -> list[ir.Value]:
    """Call the loop kernel `name` (defined by `text` once per module) on `operands` cast to
    dynamic sizes; its results cast to the op's result types."""
    from mlir.dialects import func
    from mlir.dialects import tensor as tensor_d
    _define_once(call, name, text)
    args = []
    for v in operands:
        t = ir.RankedTensorType(v.type)
        dyn = ir.RankedTensorType.get([ir.ShapedType.get_dynamic_size()], t.element_type)
        args.append(v if t == dyn else tensor_d.CastOp(dyn, v).result)
    d, i, p = call.out_specs
    types = [ir.RankedTensorType.get([ir.ShapedType.get_dynamic_size()], element_type(s.dtype)) for s in (d, i, p)]
    outs = func.CallOp(types, ir.FlatSymbolRefAttr.get(name), args).results
    return [_cast_to(o, s) for o, s in zip(outs, call.out_specs)]


@sparse_binary.def_lower
def _binary_lower(call: LowerCall) -> list[ir.Value]:
    """A + B, A * B: a two-pointer merge of each pair of rows (sparse_loops.merge_text)."""
    shape, layout, kind = call.attrs["shape"], call.attrs["layout"], call.attrs["kind"]
    if _no_entries(call, [0, 3]):
        if kind == "mul" or _no_entries(call, [0]) and _no_entries(call, [3]):
            return _empty_result(call)
        k = 3 if _no_entries(call, [0]) else 0  # A + 0 = A (the other operand's arrays)
        return [_cast_to(call.operands[k + j], call.out_specs[j]) for j in range(3)]
    check_nnz(call, 0)
    check_nnz(call, 3)
    e = str(element_type(call.out_specs[0].dtype))
    w = "i32" if call.in_specs[1].dtype == np.int32 else "i64"
    outer = _outer(shape, layout)
    inner = int(shape[1]) if layout == "csr" else int(shape[0])
    name = f"__theanir_sparse_merge_{kind}_{outer}_{inner}_{e}_{w}"
    return _loop_kernel_call(call, name, sparse_loops.merge_text(name, outer, inner, kind, e, w), call.operands)


def _only_returned(op: ir.Operation, results: Sequence[int]) -> bool:
    """Whether `results` of `op` are used by nothing but the return of a public function:
    the program's outputs, which the frontend hands to the user as SciPy matrices (no kernel
    of ours reads them afterwards; one that gets them back as an argument sorts them first,
    frontend/sparse.py `canonical`)."""
    for i in results:
        for use in op.results[i].uses:
            owner = use.owner
            if owner.name != "func.return":
                return False
            fn = owner.parent
            if "sym_visibility" in fn.attributes and ir.StringAttr(fn.attributes["sym_visibility"]).value != "public":
                return False
    return True


@sparse_spgemm.def_lower
def _spgemm_lower(call: LowerCall) -> list[ir.Value]:
    """A @ B, both sparse: Gustavson's two passes (sparse_loops.spgemm_text), sorted rows
    unless the result only leaves the program (SPGEMM_RETURNED_UNSORTED: then its columns
    stay in the order first met, as SciPy's own A @ B leaves them; SciPy's matrix built
    from them says so, has_sorted_indices False). In CSC, C^T = B^T A^T in CSR: the
    operands swapped."""
    shape, layout = call.attrs["shape"], call.attrs["layout"]
    if _no_entries(call, [0, 3]):
        return _empty_result(call)
    check_nnz(call, 0)
    check_nnz(call, 3)
    m, k, n = (int(v) for v in shape)
    ops = list(call.operands)
    if layout == "csc":
        m, n = n, m
        ops = ops[3:] + ops[:3]
    e = str(element_type(call.out_specs[0].dtype))
    w = "i32" if call.in_specs[1].dtype == np.int32 else "i64"
    returned = sparse_loops.SPGEMM_RETURNED_UNSORTED and _only_returned(call.op, (0, 1))
    sort = "unsorted" if returned else sparse_loops.SPGEMM_SORT
    name = f"__theanir_sparse_spgemm_{m}_{k}_{n}_{e}_{w}_{sort}"
    return _loop_kernel_call(call, name, sparse_loops.spgemm_text(name, m, k, n, e, w, sort), ops)


@sparse_from_dense.def_lower
def _from_dense_lower(call: LowerCall) -> list[ir.Value]:
    layout = call.attrs["layout"]
    (xt,) = _types(call)
    x = call.in_specs[0]
    e = str(element_type(x.dtype))
    width = 32 if call.out_specs[1].dtype == np.int32 else 64
    st = sparse_type_text(x.shape, x.dtype, layout, width)
    name = f"__theanir_sparse_from_dense_{layout}_{_tag(call)}"
    text = f"""
func.func private @{name}(%x: {xt}) -> ({_result_types(call)}) {{
  %r = sparse_tensor.convert %x : {xt} to {st}
{_disassemble(st, e, f"i{width}", _outer(x.shape, layout))}
}}"""
    return _kernel_call(call, name, text)


# ---------------------------------------------------------------- tn.sparse_convert
sparse_convert = defop(
    "tn.sparse_convert", ["data", "indices", "indptr"], ["data_out", "indices_out", "indptr_out"],
    attrs={"shape": "ints", "layout": "str"},
    doc="A matrix of `layout` (csr or csc) stored in the other layout: the same entries, re-sorted.",
)


@sparse_convert.def_infer
def _convert_infer(specs: list[TensorSpec], shape, layout) -> list[TensorSpec]:
    d, c, p = specs
    _check_pattern(d.shape[0], c, p, shape, layout)
    if d.ndim != 1 or d.dtype.kind != "f":
        raise ShapeError(f"data must be a float vector, got {d}")
    other = "csc" if layout == "csr" else "csr"
    return [TensorSpec((d.shape[0],), d.dtype), TensorSpec((d.shape[0],), c.dtype),
            TensorSpec((_outer(shape, other) + 1,), c.dtype)]


@sparse_convert.def_reference
def _convert_reference(d, c, p, shape, layout):
    other = "csc" if layout == "csr" else "csr"
    return _stored_np(_densify(d, c, p, shape, layout), _pattern_np(d, c, p, shape, layout), other, c.dtype)


@sparse_convert.def_jvp
def _convert_jvp(primals, tangents, outs, shape, layout):
    d, c, p = primals
    t = tangents[0]
    if t is None:
        return [None, None, None]
    return [_emit3("tn.sparse_convert", [t, c, p], shape=shape, layout=layout)[0], None, None]


@sparse_convert.def_transpose
def _convert_transpose(cts, primals, shape, layout):
    ct = cts[0]
    d, c, p = primals
    if ct is None or not isinstance(d, Linear):
        return [None, None, None]
    other = "csc" if layout == "csr" else "csr"
    z = lax.zeros(TensorSpec(tuple(d.shape), d.dtype))
    _, oc, op = _emit3("tn.sparse_convert", [z, c, p], shape=shape, layout=layout)
    dense = lax.emit("tn.sparse_to_dense", [ct, oc, op], shape=list(shape), layout=other)
    return [lax.emit("tn.sparse_gather", [c, p, dense], shape=list(shape), layout=layout), None, None]


@sparse_convert.def_lower
def _convert_lower(call: LowerCall) -> list[ir.Value]:
    shape, layout = call.attrs["shape"], call.attrs["layout"]
    if _no_entries(call, [0]):
        return _empty_result(call)
    other = "csc" if layout == "csr" else "csr"
    vt, ct, pt = _types(call)
    dt = call.out_specs[0].dtype
    e = str(element_type(dt))
    width = 32 if call.in_specs[1].dtype == np.int32 else 64
    iw = f"i{width}"
    st_in = sparse_type_text(shape, dt, layout, width)
    st = sparse_type_text(shape, dt, other, width)
    check_nnz(call)
    casts, dv, dc, dp = _dynamic_arrays(vt, ct, pt, e, iw)
    name = f"__theanir_sparse_convert_{layout}_{_tag(call)}"
    result_types = ", ".join(f"tensor<?x{t}>" for t in (e, iw)) + f", tensor<{_outer(shape, other) + 1}x{iw}>"
    text = f"""
func.func private @{name}(%v: {vt}, %c: {ct}, %p: {pt}) -> ({result_types}) {{
{casts}  %a = sparse_tensor.assemble (%pd, %cd), %vd : ({dp}, {dc}), {dv} to {st_in}
  %r = sparse_tensor.convert %a : {st_in} to {st}
{_disassemble(st, e, iw, _outer(shape, other))}
}}"""
    outs = _kernel_call_typed(call, name, text, result_types)
    return outs


def _kernel_call_typed(call: LowerCall, name: str, text: str, result_types: str) -> list[ir.Value]:
    """`_kernel_call` for kernels whose results are dynamic where the op's are static: cast."""
    from mlir.dialects import tensor as tensor_d
    outs = _kernel_call_as(call, name, text, [ir.Type.parse(t.strip()) for t in _split_types(result_types)])
    want = [tensor_type(s) for s in call.out_specs]
    return [o if o.type == w else tensor_d.CastOp(w, o).result for o, w in zip(outs, want)]


def _split_types(text: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in text:
        depth += ch == "<"
        depth -= ch == ">"
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    return out + [cur]


def _define_once(call: LowerCall, name: str, text: str) -> None:
    """Parse the kernel `text` into the enclosing module unless `name` is defined there."""
    module = call.op
    while module.name != "builtin.module":
        module = module.parent
    if name not in ir.SymbolTable(module.operation):
        parsed = ir.Module.parse(text)  # kept alive while its function moves
        parsed.body.operations[0].move_before(module.regions[0].blocks[0].operations[0])


def _kernel_call_as(call: LowerCall, name: str, text: str, types: list[ir.Type]) -> list[ir.Value]:
    from mlir.dialects import func
    _define_once(call, name, text)
    return list(func.CallOp(types, ir.FlatSymbolRefAttr.get(name), call.operands).results)


# ------------------------------------------------------------------ batching rules (vmap)
# A sparse result's number of entries depends on each example's values and pattern, so a
# batch of them is ragged: no stacked form, refused. A conversion keeps its entries: one op
# per example (batching.loop_rule).
_RAGGED = "its result's number of entries differs between examples (a batch of sparse results is ragged)"
for _op in (sparse_binary, sparse_spgemm, sparse_from_dense):
    _op.def_batch(vb.refuse(_op.name, _RAGGED))
sparse_convert.def_batch(vb.loop_rule(sparse_convert.name))
