"""The rest of Theano's sparse ops on traced values (`SparseTensor`s, frontend/sparse.py).

Structured ops (only the stored entries change: `mul` by a dense matrix or a scalar,
`row_scale`, `col_scale`, `sampling_dot`, the structured elementwise functions) are ops on
`data`, so their gradients are structured. Ops whose result pattern depends on both
operands (sparse + sparse, sparse * sparse, `true_dot` of two sparse matrices, conversions
from dense, CSR <-> CSC) go through the `tn.sparse_*` ops with sparse results
(dialects/tn/ops/sparse_out.py): the sparsifier computes the pattern when the code runs.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from theanir.dialects.tn import lax as tlax
from theanir.dialects.tn.builder import emit

from . import numpy_api as tnp
from .sparse import (SparseTensor, _as_tensor, _attrs, _sparse_of, dense_from_sparse, dot, is_sparse,
                     structured_dot, transpose)
from .tensor import Tensor


def _result(outs: Sequence[Any], shape: tuple[int, int], fmt: str, kind: str = "matrix") -> SparseTensor:
    return SparseTensor(*(Tensor(o) for o in outs), shape, fmt, kind)


def _emit(name: str, xs: Sequence[Any], **attrs: Any) -> list:
    return emit(name, [_as_tensor(x).value for x in xs], attrs)


def _same_dtype(a: SparseTensor, b: SparseTensor) -> tuple[SparseTensor, SparseTensor]:
    dt = np.result_type(a.dtype, b.dtype)
    fix = (lambda s: s if s.dtype == dt else s.with_data(tnp.astype(s.data, dt)))
    a, b = fix(a), fix(b)
    if a.indices.dtype != b.indices.dtype:  # one index width: int64 if either is
        a, b = (_index64(a), _index64(b))
    return a, b


def _index64(s: SparseTensor) -> SparseTensor:
    if s.indices.dtype == np.int64:
        return s
    return SparseTensor(s.data, tnp.astype(s.indices, np.int64), tnp.astype(s.indptr, np.int64),
                        s.shape, s.format, s.kind)


# ------------------------------------------------------------------ conversions
def as_format(x: Any, format: str) -> SparseTensor:
    """`x` stored as `format` ('csr' or 'csc'): the same matrix, re-sorted when it changes."""
    s = _sparse_of(x, "as_format")
    if format not in ("csr", "csc"):
        raise ValueError(f"format must be 'csr' or 'csc', got {format!r}")
    if s.format == format:
        return s
    return _result(_emit("tn.sparse_convert", [s.data, s.indices, s.indptr], **_attrs(s)), s.shape, format, s.kind)


def _from_dense(x: Any, fmt: str) -> SparseTensor:
    t = _as_tensor(x)
    if t.ndim != 2:
        raise ValueError(f"{fmt}_from_dense: expected a 2-D matrix, got shape {t.shape}")
    if t.dtype.kind != "f":
        t = tnp.astype(t, np.float64)
    if any(n is None for n in t.shape):  # th.function then compiles per shape
        raise NotImplementedError(f"{fmt}_from_dense: the sparse matrix's shape must be static, "
                                  f"got a dense matrix of dynamic shape {t.shape}")
    outs = _emit("tn.sparse_from_dense", [t], layout=fmt, index=np.int32 if max(t.shape) < 2**31 - 1 else np.int64)
    return _result(outs, t.shape, fmt)


def csr_from_dense(x: Any) -> SparseTensor:
    """Theano's `csr_from_dense`: the nonzeros of a dense matrix as CSR."""
    return _from_dense(x, "csr")


def csc_from_dense(x: Any) -> SparseTensor:
    """Theano's `csc_from_dense`: the nonzeros of a dense matrix as CSC."""
    return _from_dense(x, "csc")


# ------------------------------------------------------------------ arithmetic
def _check_shapes(a: SparseTensor, b: Any, who: str) -> None:
    if len(b.shape) != 2 or any(q is not None and p != q for p, q in zip(a.shape, b.shape)):
        raise ValueError(f"{who}: shapes {tuple(a.shape)} and {tuple(b.shape)} differ")


