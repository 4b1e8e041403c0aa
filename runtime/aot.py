"""`th.aot.load`: run an AOT library (th.aot.compile) from Python without the compiler.

Imports only NumPy, ctypes and the runtime's C++ extension: no MLIR, no codegen. The library
carries its manifest (`NAME_manifest()`, JSON: argument specs, states, target); loading
checks that this CPU has the features the code was compiled for (the manifest's
`target.required`, against /proc/cpuinfo and the library's own `NAME_check_cpu`) and refuses
with AotError otherwise.

A library without state is called like a th.jit function: the packed entry runs through the
runtime's `Executable` (runtime/src/executable.cpp: the same buffer checks, pools, Ctrl-C
and check hooks as jitted code) and returns th.Arrays. A training library (a th.function with
shared variables) is driven through its C ABI (docs/aot.md): `init()`, `get_state(name)`,
`set_state(name, value)`, `run(n_calls, *inputs)`, and a call runs one step.
"""
from __future__ import annotations

import ctypes
import json
import os
import threading
from typing import Any

import numpy as np

from . import arg_spec, make_executable

DTYPE_CODES = {"float32": 0, "float64": 1, "int32": 2, "int64": 3, "bool": 4}
MAX_RANK = 8
# __builtin_cpu_supports names (the manifest's) -> /proc/cpuinfo flag names
_CPUINFO = {"sse3": "pni", "sse4.1": "sse4_1", "sse4.2": "sse4_2", "bmi": "bmi1"}


class AotError(RuntimeError):
    """The file is not a theanir AOT library, or this machine cannot run it."""


class Buffer(ctypes.Structure):
    """`theanir_buffer` of the C ABI (codegen/aot_c.py writes its C definition)."""

    _fields_ = [("data", ctypes.c_void_p), ("nbytes", ctypes.c_int64), ("dtype", ctypes.c_int32),
                ("rank", ctypes.c_int32), ("shape", ctypes.c_int64 * MAX_RANK),
                ("strides", ctypes.POINTER(ctypes.c_int64))]


def cpu_flags() -> set[str] | None:
    """This CPU's feature flags (Linux /proc/cpuinfo), or None where unknown."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    return set(line.split(":", 1)[1].split())
    except OSError:
        pass
    return None


def missing_features(required: list[str], flags: set[str] | None = None) -> list[str]:
    flags = cpu_flags() if flags is None else flags
    if flags is None:
        return []
    return [f for f in required if _CPUINFO.get(f, f) not in flags]


class _Keepalive:
    """Holds the library while an Executable may call it; tells the runtime its hooks."""

    def __init__(self, lib: ctypes.CDLL, entry_point: Any):
        self.lib = lib
        self.cancel_hook = int(entry_point(2) or 0)
        self.cancellable = False
        self.check_hook = int(entry_point(3) or 0)
        self.checked = bool(self.check_hook)
        self.memory_hooks = int(entry_point(1) or 0)


class AotLibrary:
    """A loaded AOT library: call it with NumPy arrays (one per input, in order)."""

    def __init__(self, path: str, lib: ctypes.CDLL, manifest: dict[str, Any]):
        self.path = path
        self.manifest = manifest
        self.name = manifest["name"]
        self._lib = lib
        args = manifest["args"]
        self.inputs = [a for a in args if a["role"] == "input"]
        self.outputs = [a for a in args if a["role"] == "output"]
        self.states = [s["name"] for s in manifest["states"]]
        self._lock = threading.Lock()
        self._err = getattr(lib, f"{self.name}_last_error")
        self._err.restype = ctypes.c_char_p
        if self.states:
            self._executable = None
            self._step = getattr(lib, manifest["function"])
            self._run = getattr(lib, f"{self.name}_run")
            for fn in (getattr(lib, f"{self.name}_{n}") for n in ("init", "get_state", "set_state")):
                fn.restype = ctypes.c_int
            self.init()
            return
        entry_point = getattr(lib, f"{self.name}_entry_point")
        entry_point.restype = ctypes.c_void_p
        entry_point.argtypes = [ctypes.c_int]
        keep = _Keepalive(lib, entry_point)
        specs = [arg_spec(a["name"], np.dtype(a["dtype"]), a["shape"], a["contiguous"], a["output"],
                          a.get("alias", -1)) for a in args]
        self._executable = make_executable(int(entry_point(0)), specs, keep, keep.memory_hooks)

    def __repr__(self) -> str:
        return f"<th.aot library {self.path}: {self.manifest['function']}, target {self.manifest['target']['name']}>"

    def _check(self, rc: int, what: str) -> None:
        if rc != 0:
            raise AotError(f"{what}: {self._err().decode(errors='replace')} (error code {rc})")

    def __call__(self, *inputs: Any) -> Any:
        """One call; returns the outputs (one, or a tuple), th.Arrays or NumPy arrays."""
        if len(inputs) != len(self.inputs):
            raise TypeError(f"{self.manifest['function']}: takes {len(self.inputs)} inputs "
                            f"({', '.join(a['cname'] for a in self.inputs)}), got {len(inputs)}")
        if self._executable is not None:
            # a NumPy array keeps its dtype (the runtime checks it); a strided one is copied
            arrays = [(np.asarray(x, order="C") if a["contiguous"] else x) if isinstance(x, np.ndarray)
                      else np.asarray(x, dtype=a["dtype"]) for x, a in zip(inputs, self.inputs)]
            outs = self._executable.call_async(arrays, False, 0, 0, True)
        else:
            outs = self._call_c(self._step, [], inputs)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _call_c(self, fn: Any, lead: list[Any], inputs: tuple) -> list[np.ndarray]:
        keep, bufs = [], []
        for x, a in zip(inputs, self.inputs):
            arr = np.asarray(x, dtype=a["dtype"], order="C")
            keep.append(arr)
            bufs.append(_buffer(arr))
        # an output with dynamic dims gets room for each such dim as large as the largest
        # input dim (a batch dim); the library fills in the actual shape
        biggest = max([1] + [n for arr in keep for n in arr.shape])
        outs = [np.empty(int(np.prod([biggest if n is None else n for n in a["shape"]])), dtype=a["dtype"])
                for a in self.outputs]
        out_bufs = [_buffer(o) for o in outs]
        for b, a in zip(out_bufs, self.outputs):
            b.rank = len(a["shape"])
        rc = fn(*lead, *(ctypes.byref(b) for b in bufs + out_bufs))
        self._check(rc, self.manifest["function"])
        return [o[:int(np.prod(shape))].reshape(shape) for o, shape in
                ((o, tuple(b.shape[d] for d in range(b.rank))) for o, b in zip(outs, out_bufs))]

    # ----------------------------------------------------------------- training libraries
    def _need_state(self, what: str) -> None:
        if not self.states:
            raise AotError(f"{self.path}: {what}: the library has no state (it was not built from a "
                           f"th.function with shared variables)")

    def init(self) -> None:
        """Set every state to its value when the library was built."""
        self._need_state("init")
        self._check(getattr(self._lib, f"{self.name}_init")(), f"{self.name}_init")

    def get_state(self, name: str) -> np.ndarray:
        self._need_state("get_state")
        s = self._state(name)
        out = np.empty(s["shape"], dtype=s["dtype"])
        self._check(getattr(self._lib, f"{self.name}_get_state")(name.encode(), ctypes.byref(_buffer(out))),
                    f"{self.name}_get_state")
        return out

    def set_state(self, name: str, value: Any) -> None:
        self._need_state("set_state")
        s = self._state(name)
        arr = np.asarray(value, dtype=s["dtype"], order="C")
        self._check(getattr(self._lib, f"{self.name}_set_state")(name.encode(), ctypes.byref(_buffer(arr))),
                    f"{self.name}_set_state")

    def run(self, n_calls: int, *inputs: Any) -> Any:
        """`n_calls` steps with the same inputs inside the library; the last step's outputs."""
        self._need_state("run")
        if len(inputs) != len(self.inputs):
            raise TypeError(f"{self.name}_run: takes {len(self.inputs)} inputs, got {len(inputs)}")
        outs = self._call_c(self._run, [ctypes.c_int64(int(n_calls))], inputs)
        return outs[0] if len(outs) == 1 else tuple(outs)

    def _state(self, name: str) -> dict[str, Any]:
        for s in self.manifest["states"]:
            if s["name"] == name:
                return s
        raise KeyError(f"{self.path}: no state named {name!r} (states: {self.states})")


