"""Theano's sparse variables: `csr_matrix('x')`, `csc_matrix`, sparse shared variables, and
the `theanir.sparse` functions on Variables (recorded as graph nodes, evaluated at trace time
on `SparseTensor`s, frontend/sparse.py).

    x = sparse.csr_matrix("x")            # a SparseVariable (format 'csr', float64)
    w = th.shared(np.zeros((n, 1)))
    y = sparse.structured_dot(x, w)       # a Variable: evaluated when th.function traces
    f = th.function([x], y)
    f(scipy.sparse.random(4, n, format="csr"))
"""
from __future__ import annotations

import functools
from typing import Any, Callable

import numpy as np

from theanir.dialects.tn.types import check_dtype

from . import sparse as S
from . import sparse_ops as O
from .config import config
from .symbolic import SHARED_KINDS, SharedVariable
from .symbolic_graph import Apply, Variable, describe
from .pytree import tree_flatten
from .tensor import Tensor


class SparseVariable(Variable):
    """A symbolic CSR/CSC matrix: ndim 2, a float dtype, a `format`."""

    format: str = "csr"

    def __init__(self, format: str, dtype: Any = None, name: str | None = None):
        super().__init__(2, dtype if dtype is not None else config.floatX, name)
        self.format = format

    @property
    def T(self) -> "SparseVariable":
        return transpose(self)

    def __add__(self, other: Any) -> Any:
        return add(self, other)

    def __radd__(self, other: Any) -> Any:
        return add(other, self)

    def __sub__(self, other: Any) -> Any:
        return sub(self, other)

    def __mul__(self, other: Any) -> Any:
        return mul(self, other)

    def __rmul__(self, other: Any) -> Any:
        return mul(other, self)

    def __neg__(self) -> Any:
        return neg(self)

    def toarray(self) -> Any:
        return dense_from_sparse(self)

    def __matmul__(self, other: Any) -> Any:
        return dot(self, other)

    def __rmatmul__(self, other: Any) -> Any:
        return dot(other, self)

    def __repr__(self) -> str:
        return f"SparseVariable({self.format}, {self.dtype}{', ' + repr(self.name) if self.name else ''})"


def csr_matrix(name: str | None = None, dtype: Any = None) -> SparseVariable:
    """Theano's `sparse.csr_matrix(name, dtype)`: an input taking scipy.sparse CSR values."""
    return SparseVariable("csr", dtype, name)


def csc_matrix(name: str | None = None, dtype: Any = None) -> SparseVariable:
    """Theano's `sparse.csc_matrix(name, dtype)`: an input taking scipy.sparse CSC values."""
    return SparseVariable("csc", dtype, name)


class SparseSharedVariable(SharedVariable, SparseVariable):
    """`th.shared(scipy_sparse_matrix)`: a sparse value held across calls (format, dtype fixed)."""

    def __init__(self, value: Any, name: str | None = None, strict: bool = False,
                 allow_downcast: bool | None = None):
        Variable.__init__(self, 2, value.dtype, name)
        self.format = value.format
        self.container = [value, True]
        self.strict = strict
        self.allow_downcast = allow_downcast
        self.default_update = None

    def get_value(self, borrow: bool = False, return_internal_type: bool = False) -> Any:
        value = self.container[0]
        return value if (borrow or return_internal_type) else value.copy()

    def set_value(self, value: Any, borrow: bool = False) -> None:
        who = f"set_value of sparse shared variable {describe(self)}"
        value = S.canonical(value, who, self.dtype, self.format)
        self.container[:] = [value if borrow else value.copy(), not borrow]


def sparse_shared(value: Any, name: str | None = None, strict: bool = False,
                  allow_downcast: bool | None = None, borrow: bool = False) -> SparseSharedVariable:
    who = f"th.shared{'(' + repr(name) + ')' if name else ''}"
    value = S.canonical(value, who)
    return SparseSharedVariable(value if borrow else value.copy(), name, strict, allow_downcast)


