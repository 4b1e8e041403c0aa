"""theanir runtime: loads compiled entry points and calls them with NumPy buffers.

The native part (`_native`, C++: runtime/src/) validates every buffer against the compiled
signature, builds the memref descriptors and runs the call without the GIL, either inline
(`sync=True`) or as a task on a device queue (one in-order queue and worker thread per
device and stream; device 0 is the CPU). A call returns `Array`s at once; reading one waits
for its call and raises the call's error, if any, with the original message.

Small calls (inputs + outputs <= 64 KiB, C++ `Executable::kInlineBytes`) run inline on the caller's
thread, without copying their inputs, when their queue is idle and no input is an unfinished
or failed `Array`: nothing queued can be overtaken, so the order is the queue's. Their
results are still `Array`s (already complete, `is_ready()` is True); an error still surfaces
at the read. Generated code allocates its intermediate buffers through the runtime
(runtime/src/pool.h): with `allow_gc=False` an Executable keeps them in a pool between calls.
An output spec with `alias >= 0` is written into that input's buffer (a donated input: it
must be a writeable C-contiguous array; the result Array holds that same buffer).
`FastCache` is the jit's warm-call cache: it matches positional NumPy arrays,
`Array`s, Python scalars and static values against the layouts of earlier calls and calls
the entry's `Executable` directly; `FunctionCache` does the same for th.function, reading and
storing the shared variables' cells. Both are base classes of the frontend objects they serve
(frontend/api.py, frontend/symbolic.py): their C++ `__call__` falls back to `_call_slow`.
"""
from __future__ import annotations

import atexit
import operator
import os
import threading
from typing import Any, Sequence

import numpy as np

from theanir.codegen.hooks import set_runtime_hooks

from .device import CPU

try:
    from ._native import (ArgSpec, Array, Executable, FastCache, FunctionCache, cancel_flag_address,  # noqa: F401
                          check_hook, default_max_pending_bytes, failing_array, max_pending_bytes, memory_hooks,
                          release_free_memory, set_call_config, set_max_pending_bytes, synchronize)
    from . import _native
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
    np.dtype(np.complex64): 5,
    np.dtype(np.complex128): 6,
}


def arg_spec(name: str, dtype: np.dtype, shape: Sequence[int], contiguous: bool, output: bool,
             alias: int = -1) -> ArgSpec:
    """`alias`: for an output written into the buffer of input `alias` (donated), else -1.
    A None dim is dynamic (-1 to the runtime): any size for an input; an output with one
    is allocated by the code and adopted (passes/lower/dynamic_results.py)."""
    return ArgSpec(name, DTYPE_CODES[np.dtype(dtype)], [-1 if s is None else int(s) for s in shape],
                   bool(contiguous), bool(output), int(alias))


def make_executable(address: int, specs: list[ArgSpec], keepalive: Any, memory_hooks: int = 0,
                    allow_gc: bool = True) -> Executable:
    """Wrap a packed entry point (`void fn(void**)`) with its validated signature.

    `memory_hooks`: the code's `__theanir_set_memory_hooks` (0 if none); `allow_gc=False`
    keeps the code's intermediate buffers in a pool between calls (runtime/src/pool.h).
    A `keepalive` with `cancel_hook` (the code's `__theanir_set_cancel_flag`, to call) or
    `cancellable` (its loops poll the flag already) makes the calls stop at Ctrl-C. A
    `keepalive` with `check_hook` (the code's `__theanir_set_check_hook`, to call) makes its
    failed run-time checks fail the call (runtime/src/pool.h `CheckFailed`). A `keepalive` with
    `shape_fn` (the code's packed `<entry>_shapes`, passes/lower/shape_function.py) sizes the
    dynamic outputs it can before each call: the runtime allocates them as destinations."""
    exe = Executable(int(address), specs, keepalive, int(memory_hooks), bool(allow_gc),
                     int(getattr(keepalive, "cancel_hook", 0) or 0), bool(getattr(keepalive, "cancellable", False)),
                     int(getattr(keepalive, "check_hook", 0) or 0), bool(getattr(keepalive, "checked", False)))
    shape_fn = int(getattr(keepalive, "shape_fn", 0) or 0)
    if shape_fn:
        exe.set_shape_function(shape_fn)
    return exe


