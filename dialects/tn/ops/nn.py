"""Neural-network composites kept as ops for the stabilizer: softmax, log_softmax, logsumexp.

    %s = "tn.softmax"(%x) {axes = array<i64: 1>} : (tensor<4x10xf32>) -> tensor<4x10xf32>
    %l = "tn.log_softmax"(%x) {axes = array<i64: 1>} : (tensor<4x10xf32>) -> tensor<4x10xf32>
    %m = "tn.logsumexp"(%x) {axes = array<i64: 1>, keepdims = false} : (tensor<4x10xf32>) -> tensor<4xf32>

They could be plain frontend compositions, but as ops the stabilizer can see them
(log(softmax(x)) -> log_softmax(x), log(sum(exp(x))) -> logsumexp(x)) and autodiff gets
their short jvps. They have no lowering of their own: `decompose` expands them into
reductions and elementwise ops before `convert-tn-to-linalg` lowers those, always with the
max shift, so logsumexp([1000, 1000]) = 1000 + log 2 and logits of +-1e4 stay finite.
`axes` are normalized (non-negative, distinct); the frontend normalizes user axes.
"""
from __future__ import annotations

import numpy as np

from .. import lax
from ..batching import axes_rule
from ..registry import ShapeError, defop
from ..types import TensorSpec


def _check(x: TensorSpec, axes: tuple[int, ...]) -> None:
    if x.dtype.kind != "f":
        raise ShapeError(f"dtype {x.dtype.name} is not accepted (float only)")
    if len(set(axes)) != len(axes) or any(not 0 <= a < x.ndim for a in axes):
        raise ShapeError(f"axes {tuple(axes)} must be distinct and in [0, {x.ndim}) (normalized)")


def _reduced_shape(shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool) -> tuple[int, ...]:
    if keepdims:
        return tuple(1 if i in axes else n for i, n in enumerate(shape))
    return tuple(n for i, n in enumerate(shape) if i not in axes)


