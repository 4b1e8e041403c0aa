"""Sparse CSR/CSC products: the kernels that MLIR's sparsifier compiles (docs/sparse.md).

A sparse matrix in `tn` IR is its three dense arrays, SciPy's `data`, `indices`, `indptr`
(MLIR's values, coordinates, positions), with the matrix shape and layout as attributes; the
frontend (`frontend/sparse.py`) keeps them together. So the arrays cross the call boundary as
ordinary buffers (zero-copy from SciPy), autodiff sees dense tensors (the gradient of `data`
is the structured gradient), and every op that only touches the nonzeros is plain tn on
`data`. Two ops need the pattern itself:

    %c = "tn.sparse_matmul"(%data, %indices, %indptr, %b) {shape = array<i64: 4, 6>, layout = "csr"}
         : (tensor<?xf64>, tensor<?xi32>, tensor<?xi32>, tensor<6x3xf64>) -> tensor<4x3xf64>
    %v = "tn.sparse_sddmm"(%indices, %indptr, %x, %y) {shape = array<i64: 4, 6>, layout = "csr"}
         : (tensor<?xi32>, tensor<?xi32>, tensor<4x3xf64>, tensor<6x3xf64>) -> tensor<?xf64>

`tn.sparse_matmul` is A @ B (A sparse M x K, B dense K x N). It lowers to
`sparse_tensor.assemble` of the arrays into a `#sparse_tensor.encoding` tensor and one
`linalg.generic`, which the sparsifier (passes/lower/sparsify.py) turns into loops over the
nonzeros. `tn.sparse_sddmm` is the sampled product on A's pattern: out[p] = x[r(p)] . y[c(p)]
(r, c the row and column of nonzero p), the transpose of sparse_matmul in A's values. Each
transposes into the other, so gradients of any order stay on the pattern.
Shapes: the sparse shape is static (assemble needs it); nnz and the dense operands' dims may
be dynamic (checked against the sparse shape when the code runs).
"""
from __future__ import annotations

import hashlib
from typing import Sequence

import numpy as np
from mlir import ir
from mlir.dialects import arith, func

from .. import batching as vb
from .. import lax
from ..lowering import LowerCall, check_same_size, dim_value, fill
from ..registry import Linear, ShapeError, defop
from ..types import TensorSpec, element_type, tensor_type

INDEX_DTYPES = (np.dtype(np.int32), np.dtype(np.int64))


def _check_pattern(data_n, crd: TensorSpec, pos: TensorSpec, shape, layout: str) -> tuple[int, int]:
    if layout not in ("csr", "csc"):
        raise ShapeError(f"layout must be 'csr' or 'csc', got {layout!r}")
    if len(shape) != 2 or any(int(n) < 0 for n in shape):
        raise ShapeError(f"the sparse shape must be 2 sizes >= 0, got {tuple(shape)}")
    if crd.dtype not in INDEX_DTYPES or pos.dtype != crd.dtype:
        raise ShapeError(f"indices and indptr must share one dtype, int32 or int64; got "
                         f"{crd.dtype.name} and {pos.dtype.name}")
    if crd.ndim != 1 or pos.ndim != 1:
        raise ShapeError(f"indices and indptr must be 1-D, got {crd} and {pos}")
    m, k = int(shape[0]), int(shape[1])
    outer = m if layout == "csr" else k
    if pos.shape[0] is not None and pos.shape[0] != outer + 1:
        raise ShapeError(f"indptr must have {outer + 1} entries for a {layout} {m}x{k} matrix, got {pos.shape[0]}")
    if data_n is not None and crd.shape[0] is not None and data_n != crd.shape[0]:
        raise ShapeError(f"data and indices differ in length: {data_n} and {crd.shape[0]}")
    return m, k


# ---------------------------------------------------------------- tn.sparse_matmul
sparse_matmul = defop(
    "tn.sparse_matmul", ["data", "indices", "indptr", "dense"], attrs={"shape": "ints", "layout": "str"},
    doc="A @ B: A sparse (`shape`, csr or csc: data/indices/indptr), B dense (K, N) -> dense (M, N).",
)


