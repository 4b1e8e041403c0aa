"""The GPU checks of the runtime's CUDA path, written once for two runners: pytest here
(tests/gpu/test_cuda_runtime.py, skipped without a GPU) and tests/gpu/device_check.py on a GPU
machine without MLIR (run by run_on_device.sh). Each check takes the runtime's native module
(`theanir.runtime._native`, or the one built there) and NumPy only. UNVERIFIED ON HARDWARE.
"""
from __future__ import annotations

import json
import os
from typing import Any

import numpy as np

# y[i] = a[i] + b[i] for i < n: a hand-written kernel, so the launch path is checked apart
# from generated code (its argument list is four plain values).
VADD_PTX = r"""
.version 8.0
.target sm_90
.address_size 64
.visible .entry vadd(.param .u64 pa, .param .u64 pb, .param .u64 pc, .param .u32 n)
{
  .reg .pred p;
  .reg .b32 r<6>;
  .reg .f32 f<4>;
  .reg .b64 rd<11>;
  ld.param.u64 rd1, [pa];
  ld.param.u64 rd2, [pb];
  ld.param.u64 rd3, [pc];
  ld.param.u32 r1, [n];
  mov.u32 r2, %ctaid.x;
  mov.u32 r3, %ntid.x;
  mov.u32 r4, %tid.x;
  mad.lo.s32 r5, r2, r3, r4;
  setp.ge.u32 p, r5, r1;
  @p bra DONE;
  cvta.to.global.u64 rd4, rd1;
  cvta.to.global.u64 rd5, rd2;
  cvta.to.global.u64 rd6, rd3;
  mul.wide.u32 rd7, r5, 4;
  add.s64 rd8, rd4, rd7;
  add.s64 rd9, rd5, rd7;
  add.s64 rd10, rd6, rd7;
  ld.global.f32 f1, [rd8];
  ld.global.f32 f2, [rd9];
  add.f32 f3, f1, f2;
  st.global.f32 [rd10], f3;
DONE:
  ret;
}
"""


def _to_device(dev: Any, x: np.ndarray) -> int:
    ptr = dev.alloc(x.nbytes)
    dev.copy_to_device(ptr, np.ascontiguousarray(x).reshape(-1).view(np.uint8))
    return ptr


def _to_host(dev: Any, ptr: int, shape: tuple, dtype: Any) -> np.ndarray:
    out = np.empty(shape, dtype)
    dev.copy_to_host(out.reshape(-1).view(np.uint8), ptr)
    return out


def check_copies_round_trip(native: Any) -> None:
    dev = native.CudaDevice(0)
    for dtype in (np.float32, np.float64, np.int32, np.int64):
        x = np.arange(1000, dtype=dtype) * 3
        ptr = _to_device(dev, x)
        np.testing.assert_array_equal(_to_host(dev, ptr, x.shape, dtype), x)
        dev.free(ptr)
    e = dev.record_event()
    dev.wait_event(e)
    assert dev.event_done(e)
    dev.destroy_event(e)


def check_vadd_kernel(native: Any, vadd_cubin: bytes) -> None:
    dev = native.CudaDevice(0)
    fn = dev.function(dev.load_module(vadd_cubin), "vadd")
    n = 100_003
    a, b = np.random.default_rng(0).standard_normal((2, n)).astype(np.float32)
    pa, pb, pc = _to_device(dev, a), _to_device(dev, b), dev.alloc(a.nbytes)
    dev.launch(fn, [(n + 255) // 256, 1, 1], [256, 1, 1], [("i64", pa), ("i64", pb), ("i64", pc), ("i32", n)])
    np.testing.assert_array_equal(_to_host(dev, pc, (n,), np.float32), a + b)
    for p in (pa, pb, pc):
        dev.free(p)


def check_cublas_gemm(native: Any, cublas: str) -> None:
    assert native.cuda_load_cublas(cublas) == ""
    dev = native.CudaDevice(0)
    rng = np.random.default_rng(1)
    for dtype, elt, tol in ((np.float32, 4, 1e-4), (np.float64, 8, 1e-12)):
        a, b = rng.standard_normal((60, 784)).astype(dtype), rng.standard_normal((784, 100)).astype(dtype)
        pa, pb, pc = _to_device(dev, a), _to_device(dev, b), _to_device(dev, np.zeros((60, 100), dtype))
        dev.gemm(elt, 60, 100, 784, pa, 784, 1, pb, 100, 1, pc, 100, 1, 0.0)
        np.testing.assert_allclose(_to_host(dev, pc, (60, 100), dtype), a @ b, rtol=tol, atol=tol * 10)
        # b read transposed (column-major): C = a @ bt.T with bt stored (100, 784)
        bt = np.ascontiguousarray(b.T)
        pbt = _to_device(dev, bt)
        dev.gemm(elt, 60, 100, 784, pa, 784, 1, pbt, 1, 784, pc, 100, 1, 0.0)
        np.testing.assert_allclose(_to_host(dev, pc, (60, 100), dtype), a @ b, rtol=tol, atol=tol * 10)
        for p in (pa, pb, pc, pbt):
            dev.free(p)


def check_errors_surface_at_the_read(native: Any, cublas: str) -> None:
    assert native.cuda_load_cublas(cublas) == ""
    dev = native.CudaDevice(0)
    p = dev.alloc(16)
    dev.gemm(4, 2, 2, 2, p, 3, 3, p, 3, 3, p, 2, 1, 0.0)  # strides cuBLAS cannot take: kept
    try:
        dev.synchronize()
    except RuntimeError as e:
        assert "layout cuBLAS cannot take" in str(e), e
    else:
        raise AssertionError("a failed product did not raise at the read")
    dev.synchronize()  # the error was reported once; the device is usable again
    dev.free(p)


def check_out_of_memory_is_clear_and_recoverable(native: Any) -> None:
    dev = native.CudaDevice(0)
    try:
        dev.alloc(1 << 50)  # 1 PiB
    except RuntimeError as e:
        assert "CUDA out of memory" in str(e), e
    else:
        raise AssertionError("a 1 PiB allocation succeeded")
    check_copies_round_trip(native)  # still usable


def check_generated_cubins_load(native: Any, artifacts: str) -> int:
    """Every cubin compiled here (prepare_artifacts.py) loads, and each launched kernel is found."""
    dev = native.CudaDevice(0)
    loaded = 0
    for name in sorted(os.listdir(artifacts)):
        folder = os.path.join(artifacts, name)
        manifest = os.path.join(folder, "kernels.json")
        if not os.path.isfile(manifest):
            continue
        with open(manifest) as f:
            kernels = json.load(f)["kernels"]
        modules = {}
        for k in kernels:
            if k["module"] not in modules:
                with open(os.path.join(folder, k["module"] + ".cubin"), "rb") as f:
                    modules[k["module"]] = dev.load_module(f.read())
            dev.function(modules[k["module"]], k["kernel"])
            loaded += 1
    return loaded


ALL = ("check_copies_round_trip", "check_vadd_kernel", "check_cublas_gemm", "check_errors_surface_at_the_read",
       "check_out_of_memory_is_clear_and_recoverable", "check_generated_cubins_load")
