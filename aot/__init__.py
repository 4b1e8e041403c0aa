"""`th.aot` / `theanir.aot`: ahead-of-time compiled shared libraries with a plain C ABI.

`compile(fn, example_args, "build/libmlp", header=True, target="native")` writes
`build/libmlp.so` and `build/mlp.h` (needs the compiler: MLIR, imported on the call);
`load("build/libmlp.so")` runs one from Python with only the runtime (no MLIR). docs/aot.md
describes the C ABI, training libraries and what a user ships.
"""
from __future__ import annotations

from typing import Any, Callable, Sequence

from theanir.runtime.aot import AotError, AotLibrary, load

__all__ = ["AotError", "AotLibrary", "compile", "load"]


def compile(fn: Callable, example_args: Sequence[Any], path: str, header: bool = True, target: str = "native",
            name: str | None = None, function_name: str | None = None,
            output_names: Sequence[str] | None = None, dynamic_shapes: bool = False) -> str:
    """Compile `fn` (a th.jit-able function or a th.function) into `libNAME.so` (+ `NAME.h`);
    see theanir.frontend.aot_build.compile. Returns the library's path."""
    from theanir.frontend.aot_build import compile as build

    return build(fn, example_args, path, header=header, target=target, name=name, function_name=function_name,
                 output_names=output_names, dynamic_shapes=dynamic_shapes)