@sparse_matmul.def_infer
def _matmul_infer(specs: list[TensorSpec], shape, layout) -> list[TensorSpec]:
    data, crd, pos, b = specs
    m, k = _check_pattern(data.shape[0] if data.ndim == 1 else None, crd, pos, shape, layout)
    if data.ndim != 1 or data.dtype.kind != "f" or b.dtype != data.dtype:
        raise ShapeError(f"data must be a float vector of the dense operand's dtype, got {data} and {b}")
    if b.ndim != 2:
        raise ShapeError(f"the dense operand must be 2-D, got {b}")
    if b.shape[0] is not None and b.shape[0] != k:
        raise ShapeError(f"contracted dims differ: sparse {m}x{k} @ dense {b.shape}")
    return [TensorSpec((m, b.shape[1]), data.dtype)]


@sparse_matmul.def_reify
def _matmul_reify(call: LowerCall) -> list[list]:
    n = call.out.shape[1]
    return [[call.out.shape[0], n if n is not None else dim_value(call.operands[3], 1)]]


def _check_dense_dims(call: LowerCall, k: int, want: Sequence[int | None], what: str) -> None:
    """Run-time checks of a dense operand's dynamic dims against the sizes the pattern needs."""
    spec, v = call.in_specs[k], call.operands[k]
    idx = ir.IndexType.get()
    for axis, n in enumerate(want):
        if n is not None and spec.shape[axis] is None:
            check_same_size(call, dim_value(v, axis), arith.ConstantOp(idx, n).result,
                            f"{call.op.name}: {what} has {{0}} along axis {axis}, the sparse shape needs {{1}}")


@sparse_matmul.def_reference
def _matmul_reference(data, crd, pos, b, shape, layout):
    return _densify(data, crd, pos, shape, layout) @ b


def _densify(data, crd, pos, shape, layout) -> np.ndarray:
    """The dense matrix of the arrays (NumPy only: duplicates add, as in SciPy)."""
    m, k = int(shape[0]), int(shape[1])
    out = np.zeros((m, k), dtype=data.dtype)
    outer = np.repeat(np.arange(len(pos) - 1), np.diff(pos.astype(np.int64)))
    r, c = (outer, crd) if layout == "csr" else (crd, outer)
    np.add.at(out, (r.astype(np.int64), c.astype(np.int64)), data)
    return out


def _swap(layout: str) -> str:
    return "csc" if layout == "csr" else "csr"


def product_rule(emit, primals, tangents, left: int, right: int):
    """The jvp of an op linear in operand `left` and in operand `right` separately (a product):
    op(da, b) + op(a, db), each term only where that operand has a tangent; None when neither
    has one. `emit(operands)` builds the op."""
    parts = []
    for k in (left, right):
        if tangents[k] is not None:
            operands = list(primals)
            operands[k] = tangents[k]
            parts.append(emit(operands))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else parts[0] + parts[1]


@sparse_matmul.def_jvp
def _matmul_jvp(primals, tangents, outs, shape, layout):
    return [product_rule(lambda a: lax.emit("tn.sparse_matmul", a, shape=shape, layout=layout),
                         primals, tangents, 0, 3)]


@sparse_matmul.def_transpose
def _matmul_transpose(cts, primals, shape, layout):
    # C = A B: A_bar on the pattern = sddmm(C_bar, B); B_bar = A^T C_bar (A's CSR is A^T's CSC)
    (ct,) = cts
    data, crd, pos, b = primals
    if ct is None:
        return [None] * 4
    ct_data = ct_b = None
    if isinstance(data, Linear) and not isinstance(b, Linear):
        ct_data = lax.emit("tn.sparse_sddmm", [crd, pos, ct, b], shape=shape, layout=layout)
    if isinstance(b, Linear) and not isinstance(data, Linear):
        ct_b = lax.emit("tn.sparse_matmul", [data, crd, pos, ct], shape=[shape[1], shape[0]],
                        layout=_swap(layout))
    return [ct_data, None, None, ct_b]


# ---------------------------------------------------------------- tn.sparse_sddmm
sparse_sddmm = defop(
    "tn.sparse_sddmm", ["indices", "indptr", "x", "y"], attrs={"shape": "ints", "layout": "str"},
    doc="Sampled product on a sparse pattern: out[p] = sum_j x[row(p), j] * y[col(p), j] -> (nnz,).",
)


