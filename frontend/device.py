"""Choosing a device: `th.device_put`, `th.devices`, `th.DeviceError` (docs/cuda.md).

    th.config.device = "cuda"            # or THEANIR_FLAGS=device=cuda, or th.jit(f, device="cuda")
    x = th.device_put(np.ones(3), "cpu") # a th.Array; x.device == "cpu"

Where the code of a function runs is part of its compile options (`CompileOptions.device`,
from th.config.device or th.jit's `device=`). Nothing touches CUDA until a CUDA device is
used; on a machine without one that use raises `th.DeviceError: no CUDA device: <what is
missing>` (no libcuda.so.1, cuInit failing, no device), never a crash.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from theanir.runtime import Array, array_from_numpy
from theanir.runtime.device import CPU, Device, DeviceError, cuda_device_count, cuda_error, parse_device, require_cuda

from .config import config

__all__ = ["device_put", "devices", "DeviceError", "Device"]

# What runs on a CUDA device today and what does not (docs/cuda.md): code generation and
# nvJitLink run everywhere; executing it needs the runtime's CUDA path on a GPU machine.
CUDA_EXECUTION = ("running compiled functions on CUDA is not built yet: PTX and cubins are generated "
                  "(theanir.codegen.cuda) and the runtime can hold arrays and launch kernels "
                  "(theanir.runtime.cuda), but the host code that calls the kernels is not wired "
                  "to th.jit (docs/cuda.md)")


def resolve(device: str | Device | None) -> Device:
    """`device`, or th.config.device when None, as a Device (ValueError for unknown names)."""
    return parse_device(config.device if device is None else device)


def check_runnable(device: Device) -> None:
    """Raise DeviceError unless compiled code can run on `device` here (CPU: always)."""
    if device.platform == "cpu":
        return
    require_cuda(device)
    raise DeviceError(f"{device}: {CUDA_EXECUTION}")


def device_put(x: Any, device: str | Device | None = None) -> Any:
    """`x` (array-like or th.Array) on `device` (default th.config.device), JAX's
    `jax.device_put`: on the CPU a ready th.Array (an Array already there is returned as is);
    on CUDA a `CudaArray` (copied asynchronously; reading it waits; unverified on hardware),
    or th.DeviceError when this machine has no CUDA device."""
    dev = resolve(device)
    if dev.platform == "cuda":
        require_cuda(dev)  # th.DeviceError: no CUDA device: ...
        from theanir.runtime.cuda import CudaArray  # only once CUDA is known to be here
        return CudaArray.from_host(np.asarray(x), dev)
    return x if isinstance(x, Array) else array_from_numpy(x)


def devices(platform: str | None = None) -> list[Device]:
    """The devices of `platform` ("cpu", "cuda"; None: th.config.device's platform) that this
    machine has. Probes CUDA (loads libcuda.so.1) only when CUDA is asked for."""
    platform = platform or resolve(None).platform
    if platform == "cpu":
        return [CPU]
    if platform != "cuda":
        raise ValueError(f"th.devices: unknown platform {platform!r}: use 'cpu' or 'cuda'")
    if cuda_error() is not None:
        return []
    return [Device("cuda", i) for i in range(cuda_device_count())]
