"""`import theanir.tensor as T`: Theano's symbolic namespace.

    x, y = T.dmatrix("x"), T.ivector("y")
    p = T.nnet.softmax(T.dot(x, W) + b)
    cost = T.nnet.categorical_crossentropy(p, y).mean()
    gW = T.grad(cost, W)

Constructors make input variables (`T.scalar`, `T.vector`, `T.matrix`, `T.tensor3`,
`T.tensor4`, with d/f/i/l prefixes for float64/float32/int32/int64 and plural forms such as
`T.dmatrices('a', 'b')`); the unprefixed ones take `config.floatX`. Every NumPy-style
theanir function is here too (`T.exp`, `T.dot`, `T.sum`, ...), lifted to record a graph
node, plus Theano's names for them (`T.switch`, `T.eq`, `T.sqr`, `T.cast`...) and the
derivative operators (`T.grad`, `T.Lop`, `T.Rop`, `T.jacobian`, `T.hessian`).
"""
from __future__ import annotations

import re
from typing import Any, Callable, Sequence


from . import numpy_api as tnp
from . import np_select, symbolic_shape
from .config import config
from .symbolic import SharedVariable
from .symbolic_grad import DisconnectedInputError, Lop, Rop, grad, hessian, jacobian
from .gradient import consider_constant, verify_grad  # noqa: F401  (Theano's T.* has them too)
from .symbolic_graph import (Constant, TensorConstant, TensorType, TensorVariable, Variable,
                             as_variable, dimshuffle)
from .lift import lift
from .subtensor import advanced_inc_subtensor1, advanced_set_subtensor1, inc_subtensor, set_subtensor
from .tensor import Tensor

# ------------------------------------------------------------------ input variables
_PATTERN = {"scalar": (), "vector": (False,), "matrix": (False, False), "row": (True, False),
            "col": (False, True), "tensor3": (False,) * 3, "tensor4": (False,) * 4}
_PLURAL = {"scalar": "scalars", "vector": "vectors", "matrix": "matrices", "row": "rows",
           "col": "cols", "tensor3": "tensor3s", "tensor4": "tensor4s"}
_PREFIX = {"": None, "d": "float64", "f": "float32", "i": "int32", "l": "int64"}


def _constructor(kind: str, fixed: str | None) -> Callable[..., Variable]:
    pattern = _PATTERN[kind]

    def make(name: str | None = None, dtype: Any = None) -> Variable:
        return Variable(len(pattern), fixed or dtype or config.floatX, name, broadcastable=pattern)

    make.__name__ = (_key(fixed) + kind)
    make.__doc__ = (f"A symbolic {len(pattern)}-d input variable of dtype {fixed or 'config.floatX'}, "
                    f"broadcastable {pattern}.")
    return make


def _plural(one: Callable[..., Variable]) -> Callable[..., list[Variable]]:
    def make(*names: Any, dtype: Any = None) -> list[Variable]:
        """Several variables: an int count, one string of names ('a, b' or 'a b'), or names."""
        if len(names) == 1 and isinstance(names[0], int):
            return [one(None, dtype) for _ in range(names[0])]
        if len(names) == 1:
            names = tuple(n for n in re.split(r"[,\s]+", names[0]) if n)
        return [one(n, dtype) for n in names]

    return make


def _key(dtype: str | None) -> str:
    return next(p for p, d in _PREFIX.items() if d == dtype)


def _define_constructors(namespace: dict) -> list[str]:
    """T.scalar ... T.ltensor4 and their plurals (T.dmatrices ...): 5 x 7 x 2 names."""
    names = []
    for prefix, dtype in _PREFIX.items():
        for kind, plural in _PLURAL.items():
            one = _constructor(kind, dtype)
            namespace[prefix + kind] = one
            namespace[prefix + plural] = _plural(one)
            names += [prefix + kind, prefix + plural]
    return names


_CONSTRUCTORS = _define_constructors(globals())


def tensor(dtype: Any = None, broadcastable: Sequence[bool] = (), name: str | None = None) -> Variable:
    """A symbolic input of rank len(broadcastable) (Theano's `T.tensor`)."""
    return TensorType(dtype or config.floatX, broadcastable)(name)


def constant(x: Any, name: str | None = None, ndim: int | None = None, dtype: Any = None) -> Constant:
    """A constant variable (Python floats take config.floatX unless `dtype` says otherwise)."""
    c = Constant(x, name, dtype)
    if ndim is not None and c.ndim != ndim:
        raise ValueError(f"T.constant: value has ndim {c.ndim}, not {ndim}")
    return c


def as_tensor_variable(x: Any, name: str | None = None, ndim: int | None = None) -> Variable:
    v = as_variable(x, name)
    if ndim is not None and v.ndim is not None and v.ndim != ndim:
        raise ValueError(f"T.as_tensor_variable: {v!r} has ndim {v.ndim}, not {ndim}")
    return v