@sparse_sddmm.def_infer
def _sddmm_infer(specs: list[TensorSpec], shape, layout) -> list[TensorSpec]:
    crd, pos, x, y = specs
    m, k = _check_pattern(None, crd, pos, shape, layout)
    if x.ndim != 2 or y.ndim != 2 or x.dtype != y.dtype or x.dtype.kind != "f":
        raise ShapeError(f"x and y must be 2-D float matrices of one dtype, got {x} and {y}")
    def differ(p, q):
        return p is not None and q is not None and p != q
    if differ(x.shape[0], m) or differ(y.shape[0], k) or differ(x.shape[1], y.shape[1]):
        raise ShapeError(f"x must be ({m}, n) and y ({k}, n) for a {m}x{k} pattern, got {x.shape} and {y.shape}")
    return [TensorSpec((crd.shape[0],), x.dtype)]


@sparse_sddmm.def_reference
def _sddmm_reference(crd, pos, x, y, shape, layout):
    outer = np.repeat(np.arange(len(pos) - 1), np.diff(pos.astype(np.int64)))
    r, c = (outer, crd) if layout == "csr" else (crd, outer)
    r, c = r.astype(np.int64), c.astype(np.int64)
    return np.einsum("pj,pj->p", x[r], y[c]).astype(x.dtype)


@sparse_sddmm.def_jvp
def _sddmm_jvp(primals, tangents, outs, shape, layout):
    return [product_rule(lambda a: lax.emit("tn.sparse_sddmm", a, shape=shape, layout=layout),
                         primals, tangents, 2, 3)]


@sparse_sddmm.def_transpose
def _sddmm_transpose(cts, primals, shape, layout):
    # v = sddmm(x, y): x_bar = A(v_bar) @ y, y_bar = A(v_bar)^T @ x
    (ct,) = cts
    crd, pos, x, y = primals
    if ct is None:
        return [None] * 4
    ct_x = ct_y = None
    if isinstance(x, Linear) and not isinstance(y, Linear):
        ct_x = lax.emit("tn.sparse_matmul", [ct, crd, pos, y], shape=shape, layout=layout)
    if isinstance(y, Linear) and not isinstance(x, Linear):
        ct_y = lax.emit("tn.sparse_matmul", [ct, crd, pos, x], shape=[shape[1], shape[0]], layout=_swap(layout))
    return [None, None, ct_x, ct_y]


# ---------------------------------------------------------------- lowering: private kernels
# Each rule calls a private function written in MLIR text (parsed once per module and type
# signature); `inline` (linalg stage) puts the body in place before the sparsifier runs.
_ENCODING = ("#sparse_tensor.encoding<{{map = (i, j) -> ({}), posWidth = {w}, crdWidth = {w}}}>")
_MAPS = {"csr": "i : dense, j : compressed", "csc": "j : dense, i : compressed"}


def sparse_type_text(shape, dtype: np.dtype, layout: str, width: int) -> str:
    """The MLIR text of a sparse tensor type (MLIR's own CSR/CSC encodings)."""
    enc = _ENCODING.format(_MAPS[layout], w=width)
    return f"tensor<{int(shape[0])}x{int(shape[1])}x{element_type(dtype)}, {enc}>"


def _kernel_call(call: LowerCall, name: str, text: str) -> list[ir.Value]:
    module = call.op
    while module.name != "builtin.module":
        module = module.parent
    table = ir.SymbolTable(module.operation)
    if name not in table:
        parsed = ir.Module.parse(text)
        fn = parsed.body.operations[0]
        body = module.regions[0].blocks[0]
        fn.move_before(body.operations[0])
    result_types = [tensor_type(s) for s in call.out_specs]
    return list(func.CallOp(result_types, ir.FlatSymbolRefAttr.get(name), call.operands).results)


def _types(call: LowerCall) -> list[str]:
    return [str(v.type) for v in call.operands]


def _tag(call: LowerCall) -> str:
    raw = "_".join(str(v.type) for v in call.operands) + "_" + str(call.attrs)
    return hashlib.sha1(raw.encode()).hexdigest()[:12]


def check_nnz(call: LowerCall, first: int = 0) -> None:
    """A run-time check that a matrix's data and indices (operands `first`, `first + 1`) have
    one length when either is dynamic: the sparsifier would read past the shorter one."""
    if call.in_specs[first].shape[0] is None or call.in_specs[first + 1].shape[0] is None:
        check_same_size(call, dim_value(call.operands[first], 0), dim_value(call.operands[first + 1], 0),
                        f"{call.op.name}: the sparse matrix has {{0}} values but {{1}} indices")


