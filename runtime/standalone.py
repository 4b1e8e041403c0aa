"""Importing `theanir.runtime` or `theanir.aot` where the MLIR bindings are missing.

`import theanir.aot` first runs the package's `__init__` (`from theanir.frontend import *`),
which needs MLIR and raises MLIRUnavailableError without it. A program that only loads AOT
libraries (th.aot.load) needs no compiler, so the package `__init__` asks here whether the
import under way is one of those: then it stays importable without the frontend (and
`theanir.jit` & co. raise the original error on use); a plain `import theanir` still fails
with the one clear error. The question is answered from the import system's frames (the
name `_find_and_load` was asked for), the only place the requested module is known.
"""
from __future__ import annotations

import sys
from typing import Any

COMPILER_FREE = ("theanir.runtime", "theanir.aot")


def compiler_free_import(error: BaseException) -> bool:
    """True when `error` is the missing-MLIR error and the import under way asked for a
    module of COMPILER_FREE (so the package may initialize without the frontend)."""
    if type(error).__name__ != "MLIRUnavailableError":
        return False
    frame: Any = sys._getframe(1)
    while frame is not None:
        if frame.f_code.co_name in ("_find_and_load", "_find_and_load_unlocked", "_gcd_import"):
            name = frame.f_locals.get("name")
            if isinstance(name, str) and name != "theanir":
                return any(name == m or name.startswith(m + ".") for m in COMPILER_FREE)
        frame = frame.f_back
    return False


def missing_compiler(error: BaseException) -> Any:
    """The package's `__getattr__` in that state: every other name raises `error` again."""
    def __getattr__(name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        raise ImportError(f"theanir.{name} needs the compiler, which could not be imported: {error}") from error

    return __getattr__
