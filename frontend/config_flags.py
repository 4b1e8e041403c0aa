"""`THEANIR_FLAGS` (Theano's `THEANO_FLAGS`) and Theano's flags that have no effect here.

    THEANIR_FLAGS="floatX=float32,optimizer=fast_compile,device=cpu,warn.round=False" python train.py

The variable is read once, at import, after the single-setting variables (THEANIR_FLOATX ...),
so its entries win. Each entry `name=value` sets `th.config.<name>`:
- a theanir setting (floatX, optimizer, mode, device, on_unused_input, allow_gc, openmp,
  opt_level, ... : every field of frontend/config.py's Config), its value converted to the
  field's type and checked as an assignment would be; Theano's optimizer names map as
  `mode=Mode(optimizer=...)` maps them (frontend/symbolic_io.py: 'None' and 'merge' are
  fast_compile);
- one of Theano's flags that only silence warnings or tune debugging, profiling, the C
  compiler or the GPU libraries (`INERT` below: `warn.*`, `compute_test_value`,
  `exception_verbosity`, `cmodule.*`, `DebugMode.*`, ...): stored, readable and settable
  (`th.config.warn.round = False`), and without effect, since theanir has none of the
  machinery they tune;
- anything else: ignored, with ONE warning naming every such flag.

`device=cuda` (also Theano's `cuda0`, `gpu`) selects the CUDA back end (docs/cuda.md); nothing
touches CUDA until a function runs, and on a machine without a GPU that run raises
`th.DeviceError: no CUDA device: ...`. `device=opencl...` warns and runs on the CPU.
"""
from __future__ import annotations

import warnings
from typing import Any

from theanir.runtime.device import parse_device

# Theano's flags that change nothing here, with Theano's defaults.
INERT: dict[str, Any] = {
    "compute_test_value": "off", "compute_test_value_opt": "off", "print_test_value": False,
    "exception_verbosity": "low", "optimizer_verbose": False, "optimizer_excluding": "",
    "optimizer_including": "", "optimizer_requiring": "", "on_opt_error": "warn",
    "on_shape_error": "warn", "nocleanup": False, "profile": False, "profile_optimizer": False,
    "profile_memory": False, "print_active_device": True, "assert_no_cpu_op": "ignore",
    "check_input": True, "cxx": "", "linker": "cvm", "base_compiledir": "", "compiledir": "",
    "compiledir_format": "", "reoptimize_unpickled_function": False, "unpickle_function": True,
    "deterministic": "default", "init_gpu_device": "", "force_device": False,
    "print_global_stats": False, "cycle_detection": "regular", "check_stack_trace": "off",
    "traceback.limit": 8, "traceback.compile_limit": 0,
    "warn.ignore_bug_before": "0.8", "warn.argmax_pushdown_bug": True, "warn.gpusum_01_011_0111_bug": True,
    "warn.sum_sum_bug": True, "warn.sum_div_dimshuffle_bug": True, "warn.subtensor_merge_bug": True,
    "warn.gpu_set_subtensor1": True, "warn.vm_gc_bug": False, "warn.signal_conv2d_interface": True,
    "warn.reduce_join": True, "warn.inc_set_subtensor1": True, "warn.round": True,
    "warn.identify_1pexp_bug": True, "warn.inc_subtensor1_opt": True,
    "cmodule.warn_no_version": False, "cmodule.remove_gxx_opt": False, "cmodule.compilation_warning": False,
    "cmodule.preload_cache": False, "cmodule.age_thresh_use": 2073600, "cmodule.mac_framework_link": False,
    "gcc.cxxflags": "", "blas.ldflags": "", "blas.check_openmp": True, "lib.amdlibm": False, "lib.cnmem": 0.0,
    "dnn.enabled": "auto", "dnn.conv.algo_fwd": "small", "dnn.conv.algo_bwd_data": "none",
    "dnn.conv.algo_bwd_filter": "none", "dnn.include_path": "", "dnn.library_path": "",
    "gpuarray.preallocate": 0.0, "gpuarray.sync": False, "gpuarray.sched": "default",
    "gpuarray.single_stream": True, "nvcc.fastmath": False, "nvcc.flags": "", "cuda.root": "",
    "scan.allow_gc": False, "scan.allow_output_prealloc": True, "scan.debug": False,
    "DebugMode.check_c": True, "DebugMode.check_py": True, "DebugMode.check_finite": True,
    "DebugMode.check_strides": 0, "DebugMode.warn_input_not_reused": True, "DebugMode.patience": 10,
    "DebugMode.check_preallocated_output": "", "NanGuardMode.nan_is_error": True,
    "NanGuardMode.inf_is_error": True, "NanGuardMode.big_is_error": True, "NanGuardMode.action": "raise",
    "numpy.seterr_all": "ignore", "numpy.seterr_divide": "None", "numpy.seterr_over": "None",
    "numpy.seterr_under": "None", "numpy.seterr_invalid": "None", "tensor.cmp_sloppy": 0,
    "tensor.local_elemwise_fusion": True, "experimental.unpickle_gpu_on_cpu": False,
    "pycuda.init": False, "metaopt.verbose": 0, "profiling.n_apply": 20, "profiling.n_ops": 20,
    "profiling.time_thunks": True, "optdb.position_cutoff": float("inf"), "optdb.max_use_ratio": 8.0,
    "magma.enabled": False, "ctc.root": "", "conv.assert_shape": False,
}