def _dynamic_arrays(vt: str, ct: str, pt: str, e: str, iw: str) -> tuple[str, str, str, str]:
    """Casts of the three arrays to `tensor<?x...>` (a static size 0 would make the
    sparsifier's subviews out of bounds at compile time) and the types assemble then reads."""
    dv, di = f"tensor<?x{e}>", f"tensor<?x{iw}>"
    text = (f"  %vd = tensor.cast %v : {vt} to {dv}\n  %cd = tensor.cast %c : {ct} to {di}\n"
            f"  %pd = tensor.cast %p : {pt} to {di}\n")
    return text, dv, di, di


@sparse_matmul.def_lower
def _matmul_lower(call: LowerCall) -> list[ir.Value]:
    if call.in_specs[0].shape[0] == 0:  # no nonzeros (static): zeros, no kernel
        return [fill(call.out, 0)]
    shape, layout = call.attrs["shape"], call.attrs["layout"]
    if layout == "csr" and call.out.shape[1] == 1:  # CSR x vector: our loop (vector gathers)
        return _matvec_lower(call)
    from . import sparse_csc, sparse_loops
    if layout == "csr" and call.out.shape[1] is not None and call.out.shape[1] > 0 and sparse_loops.CSR_DENSE_LOOPS:
        return _matvec_lower(call, dense=True)  # CSR x dense of static width: our loops
    if layout == "csc" and call.out.shape[1] is not None and call.out.shape[1] > 0 and sparse_csc.CSC_LOOPS:
        return _csc_lower(call)  # CSC x vector or dense of static width: our scatter loops
    vt, ct, pt, bt = _types(call)
    dt = call.out.dtype
    e = str(element_type(dt))
    width = 32 if call.in_specs[1].dtype == np.int32 else 64
    st = sparse_type_text(shape, dt, layout, width)
    ot = str(tensor_type(call.out))
    name = f"__theanir_sparse_mm_{layout}_{_tag(call)}"
    check_nnz(call)
    casts, dv, dc, dp = _dynamic_arrays(vt, ct, pt, e, f"i{width}")
    k = int(shape[1])
    _check_dense_dims(call, 3, [k, None], "the dense operand")
    n = call.out.shape[1]
    kb = f"tensor<{k}x{'?' if n is None else n}x{e}>"  # b with its contracted dim static
    text = f"""
func.func private @{name}(%v: {vt}, %c: {ct}, %p: {pt}, %b0: {bt}) -> {ot} {{
{casts}  %a = sparse_tensor.assemble (%pd, %cd), %vd : ({dp}, {dc}), {dv} to {st}
  %b = tensor.cast %b0 : {bt} to {kb}
  %c1 = arith.constant 1 : index
  %n = tensor.dim %b, %c1 : {kb}
  %z = arith.constant 0.0 : {e}
  %e = tensor.empty({'%n' if n is None else ''}) : {ot}
  %f = linalg.fill ins(%z : {e}) outs(%e : {ot}) -> {ot}
  %r = linalg.generic {{indexing_maps = [affine_map<(i, j, k) -> (i, k)>, affine_map<(i, j, k) -> (k, j)>,
                       affine_map<(i, j, k) -> (i, j)>], iterator_types = ["parallel", "parallel", "reduction"]}}
       ins(%a, %b : {st}, {kb}) outs(%f : {ot}) {{
  ^bb0(%x: {e}, %y: {e}, %o: {e}):
    %m = arith.mulf %x, %y : {e}
    %s = arith.addf %o, %m : {e}
    linalg.yield %s : {e}
  }} -> {ot}
  return %r : {ot}
}}"""
    return _kernel_call(call, name, text)


def _matvec_lower(call: LowerCall, dense: bool = False) -> list[ir.Value]:
    """CSR A @ b with b of one column: sparse_loops.csr_matvec_text (one kernel per row count,
    element and index type); with `dense`, B of n columns (n static): sparse_loops.csr_dense_text
    (one kernel per row count, width, element and index type); operands cast to dynamic sizes,
    the result to the op's type."""
    from . import sparse_loops
    m, k, n, e, w = _checked_product(call)
    name = f"__theanir_sparse_mm_csr_{m}x{n}_{e}_{w}" if dense else f"__theanir_sparse_mv_csr_{m}_{e}_{w}"
    return _dense_kernel_call(call, name, lambda: sparse_loops.csr_dense_text(name, m, n, e, w) if dense
                             else sparse_loops.csr_matvec_text(name, m, e, w))


