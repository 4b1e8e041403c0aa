"""The NumPy-style functions users call on traced tensors (`th.exp`, `th.add`, ...).

The one namespace rules and users see: it re-exports the shared machinery and the
elementwise functions (`np_base.py`) and the op families' user functions (`np_shape.py`,
`np_reduce.py`, `np_linalg.py`, `np_nn.py`, `np_creation.py`), and holds the NumPy protocol
dispatch, which looks names up in this namespace. Those modules never import this one (no
import cycle); `Tensor`'s operators reach it through `tensor.register_numpy_api`, called below.
"""
from __future__ import annotations

import builtins  # noqa: F401  (the namespace keeps the names it always had)
import sys as _sys
from typing import Any, Sequence  # noqa: F401

import numpy as np

from theanir.dialects.tn.builder import describe_location, emit, emit1  # noqa: F401
from theanir.dialects.tn.lax import Value  # noqa: F401
from theanir.dialects.tn.ops.core import broadcast_shapes  # noqa: F401
from theanir.dialects.tn.registry import ShapeError  # noqa: F401
from theanir.dialects.tn.types import check_dtype  # noqa: F401

from .np_base import *  # noqa: F401,F403
from .np_base import (  # noqa: F401  (private helpers, still importable from here)
    _all_weak, _broadcast_shape, _emit_elementwise, _int_identity, _integer_pow, _nearest_supported,
    _no_bool, _reject_bool, _to_float_dtype, _weak_proxy)
from .tensor import Tensor
from .tensor import register_numpy_api as _register_numpy_api


# ------------------------------------------------------------------ NumPy protocol dispatch
_UFUNCS = {
    "add": "add", "subtract": "subtract", "multiply": "multiply", "divide": "divide",
    "true_divide": "divide", "floor_divide": "floor_divide", "remainder": "mod", "mod": "mod",
    "power": "power", "maximum": "maximum", "minimum": "minimum", "equal": "equal",
    "not_equal": "not_equal", "less": "less", "less_equal": "less_equal", "greater": "greater",
    "greater_equal": "greater_equal", "logical_and": "logical_and", "logical_or": "logical_or",
    "logical_xor": "logical_xor", "logical_not": "logical_not", "negative": "negative",
    "absolute": "abs", "sign": "sign", "exp": "exp", "expm1": "expm1", "log": "log",
    "log1p": "log1p", "sqrt": "sqrt", "square": "square", "tanh": "tanh", "sin": "sin",
    "cos": "cos", "floor": "floor", "ceil": "ceil", "rint": "round", "isnan": "isnan",
    "matmul": "matmul", "invert": "invert", "positive": "_positive",
}


def _positive(x):
    return as_tensor(x)


def dispatch_ufunc(ufunc: np.ufunc, method: str, inputs: tuple, kwargs: dict) -> Any:
    """`np.exp(tensor)` and `ndarray + tensor` route to theanir functions."""
    name = _UFUNCS.get(ufunc.__name__)
    if method != "__call__" or name is None or kwargs.get("out") is not None:
        raise TypeError(f"numpy.{ufunc.__name__}.{method} is not supported on traced tensors; "
                        f"use the theanir function of the same name")
    extra = {k: v for k, v in kwargs.items() if k != "out"}
    if extra:
        raise TypeError(f"numpy.{ufunc.__name__}: keyword arguments {sorted(extra)} are not supported on traced tensors")
    return globals()[name](*inputs)


def dispatch_array_function(func: Any, args: tuple, kwargs: dict) -> Any:
    """`np.sum(tensor)`, `np.reshape(tensor, ...)` ... use the theanir function of that name."""
    fn = globals().get(func.__name__)
    if fn is None or not callable(fn):
        raise TypeError(f"numpy.{func.__name__} is not supported on traced tensors")
    return fn(*args, **kwargs)


# The op families' user functions (they import np_base, not this module).
from .np_shape import *  # noqa: E402,F401,F403
from .np_reduce import *  # noqa: E402,F401,F403
from .np_linalg import *  # noqa: E402,F401,F403
from .np_nn import *  # noqa: E402,F401,F403
from .np_creation import *  # noqa: E402,F401,F403
from .np_grad import *  # noqa: E402,F401,F403
from .np_select import *  # noqa: E402,F401,F403
from .np_math import *  # noqa: E402,F401,F403  (issue 20: trig, erf, logaddexp, isclose ...)
from .np_extra import *  # noqa: E402,F401,F403  (issue 20: array, diag, cumsum, sort, pad, einsum ...)
from .np_complex import *  # noqa: E402,F401,F403  (issue 20: real, imag, conj, angle)

# Tensor's operators and methods (`a + b`, `x.sum()`) call this namespace.
_register_numpy_api(_sys.modules[__name__])

# x.at[idx].set(y) and T.set_subtensor (Tensor.at calls index_update through this namespace)
from .np_update import index_update  # noqa: E402,F401
