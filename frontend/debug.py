"""Printing values from compiled code: `th.debug.print` (JAX's) and the op under Theano's Print.

    @th.jit
    def f(x):
        th.debug.print("x = {} and its sum {s}", x, s=x.sum())   # one line per call
        return x * 2

Inside `th.jit`, `th.function` graphs and scan bodies a print is the dialect's `tn.print`
(dialects/tn/ops/debug.py): an identity that the optimizer neither removes nor merges nor
hoists, lowered to a call into the runtime, which formats the tensor NumPy-like (shape-aware
brackets, at most 8 fraction digits, more than 1000 elements summarized with `...`) and
writes the line to the process's stdout, flushed, each time the code runs: once per call,
once per step inside a scan. Python's `sys.stdout` is flushed before each compiled call is
launched. Calls run on the runtime's worker thread unless `th.config.sync` is set: a
program that interleaves its own prints with the code's should set `th.config.sync = True`
(THEANIR_SYNC=1), or read a result (which waits for the call) before printing.

`print_tensor(x, message, what)` is the building block: `message` (newline included) is
printed with its first `{}` stands for
x's value (`what="value"`) or shape (`what="shape"`); it returns `x` (use the result, as
Theano's Print needs, so the print stays on the path to the outputs).
"""
from __future__ import annotations

import string
import sys
from typing import Any

import numpy as np

from theanir.dialects.tn.builder import describe_location, emit1
from theanir.dialects.tn.ops.debug import format_line

from .tensor import Tensor

__all__ = ["print", "print_tensor", "escape"]


def escape(text: str) -> str:
    """`text` as literal message text (braces doubled)."""
    return text.replace("{", "{{").replace("}", "}}")


def print_tensor(x: Any, message: str, what: str = "value") -> Any:
    """`x` unchanged; prints `message` with its first `{}` replaced by x's value or shape
    (`what`) each time the compiled code runs (outside compiled code: now)."""
    if what not in ("value", "shape"):
        raise ValueError(f"print_tensor: what must be 'value' or 'shape', got {what!r}")
    if not isinstance(x, Tensor):  # a concrete value outside any trace: print it now
        sys.stdout.write(format_line(np.asarray(x), message, what))
        sys.stdout.flush()
        return x
    return Tensor(emit1("tn.print", [x.value], {"message": message, "what": what}))


def print(fmt: str, *args: Any, **kwargs: Any) -> None:  # noqa: A001 (JAX's name)
    """JAX's `jax.debug.print(fmt, *args, **kwargs)`: `fmt`'s `{}`, `{0}` and `{name}` fields
    stand for the arguments (tensors or Python values), one line each time the code runs.
    Format specs (`{:.3f}`) and conversions are refused: the runtime formats tensors itself."""
    if not isinstance(fmt, str):
        raise TypeError(f"debug.print: fmt must be a str, got {type(fmt).__name__}")
    pieces: list[tuple[str, Any]] = []  # (literal text, argument or None)
    auto = 0
    for literal, field, spec, conv in string.Formatter().parse(fmt):
        if field is None:
            pieces.append((literal, None))
            continue
        if spec or conv:
            raise ValueError(f"debug.print: format specs and conversions are not supported "
                             f"({{{field}{'!' + conv if conv else ''}{':' + spec if spec else ''}}} "
                             f"in {fmt!r}; at {describe_location()})")
        if field == "":
            key: Any = auto
            auto += 1
        else:
            key = int(field) if field.isdigit() else field
        try:
            value = args[key] if isinstance(key, int) else kwargs[key]
        except (IndexError, KeyError):
            raise ValueError(f"debug.print: {fmt!r} refers to argument {key!r}, which was not "
                             f"given ({len(args)} positional, keywords {sorted(kwargs)}; "
                             f"at {describe_location()})") from None
        pieces.append((literal, value))
    _emit(pieces)


def _emit(pieces: list[tuple[str, Any]]) -> None:
    """One print op per tensor argument; literal text and Python values join the message of
    the next one, the line's end the last one's."""
    message = ""
    tensors = [p for p in pieces if isinstance(p[1], Tensor)]
    if not tensors:  # nothing traced: print the line now
        sys.stdout.write("".join(lit + ("" if v is None else _py_text(v)) for lit, v in pieces) + "\n")
        sys.stdout.flush()
        return
    last = len(pieces) - 1 - next(i for i, p in enumerate(reversed(pieces)) if isinstance(p[1], Tensor))
    for i, (literal, value) in enumerate(pieces):
        message += escape(literal)
        if value is None:
            continue
        if not isinstance(value, Tensor):
            message += escape(_py_text(value))
            continue
        message += "{}"
        if i == last:
            message += escape("".join(lit + ("" if v is None else _py_text(v)) for lit, v in pieces[i + 1:]))
            message += "\n"
        print_tensor(value, message)
        message = ""


def _py_text(v: Any) -> str:
    """A Python value's text: arrays (NumPy's, th.Array) as NumPy prints them."""
    return str(np.asarray(v)) if hasattr(v, "__array__") else str(v)
