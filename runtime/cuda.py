"""The runtime's CUDA path from Python: devices, device arrays, cuBLAS (runtime/src/cuda.h).

UNVERIFIED ON HARDWARE: written and built on a machine without a GPU; tests/gpu/ skips what
needs one, and tests/gpu/run_on_device.sh is the prepared check for a GPU machine
(docs/cuda.md). Importing this module touches no CUDA; `device(n)` loads the driver.

`CudaArray` is a buffer in device memory with NumPy manners: `th.device_put(x, "cuda")`
copies `x` there asynchronously (stream-ordered allocation from the device's pool), and
reading it (`np.asarray`, `.numpy()`) copies it back and waits, raising any error of the
queued work then (the CPU path's error-at-read rule).
"""
from __future__ import annotations

import glob
import importlib.util
import os
import threading
from typing import Any

import numpy as np

from . import _native
from .device import Device, DeviceError, require_cuda

_devices: dict[int, Any] = {}
_lock = threading.Lock()


def cublas_path() -> str | None:
    """libcublas.so from the `nvidia-cublas` wheel (nvidia/cu13/lib or nvidia/cublas/lib)."""
    try:
        spec = importlib.util.find_spec("nvidia")
    except (ModuleNotFoundError, ValueError):
        return None
    for root in (spec.submodule_search_locations or []) if spec else []:
        found = sorted(glob.glob(os.path.join(root, "*", "lib", "libcublas.so*")), reverse=True)
        if found:
            return found[0]
    return None


def device(dev: Device) -> Any:
    """The runtime's CudaDevice for `dev` (created once); DeviceError when there is none."""
    require_cuda(dev)
    with _lock:
        if dev.id not in _devices:
            try:
                _devices[dev.id] = _native.CudaDevice(dev.id)
            except RuntimeError as e:
                raise DeviceError(str(e)) from None
            path = cublas_path()
            if path is not None:
                _native.cuda_load_cublas(path)  # a failure is reported by the first product
        return _devices[dev.id]


class CudaArray:
    """An array in CUDA device memory; reading it copies it to the host and waits."""

    __slots__ = ("shape", "dtype", "device", "ptr", "_dev", "_keep")

    def __init__(self, shape: tuple[int, ...], dtype: np.dtype, dev: Device):
        self.shape, self.dtype, self.device = tuple(shape), np.dtype(dtype), dev
        self._dev = device(dev)
        try:
            self.ptr = self._dev.alloc(self.nbytes)
        except RuntimeError as e:
            raise (MemoryError if "out of memory" in str(e) else DeviceError)(str(e)) from None
        self._keep: np.ndarray | None = None

    @property
    def nbytes(self) -> int:
        return int(np.prod(self.shape, dtype=np.int64)) * self.dtype.itemsize

    @property
    def ndim(self) -> int:
        return len(self.shape)

    @classmethod
    def from_host(cls, x: Any, dev: Device) -> "CudaArray":
        host = np.ascontiguousarray(x)
        out = cls(host.shape, host.dtype, dev)
        out._keep = host  # the copy is queued: the host buffer lives until the next read
        out._dev.copy_to_device(out.ptr, host.reshape(-1).view(np.uint8))
        return out

    def numpy(self) -> np.ndarray:
        out = np.empty(self.shape, self.dtype)
        try:
            self._dev.copy_to_host(out.reshape(-1).view(np.uint8), self.ptr)
        except RuntimeError as e:
            raise DeviceError(str(e)) from None
        self._keep = None
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        a = self.numpy()
        return a if dtype is None else a.astype(dtype)

    def block_until_ready(self) -> "CudaArray":
        try:
            self._dev.synchronize()
        except RuntimeError as e:
            raise DeviceError(str(e)) from None
        return self

    def __repr__(self) -> str:
        return f"CudaArray(shape={self.shape}, dtype={self.dtype}, device={self.device})"

    def __del__(self) -> None:
        dev = getattr(self, "_dev", None)
        if dev is not None and getattr(self, "ptr", None) is not None:
            dev.free(self.ptr)  # stream-ordered: after the work that uses it