# Theano's dtype groups (`if y.dtype in T.discrete_dtypes:`); dtypes are strs (symbolic_types.py)
float_dtypes = ("float16", "float32", "float64")
complex_dtypes = ("complex64", "complex128")
uint_dtypes = ("uint8", "uint16", "uint32", "uint64")
int_dtypes = ("int8", "int16", "int32", "int64")
integer_dtypes = int_dtypes + uint_dtypes
discrete_dtypes = ("bool",) + integer_dtypes
continuous_dtypes = float_dtypes + complex_dtypes
all_dtypes = discrete_dtypes + continuous_dtypes


# ------------------------------------------------------------------ lifted functions
_ALIASES = {
    "switch": "where", "eq": "equal", "neq": "not_equal", "lt": "less", "gt": "greater",
    "le": "less_equal", "ge": "greater_equal", "sqr": "square", "abs_": "abs", "sgn": "sign",
    "neg": "negative", "mul": "multiply", "sub": "subtract", "true_div": "divide",
    "int_div": "floor_divide", "pow": "power", "and_": "logical_and", "or_": "logical_or",
    "xor": "logical_xor", "invert": "logical_not", "cast": "astype", "largest": "maximum",
    "smallest": "minimum",
}


def _drop_acc_dtype(name: str) -> Callable[..., Variable]:
    """Theano's reductions take `acc_dtype` (the accumulator's dtype): accepted, ignored."""
    inner = lift(name)

    def reduce(x: Any, axis: Any = None, dtype: Any = None, keepdims: bool = False,
               acc_dtype: Any = None) -> Variable:
        return inner(x, axis, dtype=dtype, keepdims=keepdims)

    reduce.__name__ = name
    return reduce


sum = _drop_acc_dtype("sum")  # noqa: A001
mean = _drop_acc_dtype("mean")
prod = _drop_acc_dtype("prod")


def _inv(x: Any) -> Any:
    return 1.0 / tnp.as_tensor(x)


def _symbolic(*xs: Any) -> bool:
    """Whether to record a node (lift's rule): unless Tensors and no Variables are among the
    arguments (a call inside th.jit computes at once)."""
    leaves = [y for x in xs for y in (x if isinstance(x, (tuple, list)) else (x,))]
    if next((True for x in leaves if isinstance(x, Variable)), False):
        return True
    return not next((True for x in leaves if isinstance(x, Tensor)), False)


def reshape(x: Any, newshape: Any, ndim: int | None = None) -> Any:
    """Theano's `T.reshape(x, newshape, ndim=None)`: newshape may hold ints, `y.shape[i]` and
    scalar variables; the result's type is known (symbolic_shape.py)."""
    if not _symbolic(x, newshape):
        return symbolic_shape.reshape_tensor(x, *_as_tuple(newshape), ndim=ndim)
    return symbolic_shape.reshape_node(as_variable(x), newshape, ndim)


def flatten(x: Any, outdim: int = 1, ndim: int | None = None) -> Any:
    """Theano's `T.flatten(x, ndim=1)` (`outdim` in Theano before 0.9)."""
    n = ndim if ndim is not None else outdim
    if not _symbolic(x):
        return symbolic_shape.flatten_tensor(x, n)
    return symbolic_shape.flatten_node(as_variable(x), n)


def alloc(value: Any, *shape: Any) -> Any:
    """Theano's `T.alloc(value, *shape)`: `value` broadcast to `shape`."""
    if not _symbolic(value, shape):
        return symbolic_shape.alloc_tensor(value, *shape)
    return symbolic_shape.alloc_node(value, *shape)


def zeros(shape: Any, dtype: Any = None) -> Any:
    """Theano's `T.zeros(shape, dtype=config.floatX)`."""
    if not _symbolic(shape):
        return symbolic_shape.filled_tensor(0, dtype or config.floatX, *_as_tuple(shape))
    return symbolic_shape.filled_node(0, shape, dtype)


def ones(shape: Any, dtype: Any = None) -> Any:
    """Theano's `T.ones(shape, dtype=config.floatX)`."""
    if not _symbolic(shape):
        return symbolic_shape.filled_tensor(1, dtype or config.floatX, *_as_tuple(shape))
    return symbolic_shape.filled_node(1, shape, dtype)


def _as_tuple(shape: Any) -> tuple:
    return tuple(shape) if isinstance(shape, (tuple, list)) else (shape,)


def _stack(*tensors: Any, axis: int = 0) -> Tensor:
    """Theano 0.7's `stack(*tensors)` and the later `stack(tensors, axis=0)`."""
    if len(tensors) >= 1 and isinstance(tensors[0], (list, tuple)):
        if len(tensors) > 1:
            axis = tensors[1]
        tensors = tuple(tensors[0])
    return tnp.stack(list(tensors), axis=axis)


def _join(axis: int, *tensors: Any) -> Tensor:
    return tnp.concatenate(list(tensors), axis=axis)


