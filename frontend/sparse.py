"""Sparse CSR/CSC matrices (Theano's `theanir.sparse`): SciPy values in, MLIR's sparsifier below.

    import scipy.sparse as sp
    import theanir as th
    from theanir import sparse

    @th.jit
    def f(a, w):                      # a: a scipy.sparse CSR or CSC matrix, passed zero-copy
        return sparse.structured_dot(a, w)

A sparse matrix is its three arrays (SciPy's `data`, `indices`, `indptr`) plus a static shape
and layout: a pytree node, so `th.jit` and `th.function` pass the arrays as buffers and the
trace sees a `SparseTensor` of three Tensors. Ops on the nonzeros only are NumPy ops on
`data`; products go through `tn.sparse_matmul` / `tn.sparse_sddmm` (dialects/tn/ops/sparse.py),
which the sparsifier compiles. Gradients: `data` is an ordinary Tensor, so the gradient of a
sparse input is *structured* (a SparseTensor on the same pattern) by construction; `dot`
adds the *regular* (dense) gradient as Theano defines it (see `grad_of`).

Input rules (decided here, docs/sparse.md): a non-canonical matrix (unsorted indices or
duplicates) is made canonical on a copy (duplicates summed, as SciPy's own ops do); a
canonical one is passed without a copy. Malformed structure (indptr not monotone or of the
wrong length, indices out of range, lengths that disagree), non-float data, and a CSR value
where a CSC variable is declared raise, naming the argument.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from theanir.dialects.tn import lax as tlax
from theanir.runtime import Array

from . import numpy_api as tnp
from .pytree import register_node
from .tensor import Tensor

FORMATS = ("csr", "csc")


_SPARSE_TYPES: dict[type, bool] = {}  # type -> is a SciPy CSR/CSC class (asked on every warm call)


def is_scipy_sparse(x: Any) -> bool:
    """A scipy.sparse CSR/CSC matrix or array (checked without importing SciPy)."""
    t = type(x)
    known = _SPARSE_TYPES.get(t)
    if known is None:
        known = t.__module__.startswith("scipy.sparse") and getattr(x, "format", None) in FORMATS
        if len(_SPARSE_TYPES) < 256:
            _SPARSE_TYPES[t] = known
    return known


class SparseTensor:
    """A traced CSR/CSC matrix: `data`, `indices`, `indptr` Tensors, static `shape`, `format`.

    `kind` ("matrix" or "array") says which SciPy class a returned value becomes."""

    ndim = 2
    __theanir_defer__ = True  # Tensor <op> SparseTensor: ours (frontend/tensor.py)

    def __init__(self, data: Any, indices: Any, indptr: Any, shape: tuple[int, int], format: str,
                 kind: str = "matrix"):
        if format not in FORMATS:
            raise ValueError(f"sparse format must be 'csr' or 'csc', got {format!r}")
        self.data, self.indices, self.indptr = data, indices, indptr
        self.shape = (int(shape[0]), int(shape[1]))
        self.format = format
        self.kind = kind

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def nnz(self) -> Any:
        return self.data.shape[0]

    @property
    def T(self) -> "SparseTensor":
        return transpose(self)

    def with_data(self, data: Any) -> "SparseTensor":
        """The same pattern with other values (a structured result)."""
        return SparseTensor(data, self.indices, self.indptr, self.shape, self.format, self.kind)

    def toarray(self) -> Tensor:
        return dense_from_sparse(self)

    def __matmul__(self, other: Any) -> Any:
        return dot(self, other)

    def __rmatmul__(self, other: Any) -> Any:
        return dot(other, self)

    def __neg__(self) -> "SparseTensor":
        return self.with_data(-self.data)

    def __abs__(self) -> "SparseTensor":
        return self.with_data(tnp.abs(self.data))

    # +, -, * are attached by frontend/sparse_ops.py (theanir.sparse's add/sub/mul)

    def __truediv__(self, other: Any) -> "SparseTensor":
        return self.with_data(self.data / _as_tensor(other))

    def __repr__(self) -> str:
        return f"SparseTensor({self.format}, {self.shape}, {np.dtype(self.dtype).name})"


# ------------------------------------------------------------------ values in and out
def _flatten(x: Any) -> tuple[list, Any]:
    if isinstance(x, SparseTensor):
        return [x.data, x.indices, x.indptr], (x.format, x.shape, x.kind)
    x = canonical(x, "sparse argument")
    kind = "array" if type(x).__name__.endswith("_array") else "matrix"
    return [x.data, x.indices, x.indptr], (x.format, tuple(int(n) for n in x.shape), kind)


def _unflatten(aux: Any, children: list) -> Any:
    fmt, shape, kind = aux
    if any(isinstance(c, Tensor) for c in children):
        return SparseTensor(*children, shape, fmt, kind)
    import scipy.sparse as sp
    cls = getattr(sp, f"{fmt}_{kind}")
    data, indices, indptr = (np.asarray(c) for c in children)
    return cls((data, indices, indptr), shape=shape)


register_node(lambda x: isinstance(x, SparseTensor) or is_scipy_sparse(x), _flatten, _unflatten)


def value_key(x: Any) -> tuple | None:
    """What compiled code depends on in a NumPy array, th.Array or SciPy matrix argument
    (layout, shape, dtypes, strides); None for anything else. Warm calls with sparse
    arguments look their code up by these keys instead of the full signature."""
    if type(x) is np.ndarray:
        return (x.shape, x.dtype.str, x.strides)
    if is_scipy_sparse(x):
        return (type(x), x.format, x.shape, x.data.shape, x.data.dtype.str, x.indices.shape,
                x.indices.dtype.str, x.indptr.dtype.str)  # (nnz: jit's static shapes compile per nnz)
    if type(x) is Array:
        return ("Array", x.shape, x.dtype.str)
    return None


def call_key(args: Sequence[Any]) -> tuple | None:
    """The `value_key`s of `args` when each has one and one at least is sparse, else None."""
    key, sparse = [], False
    for x in args:
        k = value_key(x)
        if k is None:
            return None
        sparse = sparse or is_scipy_sparse(x)
        key.append(k)
    return tuple(key) if sparse else None


def call_leaves(args: Sequence[Any], check: bool = True) -> list:
    """The leaves `call_key`'s arguments flatten to, as tree_flatten gives them: a matrix's
    three arrays (with `check`, checked and made canonical first: `canonical` raises on a
    malformed one), any other argument itself."""
    leaves: list = []
    for x in args:
        if not is_scipy_sparse(x):
            leaves.append(x)
            continue
        if check:
            x = canonical(x, "sparse argument")
        leaves += [x.data, x.indices, x.indptr]
    return leaves


_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))
_UNSIGNED = {np.dtype(np.int32): np.uint32, np.dtype(np.int64): np.uint64}


def canonical(x: Any, who: str, dtype: Any = None, format: str | None = None) -> Any:
    """`x` checked: a well-formed CSR/CSC matrix with float data, sorted indices and no
    duplicates (a canonical copy when it has either), optionally of `format` and `dtype`.

    Every warm call with a SciPy argument runs this (the kernels read the arrays unchecked),
    so it is a few NumPy reductions and O(1) tests: indices in range in one pass (as
    unsigned, a negative index is a huge one), indptr monotone by one vector compare."""
    if not is_scipy_sparse(x):
        raise TypeError(f"{who}: expected a scipy.sparse CSR or CSC matrix, got {type(x).__name__}")
    if format is not None and x.format != format:
        raise TypeError(f"{who}: declared {format.upper()}, got a {x.format.upper()} matrix (convert it "
                        f"with .to{format}() first)")
    data, indices, indptr = x.data, x.indices, x.indptr
    if data.dtype not in _FLOATS:
        raise TypeError(f"{who}: sparse data must be float32 or float64, got {data.dtype.name}")
    if dtype is not None and data.dtype != np.dtype(dtype):
        raise TypeError(f"{who}: expected dtype {np.dtype(dtype).name}, got {data.dtype.name}")
    m, k = x.shape
    outer, inner = (m, k) if x.format == "csr" else (k, m)
    if indptr.ndim != 1 or indptr.shape[0] != outer + 1:
        raise ValueError(f"{who}: indptr has {indptr.shape[0]} entries, a {x.format.upper()} "
                         f"{m}x{k} matrix needs {outer + 1}")
    unsigned = _UNSIGNED.get(indices.dtype)
    if unsigned is None or indptr.dtype != indices.dtype:
        raise TypeError(f"{who}: indices and indptr must both be int32 or int64, got "
                        f"{indices.dtype.name} and {indptr.dtype.name}")
    nnz = int(indptr[-1])
    if int(indptr[0]) != 0 or (outer > 0 and (indptr[1:] < indptr[:-1]).any()):
        raise ValueError(f"{who}: indptr must start at 0 and never decrease")
    if nnz != indices.shape[0] or nnz != data.shape[0]:
        raise ValueError(f"{who}: indptr ends at {nnz} but there are {indices.shape[0]} indices and "
                         f"{data.shape[0]} values")
    if nnz and int(indices.view(unsigned).max()) >= inner:
        bad = indices[(indices < 0) | (indices >= inner)][0]
        raise ValueError(f"{who}: index {int(bad)} is out of range for a {m}x{k} "
                         f"{x.format.upper()} matrix (0 <= index < {inner})")
    if not x.has_canonical_format:
        x = x.copy()
        x.sum_duplicates()  # sorts too
    if not (data.flags.c_contiguous and indices.flags.c_contiguous and indptr.flags.c_contiguous):
        x = x.copy()
    return x


# ------------------------------------------------------------------ building
def _as_tensor(x: Any, dtype: Any = None) -> Tensor:
    return tnp.as_tensor(x) if dtype is None else tnp.astype(tnp.as_tensor(x), dtype)


def _sparse_of(x: Any, who: str = "argument") -> SparseTensor:
    if isinstance(x, SparseTensor):
        return x
    if is_scipy_sparse(x):  # a constant matrix inside a trace
        x = canonical(x, who)
        kind = "array" if type(x).__name__.endswith("_array") else "matrix"
        return SparseTensor(tnp.constant(x.data), tnp.constant(x.indices), tnp.constant(x.indptr),
                            x.shape, x.format, kind)
    raise TypeError(f"{who}: expected a sparse matrix, got {type(x).__name__}")


def is_sparse(x: Any) -> bool:
    return isinstance(x, SparseTensor) or is_scipy_sparse(x)


def CSR(data: Any, indices: Any, indptr: Any, shape: Any) -> SparseTensor:
    """Theano's `CSR(data, indices, indptr, shape)`: a CSR matrix from its arrays."""
    return _build(data, indices, indptr, shape, "csr")


