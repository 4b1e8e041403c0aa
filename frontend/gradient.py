"""`theanir.gradient`: Theano's gradient module (`theano.gradient`).

    from theanir.gradient import disconnected_grad, zero_grad, grad_clip
    target = disconnected_grad(r + gamma * T.max(q_next))   # a fixed target (TD learning)
    h = grad_clip(T.tanh(T.dot(x, W)), -1.0, 1.0)           # clipped gradient into W
    g = T.grad(cost, W, consider_constant=[target])

`zero_grad(x)` and `disconnected_grad(x)` are `x` in the computation and stop the gradient:
through `zero_grad` it is zero (the variables behind it still count as connected), through
`disconnected_grad` there is none (`T.grad` w.r.t. a variable reached only through it raises
DisconnectedInputError unless disconnected_inputs says otherwise). `grad_clip(x, lo, hi)` clips
the gradient flowing back into `x`; `grad_scale(x, k)` multiplies it by `k`. All are graph nodes
over the dialect's gradient ops (frontend/np_grad.py, dialects/tn/ops/gradient.py), so they
also work inside `th.jit` functions.
"""
from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from . import numpy_api as tnp
from . import gradcheck
from .gradcheck import GradientError
from .lift import lift
from .symbolic_grad import (DisconnectedInputError, DisconnectedType, Lop, Rop, grad, hessian,
                            jacobian)
from .tensor import Tensor

__all__ = ["grad", "Lop", "Rop", "jacobian", "hessian", "disconnected_grad", "zero_grad",
           "grad_clip", "grad_scale", "consider_constant", "DisconnectedInputError",
           "DisconnectedType", "verify_grad", "GradientError"]


def _zero_grad(x: Any) -> Tensor:
    return tnp.stop_gradient(x)


def _disconnected_grad(x: Any) -> Tensor:
    return tnp.stop_gradient(x)


def _grad_clip(x: Any, lower_bound: float, upper_bound: float) -> Tensor:
    return tnp.grad_clip(x, lower_bound, upper_bound)


def _grad_scale(x: Any, multiplier: float) -> Tensor:
    # x' = stop(x) + k (x - stop(x)): the value is x, the derivative k dx
    t = tnp.as_tensor(x)
    s = tnp.stop_gradient(t)
    return s + (t - s) * tnp.astype(tnp.as_tensor(multiplier), t.dtype)


# how T.grad's connectivity walk (symbolic_grad.grad_ancestors) treats the nodes
_zero_grad.grad_stop = "zero"  # type: ignore[attr-defined]
_disconnected_grad.grad_stop = "disconnected"  # type: ignore[attr-defined]

zero_grad = lift("zero_grad", _zero_grad)
zero_grad.__doc__ = "`x` in the computation; its gradient is zero (the graph behind stays connected)."
disconnected_grad = lift("disconnected_grad", _disconnected_grad)
disconnected_grad.__doc__ = ("`x` in the computation; no gradient flows through it (variables "
                             "reached only through it are disconnected).")
grad_clip = lift("grad_clip", _grad_clip)
grad_clip.__doc__ = ("`x` in the computation; the gradient flowing back into `x` is clipped "
                     "elementwise to [lower_bound, upper_bound].")
grad_scale = lift("grad_scale", _grad_scale)
grad_scale.__doc__ = ("`x` in the computation; the gradient flowing back into `x` is multiplied "
                      "by `multiplier`.")


def verify_grad(fun: Any, pt: Any, n_tests: int = 2, rng: Any = None, eps: float | None = None,
                out_type: Any = None, abs_tol: float | None = None, rel_tol: float | None = None,
                mode: Any = None, cast_to_output_type: bool = False, no_debug_ref: bool = True) -> None:
    """Theano's `verify_grad(fun, pt, n_tests, rng, eps, ...)`: raise GradientError unless the
    gradient of `fun` (built from T operations) at the points `pt` matches central finite
    differences along random directions, `n_tests` times (th.verify_grad, both modes)."""
    if not isinstance(pt, (list, tuple)):
        raise TypeError(f"verify_grad: pt must be a list of arrays, got {type(pt).__name__}")
    rtol = rel_tol if rel_tol is not None else abs_tol
    for k in range(max(1, int(n_tests))):
        gen = rng if rng is not None else np.random.default_rng(k)
        gradcheck.verify_grad(fun, list(pt), eps=eps, rtol=rtol, rng=gen)


def consider_constant(x: Any) -> Any:
    """Deprecated in Theano (use zero_grad or disconnected_grad): `x` with a zero gradient."""
    warnings.warn("consider_constant() is deprecated, use zero_grad() or disconnected_grad() instead.",
                  DeprecationWarning, stacklevel=2)
    return zero_grad(x)