def add(x: Any, y: Any) -> Any:
    """Theano's `sparse.add`: sparse + sparse (the union of the patterns, sparse), or sparse +
    dense (dense)."""
    if is_sparse(x) and is_sparse(y):
        a, b = _same_dtype(_sparse_of(x), as_format(_sparse_of(y), _sparse_of(x).format))
        _check_shapes(a, b, "add")
        outs = _emit("tn.sparse_binary", [a.data, a.indices, a.indptr, b.data, b.indices, b.indptr],
                     **_attrs(a), kind="add")
        return _result(outs, a.shape, a.format, a.kind)
    if is_sparse(y):
        x, y = y, x
    s = _sparse_of(x, "add")
    d = _as_tensor(y)
    if d.ndim == 2:
        _check_shapes(s, d, "add")
    return dense_from_sparse(s) + d


def sub(x: Any, y: Any) -> Any:
    """Theano's `sparse.sub`: x - y (sparse - sparse: sparse on the union of the patterns)."""
    if is_sparse(y):
        return add(x, neg(y))
    return add(x, -_as_tensor(y))


def mul(x: Any, y: Any) -> Any:
    """Theano's `sparse.mul`: sparse * sparse (the intersection), sparse * dense or * scalar
    (structured: the result keeps the sparse operand's pattern)."""
    if is_sparse(x) and is_sparse(y):
        a, b = _same_dtype(_sparse_of(x), as_format(_sparse_of(y), _sparse_of(x).format))
        _check_shapes(a, b, "mul")
        outs = _emit("tn.sparse_binary", [a.data, a.indices, a.indptr, b.data, b.indices, b.indptr],
                     **_attrs(a), kind="mul")
        return _result(outs, a.shape, a.format, a.kind)
    if is_sparse(y):
        x, y = y, x
    s = _sparse_of(x, "mul")
    d = _as_tensor(y)
    if d.ndim == 0:
        return s.with_data(s.data * d)
    d = tnp.broadcast_to(d, s.shape)
    dt = np.result_type(s.dtype, d.dtype)
    d = tnp.astype(d, dt) if d.dtype != dt else d
    vals = Tensor(tlax.emit("tn.sparse_gather", [s.indices, s.indptr, d], **_attrs(s)).value)
    return s.with_data(tnp.astype(s.data, dt) * vals)


def true_dot(x: Any, y: Any, grad_preserves_dense: bool = True) -> Any:
    """Theano's `true_dot`: a product where both operands may be sparse; sparse @ sparse is
    a sparse result (SpGEMM), with a dense operand it is `dot`."""
    if not (is_sparse(x) and is_sparse(y)):
        return dot(x, y)
    a = _sparse_of(x)
    b = as_format(_sparse_of(y), a.format)
    a, b = _same_dtype(a, b)
    if a.shape[1] != b.shape[0]:
        raise ValueError(f"true_dot: shapes {a.shape} and {b.shape} do not match ({a.shape[1]} != {b.shape[0]})")
    if a.format == "csr":
        outs = _emit("tn.sparse_spgemm", [a.data, a.indices, a.indptr, b.data, b.indices, b.indptr],
                     shape=[a.shape[0], a.shape[1], b.shape[1]], layout="csr")
        return _result(outs, (a.shape[0], b.shape[1]), "csr", a.kind)
    # CSC: (A B)^T = B^T A^T, whose operands are CSR views of the same arrays
    return transpose(true_dot(transpose(b), transpose(a)))


def sp_sum(x: Any, axis: int | None = None, sparse_grad: bool = False) -> Tensor:
    """Theano's `sp_sum`: the sum of all entries, or per column (axis 0) or row (axis 1).
    `sparse_grad=True`: the gradient is structured; else regular (dense), as `dot`."""
    s = _sparse_of(x, "sp_sum")
    prod = structured_dot if sparse_grad else dot
    if axis is None:
        return tnp.sum(prod(s, tnp.ones((s.shape[1],), s.dtype)))
    if axis in (1, -1):
        return prod(s, tnp.ones((s.shape[1],), s.dtype))
    if axis in (0, -2):
        return prod(tnp.ones((s.shape[0],), s.dtype), s)
    raise ValueError(f"sp_sum: axis must be None, 0 or 1, got {axis!r}")