def _checked_product(call: LowerCall) -> tuple[int, int, int, str, str]:
    """(m, k, n, element type, index type) of a sparse (m x k) @ dense (k x n, n static)
    product, its operands checked (nonzero counts, the dense operand's dims)."""
    m, k = (int(v) for v in call.attrs["shape"])
    n = int(call.out.shape[1])
    check_nnz(call)
    _check_dense_dims(call, 3, [k, n], "the dense operand")
    e = str(element_type(call.out.dtype))
    return m, k, n, e, "i32" if call.in_specs[1].dtype == np.int32 else "i64"


def _dense_kernel_call(call: LowerCall, name: str, text) -> list[ir.Value]:
    """A call of our loop kernel @`name` (its MLIR text from `text()`, added to the module once)
    on the op's operands cast to dynamic sizes; the result has the op's type."""
    from mlir.dialects import tensor as tensor_d
    module = call.op
    while module.name != "builtin.module":
        module = module.parent
    if name not in ir.SymbolTable(module.operation):
        parsed = ir.Module.parse(text())  # alive while its function moves
        parsed.body.operations[0].move_before(module.regions[0].blocks[0].operations[0])
    dyn = ir.ShapedType.get_dynamic_size()
    args = []
    for v in call.operands:
        t = ir.RankedTensorType(v.type)
        want = ir.RankedTensorType.get([dyn] * t.rank, t.element_type)
        args.append(v if t == want else tensor_d.CastOp(want, v).result)
    return list(func.CallOp([tensor_type(call.out)], ir.FlatSymbolRefAttr.get(name), args).results)


def _csc_lower(call: LowerCall) -> list[ir.Value]:
    """CSC A @ B, B of n static columns: sparse_csc.csc_matvec_text (n = 1) or csc_dense_text,
    one kernel per shape, element and index type and thread count (LOWERING_THREADS)."""
    from . import sparse_csc
    from ..lowering import LOWERING_THREADS
    m, k, n, e, w = _checked_product(call)
    threads = LOWERING_THREADS.get()
    name = f"__theanir_sparse_mm_csc_{m}x{k}x{n}_{e}_{w}_t{threads}"
    return _dense_kernel_call(call, name, lambda: sparse_csc.csc_matvec_text(name, m, k, e, w, threads) if n == 1
                             else sparse_csc.csc_dense_text(name, m, k, n, e, w, threads))


@sparse_sddmm.def_lower
def _sddmm_lower(call: LowerCall) -> list[ir.Value]:
    shape, layout = call.attrs["shape"], call.attrs["layout"]
    ct, pt, xt, yt = _types(call)
    dt = call.out.dtype
    e = str(element_type(dt))
    iw = "i32" if call.in_specs[0].dtype == np.int32 else "i64"
    ot = str(tensor_type(call.out))
    outer = int(shape[0]) if layout == "csr" else int(shape[1])
    m, k = int(shape[0]), int(shape[1])
    _check_dense_dims(call, 2, [m, None], "x")
    _check_dense_dims(call, 3, [k, None], "y")
    if call.in_specs[2].shape[1] is None or call.in_specs[3].shape[1] is None:
        check_same_size(call, dim_value(call.operands[2], 1), dim_value(call.operands[3], 1),
                        "tn.sparse_sddmm: x and y differ in columns ({0} vs {1})")
    nnz_dyn = call.out.shape[0] is None
    xi, yi = ("%o", "%cc") if layout == "csr" else ("%cc", "%o")
    name = f"__theanir_sparse_sddmm_{layout}_{_tag(call)}"
    text = f"""
func.func private @{name}(%c: {ct}, %p: {pt}, %x: {xt}, %y: {yt}) -> {ot} {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %co = arith.constant {outer} : index
  %cn = tensor.dim %x, %c1 : {xt}
  %nnz = tensor.dim %c, %c0 : {ct}
  %e = tensor.empty({'%nnz' if nnz_dyn else ''}) : {ot}
  %z = arith.constant 0.0 : {e}
  %f = linalg.fill ins(%z : {e}) outs(%e : {ot}) -> {ot}
  %r = scf.for %o = %c0 to %co step %c1 iter_args(%acc = %f) -> ({ot}) {{
    %o1 = arith.addi %o, %c1 : index
    %lo_i = tensor.extract %p[%o] : {pt}
    %hi_i = tensor.extract %p[%o1] : {pt}
    %lo = arith.index_cast %lo_i : {iw} to index
    %hi = arith.index_cast %hi_i : {iw} to index
    %acc2 = scf.for %q = %lo to %hi step %c1 iter_args(%a = %acc) -> ({ot}) {{
      %ci = tensor.extract %c[%q] : {ct}
      %cc = arith.index_cast %ci : {iw} to index
      %s = scf.for %j = %c0 to %cn step %c1 iter_args(%s0 = %z) -> ({e}) {{
        %xv = tensor.extract %x[{xi}, %j] : {xt}
        %yv = tensor.extract %y[{yi}, %j] : {yt}
        %m = arith.mulf %xv, %yv : {e}
        %s1 = arith.addf %s0, %m : {e}
        scf.yield %s1 : {e}
      }}
      %a2 = tensor.insert %s into %a[%q] : {ot}
      scf.yield %a2 : {ot}
    }}
    scf.yield %acc2 : {ot}
  }}
  return %r : {ot}
}}"""
    return _kernel_call(call, name, text)