# ---------------------------------------------------------------- NumPy references
def _safe_max_np(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """max over axes (keepdims), with non-finite maxima replaced by 0: the stable shift."""
    m = np.max(x, axis=axes, keepdims=True, initial=-np.inf) if axes else x
    return np.where(np.isfinite(m), m, 0).astype(x.dtype)


def _softmax_shift_np(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """max over axes (keepdims), with -inf maxima replaced by 0 (see `_softmax_shift`)."""
    m = np.max(x, axis=axes, keepdims=True, initial=-np.inf) if axes else x
    return np.where(m == -np.inf, 0, m).astype(x.dtype)


def _softmax_np(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    with np.errstate(all="ignore"):
        e = np.exp(x - _softmax_shift_np(x, axes))
        return (e / np.sum(e, axis=axes, keepdims=True)).astype(x.dtype)


def _log_softmax_np(x: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    with np.errstate(all="ignore"):
        s = x - _safe_max_np(x, axes)
        return (s - np.log(np.sum(np.exp(s), axis=axes, keepdims=True))).astype(x.dtype)


def _logsumexp_np(x: np.ndarray, axes: tuple[int, ...], keepdims: bool) -> np.ndarray:
    with np.errstate(all="ignore"):
        m = _safe_max_np(x, axes)
        out = np.log(np.sum(np.exp(x - m), axis=axes, keepdims=True)) + m
    return out.reshape(_reduced_shape(x.shape, axes, keepdims)).astype(x.dtype)


# ---------------------------------------------------------------- decomposition helpers
def _safe_max(x, axes: tuple[int, ...]):
    """max(x, axes, keepdims) where finite, else 0: exp(x - m) never sees inf - inf from m."""
    m = lax.reduce_max(x, axes, keepdims=True) if axes else x
    return lax.where(lax.abs(m) < np.inf, m, lax.zeros_like(m))


def _softmax_shift(x, axes: tuple[int, ...]):
    """softmax's shift: max(x, axes, keepdims), but 0 where it is -inf (a row of -inf: 0/0).

    Unlike `_safe_max`, a +inf maximum stays: x - inf is NaN at the +inf entries and -inf
    elsewhere, so the row is NaN, as in SciPy's softmax ([inf, 1] -> [nan, nan]). Shifting
    by 0 there gave [inf/inf, e/inf] = [nan, 0.], a silently finite probability. The
    logsumexp family keeps `_safe_max`: logsumexp([inf, 1]) = inf, as SciPy's."""
    m = lax.reduce_max(x, axes, keepdims=True) if axes else x
    return lax.where(m == -np.inf, lax.zeros_like(m), m)


def _sum_keep(x, axes: tuple[int, ...]):
    return lax.reduce_sum(x, axes, keepdims=True) if axes else x


def _sum_back(x, axes: tuple[int, ...]):
    """sum(x, axes) broadcast back to x's shape (the softmax family's row sums)."""
    return lax.broadcast_to(_sum_keep(x, axes), lax.shape_of(x))


# ---------------------------------------------------------------- tn.softmax
softmax = defop("tn.softmax", ["x"], attrs={"axes": "ints"}, same_type=("x", "out"),
                doc="exp(x) / sum(exp(x), axes), computed with the max shift.")


@softmax.def_infer
def _softmax_infer(specs: list[TensorSpec], axes: tuple[int, ...]) -> list[TensorSpec]:
    _check(specs[0], axes)
    return [specs[0]]


softmax.def_reference(_softmax_np)


@softmax.def_decompose
def _softmax_decompose(x, axes):
    # softmax(x) = e / sum(e), e = exp(x - max(x)); rows of -inf entries give 0 there
    if x.size == 0:
        return x
    e = lax.exp(x - lax.broadcast_to(_softmax_shift(x, axes), lax.shape_of(x)))
    return e / _sum_back(e, axes)


@softmax.def_jvp
def _softmax_jvp(primals, tangents, outs, axes):
    # ds = s * (t - sum(s * t))
    (t,) = tangents
    if t is None:
        return [None]
    s = outs[0]
    return [s * (t - _sum_back(s * t, axes))]


# ---------------------------------------------------------------- tn.log_softmax
log_softmax = defop("tn.log_softmax", ["x"], attrs={"axes": "ints"}, same_type=("x", "out"),
                    doc="x - logsumexp(x, axes), computed with the max shift.")


@log_softmax.def_infer
def _log_softmax_infer(specs: list[TensorSpec], axes: tuple[int, ...]) -> list[TensorSpec]:
    _check(specs[0], axes)
    return [specs[0]]


log_softmax.def_reference(_log_softmax_np)


@log_softmax.def_decompose
def _log_softmax_decompose(x, axes):
    # log_softmax(x) = s - log(sum(exp(s))), s = x - max(x)
    if x.size == 0:
        return x
    s = x - lax.broadcast_to(_safe_max(x, axes), lax.shape_of(x))
    return s - lax.broadcast_to(lax.log(_sum_keep(lax.exp(s), axes)), lax.shape_of(x))


@log_softmax.def_jvp
def _log_softmax_jvp(primals, tangents, outs, axes):
    # dy = t - sum(softmax(x) * t), softmax(x) = exp(y)
    (t,) = tangents
    if t is None:
        return [None]
    return [t - _sum_back(lax.exp(outs[0]) * t, axes)]


# ---------------------------------------------------------------- tn.logsumexp
logsumexp = defop("tn.logsumexp", ["x"], attrs={"axes": "ints", "keepdims": "bool"},
                  doc="log(sum(exp(x), axes)) = m + log(sum(exp(x - m))), m = max(x).")


@logsumexp.def_infer
def _logsumexp_infer(specs: list[TensorSpec], axes: tuple[int, ...], keepdims: bool) -> list[TensorSpec]:
    (x,) = specs
    _check(x, axes)
    return [TensorSpec(_reduced_shape(x.shape, axes, keepdims), x.dtype)]


logsumexp.def_reference(_logsumexp_np)


@logsumexp.def_decompose
def _logsumexp_decompose(x, axes, keepdims):
    # lse(x) = m + log(sum(exp(x - m))); m = 0 where max(x) is +-inf (then the log says it)
    shape = _reduced_shape(x.shape, axes, keepdims)
    if x.size == 0:  # an empty sum is 0 and log(0) = -inf (and an empty result is empty)
        return lax.full(shape, -np.inf, x.dtype)
    m = _safe_max(x, axes)
    out = lax.log(_sum_keep(lax.exp(x - lax.broadcast_to(m, lax.shape_of(x))), axes)) + m
    if keepdims:
        return out
    if None not in x.shape:
        return lax.reshape(out, shape)
    return lax.reshape(out, _reduced_shape(lax.shape_of(x), axes, keepdims))


@logsumexp.def_jvp
def _logsumexp_jvp(primals, tangents, outs, axes, keepdims):
    # d lse = sum(softmax(x) * t)
    (t,) = tangents
    if t is None:
        return [None]
    st = lax.emit("tn.softmax", [primals[0]], axes=tuple(axes)) * t
    if not axes:
        return [st]
    return [lax.reduce_sum(st, axes, keepdims)]


# ---------------------------------------------------------------- batching rules (vmap)
# softmax, log_softmax, logsumexp of batched x: the same axes, one further right.
softmax.def_batch(axes_rule("tn.softmax"))
log_softmax.def_batch(axes_rule("tn.log_softmax"))
logsumexp.def_batch(axes_rule("tn.logsumexp"))
