"""`lift`: a numpy_api function as a function that records a graph node on Theano variables.

Theano's namespaces (`theanir.tensor`, `theanir.tensor.nnet`, ...) are made of lifted
functions: called on symbolic Variables they record an `Apply` node; called on traced
Tensors only (inside `th.jit`, or while `th.function` traces its graph) they compute.
"""
from __future__ import annotations

import functools
from typing import Any, Callable

from . import numpy_api as tnp
from .pytree import tree_flatten
from .symbolic_graph import NpFn, Variable, apply
from .tensor import Tensor


def lift(name: str, fn: Callable | None = None) -> Callable[..., Any]:
    """The numpy_api function `name` (or `fn`) as a graph-building function.

    With Tensors among the arguments (inside th.jit) it calls the function directly.
    """
    target = fn if fn is not None else NpFn(name)

    @functools.wraps(fn if fn is not None else getattr(tnp, name, lambda *a, **k: None))
    def lifted(*args: Any, **kwargs: Any) -> Any:
        leaves, _ = tree_flatten((args, kwargs))
        if _any_instance(leaves, Tensor) and not _any_instance(leaves, Variable):
            return target(*args, **kwargs)
        return apply(target, *args, **kwargs)

    lifted.__name__ = name
    if fn is not None:
        fn.label = name  # type: ignore[attr-defined]
    return lifted


def _any_instance(xs: list[Any], cls: type) -> bool:
    # (no `any()` in this module: `T.any` and friends shadow the builtins here)
    return next((True for x in xs if isinstance(x, cls)), False)
