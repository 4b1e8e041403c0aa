"""The one MLIR context theanir uses (creating one costs ~0.25 s: do it once, lazily)."""
from __future__ import annotations

import os
import threading

from mlir import ir

from .irdl import register_dialect

_lock = threading.RLock()
_context: ir.Context | None = None


def _make() -> ir.Context:
    """A context with `tn` loaded and MLIR's thread pool off.

    The pool's worker threads do not exist in a forked child, whose first pass pipeline then
    waited for them forever (compiling in a multiprocessing worker hung); our modules have a
    handful of functions, so the pool bought no compile time either."""
    ctx = ir.Context()
    ctx.enable_multithreading(False)
    register_dialect(ctx)
    return ctx


def _after_fork_in_child() -> None:
    global _lock
    _lock = threading.RLock()  # another thread may have held it at the fork


os.register_at_fork(after_in_child=_after_fork_in_child)


def get_context() -> ir.Context:
    """The shared context with the `tn` dialect and all upstream dialects available."""
    global _context
    with _lock:
        if _context is None:
            _context = _make()
        return _context


def new_context() -> ir.Context:
    """A fresh context with `tn` loaded (for tools that must not share state)."""
    return _make()