def _per_entry(s: SparseTensor, rows: Any, cols: Any) -> Tensor:
    """rows[r(p)] * cols[c(p)] for every stored entry p (tn.sparse_sddmm with one column)."""
    r = tnp.reshape(tnp.astype(_as_tensor(rows), s.dtype), (-1, 1))
    c = tnp.reshape(tnp.astype(_as_tensor(cols), s.dtype), (-1, 1))
    return Tensor(tlax.emit("tn.sparse_sddmm", [s.indices, s.indptr, r, c], **_attrs(s)).value)


def row_scale(x: Any, s: Any) -> SparseTensor:
    """Theano's `row_scale`: row i of x times s[i] (structured)."""
    sp_ = _sparse_of(x, "row_scale")
    v = _as_tensor(s)
    if v.ndim != 1 or v.shape[0] not in (None, sp_.shape[0]):
        raise ValueError(f"row_scale: expected {sp_.shape[0]} scales, got shape {v.shape}")
    return sp_.with_data(sp_.data * _per_entry(sp_, v, tnp.ones((sp_.shape[1],), sp_.dtype)))


def col_scale(x: Any, s: Any) -> SparseTensor:
    """Theano's `col_scale`: column j of x times s[j] (structured)."""
    sp_ = _sparse_of(x, "col_scale")
    v = _as_tensor(s)
    if v.ndim != 1 or v.shape[0] not in (None, sp_.shape[1]):
        raise ValueError(f"col_scale: expected {sp_.shape[1]} scales, got shape {v.shape}")
    return sp_.with_data(sp_.data * _per_entry(sp_, tnp.ones((sp_.shape[0],), sp_.dtype), v))


def sampling_dot(x: Any, y: Any, p: Any) -> SparseTensor:
    """Theano's `sampling_dot(x, y, p)`: (x @ y.T) * p on p's pattern only (an SDDMM)."""
    s = _sparse_of(p, "sampling_dot")
    a, b = _as_tensor(x), _as_tensor(y)
    def differ(p, q):
        return p is not None and q is not None and p != q
    if a.ndim != 2 or b.ndim != 2 or differ(a.shape[0], s.shape[0]) or differ(b.shape[0], s.shape[1]) \
            or differ(a.shape[1], b.shape[1]):
        raise ValueError(f"sampling_dot: x {a.shape} @ y.T {b.shape[::-1]} does not match p {s.shape}")
    dt = np.result_type(a.dtype, b.dtype, s.dtype)
    a, b = tnp.astype(a, dt), tnp.astype(b, dt)
    vals = Tensor(tlax.emit("tn.sparse_sddmm", [s.indices, s.indptr, a, b], **_attrs(s)).value)
    return s.with_data(tnp.astype(s.data, dt) * vals)


# ------------------------------------------------------------------ stacking
def _stack_outer(blocks: list[SparseTensor], shape: tuple[int, int], fmt: str) -> SparseTensor:
    """Blocks stacked along their compressed (outer) dim: arrays concatenated, indptr shifted."""
    if len({b.indices.dtype for b in blocks}) > 1:
        blocks = [_index64(b) for b in blocks]
    dt = np.result_type(*[b.dtype for b in blocks])
    data = tnp.concatenate([tnp.astype(b.data, dt) for b in blocks])
    indices = tnp.concatenate([b.indices for b in blocks])
    ptrs, total = [blocks[0].indptr[:1]], None
    for b in blocks:
        ptrs.append(b.indptr[1:] if total is None else b.indptr[1:] + total)
        total = b.indptr[-1] if total is None else total + b.indptr[-1]
    return SparseTensor(data, indices, tnp.concatenate(ptrs), shape, fmt, blocks[0].kind)