# ------------------------------------------------------------------ Array: NumPy interop
# The core (waiting, errors, shape/dtype without waiting) is C++; what follows makes an
# Array read like the NumPy array it holds. Every read waits for the producing call. Results
# are immutable: their NumPy buffers are read-only (np.asarray(a) cannot be written), so a
# queued call reads an Array input without copying it (runtime/src/executable.cpp).
def _array(self: Array, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
    buf = self.numpy()
    if dtype is not None and np.dtype(dtype) != buf.dtype:
        return buf.astype(dtype)
    return buf.copy() if copy else buf


def _repr(self: Array) -> str:
    return "Array(" + np.array2string(self.numpy(), separator=", ", prefix="Array(") + f", dtype={self.dtype})"


def _forward(name: str) -> Any:
    def method(self: Array, *args: Any) -> Any:
        return getattr(self.numpy(), name)(*(a.numpy() if isinstance(a, Array) else a for a in args))

    method.__name__ = name
    return method


def _getattr(self: Array, name: str) -> Any:
    if name.startswith("__"):
        raise AttributeError(name)
    return getattr(self.numpy(), name)  # .T, .sum(), .item(), .tolist(), .astype() ...


Array.__array__ = _array
Array.__array_priority__ = 100.0
Array.__repr__ = _repr
Array.__str__ = lambda self: str(self.numpy())
Array.__getattr__ = _getattr
Array.__len__ = lambda self: len(self.numpy())
Array.__iter__ = lambda self: iter(self.numpy())
Array.__float__ = lambda self: float(self.numpy())
Array.__int__ = lambda self: int(self.numpy())
Array.__index__ = lambda self: operator.index(self.numpy())
Array.__bool__ = lambda self: bool(self.numpy())
Array.__complex__ = lambda self: complex(self.numpy())
Array.__format__ = lambda self, spec: format(self.numpy(), spec)
Array.__hash__ = None
_FORWARDED = ("__getitem__", "__contains__", "__neg__", "__pos__", "__abs__", "__invert__",
              "__eq__", "__ne__", "__lt__", "__le__", "__gt__", "__ge__") + tuple(
    f"__{p}{op}__" for op in ("add", "sub", "mul", "truediv", "floordiv", "mod", "pow", "matmul", "and", "or",
                              "xor", "lshift", "rshift") for p in ("", "r"))
for _name in _FORWARDED:
    setattr(Array, _name, _forward(_name))


def _setitem(self: Array, key: Any, value: Any) -> None:
    raise TypeError("th.Array is immutable (a queued call may still read it, and results are shared, not "
                    "copied): write into a copy instead, e.g. b = np.array(a); b[...] = value")


Array.__setitem__ = _setitem


# ------------------------------------------------------------------ Array: pickling and copies
# An Array pickles as its value (waiting for the call that computes it) and unpickles as an
# Array that is ready; `copy.copy` returns the same immutable Array, `copy.deepcopy` one with
# its own buffer (a th.function may later write a shared variable's buffer in place).
def array_from_numpy(value: Any) -> Array:
    """A ready Array holding a private, read-only, C-contiguous copy of `value`."""
    buf = np.array(value, order="C", copy=True)
    if buf.dtype not in DTYPE_CODES:
        raise TypeError(f"th.Array: dtype {buf.dtype} is not supported (expected one of "
                        f"{sorted(d.name for d in DTYPE_CODES)})")
    buf.flags.writeable = False
    return _native.ready_array(buf)


Array.__reduce__ = lambda self: (array_from_numpy, (self.numpy(),))
Array.__copy__ = lambda self: self
Array.__deepcopy__ = lambda self, memo: array_from_numpy(self.numpy())

# Code generation (the layer below) installs these into code loaded through MLIR's
# ExecutionEngine: handed down here, since codegen never imports the runtime.
set_runtime_hooks(cancel_flag_address(), memory_hooks(), check_hook())

atexit.register(synchronize)  # no worker may run compiled code while the process tears down

# Ctrl-C during an inline call of a function with loops (runtime/src/lifecycle.h) is seen by a
# SIGINT handler installed around the call on the main thread only.
_native._set_main_thread(threading.main_thread().ident)
# Before fork: wait until no compiled code runs and let none start (OpenBLAS's fork handler
# joins its threads and hangs if a BLAS call is in flight). Registered here, not only with
# pthread_atfork: Python's hooks run before every library's pthread_atfork handlers, also
# those of OpenBLAS builds loaded after the runtime. The child's state is reset in C++.
os.register_at_fork(before=_native._fork_prepare, after_in_parent=_native._fork_parent)

# ------------------------------------------------------------------ devices (runtime/device.py)
# Every native Array lives in host memory (device 0 of the queues is the CPU); CUDA buffers
# are runtime/cuda.py's. `x.device == "cpu"` as in JAX; nothing here touches CUDA.
Array.device = property(lambda self: CPU, doc="The device holding this array's buffer (th.Array: the CPU).")
