"""Slices whose bounds are traced: `x[i * b:(i + 1) * b]`, compiled once for every `i`.

A traced bound is a 0-d integer Tensor. When its value is known while tracing (a constant,
or an input `th.function` specialized on) it is an ordinary static bound. Otherwise the
slice's length must still be static, which it is when stop - start is a constant: the
bounds are read as affine forms over the traced values they are computed from (sums,
differences, products by constants of the tn IR the tracer built, `_affine`), and the
difference of the two forms must have no traced term left. The slice is then one
`tn.dynamic_slice` (dialects/tn/ops/dynamic.py) whose bounds are run-time operands: it
follows Python's slice rules when the code runs and fails the call with an IndexError when
the slice would be shorter than compiled (near the end of the dimension), never a clamped or
shifted answer.

A length that depends on traced values (`x[:i]`, `x[i:j]`) cannot have a static shape:
inside `th.jit` that is a TypeError naming the bounds (mark the bound static); `th.function`
specializes on the inputs such bounds depend on (`slice_static_inputs`), one compile per
distinct value until dynamic shapes exist (issue 16).
"""
from __future__ import annotations

import operator
from fractions import Fraction
from typing import Any

import numpy as np
from mlir import ir

from theanir.dialects.tn.builder import describe_location, emit1
from theanir.dialects.tn.interpreter import static_value
from theanir.dialects.tn.types import spec_of_value

from .np_base import astype, constant
from .tensor import Tensor

__all__ = ["is_traced_bound", "static_bound", "slice_length", "dynamic_slice"]

# An affine form: ({leaf ir.Value: coefficient}, constant term)
Form = tuple[dict[ir.Value, Fraction], Fraction]
_DEPTH = 32  # ops walked up from a bound; beyond it a value is a leaf


def _at() -> str:
    return f"at {describe_location()}"


def is_traced_bound(v: Any) -> bool:
    return isinstance(v, Tensor)


def static_bound(v: Any, what: str) -> Any:
    """A bound as a Python int when its value is known while tracing, else the (int64) Tensor.
    Refuses anything but None, integers and 0-d integer tensors."""
    if v is None:
        return None
    if not isinstance(v, Tensor):
        try:
            return operator.index(v)
        except TypeError:
            raise TypeError(f"getitem: slice {what} must be an integer or None, got {v!r} {_at()}") from None
    if v.ndim != 0 or v.dtype.kind not in "iu":
        raise TypeError(f"getitem: a traced slice {what} must be a 0-d integer tensor, got "
                        f"{v.dtype.name}{list(v.shape)} {_at()}")
    known = static_value(v.value, limit=None, depth=None, budget=256)
    if known is not None:
        return int(known)
    return v if v.dtype == np.int64 else astype(v, np.int64)


# ------------------------------------------------------------------ affine forms
def _const_form(c: Any) -> Form:
    return {}, Fraction(int(c))


def _combine(a: Form, b: Form, sign: int) -> Form:
    terms = dict(a[0])
    for k, v in b[0].items():
        terms[k] = terms.get(k, Fraction(0)) + sign * v
    return {k: v for k, v in terms.items() if v != 0}, a[1] + sign * b[1]


def _scale(a: Form, c: Fraction) -> Form:
    return {k: v * c for k, v in a[0].items() if v * c != 0}, a[1] * c


def _affine(v: ir.Value, depth: int = _DEPTH) -> Form:
    """v (a 0-d integer value) as sum(coef * leaf) + const over the tn ops that computed it."""
    known = static_value(v, limit=None, depth=None, budget=64)
    if known is not None:
        return _const_form(known)
    op = v.owner.operation if isinstance(v, ir.OpResult) else None
    if op is None or depth == 0:
        return {v: Fraction(1)}, Fraction(0)
    name, args = op.name, list(op.operands)
    if name in ("tn.add", "tn.sub"):
        return _combine(_affine(args[0], depth - 1), _affine(args[1], depth - 1), 1 if name == "tn.add" else -1)
    if name == "tn.neg":
        return _scale(_affine(args[0], depth - 1), Fraction(-1))
    if name == "tn.mul":
        a, b = _affine(args[0], depth - 1), _affine(args[1], depth - 1)
        if not a[0]:
            return _scale(b, a[1])
        if not b[0]:
            return _scale(a, b[1])
    if name in ("tn.cast", "tn.reshape", "tn.broadcast_to") and _is_int_scalar(args[0]):
        return _affine(args[0], depth - 1)  # integer widening of a scalar: the same value
    return {v: Fraction(1)}, Fraction(0)


def _is_int_scalar(v: ir.Value) -> bool:
    spec = spec_of_value(v)
    return spec.ndim == 0 and spec.dtype.kind in "iu"


def _form(b: Any) -> Form:
    return _const_form(b) if isinstance(b, int) else _affine(b.value)


def slice_length(start: Any, stop: Any, step: int) -> int | None:
    """The static length of start:stop:step (bounds: ints or traced int64 Tensors, not None)
    when stop - start is a constant; None when it depends on traced values."""
    terms, c = _combine(_form(stop), _form(start), -1)
    if terms or c.denominator != 1:
        return None
    return len(range(0, int(c), step))


def _vector(bounds: list[Any]) -> Tensor:
    parts = [constant(np.array([b], np.int64)) if isinstance(b, int)
             else Tensor(emit1("tn.reshape", [b.value], {"shape": (1,)})) for b in bounds]
    out = parts[0]
    for p in parts[1:]:
        out = Tensor(emit1("tn.concatenate", [out.value, p.value], {"axis": 0}))
    return out


def dynamic_slice(x: Tensor, dims: dict[int, tuple[Any, Any, int, int]]) -> Tensor:
    """x sliced along `dims` ({axis: (start, stop, step, length)}, bounds ints or traced
    int64 Tensors, length None where it is dynamic: Python's rules at run time); the other
    axes whole."""
    far = 2**62  # past the end of a dynamic dim: clamped to it at run time
    starts = [dims[d][0] if d in dims else 0 for d in range(x.ndim)]
    stops = [dims[d][1] if d in dims else (far if x.shape[d] is None else x.shape[d]) for d in range(x.ndim)]
    sizes = tuple(dims[d][3] if d in dims else x.shape[d] for d in range(x.ndim))
    sizes = tuple(-1 if k is None else k for k in sizes)  # -1: a dynamic length
    steps = tuple(dims[d][2] if d in dims else 1 for d in range(x.ndim))
    out = emit1("tn.dynamic_slice", [x.value, _vector(starts).value, _vector(stops).value],
                {"sizes": sizes, "steps": steps})
    return Tensor(out, weak=x.weak)


def length_error(s: slice) -> TypeError:
    """A slice with traced bounds whose length is not a constant, inside th.jit."""
    def text(v: Any) -> str:
        return "" if v is None else ("<traced>" if isinstance(v, Tensor) else str(v))
    return TypeError(
        f"getitem: the slice {text(s.start)}:{text(s.stop)}{'' if s.step is None else ':' + text(s.step)} "
        f"has traced bounds and a length that depends on their values (stop - start is not a "
        f"constant), but compiled shapes are static: make the bounds differ by a constant "
        f"(x[i:i + n]), or mark them static (static_argnums: one compile per value; th.function "
        f"does this by itself) {_at()}")