# ---------------------------------------------------------------- tn.sparse_to_dense
sparse_to_dense = defop(
    "tn.sparse_to_dense", ["data", "indices", "indptr"], attrs={"shape": "ints", "layout": "str"},
    doc="The dense (M, K) matrix of a CSR/CSC pattern's values (duplicates add, as in SciPy).",
)


@sparse_to_dense.def_infer
def _to_dense_infer(specs: list[TensorSpec], shape, layout) -> list[TensorSpec]:
    data, crd, pos = specs
    m, k = _check_pattern(data.shape[0] if data.ndim == 1 else None, crd, pos, shape, layout)
    if data.ndim != 1 or data.dtype.kind != "f":
        raise ShapeError(f"data must be a float vector, got {data}")
    return [TensorSpec((m, k), data.dtype)]


@sparse_to_dense.def_reference
def _to_dense_reference(data, crd, pos, shape, layout):
    return _densify(data, crd, pos, shape, layout)


@sparse_to_dense.def_jvp
def _to_dense_jvp(primals, tangents, outs, shape, layout):
    data, crd, pos = primals
    td = tangents[0]
    if td is None:
        return [None]
    return [lax.emit("tn.sparse_to_dense", [td, crd, pos], shape=shape, layout=layout)]


@sparse_to_dense.def_transpose
def _to_dense_transpose(cts, primals, shape, layout):
    # the cotangent read on the pattern: ct[r(p), c(p)]
    (ct,) = cts
    data, crd, pos = primals
    if ct is None or not isinstance(data, Linear):
        return [None, None, None]
    return [lax.emit("tn.sparse_gather", [crd, pos, ct], shape=shape, layout=layout), None, None]


# ---------------------------------------------------------------- tn.sparse_gather
sparse_gather = defop(
    "tn.sparse_gather", ["indices", "indptr", "dense"], attrs={"shape": "ints", "layout": "str"},
    doc="A dense matrix read on a sparse pattern: out[p] = dense[row(p), col(p)] -> (nnz,).",
)


@sparse_gather.def_infer
def _gather_infer(specs: list[TensorSpec], shape, layout) -> list[TensorSpec]:
    crd, pos, x = specs
    m, k = _check_pattern(None, crd, pos, shape, layout)
    if x.ndim != 2 or any(p is not None and p != q for p, q in zip(x.shape, (m, k))) or x.dtype.kind != "f":
        raise ShapeError(f"the dense operand must be a float ({m}, {k}) matrix, got {x}")
    return [TensorSpec((crd.shape[0],), x.dtype)]


@sparse_gather.def_reference
def _gather_reference(crd, pos, x, shape, layout):
    outer = np.repeat(np.arange(len(pos) - 1), np.diff(pos.astype(np.int64)))
    r, c = (outer, crd) if layout == "csr" else (crd, outer)
    return x[r.astype(np.int64), c.astype(np.int64)]


@sparse_gather.def_jvp
def _gather_jvp(primals, tangents, outs, shape, layout):
    crd, pos, _ = primals
    t = tangents[2]
    return [None if t is None else lax.emit("tn.sparse_gather", [crd, pos, t], shape=shape, layout=layout)]