def CSC(data: Any, indices: Any, indptr: Any, shape: Any) -> SparseTensor:
    """Theano's `CSC(data, indices, indptr, shape)`: a CSC matrix from its arrays."""
    return _build(data, indices, indptr, shape, "csc")


def _build(data, indices, indptr, shape, fmt) -> SparseTensor:
    shape = tuple(int(n) for n in np.asarray(shape).reshape(-1)) if not isinstance(shape, tuple) else shape
    if len(shape) != 2:
        raise ValueError(f"{fmt.upper()}: shape must have 2 sizes, got {shape}")
    d = _as_tensor(data)
    if d.dtype.kind != "f":
        d = tnp.astype(d, np.float64)
    i = _as_tensor(indices)
    p = _as_tensor(indptr)
    idt = np.int64 if np.int64 in (i.dtype, p.dtype) else np.int32
    return SparseTensor(d, tnp.astype(i, idt), tnp.astype(p, idt), shape, fmt)


def csm_properties(x: Any) -> tuple[Tensor, Tensor, Tensor, tuple[int, int]]:
    """Theano's `csm_properties`: (data, indices, indptr, shape) of a sparse matrix."""
    s = _sparse_of(x, "csm_properties")
    return s.data, s.indices, s.indptr, s.shape


def as_sparse_variable(x: Any, name: str | None = None) -> Any:
    """A sparse matrix as a sparse value of the graph (SciPy values become constants)."""
    return _sparse_of(x, "as_sparse_variable")


