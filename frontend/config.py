"""Global settings (Theano's `config`): `th.config.floatX`, `th.config.optimizer`, ...

Read at import from the environment: one variable per setting (THEANIR_FLOATX, ...), then
THEANIR_FLAGS (Theano's THEANO_FLAGS: `floatX=float32,optimizer=fast_compile,...`), whose
entries win; see frontend/config_flags.py, which also holds Theano's flags that have no
effect here (`th.config.warn.*`, `th.config.compute_test_value`, ...).
"""
from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass, field
from typing import ClassVar

import numpy as np

from theanir.codegen import threads as _threads
from theanir.passes.options import CompileOptions
from theanir.runtime import default_max_pending_bytes as _default_max_pending_bytes
from theanir.runtime import set_call_config as _set_call_config
from theanir.runtime import set_max_pending_bytes as _set_max_pending_bytes

from .config_flags import INERT, MODES, SECTIONS, FlagSection, apply_flags, device_name, gpu_warning
from .options import CODE_SETTINGS, compile_options, warm_key


def _env_opt_level() -> int:
    text = os.environ.get("THEANIR_OPT_LEVEL", "2").strip()
    if text not in ("0", "1", "2", "3"):
        raise ValueError(f"the environment variable THEANIR_OPT_LEVEL must be 0, 1, 2 or 3, got {text!r}")
    return int(text)


