"""Theano's conv2d and pool_2d on symbolic variables: graph nodes with a type rule.

A lifted function's result type is usually found by evaluating it on stand-ins whose dims are
1 (frontend/symbolic_infer.py), where a 5x5 filter is larger than the 1x1 stand-in image and
the type would stay unknown; these nodes state theirs: 4-D (pool_2d: the input's ndim), the
float dtype of the operands, Theano's broadcast pattern (conv2d: batch of the input, channels
of the filters; pool_2d: the input's leading dims).
"""
from __future__ import annotations

import functools
import inspect
from typing import Any, Callable

import numpy as np

from . import numpy_api as tnp
from .conv import conv2d as conv2d_tensor
from .eager import eager
from .pool import pool_2d as pool_2d_tensor
from .pytree import tree_flatten
from .symbolic_graph import Apply, Variable


def _float_dtype(*xs: Any) -> np.dtype:
    dts = [np.dtype(x.dtype) if isinstance(x, Variable) else tnp.result_type(x) for x in xs]
    dt = np.result_type(*dts)
    return dt if dt.kind == "f" else np.dtype(np.float64)


def _pattern(x: Any, ndim: int) -> tuple[bool, ...]:
    if isinstance(x, Variable) and x.ndim == ndim:
        return tuple(x.broadcastable)
    return tuple(np.shape(x)[i] == 1 if np.ndim(x) == ndim else False for i in range(ndim))


def _conv2d_type(args: tuple, kwargs: dict, index: int) -> tuple:
    bound = inspect.signature(conv2d_tensor).bind(*args, **kwargs)
    x, w = bound.arguments["input"], bound.arguments["filters"]
    return 4, _float_dtype(x, w), (_pattern(x, 4)[0], _pattern(w, 4)[0], False, False)


def _pool_2d_type(args: tuple, kwargs: dict, index: int) -> tuple:
    x = inspect.signature(pool_2d_tensor).bind(*args, **kwargs).arguments["input"]
    ndim = x.ndim if isinstance(x, Variable) else np.ndim(x)
    if ndim is None:
        return None, None
    return ndim, _float_dtype(x), _pattern(x, ndim)[:-2] + (False, False)


def _typed(name: str, fn: Callable, rule: Callable) -> Callable[..., Any]:
    fn.label = name  # type: ignore[attr-defined]
    concrete = eager(fn)  # traced Tensors or none at all: compute (op by op outside a trace)

    @functools.wraps(fn)
    def lifted(*args: Any, **kwargs: Any) -> Any:
        leaves, _ = tree_flatten((args, kwargs))
        if not [x for x in leaves if isinstance(x, Variable)]:
            return concrete(*args, **kwargs)
        return Apply(fn, args, kwargs, type_rule=functools.partial(rule, args, kwargs)).outputs[0]

    lifted.__name__ = name
    return lifted


conv2d = _typed("conv2d", conv2d_tensor, _conv2d_type)
pool_2d = _typed("pool_2d", pool_2d_tensor, _pool_2d_type)