# ------------------------------------------------------------------ ops
def _attrs(s: SparseTensor) -> dict:
    return {"shape": list(s.shape), "layout": s.format}


def dense_from_sparse(x: Any) -> Tensor:
    """The dense matrix of a sparse one."""
    s = _sparse_of(x, "dense_from_sparse")
    return Tensor(tlax.emit("tn.sparse_to_dense", [s.data, s.indices, s.indptr], **_attrs(s)).value)


def transpose(x: Any) -> SparseTensor:
    """A^T: the same arrays read in the other layout (CSR <-> CSC), no copy."""
    s = _sparse_of(x, "transpose")
    return SparseTensor(s.data, s.indices, s.indptr, (s.shape[1], s.shape[0]),
                        "csc" if s.format == "csr" else "csr", s.kind)


def _product(s: SparseTensor, b: Any, who: str) -> Tensor:
    """sparse (M, K) @ dense (K,) or (K, N), through tn.sparse_matmul."""
    b = _as_tensor(b)
    if b.ndim not in (1, 2):
        raise ValueError(f"{who}: the dense operand must be 1-D or 2-D, got shape {b.shape}")
    if b.shape[0] is not None and b.shape[0] != s.shape[1]:
        raise ValueError(f"{who}: shapes {s.shape} and {b.shape} do not match ({s.shape[1]} != {b.shape[0]})")
    dt = np.result_type(s.dtype, b.dtype)
    if dt.kind != "f":
        dt = np.dtype(np.float64)
    data = s.data if s.dtype == dt else tnp.astype(s.data, dt)
    b2 = tnp.astype(b, dt) if b.dtype != dt else b
    vec = b2.ndim == 1
    if vec:
        b2 = tnp.reshape(b2, (-1, 1))
    out = Tensor(tlax.emit("tn.sparse_matmul", [data, s.indices, s.indptr, b2], **_attrs(s)).value)
    return tnp.reshape(out, (s.shape[0],)) if vec else out