@sparse_gather.def_transpose
def _gather_transpose(cts, primals, shape, layout):
    (ct,) = cts
    crd, pos, x = primals
    if ct is None or not isinstance(x, Linear):
        return [None, None, None]
    return [None, None, lax.emit("tn.sparse_to_dense", [ct, crd, pos], shape=shape, layout=layout)]


@sparse_gather.def_lower
def _gather_lower(call: LowerCall) -> list[ir.Value]:
    shape, layout = call.attrs["shape"], call.attrs["layout"]
    ct, pt, xt = _types(call)
    iw = "i32" if call.in_specs[0].dtype == np.int32 else "i64"
    ot = str(tensor_type(call.out))
    outer = int(shape[0]) if layout == "csr" else int(shape[1])
    nnz_dyn = call.out.shape[0] is None
    xi = "%o, %cc" if layout == "csr" else "%cc, %o"
    _check_dense_dims(call, 2, [int(shape[0]), int(shape[1])], "the dense operand")
    name = f"__theanir_sparse_gather_{layout}_{_tag(call)}"
    text = f"""
func.func private @{name}(%c: {ct}, %p: {pt}, %x: {xt}) -> {ot} {{
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %co = arith.constant {outer} : index
  %nnz = tensor.dim %c, %c0 : {ct}
  %e = tensor.empty({'%nnz' if nnz_dyn else ''}) : {ot}
  %r = scf.for %o = %c0 to %co step %c1 iter_args(%acc = %e) -> ({ot}) {{
    %o1 = arith.addi %o, %c1 : index
    %lo_i = tensor.extract %p[%o] : {pt}
    %hi_i = tensor.extract %p[%o1] : {pt}
    %lo = arith.index_cast %lo_i : {iw} to index
    %hi = arith.index_cast %hi_i : {iw} to index
    %acc2 = scf.for %q = %lo to %hi step %c1 iter_args(%a = %acc) -> ({ot}) {{
      %ci = tensor.extract %c[%q] : {ct}
      %cc = arith.index_cast %ci : {iw} to index
      %xv = tensor.extract %x[{xi}] : {xt}
      %a2 = tensor.insert %xv into %a[%q] : {ot}
      scf.yield %a2 : {ot}
    }}
    scf.yield %acc2 : {ot}
  }}
  return %r : {ot}
}}"""
    return _kernel_call(call, name, text)


@sparse_to_dense.def_lower
def _to_dense_lower(call: LowerCall) -> list[ir.Value]:
    if call.in_specs[0].shape[0] == 0:
        return [fill(call.out, 0)]
    shape, layout = call.attrs["shape"], call.attrs["layout"]
    vt, ct, pt = _types(call)
    e = str(element_type(call.out.dtype))
    width = 32 if call.in_specs[1].dtype == np.int32 else 64
    st = sparse_type_text(shape, call.out.dtype, layout, width)
    ot = str(tensor_type(call.out))
    name = f"__theanir_sparse_to_dense_{layout}_{_tag(call)}"
    check_nnz(call)
    casts, dv, dc, dp = _dynamic_arrays(vt, ct, pt, e, f"i{width}")
    text = f"""
func.func private @{name}(%v: {vt}, %c: {ct}, %p: {pt}) -> {ot} {{
{casts}  %a = sparse_tensor.assemble (%pd, %cd), %vd : ({dp}, {dc}), {dv} to {st}
  %z = arith.constant 0.0 : {e}
  %e = tensor.empty() : {ot}
  %f = linalg.fill ins(%z : {e}) outs(%e : {ot}) -> {ot}
  %r = linalg.generic {{indexing_maps = [affine_map<(i, j) -> (i, j)>, affine_map<(i, j) -> (i, j)>],
                       iterator_types = ["parallel", "parallel"]}} ins(%a : {st}) outs(%f : {ot}) {{
  ^bb0(%x: {e}, %o: {e}):
    %s = arith.addf %o, %x : {e}
    linalg.yield %s : {e}
  }} -> {ot}
  return %r : {ot}
}}"""
    return _kernel_call(call, name, text)


# ------------------------------------------------------------------ batching rules (vmap)
# A batch of sparse matrices has a pattern per example (its own indices and indptr): vmap
# runs one op per example (batching.loop_rule), as JAX's BCOO batching does without a shared
# pattern; the dense operand of a product is sliced the same way.
for _op in (sparse_matmul, sparse_sddmm, sparse_to_dense, sparse_gather):
    _op.def_batch(vb.loop_rule(_op.name))