@dataclass
class Config:
    """Process-wide options; read at trace/compile time, so change them before tracing.

    floatX: dtype of Theano-style symbolic variables and `th.as_floatX` constants.
    optimizer: "fast_run" (all tn rewrites) or "fast_compile" (only what lowering needs).
    opt_level: LLVM optimization level (0-3) for generated code.
    fast_math: allow rewrites that assume finite values (x - x -> 0 for floats).
    blas: float matrix products call OpenBLAS (scipy-openblas32) instead of generated loops.
    threads: how many threads compiled code uses: OpenBLAS's pool (takes effect at once), and the
        OpenMP team of generated loop nests, the sparse kernels' outer loops and convolution's
        loops (read at compile time). From THEANIR_THREADS, OMP_NUM_THREADS or
        THEANIR_FLAGS=threads=N, else the CPUs this process may run on (os.sched_getaffinity).
        1: serial code, no OpenMP runtime loaded. docs/threads.md.
    openmp: with threads > 1, loop nests whose work pays for it (a cost model,
        passes/lower/parallel_loops.py) run as OpenMP parallel loops (libiomp5); small ones
        stay serial; big matrix products run as blocks on the same team (one-thread BLAS
        each). On by default (THEANIR_OPENMP=0 or THEANIR_FLAGS=openmp=False turns it off);
        with threads = 1 no OpenMP runtime is loaded. docs/threads.md has the scaling figures.
    sync: run compiled calls inline on the calling thread instead of on the runtime's queue
        (THEANIR_SYNC=1), for profiling and debugging; results are th.Arrays in both modes.
    allow_gc: Theano's flag (THEANIR_ALLOW_GC=0 to turn off): True frees the intermediate
        buffers of compiled code after each call; False keeps them in a per-function pool
        that the next call reuses (faster, holds the memory). The default of th.function and
        th.jit's `allow_gc=None`; read when a function is compiled for a signature.
    max_pending_bytes: the most bytes (inputs and outputs) that queued calls may hold before
        a caller waits for the queue (THEANIR_MAX_PENDING_BYTES); default an eighth of
        physical memory within [64 MiB, 1 GiB]. A single larger call still runs.
    jit_cache_size: signatures a jitted function keeps compiled (THEANIR_JIT_CACHE_SIZE,
        default 128); the least recently used is dropped, its code unloaded once unused.
    specialize_after: when > 0, a function compiled with dynamic dims (th.function, th.jit
        with dynamic_shapes) compiles a static specialization for input shapes it was called
        with this many times, and those calls take the full path until then (THEANIR_SPECIALIZE_AFTER,
        default 0: never; the dynamic code is within a few percent of static code on the
        benchmarks, docs/dynamic-shapes.md).
    mode: th.function's default mode (Theano's flag): "Mode" (config.optimizer decides),
        "FAST_RUN", "FAST_COMPILE" (frontend/symbolic_io.py); read when a function is made.
    on_unused_input: th.function's default for inputs no output needs: "raise", "warn", "ignore".
    device: where compiled functions run: "cpu" (default), "cuda" or "cuda:N" (Theano's "cuda0",
        "gpu" are read as CUDA; "opencl" warns and keeps "cpu"). Setting it touches no CUDA;
        a function compiled for CUDA on a machine without one raises th.DeviceError (docs/cuda.md).
    Theano's flags without effect here (`warn.*`, `compute_test_value`, ...) are attributes too,
    kept in `inert_flags` (frontend/config_flags.py).
    """

    floatX: str = field(default_factory=lambda: os.environ.get("THEANIR_FLOATX", "float64"))
    optimizer: str = field(default_factory=lambda: os.environ.get("THEANIR_OPTIMIZER", "fast_run"))
    opt_level: int = field(default_factory=lambda: _env_opt_level())
    cache: bool = field(default_factory=lambda: os.environ.get("THEANIR_CACHE", "1").strip().lower()
                        not in ("0", "false", "no", "off"))
    cache_dir: str = field(default_factory=lambda: os.environ.get("THEANIR_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "theanir"))
    codegen: str = field(default_factory=lambda: os.environ.get("THEANIR_CODEGEN", "object"))
    fast_math: bool = field(default_factory=lambda: os.environ.get("THEANIR_FAST_MATH", "0") == "1")
    blas: bool = field(default_factory=lambda: os.environ.get("THEANIR_BLAS", "1").strip().lower()
                       not in ("0", "false", "no", "off"))
    threads: int = field(default_factory=lambda: _threads.default_threads())
    openmp: bool = field(default_factory=lambda: os.environ.get("THEANIR_OPENMP", "1").strip().lower()
                         not in ("0", "false", "no", "off"))
    sync: bool = field(default_factory=lambda: os.environ.get("THEANIR_SYNC", "0").strip().lower()
                       in ("1", "true", "yes", "on"))
    allow_gc: bool = field(default_factory=lambda: os.environ.get("THEANIR_ALLOW_GC", "1").strip().lower()
                           not in ("0", "false", "no", "off"))
    max_pending_bytes: int = field(default_factory=lambda: _env_bytes("THEANIR_MAX_PENDING_BYTES",
                                                                      _default_max_pending_bytes()))
    jit_cache_size: int = field(default_factory=lambda: _env_count("THEANIR_JIT_CACHE_SIZE", 128))
    specialize_after: int = field(default_factory=lambda: int(os.environ.get("THEANIR_SPECIALIZE_AFTER", "0")
                                                              .strip() or 0))
    mode: str = "Mode"
    on_unused_input: str = "raise"
    device: str = "cpu"

    # What a compile reads from the settings, replaced whole (one atomic read for a reader on
    # another thread) by every assignment to a code setting or allow_gc: (CompileOptions
    # (frontend/options.py), allow_gc, warm key = hash of both). The warm key is mirrored into
    # C++ with `sync` by every assignment: a warm entry made under other code-altering settings
    # misses (runtime/src/fast_cache.h). Class attributes, so not in vars(config).
    _snapshot: ClassVar[tuple[CompileOptions, bool, int] | None] = None
    # Theano's flags without effect here: dotted name -> value (config_flags.INERT)
    inert_flags: ClassVar[dict[str, object]] = dict(INERT)

    def __getattr__(self, name: str) -> object:
        """Theano's inert flags: `config.compute_test_value`, `config.warn` (a FlagSection)."""
        if name in Config.inert_flags:
            return Config.inert_flags[name]
        if name in SECTIONS:
            return FlagSection(Config.inert_flags, name)
        raise AttributeError(f"th.config has no setting {name!r}")

    def __setattr__(self, name: str, value: object) -> None:
        if name in Config.inert_flags:
            Config.inert_flags[name] = value
            return
        if name in SECTIONS:
            raise AttributeError(f"th.config.{name} is a group of flags; set one of them, e.g. "
                                 f"th.config.{name}.{dir(FlagSection(Config.inert_flags, name))[0]}")
        if name == "mode" and value not in MODES:
            raise ValueError(f"config.mode must be one of {list(MODES)}, got {value!r}")
        if name == "on_unused_input" and value not in ("raise", "warn", "ignore"):
            raise ValueError(f"config.on_unused_input must be 'raise', 'warn' or 'ignore', got {value!r}")
        if name == "device" and isinstance(value, str) and value.lower().startswith("opencl"):
            import warnings
            warnings.warn(gpu_warning(value, "th.config:"), UserWarning, stacklevel=2)
            value = "cpu"
        if name == "device":
            value = device_name(value)
        if name == "floatX" and value not in ("float32", "float64"):
            raise ValueError(f"config.floatX must be 'float32' or 'float64', got {value!r}")
        if name == "optimizer" and value not in ("fast_run", "fast_compile"):
            raise ValueError(f"config.optimizer must be 'fast_run' or 'fast_compile', got {value!r}")
        if name == "opt_level" and value not in (0, 1, 2, 3):
            raise ValueError(f"config.opt_level must be 0..3, got {value!r}")
        if name == "fast_math" and not isinstance(value, bool):
            raise ValueError(f"config.fast_math must be True or False, got {value!r}")
        if name == "codegen" and value not in ("object", "engine"):
            raise ValueError(f"config.codegen must be 'object' or 'engine', got {value!r}")
        if name == "sync" and not isinstance(value, bool):
            raise ValueError(f"config.sync must be True or False, got {value!r}")
        if name == "blas" and not isinstance(value, bool):
            raise ValueError(f"config.blas must be True or False, got {value!r}")
        if name == "threads" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"config.threads must be an int >= 1, got {value!r}")
        if name == "allow_gc" and not isinstance(value, bool):
            raise ValueError(f"config.allow_gc must be True or False, got {value!r}")
        if name == "openmp" and not isinstance(value, bool):
            raise ValueError(f"config.openmp must be True or False, got {value!r}")
        if name == "max_pending_bytes" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"config.max_pending_bytes must be an int >= 1 (bytes), got {value!r}")
        if name == "specialize_after" and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise ValueError(f"config.specialize_after must be an int >= 0, got {value!r}")
        if name == "jit_cache_size" and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ValueError(f"config.jit_cache_size must be an int >= 1, got {value!r}")
        object.__setattr__(self, name, value)
        if name in CODE_SETTINGS or name == "allow_gc":
            Config._snapshot = self._new_snapshot()
        warm = Config._snapshot[2] if Config._snapshot else 0
        _set_call_config(warm, getattr(self, "sync", False))  # the warm-call caches read these
        if name == "threads":
            _threads.set_threads(value)
        if name == "openmp":
            _threads.set_openmp(value)
        if name == "max_pending_bytes":
            _set_max_pending_bytes(value)

    def compile_snapshot(self) -> tuple[CompileOptions, bool, int]:
        """(compile options, allow_gc, warm-call key) of the current settings, from one read."""
        snap = Config._snapshot
        return snap if snap is not None else self._new_snapshot()

    def _new_snapshot(self) -> tuple[CompileOptions, bool, int] | None:
        if not all(hasattr(self, name) for name in (*CODE_SETTINGS, "allow_gc")):
            return None  # __init__ has not set them all yet
        opts = compile_options(self)
        return opts, self.allow_gc, warm_key(opts, self.allow_gc)

    @property
    def floatX_dtype(self) -> np.dtype:
        return np.dtype(self.floatX)


def _env_bytes(name: str, default: int) -> int:
    """A byte count from the environment: an int, optionally with a K, M or G suffix (binary)."""
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    scale = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30}.get(text[-1].upper(), 1)
    digits = text[:-1] if scale > 1 else text
    if not digits.isdigit() or int(digits) < 1:
        raise ValueError(f"{name} must be a positive byte count such as 268435456 or 256M, got {text!r}")
    return int(digits) * scale


def _env_count(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {text!r}")
    return int(text)


config = Config()
apply_flags(config, os.environ.get("THEANIR_FLAGS", ""), {f.name for f in dataclasses.fields(Config)})
