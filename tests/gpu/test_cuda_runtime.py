"""The runtime's CUDA path (runtime/src/cuda*.cpp, runtime/cuda.py). Without a GPU: the
runtime builds and loads, names what is missing, and cuBLAS/nvJitLink load from their wheels;
every check that needs a GPU skips, saying so (tests/gpu/cuda_checks.py holds them; on a GPU
machine without MLIR, run_on_device.sh runs the same checks). UNVERIFIED ON HARDWARE."""
from __future__ import annotations

import numpy as np
import pytest

import cuda_checks
import theanir as th
from theanir.codegen import cuda as cuda_codegen
from theanir.runtime import _native
from theanir.runtime import cuda as rcuda

HAVE_GPU = _native.cuda_driver_status() == ""
needs_gpu = pytest.mark.skipif(not HAVE_GPU, reason=f"no CUDA device: {_native.cuda_driver_status()}")


def test_runtime_loads_without_cuda_and_names_what_is_missing():
    status = _native.cuda_driver_status()
    if HAVE_GPU:
        assert _native.cuda_device_count() >= 1
        return
    assert status and _native.cuda_device_count() == 0
    with pytest.raises(RuntimeError, match="no CUDA device: "):
        _native.CudaDevice(0)
    with pytest.raises(th.DeviceError, match="no CUDA device: "):
        rcuda.device(th.Device("cuda", 0))


def test_cublas_loads_from_its_wheel_without_a_gpu():
    path = rcuda.cublas_path()
    if path is None:
        pytest.skip("nvidia-cublas wheel not installed (pip install 'theanir[cuda]')")
    assert _native.cuda_load_cublas(path) == ""


def test_the_vadd_kernel_is_valid_ptx():
    if cuda_codegen.nvjitlink_path() is None:
        pytest.skip("nvidia-nvjitlink wheel not installed (pip install 'theanir[cuda]')")
    assert cuda_codegen.ptx_to_cubin(cuda_checks.VADD_PTX)[:4] == b"\x7fELF"


@needs_gpu
def test_copies_round_trip():
    cuda_checks.check_copies_round_trip(_native)


@needs_gpu
def test_vadd_kernel():
    cuda_checks.check_vadd_kernel(_native, cuda_codegen.ptx_to_cubin(cuda_checks.VADD_PTX))


@needs_gpu
def test_cublas_gemm():
    cuda_checks.check_cublas_gemm(_native, rcuda.cublas_path())


@needs_gpu
def test_errors_surface_at_the_read():
    cuda_checks.check_errors_surface_at_the_read(_native, rcuda.cublas_path())


@needs_gpu
def test_out_of_memory_is_clear_and_recoverable():
    cuda_checks.check_out_of_memory_is_clear_and_recoverable(_native)


@needs_gpu
def test_generated_cubins_load(tmp_path):
    x = np.ones((8, 300), np.float32)
    low = th.jit(lambda a, b: th.tanh(a * b + 1.0).sum(axis=1)).lower(x, x)
    cuda_codegen.generate(low.traced.module, low.options).save(str(tmp_path / "chain"))
    assert cuda_checks.check_generated_cubins_load(_native, str(tmp_path)) >= 1


@needs_gpu
def test_device_put_round_trip():
    x = np.arange(12.0).reshape(3, 4)
    y = th.device_put(x, "cuda")
    assert y.device == "cuda" and y.shape == (3, 4)
    np.testing.assert_array_equal(np.asarray(y), x)
    with pytest.raises(MemoryError, match="CUDA out of memory"):
        rcuda.CudaArray((1 << 48,), np.float32, th.Device("cuda", 0))
    np.testing.assert_array_equal(np.asarray(th.device_put(x, "cuda")), x)  # still usable
