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

import numpy as np

from . import numpy_api as tnp
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
_NDIM = {"scalar": 0, "vector": 1, "matrix": 2, "row": 2, "col": 2, "tensor3": 3, "tensor4": 4}
_PLURAL = {"scalar": "scalars", "vector": "vectors", "matrix": "matrices", "row": "rows",
           "col": "cols", "tensor3": "tensor3s", "tensor4": "tensor4s"}
_PREFIX = {"": None, "d": "float64", "f": "float32", "i": "int32", "l": "int64"}


def _constructor(kind: str, fixed: str | None) -> Callable[..., Variable]:
    ndim = _NDIM[kind]

    def make(name: str | None = None, dtype: Any = None) -> Variable:
        return Variable(ndim, fixed or dtype or config.floatX, name)

    make.__name__ = (_key(fixed) + kind)
    make.__doc__ = f"A symbolic {ndim}-d input variable of dtype {fixed or 'config.floatX'}."
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
    return Variable(len(broadcastable), dtype or config.floatX, name)


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


def _reshape(x: Any, newshape: Any, ndim: int | None = None) -> Tensor:
    out = tnp.reshape(x, tuple(int(s) for s in newshape) if isinstance(newshape, (tuple, list)) else newshape)
    if ndim is not None and out.ndim != ndim:
        raise ValueError(f"T.reshape: ndim={ndim} but the new shape {out.shape} has {out.ndim} dims")
    return out


def _flatten(x: Any, outdim: int = 1, ndim: int | None = None) -> Tensor:
    x = tnp.as_tensor(x)
    outdim = ndim if ndim is not None else outdim
    return tnp.reshape(x, x.shape[:outdim - 1] + (-1,))


def _stack(*tensors: Any, axis: int = 0) -> Tensor:
    """Theano 0.7's `stack(*tensors)` and the later `stack(tensors, axis=0)`."""
    if len(tensors) >= 1 and isinstance(tensors[0], (list, tuple)):
        if len(tensors) > 1:
            axis = tensors[1]
        tensors = tuple(tensors[0])
    return tnp.stack(list(tensors), axis=axis)


def _join(axis: int, *tensors: Any) -> Tensor:
    return tnp.concatenate(list(tensors), axis=axis)


def _filled(value: float, shape: Any, dtype: Any) -> Tensor:
    shape = (shape,) if isinstance(shape, int) else tuple(int(s) for s in shape)
    return tnp.full(shape, value, dtype=np.dtype(dtype or config.floatX))


def _zeros(shape: Any, dtype: Any = None) -> Tensor:
    return _filled(0, shape, dtype)


def _ones(shape: Any, dtype: Any = None) -> Tensor:
    return _filled(1, shape, dtype)


def _alloc(value: Any, *shape: Any) -> Tensor:
    v = tnp.as_tensor(value)
    return tnp.broadcast_to(v, tuple(int(s) for s in shape))


def _shape(x: Any) -> tuple[int, ...]:
    return tnp.as_tensor(x).shape


_shape.shape_only = True  # type: ignore[attr-defined]  (see symbolic_graph._shape)


def _pad_left(x: Any, n_ones: int = 1) -> Tensor:
    x = tnp.as_tensor(x)
    return tnp.reshape(x, (1,) * n_ones + x.shape)


def _pad_right(x: Any, n_ones: int = 1) -> Tensor:
    x = tnp.as_tensor(x)
    return tnp.reshape(x, x.shape + (1,) * n_ones)


def _same(x: Any, *axes: Any) -> Any:
    return x


inv = lift("inv", _inv)
reshape = lift("reshape", _reshape)
flatten = lift("flatten", _flatten)
stack = lift("stack", _stack)
join = lift("join", _join)
zeros = lift("zeros", _zeros)
ones = lift("ones", _ones)
alloc = lift("alloc", _alloc)
shape = lift("shape", _shape)
shape_padleft = lift("shape_padleft", _pad_left)
shape_padright = lift("shape_padright", _pad_right)
addbroadcast = unbroadcast = patternbroadcast = lift("addbroadcast", _same)  # no broadcast patterns here
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
def _numpy_names() -> list[str]:
    return [n for n in dir(tnp) if not n.startswith("_") and callable(getattr(tnp, n))
            and getattr(getattr(tnp, n), "__module__", "").startswith("theanir.frontend.n")]


def __getattr__(name: str) -> Any:
    """Theano's aliases and any numpy_api function, lifted on first use."""
    target = _ALIASES.get(name, name)
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
    "xlogx", "consider_constant", "verify_grad",
]
__all__ = sorted(set(_CONSTRUCTORS) | set(_EXPLICIT) | set(_ALIASES) | set(_numpy_names()) | set(_EXTRA))


def __dir__() -> list[str]:
    return sorted(set(__all__) | set(_numpy_names()))