def structured_dot(a: Any, b: Any) -> Tensor:
    """Theano's `structured_dot(a, b)`: sparse a @ dense b (or dense a @ sparse b); the
    gradient with respect to the sparse operand is structured (on its pattern)."""
    if is_sparse(a) and not is_sparse(b):
        return _product(_sparse_of(a), b, "structured_dot")
    if is_sparse(b) and not is_sparse(a):
        # a @ B = (B^T @ a^T)^T
        a_t = _as_tensor(a)
        if a_t.ndim == 1:
            return _product(transpose(_sparse_of(b)), a_t, "structured_dot")
        return tnp.transpose(_product(transpose(_sparse_of(b)), tnp.transpose(a_t), "structured_dot"))
    raise TypeError("structured_dot: exactly one operand must be sparse (true_dot multiplies two)")


def dot(a: Any, b: Any) -> Tensor:
    """Theano's `sparse.dot(a, b)`: a product with a sparse operand whose gradient with respect
    to the sparse operand (a th.function input or shared variable) is *regular*: a dense
    matrix over every entry, not only the pattern (frontend/sparse_grad.py)."""
    if is_sparse(a) and not is_sparse(b):
        s = _sparse_of(a)
        uses = getattr(s, "regular", None)
        if uses is None:
            return _product(s, b, "dot")
        out = _product(s.with_data(tnp.stop_gradient(s.data)), b, "dot")
        uses.append((out, _as_tensor(b), "left"))
        return out
    if is_sparse(b) and not is_sparse(a):
        s = _sparse_of(b)
        uses = getattr(s, "regular", None)
        if uses is None:
            return structured_dot(a, s)
        out = structured_dot(a, s.with_data(tnp.stop_gradient(s.data)))
        uses.append((out, _as_tensor(a), "right"))
        return out
    if is_sparse(a) and is_sparse(b):
        return tnp.matmul(dense_from_sparse(a), dense_from_sparse(b))
    return tnp.matmul(a, b)
