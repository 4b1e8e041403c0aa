"""Emit `tn` ops: the one place that creates them, runs their shape rule and stamps locations.

The frontend tracer and the passes (autodiff, rewrites) both build IR through `emit`, so every
op is checked by its shape rule when it is created, and a refusal names the op, the operand
types and the user's source line.
"""
from __future__ import annotations

import math
import os
import sys
import threading
from contextlib import contextmanager
from typing import Any, Callable, Iterator, Sequence

from mlir import ir

from .registry import ShapeError, lookup
from .types import TensorSpec, spec_of_value, tensor_type

_PACKAGE_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
_state = threading.local()
_INTERNAL_DIRS: list[str] = []


def mark_internal_dir(path: str) -> None:
    """Frames from files under `path` are never reported as the user's source line."""
    _INTERNAL_DIRS.append(os.path.dirname(os.path.abspath(path)))


def _is_internal(filename: str) -> bool:
    return any(filename.startswith(d) for d in _INTERNAL_DIRS) or "/mlir/" in filename


def user_frame() -> tuple[str, int] | None:
    """(file, line) of the innermost frame outside theanir: the user's source line."""
    frame = sys._getframe(1)
    while frame is not None:
        fn = frame.f_code.co_filename
        if not _is_internal(fn) and not fn.startswith("<frozen"):
            return fn, frame.f_lineno
        frame = frame.f_back
    return None


@contextmanager
def location_override(loc: ir.Location) -> Iterator[None]:
    """Ops emitted inside take `loc` (passes use the location of the op they rewrite)."""
    prev = getattr(_state, "loc", None)
    _state.loc = loc
    try:
        yield
    finally:
        _state.loc = prev


def current_location() -> ir.Location:
    loc = getattr(_state, "loc", None)
    if loc is not None:
        return loc
    frame = user_frame()
    if frame is None:
        return ir.Location.unknown()
    return ir.Location.file(frame[0], frame[1], 0)


def describe_location(loc: ir.Location | None = None) -> str:
    """'file:line' for messages, from a FileLineColLoc (or the current location)."""
    loc = loc if loc is not None else current_location()
    text = str(loc)
    # loc("file":line:col)
    if text.startswith('loc("'):
        inner = text[5:-1]
        name, _, rest = inner.partition('":')
        line = rest.split(":")[0]
        return f"{name}:{line}"
    return text


# The largest tensor an op may produce, in bytes. Sizes, strides and byte offsets are int64
# below tn (memref descriptors, allocation sizes, linearized indices); a larger element count
# wraps (a reshape of 2**64 elements gives an empty array) or trips an MLIR assertion that
# aborts the process. 2**62 leaves headroom for the padding and rounding of allocators.
MAX_TENSOR_BYTES = 1 << 62


def size_problem(spec: TensorSpec) -> str | None:
    """Why a tensor of `spec` cannot exist (a negative dim, or too many bytes), or None."""
    known = [n for n in spec.shape if n is not None]  # dynamic dims are checked when they run
    if any(n < 0 for n in known):
        return f"result shape {spec.shape} has a negative dimension"
    # zero dims do not excuse the others: a dim that large overflows strides and NumPy too
    count = math.prod(max(n, 1) for n in known)
    size = count * max(spec.dtype.itemsize, 1)
    if size > MAX_TENSOR_BYTES:
        which = "" if 0 not in known else ", counting its nonzero dimensions"
        return (f"result shape {spec.shape} spans {count} elements of {spec.dtype.name} ({size:.3g} "
                f"bytes{which}), more than the 2**62 bytes a tensor may hold")
    return None


# Called as hook(name, operands, results) after every op `emit` creates. The frontend's
# bfloat16 tracking (frontend/bfloat16.py) is the one user: a higher layer registers itself
# here, so this layer never imports it.
EMIT_HOOKS: list[Callable[[str, Sequence[ir.Value], list[ir.Value]], None]] = []


def emit(
    name: str,
    operands: Sequence[ir.Value],
    attrs: dict[str, Any] | None = None,
    *,
    result_specs: Sequence[TensorSpec] | None = None,
    regions: int = 0,
) -> list[ir.Value]:
    """Create one `tn` op at the current insertion point; returns its results.

    The op's shape rule gives the result types (or checks `result_specs` when given).
    """
    opdef = lookup(name)
    attrs = dict(attrs or {})
    loc = current_location()
    specs = [spec_of_value(v) for v in operands]
    if opdef.infer is not None:
        try:
            inferred = opdef.infer(specs, **attrs)
        except ShapeError as e:
            types = ", ".join(str(s) for s in specs)
            raise ShapeError(f"{name}: {e} (operands: {types}) at {describe_location(loc)}") from None
        if result_specs is not None and list(result_specs) != list(inferred):
            raise ShapeError(f"{name}: results {result_specs} differ from rule {inferred}")
        result_specs = inferred
    if result_specs is None:
        raise ShapeError(f"{name}: no shape rule and no result types given")
    for spec in result_specs:
        problem = size_problem(spec)
        if problem is not None:
            types = ", ".join(str(s) for s in specs)
            raise ShapeError(f"{name}: {problem} (operands: {types or 'none'}) at {describe_location(loc)}")
    op = ir.Operation.create(
        name,
        results=[tensor_type(s) for s in result_specs],
        operands=list(operands),
        attributes={**opdef.encode_attrs(attrs),
                    **opdef.segment_attrs(len(operands), len(result_specs))},
        regions=regions,
        loc=loc,
    )
    results = list(op.results)
    for hook in EMIT_HOOKS:
        hook(name, operands, results)
    return results


def emit1(name: str, operands: Sequence[ir.Value], attrs: dict[str, Any] | None = None) -> ir.Value:
    return emit(name, operands, attrs)[0]


mark_internal_dir(os.path.join(_PACKAGE_ROOT, "dialects", "x"))
mark_internal_dir(os.path.join(_PACKAGE_ROOT, "frontend", "x"))
mark_internal_dir(os.path.join(_PACKAGE_ROOT, "passes", "x"))
mark_internal_dir(os.path.join(_PACKAGE_ROOT, "runtime", "x"))
