"""tn-stabilize: rewrite numerically fragile forms into stable ones (Theano's stabilize phase).

Forward forms: log(1 + x), exp(x) - 1, log(sigmoid(x)), log(1 - sigmoid(x)), log(softmax(x)),
log(sum(exp(x))) and exp(x) / sum(exp(x)) become log1p, expm1, softplus, log_softmax,
logsumexp and softmax, whose lowerings avoid the overflow/underflow/cancellation.
Softmax cross-entropy written naively, -sum(y * log(softmax(z))), is stabilized by the
log(softmax) row: it becomes -sum(y * log_softmax(z)), stable with a stable jvp.

Gradients are traced before the optimizer runs, from the naive forms, so two rows rewrite
what reverse mode emits for them: x * (g / x) -> g where x is positive in exact arithmetic
but may underflow to 0 (exp, softmax, sigmoid, 1 - sigmoid: the naive gradient is
0 * inf = NaN), and exp(x) * (g / sum(exp(x))) -> g * softmax(x) (the gradient of
log(sum(exp(x))), inf / inf = NaN when exp overflows).

Constants in patterns are `tn.constant` splats, possibly behind `tn.broadcast_to`/`tn.reshape`.

    %s = "tn.sigmoid"(%x) : (tensor<4xf32>) -> tensor<4xf32>
    %l = "tn.log"(%s) : (tensor<4xf32>) -> tensor<4xf32>      // -> -softplus(-x)
"""
from __future__ import annotations

from typing import Callable

from mlir import ir

from theanir.dialects.tn.ops.reduction import reduced_shape

from .patterns import Pattern, apply_patterns, attrs_of, is_splat, op1, producer, rewrite, spec
from ..base import Pass

NAME = "tn-stabilize"


# ---------------------------------------------------------------- matchers
def _plus_one(v: ir.Value) -> ir.Value | None:
    """x when v = x + 1 or 1 + x, else None."""
    add = producer(v, "tn.add")
    if add is None:
        return None
    a, b = add.operands
    if is_splat(b, 1):
        return a
    return b if is_splat(a, 1) else None


def _one_minus(v: ir.Value) -> ir.Value | None:
    """x when v = 1 - x, else None."""
    sub = producer(v, "tn.sub")
    if sub is None or not is_splat(sub.operands[0], 1):
        return None
    return sub.operands[1]


def _operand_of(v: ir.Value | None, name: str) -> ir.Value | None:
    """x when v = name(x), else None."""
    op = producer(v, name) if v is not None else None
    return None if op is None else op.operands[0]


# ---------------------------------------------------------------- log(...)
@rewrite("tn.log")
def log_sigmoid_to_softplus(op: ir.OpView) -> ir.Value | None:
    # log(sigmoid(x)) -> -softplus(-x)
    x = _operand_of(op.operands[0], "tn.sigmoid")
    if x is None:
        return None
    return op1("tn.neg", op1("tn.softplus", op1("tn.neg", x)))


@rewrite("tn.log")
def log_one_minus_sigmoid_to_softplus(op: ir.OpView) -> ir.Value | None:
    # log(1 - sigmoid(x)) -> -softplus(x)
    x = _operand_of(_one_minus(op.operands[0]), "tn.sigmoid")
    return None if x is None else op1("tn.neg", op1("tn.softplus", x))


@rewrite("tn.log")
def log_softmax_of_log(op: ir.OpView) -> ir.Value | None:
    # log(softmax_A(x)) -> log_softmax_A(x)   (so -sum(y * log(softmax(z))) is stable)
    s = producer(op.operands[0], "tn.softmax")
    if s is None:
        return None
    return op1("tn.log_softmax", s.operands[0], axes=attrs_of(s)["axes"])


@rewrite("tn.log")
def logsumexp_of_log(op: ir.OpView) -> ir.Value | None:
    # log(sum_A(exp(x))) -> logsumexp_A(x) = m + log(sum_A(exp(x - m))), m = max_A(x)
    s = producer(op.operands[0], "tn.reduce_sum")
    x = _operand_of(s.operands[0], "tn.exp") if s is not None else None
    if x is None:
        return None
    attrs = attrs_of(s)
    return op1("tn.logsumexp", x, axes=attrs["axes"], keepdims=attrs["keepdims"])


@rewrite("tn.log")
def log1p_of_log_one_plus(op: ir.OpView) -> ir.Value | None:
    # log(1 + x) -> log1p(x), log(x + 1) -> log1p(x)
    x = _plus_one(op.operands[0])
    return None if x is None else op1("tn.log1p", x)


@rewrite("tn.log")
def log1p_of_log_one_minus(op: ir.OpView) -> ir.Value | None:
    # log(1 - x) -> log1p(-x)
    x = _one_minus(op.operands[0])
    return None if x is None else op1("tn.log1p", op1("tn.neg", x))


# ---------------------------------------------------------------- exp(x) - 1
@rewrite("tn.sub")
def expm1_of_exp_minus_one(op: ir.OpView) -> ir.Value | None:
    # exp(x) - 1 -> expm1(x)
    a, b = op.operands
    x = _operand_of(a, "tn.exp")
    return op1("tn.expm1", x) if x is not None and is_splat(b, 1) else None


@rewrite("tn.add")
def expm1_of_exp_plus_minus_one(op: ir.OpView) -> ir.Value | None:
    # exp(x) + (-1) -> expm1(x), (-1) + exp(x) -> expm1(x)
    for e, c in (op.operands, reversed(op.operands)):
        x = _operand_of(e, "tn.exp")
        if x is not None and is_splat(c, -1):
            return op1("tn.expm1", x)
    return None


