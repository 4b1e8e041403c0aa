"""Devices: names (`"cpu"`, `"cuda"`, `"cuda:1"`), and whether CUDA can run here.

Nothing here touches CUDA until a CUDA device is asked for: importing theanir and CPU use
never load `libcuda.so.1` (tests/gpu/test_device.py checks the process's mappings). The
first request (`th.device_put(x, "cuda")`, a call of `th.jit(f, device="cuda")`, a
function compiled under `th.config.device = "cuda"`) runs `cuda_error()` once: it loads the
driver library with `dlopen` (ctypes) and calls `cuInit(0)` and `cuDeviceGetCount`; when any
step fails, `require_cuda` raises `DeviceError("no CUDA device: <what is missing>")`.
No CUDA toolkit and no link-time CUDA dependency are involved: the driver ships with the
NVIDIA kernel driver, the rest comes from wheels (docs/cuda.md).
"""
from __future__ import annotations

import ctypes
import threading
from dataclasses import dataclass

LIBCUDA = "libcuda.so.1"  # the driver API's soname (no toolkit: installed by the NVIDIA driver)
PLATFORMS = ("cpu", "cuda")
_CUDA_ERRORS = {1: "CUDA_ERROR_INVALID_VALUE", 2: "CUDA_ERROR_OUT_OF_MEMORY", 3: "CUDA_ERROR_NOT_INITIALIZED",
                34: "CUDA_ERROR_STUB_LIBRARY", 35: "CUDA_ERROR_INSUFFICIENT_DRIVER",
                100: "CUDA_ERROR_NO_DEVICE", 101: "CUDA_ERROR_INVALID_DEVICE", 999: "CUDA_ERROR_UNKNOWN"}


class DeviceError(RuntimeError):
    """A device was asked for that this machine cannot provide (`th.DeviceError`)."""


@dataclass(frozen=True)
class Device:
    """A device: `platform` ("cpu" or "cuda") and `id`. Equal to its name, so
    `x.device == "cpu"` and `x.device == "cuda:0"` read naturally ("cuda" means cuda:0)."""

    platform: str
    id: int = 0

    def __str__(self) -> str:
        return f"{self.platform}:{self.id}"

    def __repr__(self) -> str:
        return f"Device({str(self)!r})"

    def __eq__(self, other: object) -> bool:
        if isinstance(other, str):
            try:
                other = parse_device(other)
            except ValueError:
                return False
        if not isinstance(other, Device):
            return NotImplemented
        return (self.platform, self.id) == (other.platform, other.id)

    def __hash__(self) -> int:
        return hash((self.platform, self.id))


CPU = Device("cpu", 0)


def parse_device(name: str | Device) -> Device:
    """`"cpu"`, `"cuda"`, `"cuda:1"`, Theano's `"cuda0"`/`"gpu"`/`"gpu1"` -> Device; ValueError
    naming the accepted forms otherwise."""
    if isinstance(name, Device):
        return name
    if not isinstance(name, str):
        raise ValueError(f"device must be a string such as 'cpu' or 'cuda', got {type(name).__name__}")
    text = name.strip().lower()
    for prefix, platform in (("cuda", "cuda"), ("gpu", "cuda"), ("cpu", "cpu")):
        if not text.startswith(prefix):
            continue
        rest = text[len(prefix):].lstrip(":")
        if rest == "":
            return Device(platform, 0)
        if rest.isdigit():
            return Device(platform, int(rest))
    raise ValueError(f"unknown device {name!r}: use 'cpu', 'cuda' or 'cuda:N' (Theano's 'cuda0', 'gpu' also work)")


_lock = threading.Lock()
_probed: list[str | None] = []  # [reason] once probed; None: CUDA works


def _probe() -> str | None:
    try:
        lib = ctypes.CDLL(LIBCUDA)
    except OSError as e:
        return f"{LIBCUDA} could not be loaded ({e}); no NVIDIA driver on this machine"
    try:
        rc = lib.cuInit(ctypes.c_uint(0))
    except AttributeError:
        return f"{LIBCUDA} has no cuInit"
    if rc != 0:
        return f"cuInit failed with {_CUDA_ERRORS.get(rc, 'CUresult')} ({rc})"
    count = ctypes.c_int(0)
    rc = lib.cuDeviceGetCount(ctypes.byref(count))
    if rc != 0:
        return f"cuDeviceGetCount failed with {_CUDA_ERRORS.get(rc, 'CUresult')} ({rc})"
    if count.value == 0:
        return "the driver reports 0 devices"
    _device_count[0] = count.value
    return None


_device_count = [0]


def cuda_error() -> str | None:
    """Why CUDA cannot run here (probed once, on first use), or None when it can."""
    with _lock:
        if not _probed:
            _probed.append(_probe())
        return _probed[0]


def require_cuda(device: Device) -> Device:
    """`device` if this machine can run it; DeviceError naming what is missing otherwise."""
    if device.platform != "cuda":
        return device
    reason = cuda_error()
    if reason is not None:
        raise DeviceError(f"no CUDA device: {reason}")
    if device.id >= _device_count[0]:
        raise DeviceError(f"no CUDA device: {device} asked for, the driver reports {_device_count[0]} device(s)")
    return device


def forget_probe() -> None:
    """Probe again on the next request (tests that change LIBCUDA)."""
    with _lock:
        _probed.clear()


def cuda_device_count() -> int:
    """How many CUDA devices the driver reports (0 without CUDA; probes once)."""
    return 0 if cuda_error() is not None else _device_count[0]
