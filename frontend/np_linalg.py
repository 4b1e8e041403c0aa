"""Matrix products with NumPy's semantics: matmul, dot, vdot, inner, outer, tensordot.

All of them reduce to the one primitive `tn.matmul` ((..., m, k) x (..., k, n), equal batch
dims) plus reshapes, transposes and broadcasts from the shape family: vectors are promoted
to matrices and the added dim removed again, batch dims are broadcast explicitly, and
booleans are multiplied as int64 then compared with 0 (NumPy's bool matmul is any(a & b)).
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from theanir.dialects.tn import lax as tn_lax
from theanir.dialects.tn.builder import describe_location, emit1
from theanir.dialects.tn.ops.core import broadcast_shapes
from theanir.dialects.tn.registry import ShapeError

from . import np_shape
from .np_base import as_tensor, astype, broadcast_to, multiply, not_equal, refine, result_type
from .tensor import Tensor

__all__ = ["matmul", "dot", "vdot", "inner", "outer", "tensordot"]


def _prepare(a: Tensor, b: Tensor) -> tuple[Tensor, Tensor, np.dtype]:
    """Promote both to one dtype (NEP 50); booleans compute in int64. Returns the result dtype."""
    dt = result_type(a, b)
    work = np.dtype(np.int64) if dt == np.bool_ else dt
    return astype(a, work), astype(b, work), dt


def _finish(out: Tensor, dt: np.dtype) -> Tensor:
    return not_equal(out, 0) if dt == np.bool_ else out


def _mm(a: Tensor, b: Tensor) -> Tensor:
    return Tensor(emit1("tn.matmul", [a.value, b.value]))


def _reshape(x: Tensor, shape: tuple[int, ...]) -> Tensor:
    return x if x.shape == shape else np_shape.reshape(x, shape)


def _transpose(x: Tensor, perm: Sequence[int]) -> Tensor:
    perm = tuple(perm)
    return x if perm == tuple(range(x.ndim)) else np_shape.transpose(x, perm)


# ------------------------------------------------------------------ matmul
def matmul(a: Any, b: Any) -> Tensor:
    """NumPy's `matmul` (the `@` operator): 1-D operands promoted, batch dims broadcast."""
    return _matmul("matmul", as_tensor(a), as_tensor(b))


def _matmul(name: str, a: Tensor, b: Tensor) -> Tensor:
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"{name}: operands must be at least 1-D, got shapes {a.shape} and {b.shape} "
                         f"(use multiply for scalars) at {describe_location()}")
    ka, kb = a.shape[-1], b.shape[0] if b.ndim == 1 else b.shape[-2]
    if (ka is None) != (kb is None):  # a dynamic dim against a static one: checked at run time
        a = refine(a, a.shape[:-1] + (kb,)) if ka is None else a
        b = refine(b, (ka,) + b.shape[1:] if b.ndim == 1 else b.shape[:-2] + (ka,) + b.shape[-1:]) \
            if kb is None else b
        ka = kb = ka if ka is not None else kb
    if ka != kb:
        raise ShapeError(f"{name}: shapes {a.shape} and {b.shape} are not aligned: last dim of the "
                         f"first ({ka}) != {'only' if b.ndim == 1 else 'second-to-last'} dim of the "
                         f"second ({kb}) at {describe_location()}")
    try:
        batch = broadcast_shapes(a.shape[:-2], b.shape[:-2])
    except ShapeError:
        raise ShapeError(f"{name}: batch dims of shapes {a.shape} and {b.shape} cannot be broadcast "
                         f"together at {describe_location()}") from None
    # NumPy removes the dim it added to promote a 1-D operand
    out_shape = batch + a.shape[-2:-1] + (b.shape[-1:] if b.ndim >= 2 else ())
    a, b, dt = _prepare(a, b)
    a2 = _reshape(a, (1, ka)) if a.ndim == 1 else a
    b2 = _reshape(b, (kb, 1)) if b.ndim == 1 else b
    if b2.ndim == 2 and a2.ndim > 2 and None in a2.shape:
        # the same fold with dynamic dims: the sizes are read when the code runs
        k = tn_lax.dim(a2, a2.ndim - 1)
        out = _mm(np_shape.reshape(a2, (-1, k)), b2)
        lead = tn_lax.shape_of(a)[:-1]
        tail = (tn_lax.dim(b2, 1),) if b.ndim >= 2 else ()
        return _finish(np_shape.reshape(out, lead + tail), dt)
    if b2.ndim == 2 and a2.ndim > 2:
        # (batch..., m, k) x (k, n): fold the batch into m, one 2-D product (BLAS-friendly)
        rows = int(np.prod(a2.shape[:-1], dtype=np.int64))
        out = _mm(_reshape(a2, (rows, ka)), b2)
    else:
        a2 = broadcast_to(a2, batch + a2.shape[-2:])
        b2 = broadcast_to(b2, batch + b2.shape[-2:])
        out = _mm(a2, b2)
    return _finish(_reshape(out, out_shape), dt)


