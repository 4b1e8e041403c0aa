"""llvm stage -> native code in this process (MLIR's ExecutionEngine, real LLVM codegen)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from mlir import execution_engine, ir

from .pipeline import runtime_libraries


@dataclass
class NativeCode:
    """Compiled code kept alive with its engine; `address` is the packed C entry point."""

    engine: Any
    address: int


def compile_llvm_module(module: ir.Module, entry: str, opt_level: int) -> NativeCode:
    engine = execution_engine.ExecutionEngine(module, opt_level=opt_level, shared_libs=runtime_libraries())
    addr = engine.raw_lookup(f"_mlir_ciface_{entry}")
    if not addr:
        raise RuntimeError(f"compiled module has no entry point {entry}")
    return NativeCode(engine, int(addr))
