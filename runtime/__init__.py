"""theanir runtime: loads compiled entry points and calls them with NumPy buffers.

The native part (`_native`, C++) validates every buffer against the compiled signature and
runs the call with the GIL released. The asynchronous queues of a later issue plug in here
behind the same `Executable.call` interface.
"""
from __future__ import annotations

from typing import Any, Sequence

import numpy as np

try:
    from ._native import ArgSpec, Executable  # noqa: F401
except ImportError as e:  # pragma: no cover - only when the package was not built
    raise ImportError(
        "theanir's native runtime (theanir.runtime._native) is missing: install the package "
        "with `pip install -e .` so CMake builds it"
    ) from e

DTYPE_CODES = {
    np.dtype(np.float32): 0,
    np.dtype(np.float64): 1,
    np.dtype(np.int32): 2,
    np.dtype(np.int64): 3,
    np.dtype(np.bool_): 4,
}


def arg_spec(name: str, dtype: np.dtype, shape: Sequence[int], contiguous: bool, output: bool) -> ArgSpec:
    return ArgSpec(name, DTYPE_CODES[np.dtype(dtype)], [int(s) for s in shape], bool(contiguous), bool(output))


def make_executable(address: int, specs: list[ArgSpec], keepalive: Any) -> Executable:
    """Wrap a packed entry point (`void fn(void**)`) with its validated signature."""
    return Executable(int(address), specs, keepalive)