# ------------------------------------------------------------------ dot family
def dot(a: Any, b: Any) -> Tensor:
    """NumPy's `dot`: scalars multiply; b of rank <= 2 is matmul; else contract a[-1] with b[-2]."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    if b.ndim <= 2:
        return _matmul("dot", a, b)
    return _tensordot("dot", a, b, [a.ndim - 1], [b.ndim - 2])


def vdot(a: Any, b: Any) -> Tensor:
    """Inner product of the flattened operands; the first is conjugated (NumPy's vdot)."""
    a, b = as_tensor(a), as_tensor(b)
    if a.dtype.kind == "c":
        a = Tensor(emit1("tn.conj", [a.value]), weak=a.weak)
    if a.size != b.size:
        raise ShapeError(f"vdot: operands of shapes {a.shape} and {b.shape} have different sizes "
                         f"({a.size} != {b.size}) at {describe_location()}")
    return _matmul("vdot", _reshape(a, (a.size,)), _reshape(b, (b.size,)))


def inner(a: Any, b: Any) -> Tensor:
    """NumPy's `inner`: contract the last axes; result shape a.shape[:-1] + b.shape[:-1]."""
    a, b = as_tensor(a), as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        return multiply(a, b)
    return _tensordot("inner", a, b, [a.ndim - 1], [b.ndim - 1])


def outer(a: Any, b: Any) -> Tensor:
    """NumPy's `outer`: out[i, j] = a.ravel()[i] * b.ravel()[j]."""
    a, b = as_tensor(a), as_tensor(b)
    return multiply(_reshape(a, (a.size, 1)), _reshape(b, (1, b.size)))


def tensordot(a: Any, b: Any, axes: int | Sequence[Any] = 2) -> Tensor:
    """NumPy's `tensordot`: `axes` = N (last N of a with first N of b) or (axes_a, axes_b)."""
    a, b = as_tensor(a), as_tensor(b)
    ax_a, ax_b = _tensordot_axes(a, b, axes)
    return _tensordot("tensordot", a, b, ax_a, ax_b)


def _tensordot_axes(a: Tensor, b: Tensor, axes: Any) -> tuple[list[int], list[int]]:
    if isinstance(axes, (int, np.integer)):
        n = int(axes)
        if n < 0 or n > a.ndim or n > b.ndim:
            raise ValueError(f"tensordot: axes={n} is out of range for shapes {a.shape} and {b.shape} "
                             f"at {describe_location()}")
        return list(range(a.ndim - n, a.ndim)), list(range(n))
    try:
        ax_a, ax_b = axes
    except (TypeError, ValueError):
        raise ValueError(f"tensordot: axes must be an int or a pair of axis lists, got {axes!r}") from None
    ax_a = [ax_a] if isinstance(ax_a, (int, np.integer)) else list(ax_a)
    ax_b = [ax_b] if isinstance(ax_b, (int, np.integer)) else list(ax_b)
    return ax_a, ax_b


def _norm_axes(name: str, axes: list[int], shape: tuple[int, ...]) -> list[int]:
    out = []
    for ax in axes:
        ax = int(ax)
        if not -len(shape) <= ax < len(shape):
            raise ValueError(f"{name}: axis {ax} is out of bounds for shape {shape} at {describe_location()}")
        out.append(ax % len(shape))
    if len(set(out)) != len(out):
        raise ValueError(f"{name}: repeated axis in {axes} at {describe_location()}")
    return out


def _tensordot(name: str, a: Tensor, b: Tensor, ax_a: list[int], ax_b: list[int]) -> Tensor:
    """Contract a's `ax_a` with b's `ax_b` pairwise: transpose, flatten to 2-D, one matmul."""
    ax_a, ax_b = _norm_axes(name, ax_a, a.shape), _norm_axes(name, ax_b, b.shape)
    sizes_a, sizes_b = [a.shape[i] for i in ax_a], [b.shape[i] for i in ax_b]
    if None in a.shape or None in b.shape:
        return _tensordot_dynamic(name, a, b, ax_a, ax_b)
    if sizes_a != sizes_b:
        raise ShapeError(f"{name}: shapes {a.shape} and {b.shape} are not aligned over axes {ax_a} "
                         f"and {ax_b} ({sizes_a} != {sizes_b}) at {describe_location()}")
    free_a = [i for i in range(a.ndim) if i not in ax_a]
    free_b = [i for i in range(b.ndim) if i not in ax_b]
    m = int(np.prod([a.shape[i] for i in free_a], dtype=np.int64))
    n = int(np.prod([b.shape[i] for i in free_b], dtype=np.int64))
    k = int(np.prod(sizes_a, dtype=np.int64))
    a, b, dt = _prepare(a, b)
    a2 = _reshape(_transpose(a, free_a + ax_a), (m, k))
    b2 = _reshape(_transpose(b, ax_b + free_b), (k, n))
    out_shape = tuple(a.shape[i] for i in free_a) + tuple(b.shape[i] for i in free_b)
    return _finish(_reshape(_mm(a2, b2), out_shape), dt)


def _tensordot_dynamic(name: str, a: Tensor, b: Tensor, ax_a: list[int], ax_b: list[int]) -> Tensor:
    """_tensordot with dynamic dims: the flattened sizes are read when the code runs (a
    contracted dim that differs fails tn.matmul's run-time check)."""
    if any(p != q and p is not None and q is not None for p, q in zip((a.shape[i] for i in ax_a),
                                                                      (b.shape[i] for i in ax_b))):
        raise ShapeError(f"{name}: shapes {a.shape} and {b.shape} are not aligned over axes {ax_a} "
                         f"and {ax_b} at {describe_location()}")
    free_a = [i for i in range(a.ndim) if i not in ax_a]
    free_b = [i for i in range(b.ndim) if i not in ax_b]
    da, db = tn_lax.shape_of(a), tn_lax.shape_of(b)
    a, b, dt = _prepare(a, b)
    a2 = np_shape.reshape(_transpose(a, free_a + ax_a), (-1, _product([da[i] for i in ax_a])))
    b2 = np_shape.reshape(_transpose(b, ax_b + free_b), (_product([db[i] for i in ax_b]), -1))
    out_shape = tuple(da[i] for i in free_a) + tuple(db[i] for i in free_b)
    return _finish(np_shape.reshape(_mm(a2, b2), out_shape), dt)


def _product(dims: list[Any]) -> Any:
    out: Any = 1
    for n in dims:
        if isinstance(out, int) and isinstance(n, int):
            out *= n
        else:
            out = tn_lax.emit("tn.mul", [tn_lax.constant(np.asarray(out, np.int64)) if isinstance(out, int) else out,
                                         tn_lax.constant(np.asarray(n, np.int64)) if isinstance(n, int) else n])
    return out