def _buffer(arr: np.ndarray) -> Buffer:
    b = Buffer()
    b.data = arr.ctypes.data
    b.nbytes = arr.nbytes
    b.dtype = DTYPE_CODES[arr.dtype.name]
    b.rank = arr.ndim
    for d, n in enumerate(arr.shape):
        b.shape[d] = n
    return b


def load(path: str) -> AotLibrary:
    """Load `path` ("build/libmlp.so"; ".so" may be left out) built by th.aot.compile."""
    path = os.fspath(path)
    if not path.endswith(".so") and not os.path.exists(path):
        path += ".so"
    base = os.path.basename(path)
    if not (base.startswith("lib") and base.endswith(".so")):
        raise AotError(f"th.aot.load: {path!r} is not named libNAME.so")
    if not os.path.isfile(path):
        raise AotError(f"th.aot.load: no library at {path!r}")
    name = base[3:-3]
    try:
        lib = ctypes.CDLL(os.path.abspath(path))
    except OSError as e:
        raise AotError(f"th.aot.load: cannot load {path}: {e}") from None
    try:
        getter = getattr(lib, f"{name}_manifest")
    except AttributeError:
        raise AotError(f"th.aot.load: {path} is not a theanir AOT library (no {name}_manifest)") from None
    getter.restype = ctypes.c_char_p
    try:
        manifest = json.loads(getter().decode())
    except ValueError as e:
        raise AotError(f"th.aot.load: {path}: unreadable manifest ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("kind") != "theanir-aot" or manifest.get("format") != 1:
        raise AotError(f"th.aot.load: {path}: not a theanir AOT manifest of format 1")
    target = manifest["target"]
    missing = missing_features(target.get("required", []))
    if missing:
        raise AotError(f"th.aot.load: {path} was compiled for target {target['name']!r} (CPU {target['cpu']}) and "
                       f"needs the CPU features {missing}, which this CPU lacks; rebuild it with "
                       f"th.aot.compile(..., target='native') on this machine or a lower x86-64 level")
    check = getattr(lib, f"{name}_check_cpu")
    err = getattr(lib, f"{name}_last_error")
    err.restype = ctypes.c_char_p
    if check() != 0:
        raise AotError(f"th.aot.load: {err().decode(errors='replace')}")
    return AotLibrary(path, lib, manifest)