# prefixes read as `th.config.<prefix>.<name>`; "blas" is theanir's own setting (a bool), so
# Theano's blas.ldflags is accepted in THEANIR_FLAGS and in `config.inert_flags` only
SECTIONS = sorted({name.split(".")[0] for name in INERT if "." in name} - {"blas"})


# Theano's optimizer names -> theanir's optimizer option (used by Mode and by the flags)
_OPTIMIZERS = {"fast_run": "fast_run", "fast_compile": "fast_compile", "merge": "fast_compile",
               "none": "fast_compile", "o1": "fast_compile", "o2": "fast_run", "o3": "fast_run",
               "o4": "fast_run", "unsafe": "fast_run", "stabilize": "fast_run"}
MODES = ("Mode", "FAST_RUN", "FAST_COMPILE", "DebugMode", "DEBUG_MODE", "NanGuardMode", "ProfileMode",
         "PROFILE_MODE")


def optimizer_name(optimizer: Any, who: str = "Mode") -> str:
    """A Theano optimizer name as theanir's optimizer option ('fast_run' or 'fast_compile')."""
    key = "none" if optimizer is None else str(optimizer).lower()
    if key not in _OPTIMIZERS:
        raise ValueError(f"{who}: unknown optimizer {optimizer!r}; use 'fast_run', 'fast_compile' "
                         f"(also Theano's 'merge', 'None', 'o1'..'o4', 'unsafe', 'stabilize')")
    return _OPTIMIZERS[key]


def gpu_warning(value: str, where: str) -> str:
    return (f"{where} device={value}: theanir has no OpenCL backend (its GPU backend is CUDA: "
            f"device=cuda); running on the CPU (th.config.device is 'cpu')")


def device_name(value: Any) -> str:
    """th.config.device's stored form: 'cpu', 'cuda' (device 0) or 'cuda:N' (runtime/device.py
    parses; ValueError naming the accepted forms). Touches no CUDA."""
    try:
        dev = parse_device(value)
    except ValueError as e:
        raise ValueError(f"config.device: {e}") from None
    return dev.platform if dev.id == 0 else str(dev)


class FlagSection:
    """`th.config.warn`, `th.config.DebugMode` ...: Theano's dotted flags of one prefix, readable
    and settable (`th.config.warn.round = False`); they have no effect (see the module doc)."""

    def __init__(self, store: dict[str, Any], prefix: str):
        object.__setattr__(self, "_store", store)
        object.__setattr__(self, "_prefix", prefix)

    def _key(self, name: str) -> str:
        key = f"{self._prefix}.{name}"
        if key not in self._store and not any(k.startswith(key + ".") for k in self._store):
            raise AttributeError(f"th.config.{self._prefix} has no flag {name!r}")
        return key

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        key = self._key(name)
        return self._store[key] if key in self._store else FlagSection(self._store, key)

    def __setattr__(self, name: str, value: Any) -> None:
        self._store[self._key(name)] = value

    def __dir__(self) -> list[str]:
        n = len(self._prefix) + 1
        return sorted({k[n:].split(".")[0] for k in self._store if k.startswith(self._prefix + ".")})


def parse_flags(text: str) -> list[tuple[str, str]]:
    """`name=value,name=value` as pairs (spaces around entries ignored, empty entries skipped)."""
    pairs = []
    for entry in text.split(","):
        entry = entry.strip()
        if not entry:
            continue
        name, sep, value = entry.partition("=")
        if not sep or not name.strip():
            raise ValueError(f"THEANIR_FLAGS: entry {entry!r} is not of the form name=value")
        pairs.append((name.strip(), value.strip()))
    return pairs


def convert(text: str, default: Any, name: str) -> Any:
    """A flag's text as the type of its current value (bool, int, float or str)."""
    if isinstance(default, bool):
        low = text.lower()
        if low in ("1", "true", "yes", "on"):
            return True
        if low in ("0", "false", "no", "off"):
            return False
        raise ValueError(f"THEANIR_FLAGS: {name} must be True or False, got {text!r}")
    if isinstance(default, int):
        try:
            return int(text)
        except ValueError:
            raise ValueError(f"THEANIR_FLAGS: {name} must be an integer, got {text!r}") from None
    if isinstance(default, float):
        try:
            return float(text)
        except ValueError:
            raise ValueError(f"THEANIR_FLAGS: {name} must be a number, got {text!r}") from None
    return text


def apply_flags(config: Any, text: str, fields: set[str]) -> None:
    """Set `config` from THEANIR_FLAGS text (`fields`: Config's own settings); one warning
    names the unknown flags."""
    unknown = []
    for name, value in parse_flags(text):
        if name in fields:
            _set_field(config, name, value)
        elif name in INERT:
            config.inert_flags[name] = convert(value, INERT[name], name)
        else:
            unknown.append(name)
    if unknown:
        warnings.warn(f"THEANIR_FLAGS: unknown flags {unknown} were ignored (theanir knows its own settings "
                      f"and Theano's: see frontend/config_flags.py)", UserWarning, stacklevel=2)


def _set_field(config: Any, name: str, text: str) -> None:
    if name == "optimizer":
        value: Any = optimizer_name(text, "THEANIR_FLAGS: optimizer")
    elif name == "device" and text.lower().startswith("opencl"):
        warnings.warn(gpu_warning(text, "THEANIR_FLAGS:"), UserWarning, stacklevel=3)
        value = "cpu"
    else:
        value = convert(text, getattr(config, name), name)
    try:
        setattr(config, name, value)
    except ValueError as e:
        raise ValueError(f"THEANIR_FLAGS: {e}") from None
