"""The one MLIR context theanir uses (creating one costs ~0.25 s: do it once, lazily)."""
from __future__ import annotations

import threading

from mlir import ir

from .irdl import register_dialect

_lock = threading.RLock()
_context: ir.Context | None = None


def get_context() -> ir.Context:
    """The shared context with the `tn` dialect and all upstream dialects available."""
    global _context
    with _lock:
        if _context is None:
            ctx = ir.Context()
            register_dialect(ctx)
            _context = ctx
        return _context


def new_context() -> ir.Context:
    """A fresh context with `tn` loaded (for tools that must not share state)."""
    ctx = ir.Context()
    register_dialect(ctx)
    return ctx
