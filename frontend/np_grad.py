"""Functions that change only derivatives: `th.stop_gradient`, `th.grad_clip`.

    y = th.stop_gradient(x)           # y == x, dy/dx = 0 (JAX's stop_gradient)
    y = th.grad_clip(x, -1.0, 1.0)    # y == x, the gradient reaching x is clipped to [-1, 1]

Both emit an identity op of the dialect (dialects/tn/ops/gradient.py) that the autodiff
driver reads; the optimizer removes it once differentiation is done. Theano's spellings
(`theanir.gradient.zero_grad`, `disconnected_grad`, `grad_clip`) are in frontend/gradient.py.
"""
from __future__ import annotations

from typing import Any

from theanir.dialects.tn.builder import describe_location, emit1

from .np_base import as_tensor
from .tensor import Tensor

__all__ = ["stop_gradient", "grad_clip"]


def stop_gradient(x: Any) -> Tensor:
    """`x` unchanged, with a zero derivative (forward and reverse mode)."""
    t = as_tensor(x)
    if t.dtype.kind != "f":  # integers carry no derivative anyway
        return t
    return Tensor(emit1("tn.stop_gradient", [t.value], {}))


def grad_clip(x: Any, lower: float, upper: float) -> Tensor:
    """`x` unchanged; in reverse mode the cotangent flowing back into `x` is clipped to
    [lower, upper] elementwise (Theano's grad_clip; forward mode sees the identity)."""
    lo, hi = float(lower), float(upper)
    if not lo <= hi:
        raise ValueError(f"grad_clip: lower bound {lower!r} must not exceed upper bound {upper!r} "
                         f"(at {describe_location()})")
    t = as_tensor(x)
    if t.dtype.kind != "f":
        raise TypeError(f"grad_clip: x must be a float tensor, got {t.dtype.name} "
                        f"(at {describe_location()})")
    return Tensor(emit1("tn.grad_clip", [t.value], {"lower": lo, "upper": hi}))