SHARED_KINDS.append((S.is_scipy_sparse, sparse_shared))


def is_sparse_variable(v: Any) -> bool:
    return isinstance(v, SparseVariable)


def leaf_count(v: Any) -> int:
    """Flattened leaves of a th.function input or shared variable (a sparse one: 3 arrays)."""
    return 3 if isinstance(v, SparseVariable) else 1


# ------------------------------------------------------------------ functions on Variables
def _record(fn: Callable, sparse_out: Callable[[tuple], str | None] | None, dense_ndim: Any = None) -> Callable:
    """`fn` that records a node when an argument is a Variable; `sparse_out(args)` gives the
    result's format when it is sparse (None: a dense result of ndim `dense_ndim(args)`)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not any(isinstance(a, Variable) for a in tree_flatten((args, kwargs))[0]):
            return fn(*args, **kwargs)
        fmt = sparse_out(args) if sparse_out is not None else None
        leaves = tree_flatten(args)[0]
        dtypes = [np.dtype(str(a.dtype)) for a in leaves if isinstance(a, Variable) and a.dtype is not None
                  and np.dtype(str(a.dtype)).kind == "f"]
        dt = np.result_type(*dtypes) if dtypes else np.dtype(config.floatX)
        ndim = 2 if fmt else (dense_ndim(args) if dense_ndim else 2)
        node = Apply(fn, args, kwargs, type_rule=lambda i: (ndim, check_dtype(dt)))
        out = node.outputs[0]
        if fmt:
            out.__class__ = SparseVariable
            out.format = fmt
        return out

    return wrapper


def _fmt(a: Any) -> str:
    return getattr(a, "format", "csr")


def _swap(args: tuple) -> str:
    return "csc" if _fmt(args[0]) == "csr" else "csr"


def _dense_of_product(args: tuple) -> int:
    a, b = args[0], args[1]
    other = b if isinstance(a, SparseVariable) or S.is_sparse(a) else a
    return getattr(other, "ndim", 2) or 2


structured_dot = _record(S.structured_dot, None, _dense_of_product)
dot = _record(S.dot, None, _dense_of_product)
dense_from_sparse = _record(S.dense_from_sparse, None)
transpose = _record(S.transpose, _swap)
csm_data = _record(lambda x: S._sparse_of(x).data, None, lambda a: 1)


def csm_properties(x: Any) -> Any:
    """(data, indices, indptr, shape) of a sparse matrix; on a Variable, four Variables."""
    if not isinstance(x, Variable):
        return S.csm_properties(x)
    node = Apply(lambda v: S.csm_properties(v)[:3] + (_shape_tensor(v),), (x,), {}, nout=4,
                 type_rule=lambda i: [(1, check_dtype(str(x.dtype))), (1, np.dtype(np.int32)),
                                      (1, np.dtype(np.int32)), (1, np.dtype(np.int64))][i])
    return tuple(node.outputs)


def _shape_tensor(v: Any) -> Tensor:
    from . import numpy_api as tnp
    return tnp.constant(np.asarray(S._sparse_of(v).shape, dtype=np.int64))


def _build(fmt: str) -> Callable:
    def build(data: Any, indices: Any, indptr: Any, shape: Any) -> Any:
        if not any(isinstance(a, Variable) for a in (data, indices, indptr)):
            return S._build(data, indices, indptr, shape, fmt)
        shape = tuple(int(n) for n in shape)
        node = Apply(lambda d, i, p: S._build(d, i, p, shape, fmt), (data, indices, indptr), {},
                     type_rule=lambda i: (2, check_dtype(str(data.dtype)) if isinstance(data, Variable)
                                          else np.dtype(np.float64)))
        out = node.outputs[0]
        out.__class__ = SparseVariable
        out.format = fmt
        return out
    build.__name__ = fmt.upper()
    build.__doc__ = f"Theano's `{fmt.upper()}(data, indices, indptr, shape)`: a {fmt.upper()} matrix from its arrays."
    return build


CSR = _build("csr")
CSC = _build("csc")


def as_sparse_variable(x: Any, name: str | None = None) -> Any:
    """A sparse Variable, SparseTensor or SciPy matrix as a sparse value of the graph."""
    if isinstance(x, (SparseVariable, S.SparseTensor)):
        return x
    if S.is_scipy_sparse(x):  # held as a sparse shared variable (Theano: a constant)
        return sparse_shared(x, name)
    raise TypeError(f"as_sparse_variable: expected a sparse matrix, got {type(x).__name__}")


# ------------------------------------------------------------------ the rest of the op list
def _first_sparse(args: tuple) -> Any:
    return next((a for a in tree_flatten(args)[0] if isinstance(a, SparseVariable)), None)


def _both_sparse(args: tuple) -> str | None:
    """The result format of add/sub/mul: sparse when both operands are, else dense (add/sub)."""
    if all(isinstance(a, SparseVariable) or S.is_sparse(a) for a in args[:2]):
        return _fmt(args[0])
    return None


def _mul_format(args: tuple) -> str | None:
    x, y = args[0], args[1]
    if isinstance(x, SparseVariable) and isinstance(y, SparseVariable):
        return _fmt(x)
    sp_ = x if isinstance(x, SparseVariable) else y
    return _fmt(sp_)  # structured: the sparse operand's pattern


def _keep(args: tuple) -> str:
    return _fmt(_first_sparse(args) or args[0])


def _vector(args: tuple) -> int:
    return 1


add = _record(O.add, _both_sparse)
sub = _record(O.sub, _both_sparse)
mul = _record(O.mul, _mul_format)
true_dot = _record(O.true_dot, lambda a: _fmt(a[0]) if all(isinstance(v, SparseVariable) for v in a[:2]) else None,
                   _dense_of_product)


def sp_sum(x: Any, axis: int | None = None, sparse_grad: bool = False) -> Any:
    """Theano's `sp_sum(x, axis, sparse_grad)` (see frontend/sparse_ops.py)."""
    if not isinstance(x, Variable):
        return O.sp_sum(x, axis, sparse_grad)
    node = Apply(O.sp_sum, (x, axis, sparse_grad), {},
                 type_rule=lambda i: (0 if axis is None else 1, check_dtype(str(x.dtype))))
    return node.outputs[0]


