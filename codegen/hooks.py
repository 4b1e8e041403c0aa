"""What the runtime hands down to code generation: its cancel flag and allocation hooks.

Generated code polls the runtime's cancel flag (Ctrl-C) and allocates through the runtime's
pools; the code's setters (`__theanir_set_cancel_flag`, `__theanir_set_memory_hooks`) take
their addresses. On the object route the runtime calls the setters itself (NativeCode's
`cancel_hook`, `memory_hooks`); the ExecutionEngine route hands out packed wrappers that
codegen calls (codegen/native.py), so it needs the addresses. The runtime is the layer
above codegen: it registers them here when it is imported, and codegen never imports it.
No MLIR import here, so registering costs the runtime nothing.
"""
from __future__ import annotations

from typing import Any

_hooks: dict[str, Any] = {}


def set_runtime_hooks(cancel_flag: int, memory_hooks: tuple[int, int], check_hook: int = 0) -> None:
    """Register the runtime's cancel flag address, its (allocate, free) hook addresses and
    the report failed run-time checks call (passes/lower/runtime_checks.py)."""
    _hooks.update(cancel_flag=int(cancel_flag), memory_hooks=tuple(int(a) for a in memory_hooks),
                  check_hook=int(check_hook))


def runtime_hook(name: str) -> Any:
    """`cancel_flag` (an address), `memory_hooks` (two addresses) or `check_hook` (an
    address), as registered."""
    try:
        return _hooks[name]
    except KeyError:
        raise RuntimeError(f"the runtime has not registered its {name.replace('_', ' ')}: import "
                           f"theanir.runtime before loading code through the ExecutionEngine") from None
