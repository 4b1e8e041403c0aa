"""Gradient-only ops: identities in the forward computation that change only derivatives.

    %s = "tn.stop_gradient"(%x) : (tensor<3xf32>) -> tensor<3xf32>
    %c = "tn.grad_clip"(%x) {lower = -1.0 : f64, upper = 1.0 : f64} : (tensor<3xf32>) -> tensor<3xf32>

Autodiff runs while tracing (passes/autodiff), so these ops only live from the trace to the
optimizer: their `decompose` rule is the operand itself, and `tn-expand-composites` removes
them before anything lowers (no lowering, no fusion rule needed). Theano's `zero_grad`,
`disconnected_grad` and `consider_constant` are `tn.stop_gradient`; `grad_clip` is
`tn.grad_clip` (frontend/gradient.py).
"""
from __future__ import annotations

import numpy as np

from .. import lax
from .. import batching as vb
from ..registry import ShapeError, defop
from ..types import TensorSpec

# ---------------------------------------------------------------- tn.stop_gradient
stop_gradient = defop("tn.stop_gradient", ["x"], same_type=("x", "out"),
                      doc="The identity; its derivative is zero (JAX's stop_gradient).")


@stop_gradient.def_infer
def _stop_gradient_infer(specs: list[TensorSpec]) -> list[TensorSpec]:
    return [specs[0]]


@stop_gradient.def_reference
def _stop_gradient_reference(x: np.ndarray) -> np.ndarray:
    return np.array(x)


@stop_gradient.def_decompose
def _stop_gradient_decompose(x):
    return x


@stop_gradient.def_jvp
def _stop_gradient_jvp(primals, tangents, outs):
    # d stop_gradient(x) = 0: no tangent flows through, so reverse mode sees no path either
    return [None]


# ---------------------------------------------------------------- tn.grad_clip
grad_clip = defop("tn.grad_clip", ["x"], attrs={"lower": "float", "upper": "float"},
                  same_type=("x", "out"),
                  doc="The identity; in reverse mode the cotangent is clipped to [lower, upper] "
                      "(Theano's grad_clip).")


@grad_clip.def_infer
def _grad_clip_infer(specs: list[TensorSpec], lower: float, upper: float) -> list[TensorSpec]:
    if not lower <= upper:
        raise ShapeError(f"tn.grad_clip: lower bound {lower} is above upper bound {upper}")
    if specs[0].dtype.kind != "f":
        raise ShapeError(f"tn.grad_clip: needs a float operand, got {specs[0].dtype.name}")
    return [specs[0]]


@grad_clip.def_reference
def _grad_clip_reference(x: np.ndarray, lower: float, upper: float) -> np.ndarray:
    return np.array(x)


@grad_clip.def_decompose
def _grad_clip_decompose(x, lower, upper):
    return x


@grad_clip.def_jvp
def _grad_clip_jvp(primals, tangents, outs, lower, upper):
    # forward mode: the identity's tangent; the op stays on the tangent so that its
    # transpose (reverse mode) can clip the cotangent
    (t,) = tangents
    if t is None:
        return [None]
    return [lax.emit("tn.grad_clip", [t], lower=lower, upper=upper)]


@grad_clip.def_transpose
def _grad_clip_transpose(cotangents, primals, lower, upper):
    # ct_x = clip(ct, lower, upper): not the transpose of the identity, by design (a custom vjp)
    (ct,) = cotangents
    if ct is None:
        return [None]
    return [lax.minimum(lax.maximum(ct, lower), upper)]


# ---------------------------------------------------------------- batching rules (vmap)
# Elementwise in effect: the op on the batched operand.
stop_gradient.def_batch(vb.elementwise_rule("tn.stop_gradient"))
grad_clip.def_batch(vb.elementwise_rule("tn.grad_clip"))