def _shape(x: Any) -> tuple[Any, ...]:
    """x.shape while tracing: ints, and an int64 scalar (tn.dim) for each dynamic dim."""
    return tnp.shape(tnp.as_tensor(x))


_shape.shape_only = True  # type: ignore[attr-defined]  (see symbolic_graph._shape)


def _pad_left(x: Any, n_ones: int = 1) -> Tensor:
    x = tnp.as_tensor(x)
    return tnp.reshape(x, (1,) * n_ones + x.shape)


def _pad_right(x: Any, n_ones: int = 1) -> Tensor:
    x = tnp.as_tensor(x)
    return tnp.reshape(x, x.shape + (1,) * n_ones)


def _nonzero_matrix(x: Any) -> Tensor:
    return tnp.transpose(tnp.argwhere(x))


_nonzero_rows = lift("nonzero", _nonzero_matrix)
_nonzero_column = lift("nonzero_column", np_select.nonzero_column)
nonzero_values = lift("nonzero_values", np_select.nonzero_values)


def nonzero(a: Any, return_matrix: bool = False) -> Any:
    """Theano's `T.nonzero(a)`: a tuple of int64 vectors (one per dim of `a`, their length
    known when the function runs); `return_matrix=True`: one (a.ndim, count) matrix."""
    if return_matrix:
        return _nonzero_rows(a)
    if not _symbolic(a):
        return tnp.nonzero(a)
    return tuple(_nonzero_column(a, d) for d in range(as_variable(a).ndim))


inv = lift("inv", _inv)
stack = lift("stack", _stack)
join = lift("join", _join)
shape = lift("shape", _shape)
shape_padleft = lift("shape_padleft", _pad_left)
shape_padright = lift("shape_padright", _pad_right)
addbroadcast = symbolic_shape.addbroadcast
unbroadcast = symbolic_shape.unbroadcast
patternbroadcast = symbolic_shape.patternbroadcast
dimshuffle = lift("dimshuffle", dimshuffle)


# ------------------------------------------------------------------ T.nnet
from . import nnet  # noqa: E402  (theanir.tensor.nnet; frontend/nnet.py)
from . import xlogx  # noqa: E402  (theanir.tensor.xlogx; frontend/xlogx.py)
from .tensor_extra import *  # noqa: E402,F401,F403  (T.fill, T.tile, T.batched_dot ...)
from .tensor_extra import __all__ as _EXTRA  # noqa: E402

sigmoid = nnet.sigmoid
softmax = nnet.softmax
relu = nnet.relu


# ------------------------------------------------------------------ the namespace
# NumPy names whose Theano function of the same name takes other arguments: not lifted into T
# (T.split(x, splits_size, n_splits, axis) would silently read its sizes as cut indices)
_NOT_THEANO = {"split": "Theano's T.split(x, splits_size, n_splits, axis) is not supported (NumPy's "
                        "split, with cut indices, is th.split)"}


def _numpy_names() -> list[str]:
    return [n for n in dir(tnp) if not n.startswith("_") and callable(getattr(tnp, n)) and n not in _NOT_THEANO
            and getattr(getattr(tnp, n), "__module__", "").startswith("theanir.frontend.n")]


def __getattr__(name: str) -> Any:
    """Theano's aliases and any numpy_api function, lifted on first use."""
    target = _ALIASES.get(name, name)
    if name in _NOT_THEANO:
        raise AttributeError(f"module 'theanir.tensor' has no attribute {name!r}: {_NOT_THEANO[name]}")
    if name.startswith("_") or not callable(getattr(tnp, target, None)):
        raise AttributeError(f"module 'theanir.tensor' has no attribute {name!r}")
    if name not in _LIFTED:
        _LIFTED[name] = lift(target)
        _LIFTED[name].__name__ = name
    return _LIFTED[name]


_LIFTED: dict[str, Callable[..., Any]] = {}


_EXPLICIT = [
    "grad", "Lop", "Rop", "jacobian", "hessian", "DisconnectedInputError", "tensor", "constant",
    "as_tensor_variable", "TensorType", "TensorVariable", "TensorConstant", "Variable", "Constant",
    "SharedVariable", "nnet", "sum", "mean", "prod", "inv", "reshape", "flatten", "stack", "join",
    "zeros", "ones", "alloc", "shape", "shape_padleft", "shape_padright", "addbroadcast",
    "unbroadcast", "patternbroadcast", "dimshuffle", "sigmoid", "softmax", "relu", "lift",
    "set_subtensor", "inc_subtensor", "advanced_set_subtensor1", "advanced_inc_subtensor1",
    "xlogx", "consider_constant", "verify_grad", "nonzero", "nonzero_values",
    "float_dtypes", "complex_dtypes", "uint_dtypes", "int_dtypes", "integer_dtypes", "discrete_dtypes",
    "continuous_dtypes", "all_dtypes",
]
__all__ = sorted(set(_CONSTRUCTORS) | set(_EXPLICIT) | set(_ALIASES) | set(_numpy_names()) | set(_EXTRA))


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(_numpy_names()))