def vstack(blocks: Sequence[Any], format: str | None = None, dtype: Any = None) -> SparseTensor:
    """Theano's `sparse.vstack`: blocks on top of each other (CSR unless `format` says)."""
    bs = [as_format(_sparse_of(b, "vstack"), "csr") for b in blocks]
    if not bs or len({b.shape[1] for b in bs}) != 1:
        raise ValueError(f"vstack: blocks need one number of columns, got shapes {[b.shape for b in bs]}")
    out = _stack_outer(bs, (sum(b.shape[0] for b in bs), bs[0].shape[1]), "csr")
    return _finish(out, format, dtype)


def hstack(blocks: Sequence[Any], format: str | None = None, dtype: Any = None) -> SparseTensor:
    """Theano's `sparse.hstack`: blocks side by side (CSC unless `format` says)."""
    bs = [as_format(_sparse_of(b, "hstack"), "csc") for b in blocks]
    if not bs or len({b.shape[0] for b in bs}) != 1:
        raise ValueError(f"hstack: blocks need one number of rows, got shapes {[b.shape for b in bs]}")
    out = _stack_outer(bs, (bs[0].shape[0], sum(b.shape[1] for b in bs)), "csc")
    return _finish(out, format, dtype)


def _finish(s: SparseTensor, format: str | None, dtype: Any) -> SparseTensor:
    if dtype is not None and np.dtype(dtype) != s.dtype:
        s = s.with_data(tnp.astype(s.data, dtype))
    return as_format(s, format) if format else s


# ------------------------------------------------------------------ structured elementwise
def _structured(name: str, fn: Any, doc: str) -> Any:
    def op(x: Any) -> SparseTensor:
        s = _sparse_of(x, name)
        return s.with_data(fn(s.data))
    op.__name__ = name
    op.__doc__ = doc
    return op


structured_sigmoid = _structured("structured_sigmoid", tnp.sigmoid,
                                 "Theano's `structured_sigmoid`: sigmoid of the stored entries only.")
structured_exp = _structured("structured_exp", tnp.exp, "exp of the stored entries only (zeros stay zero).")
structured_log = _structured("structured_log", tnp.log, "log of the stored entries only.")
sqrt = _structured("sqrt", tnp.sqrt, "sqrt of the stored entries.")
tanh = _structured("tanh", tnp.tanh, "tanh of the stored entries.")
neg = _structured("neg", tnp.negative, "-x (the same pattern).")
abs_ = _structured("abs", tnp.abs, "|x| (the same pattern).")
sin = _structured("sin", tnp.sin, "sin of the stored entries.")
expm1 = _structured("expm1", tnp.expm1, "expm1 of the stored entries.")
log1p = _structured("log1p", tnp.log1p, "log1p of the stored entries.")
sqr = _structured("sqr", tnp.square, "x ** 2 of the stored entries.")


def structured_pow(x: Any, p: Any) -> SparseTensor:
    """Theano's `structured_pow`: the stored entries to the power `p`."""
    s = _sparse_of(x, "structured_pow")
    return s.with_data(tnp.power(s.data, p))


def structured_add(x: Any, y: Any) -> SparseTensor:
    """Theano's `structured_add`: `y` (a scalar or a vector over columns) added to the stored
    entries only."""
    s = _sparse_of(x, "structured_add")
    v = _as_tensor(y)
    if v.ndim == 0:
        return s.with_data(s.data + v)
    if v.ndim != 1 or v.shape[0] not in (None, s.shape[1]):
        raise ValueError(f"structured_add: expected a scalar or {s.shape[1]} values, got shape {v.shape}")
    return s.with_data(s.data + _per_entry(s, tnp.ones((s.shape[0],), s.dtype), v))


# SparseTensor's operators (the class is defined below this module's layer of functions)
SparseTensor.__add__ = lambda self, other: add(self, other)
SparseTensor.__radd__ = lambda self, other: add(other, self)
SparseTensor.__sub__ = lambda self, other: sub(self, other)
SparseTensor.__rsub__ = lambda self, other: add(neg(self), other)
SparseTensor.__mul__ = lambda self, other: mul(self, other)
SparseTensor.__rmul__ = lambda self, other: mul(other, self)
