// The runtime's CUDA path (issue 21): the driver API and cuBLAS loaded at run time with dlopen,
// so the runtime builds and loads on machines without CUDA (no CUDA header, no link-time
// dependency). UNVERIFIED ON HARDWARE: written and built without a GPU (docs/cuda.md).
//
// One CudaDevice per device: its primary context, one stream, the device's stream-ordered
// memory pool (cuMemAllocAsync / cuMemFreeAsync), asynchronous host<->device copies, events,
// modules loaded from cubins (cuModuleLoadData) and kernel launches. Errors follow the CPU
// path's error-at-read rule: a failure of queued work is kept and raised by the next read
// (`synchronize`, a copy to the host), with the CUDA error name; an allocation that does not
// fit raises at once ("CUDA out of memory") and leaves the device usable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <mutex>
#include <string>
#include <vector>

namespace theanir::cuda {

using CUresult = int;
using CUdevice = int;
using CUdeviceptr = unsigned long long;
using Handle = void*;  // CUcontext, CUstream, CUevent, CUmodule, CUfunction, cublasHandle_t

// Why the driver cannot be used here ("" when it can): libcuda.so.1 missing, cuInit failing,
// no device. Loads and initializes the driver on first call only.
std::string driver_status();
int device_count();

// A kernel argument as the launch manifest types it (codegen/cuda.py): "f32", "f64", "i32",
// "i64", "!llvm.ptr" (a device address), "index".
struct KernelArg {
  std::string type;
  double f = 0.0;
  int64_t i = 0;
};

class CudaDevice {
 public:
  explicit CudaDevice(int ordinal);
  ~CudaDevice();
  CudaDevice(const CudaDevice&) = delete;
  CudaDevice& operator=(const CudaDevice&) = delete;

  int ordinal() const { return ordinal_; }
  uint64_t alloc(size_t bytes);  // stream-ordered; throws "CUDA out of memory: ..." at once
  void free(uint64_t ptr);
  void copy_to_device(uint64_t dst, const void* src, size_t bytes);
  void copy_to_host(void* dst, uint64_t src, size_t bytes);  // waits: a read
  void synchronize();                                         // raises a kept error
  Handle record_event();
  bool event_done(Handle event);
  void wait_event(Handle event);  // raises a kept error
  void destroy_event(Handle event);
  Handle load_module(const std::string& cubin);
  Handle function(Handle module, const std::string& name);
  void launch(Handle fn, const std::vector<unsigned>& grid, const std::vector<unsigned>& block,
              const std::vector<KernelArg>& args, unsigned shared_bytes);
  // C = op(A) op(B) + beta C, row-major C, operands row- or column-major (cuBLAS, column-major
  // inside: computes C^T = op(B)^T op(A)^T). `elt`: 4 (sgemm) or 8 (dgemm).
  void gemm(int elt, int64_t m, int64_t n, int64_t k, uint64_t a, int64_t sa0, int64_t sa1,
            uint64_t b, int64_t sb0, int64_t sb1, uint64_t c, int64_t sc0, int64_t sc1, double beta);
  void fail(const std::string& message);  // keep an error for the next read

 private:
  void check(CUresult rc, const char* what);  // throws now
  void keep(CUresult rc, const char* what);   // keeps for the next read
  void raise_kept();
  int ordinal_;
  Handle context_ = nullptr;
  Handle stream_ = nullptr;
  Handle blas_ = nullptr;
  std::mutex mutex_;
  std::string kept_;
};

// cuBLAS from the `nvidia-cublas` wheel or the system: `path` to libcublas.so (the frontend
// finds the wheel's); "" when loaded, else why not.
std::string load_cublas(const std::string& path);

}  // namespace theanir::cuda