# ---------------------------------------------------------------- exp(x) / sum(exp(x))
def _regrouped(v: ir.Value) -> tuple[ir.Value, list[ir.OpView]]:
    """(w, views) with v = views applied to w: an optional reshape, then an optional broadcast."""
    views = []
    for name in ("tn.broadcast_to", "tn.reshape"):
        op = producer(v, name)
        if op is not None:
            views.insert(0, op)
            v = op.operands[0]
    return v, views


def _spreads_groups(views: list[ir.OpView], shape: tuple[int, ...], axes: tuple[int, ...],
                    keepdims: bool) -> bool:
    """`views` take a reduction over `axes` of a `shape` tensor back to `shape` so that each
    position reads its own group's value: unit dims inserted by a reshape, then a broadcast."""
    keep = reduced_shape(shape, axes, True)
    cur = reduced_shape(shape, axes, keepdims)
    for view in views:
        out = spec(view.results[0]).shape
        if view.operation.name == "tn.reshape" and (cur != reduced_shape(shape, axes, False) or out != keep):
            return False
        if view.operation.name == "tn.broadcast_to" and cur != keep:
            return False
        cur = out
    return bool(axes) and cur == shape


def _sum_of(s_val: ir.Value, e_val: ir.Value, views: list[ir.OpView]) -> tuple[int, ...] | None:
    """axes A when s_val = sum_A(e_val) and `views` spread it back over e_val's shape."""
    s = producer(s_val, "tn.reduce_sum")
    if s is None or s.operands[0] != e_val:
        return None
    axes, keepdims = attrs_of(s)["axes"], attrs_of(s)["keepdims"]
    return axes if _spreads_groups(views, spec(e_val).shape, axes, keepdims) else None


@rewrite("tn.div")
def softmax_of_exp_over_sum(op: ir.OpView) -> ir.Value | None:
    # exp(x) / sum_A(exp(x)) -> softmax_A(x)
    e_val, d = op.operands
    x = _operand_of(e_val, "tn.exp")
    s_val, views = _regrouped(d)
    axes = _sum_of(s_val, e_val, views) if x is not None else None
    return None if axes is None else op1("tn.softmax", x, axes=axes)


@rewrite("tn.mul")
def softmax_of_exp_times_grad(op: ir.OpView) -> ir.Value | None:
    # exp(x) * (g / sum_A(exp(x))) -> g * softmax_A(x), g spread over A as the quotient was
    # (reverse mode's gradient of log(sum(exp(x))))
    for e_val, other in (op.operands, reversed(op.operands)):
        x = _operand_of(e_val, "tn.exp")
        q_val, views = _regrouped(other)
        q = producer(q_val, "tn.div")
        axes = _sum_of(q.operands[1], e_val, views) if x is not None and q is not None else None
        if axes is None:
            continue
        g = q.operands[0]
        for view in views:
            g = op1(view.operation.name, g, **attrs_of(view))
        return op1("tn.mul", g, op1("tn.softmax", x, axes=axes))
    return None


# ---------------------------------------------------------------- x * (g / x)
def _positive(v: ir.Value) -> bool:
    """v > 0 in exact arithmetic, though it may underflow to 0: exp, softmax, sigmoid, 1 - sigmoid."""
    op = producer(v)
    if op is not None and op.operation.name in ("tn.exp", "tn.softmax", "tn.sigmoid"):
        return True
    return _operand_of(_one_minus(v), "tn.sigmoid") is not None


def _cancel(p: ir.Value, x: ir.Value, depth: int = 2) -> Callable[[], ir.Value] | None:
    """A builder of p * x when p is g / x, -(g / x) or (g / x) * w (nested up to `depth`)."""
    div = producer(p, "tn.div")
    if div is not None and div.operands[1] == x:
        g = div.operands[0]
        return lambda: g
    if depth == 0:
        return None
    neg = producer(p, "tn.neg")
    if neg is not None:
        inner = _cancel(neg.operands[0], x, depth - 1)
        return None if inner is None else (lambda: op1("tn.neg", inner()))
    mul = producer(p, "tn.mul")
    for f, w in ((mul.operands, reversed(mul.operands)) if mul is not None else ()):
        inner = _cancel(f, x, depth - 1)
        if inner is not None:
            return lambda inner=inner, w=w: op1("tn.mul", inner(), w)
    return None


@rewrite("tn.mul")
def cancel_positive_divisor(op: ir.OpView) -> ir.Value | None:
    # x * (g / x) -> g, x * ((g / x) * w) -> g * w, x * -(g / x) -> -g, for x > 0 in exact
    # arithmetic that underflows to 0 in floats (0 * (g / 0) = NaN): the gradient of log(x)
    for x, p in (op.operands, reversed(op.operands)):
        build = _cancel(p, x) if _positive(x) else None
        if build is not None:
            return build()
    return None


STABILIZE: list[Pattern] = [
    log_sigmoid_to_softplus, log_one_minus_sigmoid_to_softplus, log_softmax_of_log,
    logsumexp_of_log, log1p_of_log_one_plus, log1p_of_log_one_minus,
    expm1_of_exp_minus_one, expm1_of_exp_plus_minus_one,
    softmax_of_exp_over_sum, softmax_of_exp_times_grad, cancel_positive_divisor,
]


def stabilize(module_op: ir.Operation, pass_: object = None) -> int:
    """Run the stabilization patterns (with tn-cse and tn-dce) to a fixed point; returns the
    change count."""
    return apply_patterns(module_op, STABILIZE)


class Stabilize(Pass):
    """Numerically stable forms: log1p, expm1, softplus, log_softmax, logsumexp, softmax
    (and their gradients)."""

    NAME = NAME

    @classmethod
    def run(cls, module_op: ir.Operation, options: object) -> int:
        return stabilize(module_op)