row_scale = _record(O.row_scale, _keep)
col_scale = _record(O.col_scale, _keep)
sampling_dot = _record(O.sampling_dot, lambda a: _fmt(a[2]))
csr_from_dense = _record(O.csr_from_dense, lambda a: "csr")
csc_from_dense = _record(O.csc_from_dense, lambda a: "csc")


def hstack(blocks: Any, format: str | None = None, dtype: Any = None) -> Any:
    """Theano's `sparse.hstack` (CSC unless `format` says)."""
    return _record(O.hstack, lambda a: format or "csc")(list(blocks), format, dtype)


def vstack(blocks: Any, format: str | None = None, dtype: Any = None) -> Any:
    """Theano's `sparse.vstack` (CSR unless `format` says)."""
    return _record(O.vstack, lambda a: format or "csr")(list(blocks), format, dtype)


structured_sigmoid = _record(O.structured_sigmoid, _keep)
structured_exp = _record(O.structured_exp, _keep)
structured_log = _record(O.structured_log, _keep)
structured_pow = _record(O.structured_pow, _keep)
structured_add = _record(O.structured_add, _keep)
sqrt = _record(O.sqrt, _keep)
tanh = _record(O.tanh, _keep)
neg = _record(O.neg, _keep)
abs_ = _record(O.abs_, _keep)
sin = _record(O.sin, _keep)
expm1 = _record(O.expm1, _keep)
log1p = _record(O.log1p, _keep)
sqr = _record(O.sqr, _keep)
as_format = _record(O.as_format, lambda a: a[1])
