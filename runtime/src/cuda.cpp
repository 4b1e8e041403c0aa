// The runtime's CUDA path: see cuda.h. UNVERIFIED ON HARDWARE (built without a GPU).
#include "cuda.h"

#include <dlfcn.h>

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace theanir::cuda {
namespace {

// The driver entry points we use, with the ABI of cuda.h (CUDA 12/13; `_v2` where the header
// maps the name to it). Loaded once; a missing symbol makes the driver unusable, named.
struct Driver {
  CUresult (*cuInit)(unsigned);
  CUresult (*cuDeviceGetCount)(int*);
  CUresult (*cuDeviceGet)(CUdevice*, int);
  CUresult (*cuDevicePrimaryCtxRetain)(Handle*, CUdevice);
  CUresult (*cuDevicePrimaryCtxRelease)(CUdevice);
  CUresult (*cuCtxSetCurrent)(Handle);
  CUresult (*cuStreamCreate)(Handle*, unsigned);
  CUresult (*cuStreamDestroy)(Handle);
  CUresult (*cuStreamSynchronize)(Handle);
  CUresult (*cuMemAllocAsync)(CUdeviceptr*, size_t, Handle);
  CUresult (*cuMemFreeAsync)(CUdeviceptr, Handle);
  CUresult (*cuMemcpyHtoDAsync)(CUdeviceptr, const void*, size_t, Handle);
  CUresult (*cuMemcpyDtoHAsync)(void*, CUdeviceptr, size_t, Handle);
  CUresult (*cuEventCreate)(Handle*, unsigned);
  CUresult (*cuEventRecord)(Handle, Handle);
  CUresult (*cuEventQuery)(Handle);
  CUresult (*cuEventSynchronize)(Handle);
  CUresult (*cuEventDestroy)(Handle);
  CUresult (*cuModuleLoadData)(Handle*, const void*);
  CUresult (*cuModuleGetFunction)(Handle*, Handle, const char*);
  CUresult (*cuLaunchKernel)(Handle, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned, unsigned,
                             Handle, void**, void**);
  CUresult (*cuGetErrorName)(CUresult, const char**);
};

struct Blas {
  int (*create)(Handle*);
  int (*set_stream)(Handle, Handle);
  int (*sgemm)(Handle, int, int, int, int, int, const float*, const float*, int, const float*, int,
               const float*, float*, int);
  int (*dgemm)(Handle, int, int, int, int, int, const double*, const double*, int, const double*, int,
               const double*, double*, int);
};

constexpr CUresult kSuccess = 0;
constexpr CUresult kNotReady = 600;
constexpr CUresult kOutOfMemory = 2;

std::mutex g_load;
Driver g_driver{};
std::string g_status;  // "" once loaded and initialized
bool g_tried = false;
int g_count = 0;
Blas g_blas{};
std::string g_blas_status = "cuBLAS not loaded";

template <typename F>
bool bind(void* lib, const char* name, F& fn, std::string& missing) {
  fn = reinterpret_cast<F>(dlsym(lib, name));
  if (fn == nullptr && missing.empty()) missing = name;
  return fn != nullptr;
}

std::string load_driver() {
  void* lib = dlopen("libcuda.so.1", RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* e = dlerror();
    return std::string("libcuda.so.1 could not be loaded (") + (e ? e : "dlopen failed") + "); no NVIDIA driver";
  }
  std::string missing;
  Driver& d = g_driver;
  bind(lib, "cuInit", d.cuInit, missing);
  bind(lib, "cuDeviceGetCount", d.cuDeviceGetCount, missing);
  bind(lib, "cuDeviceGet", d.cuDeviceGet, missing);
  bind(lib, "cuDevicePrimaryCtxRetain", d.cuDevicePrimaryCtxRetain, missing);
  bind(lib, "cuDevicePrimaryCtxRelease_v2", d.cuDevicePrimaryCtxRelease, missing);
  bind(lib, "cuCtxSetCurrent", d.cuCtxSetCurrent, missing);
  bind(lib, "cuStreamCreate", d.cuStreamCreate, missing);
  bind(lib, "cuStreamDestroy_v2", d.cuStreamDestroy, missing);
  bind(lib, "cuStreamSynchronize", d.cuStreamSynchronize, missing);
  bind(lib, "cuMemAllocAsync", d.cuMemAllocAsync, missing);
  bind(lib, "cuMemFreeAsync", d.cuMemFreeAsync, missing);
  bind(lib, "cuMemcpyHtoDAsync_v2", d.cuMemcpyHtoDAsync, missing);
  bind(lib, "cuMemcpyDtoHAsync_v2", d.cuMemcpyDtoHAsync, missing);
  bind(lib, "cuEventCreate", d.cuEventCreate, missing);
  bind(lib, "cuEventRecord", d.cuEventRecord, missing);
  bind(lib, "cuEventQuery", d.cuEventQuery, missing);
  bind(lib, "cuEventSynchronize", d.cuEventSynchronize, missing);
  bind(lib, "cuEventDestroy_v2", d.cuEventDestroy, missing);
  bind(lib, "cuModuleLoadData", d.cuModuleLoadData, missing);
  bind(lib, "cuModuleGetFunction", d.cuModuleGetFunction, missing);
  bind(lib, "cuLaunchKernel", d.cuLaunchKernel, missing);
  bind(lib, "cuGetErrorName", d.cuGetErrorName, missing);
  if (!missing.empty()) return "libcuda.so.1 has no " + missing + " (driver too old: CUDA 11.2+ needed)";
  return "";
}

std::string error_name(CUresult rc) {
  const char* name = nullptr;
  if (g_driver.cuGetErrorName != nullptr && g_driver.cuGetErrorName(rc, &name) == kSuccess && name != nullptr)
    return name;
  return "CUresult " + std::to_string(rc);
}

const Driver& driver() {
  std::string why = driver_status();
  if (!why.empty()) throw std::runtime_error("no CUDA device: " + why);
  return g_driver;
}

}  // namespace

std::string driver_status() {
  std::lock_guard<std::mutex> lock(g_load);
  if (g_tried) return g_status;
  g_tried = true;
  g_status = load_driver();
  if (!g_status.empty()) return g_status;
  CUresult rc = g_driver.cuInit(0);
  if (rc != kSuccess) return g_status = "cuInit failed with " + error_name(rc);
  rc = g_driver.cuDeviceGetCount(&g_count);
  if (rc != kSuccess) return g_status = "cuDeviceGetCount failed with " + error_name(rc);
  if (g_count == 0) return g_status = "the driver reports 0 devices";
  return g_status;
}

int device_count() { return driver_status().empty() ? g_count : 0; }

std::string load_cublas(const std::string& path) {
  std::lock_guard<std::mutex> lock(g_load);
  if (g_blas.sgemm != nullptr) return "";
  void* lib = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (lib == nullptr) {
    const char* e = dlerror();
    return g_blas_status = std::string("cuBLAS could not be loaded from ") + path + " (" + (e ? e : "") + ")";
  }
  std::string missing;
  Blas b{};
  bind(lib, "cublasCreate_v2", b.create, missing);
  bind(lib, "cublasSetStream_v2", b.set_stream, missing);
  bind(lib, "cublasSgemm_v2", b.sgemm, missing);
  bind(lib, "cublasDgemm_v2", b.dgemm, missing);
  if (!missing.empty()) return g_blas_status = path + " has no " + missing;
  g_blas = b;
  return g_blas_status = "";
}

CudaDevice::CudaDevice(int ordinal) : ordinal_(ordinal) {
  const Driver& d = driver();
  if (ordinal < 0 || ordinal >= g_count)
    throw std::runtime_error("no CUDA device: cuda:" + std::to_string(ordinal) + " asked for, the driver reports " +
                             std::to_string(g_count));
  CUdevice dev = 0;
  check(d.cuDeviceGet(&dev, ordinal), "cuDeviceGet");
  check(d.cuDevicePrimaryCtxRetain(&context_, dev), "cuDevicePrimaryCtxRetain");
  check(d.cuCtxSetCurrent(context_), "cuCtxSetCurrent");
  check(d.cuStreamCreate(&stream_, 1 /* CU_STREAM_NON_BLOCKING */), "cuStreamCreate");
}

CudaDevice::~CudaDevice() {
  if (stream_ != nullptr) {
    g_driver.cuStreamSynchronize(stream_);
    g_driver.cuStreamDestroy(stream_);
  }
  if (context_ != nullptr) g_driver.cuDevicePrimaryCtxRelease(ordinal_);
}

void CudaDevice::check(CUresult rc, const char* what) {
  if (rc == kSuccess) return;
  if (rc == kOutOfMemory) throw std::runtime_error(std::string("CUDA out of memory in ") + what + " on cuda:" +
                                                   std::to_string(ordinal_));
  throw std::runtime_error(std::string(what) + " failed on cuda:" + std::to_string(ordinal_) + " with " +
                           error_name(rc));
}

void CudaDevice::keep(CUresult rc, const char* what) {
  if (rc == kSuccess) return;
  fail(std::string(what) + " failed on cuda:" + std::to_string(ordinal_) + " with " + error_name(rc));
}

void CudaDevice::fail(const std::string& message) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (kept_.empty()) kept_ = message;  // the first error is the cause; later ones follow from it
}

void CudaDevice::raise_kept() {
  std::string message;
  {
    std::lock_guard<std::mutex> lock(mutex_);
    message.swap(kept_);
  }
  if (!message.empty()) throw std::runtime_error(message);
}

uint64_t CudaDevice::alloc(size_t bytes) {
  CUdeviceptr p = 0;
  g_driver.cuCtxSetCurrent(context_);
  CUresult rc = g_driver.cuMemAllocAsync(&p, bytes == 0 ? 1 : bytes, stream_);
  if (rc == kOutOfMemory)
    throw std::runtime_error("CUDA out of memory: " + std::to_string(bytes) + " bytes asked on cuda:" +
                             std::to_string(ordinal_) + " (the device stays usable)");
  check(rc, "cuMemAllocAsync");
  return p;
}

void CudaDevice::free(uint64_t ptr) { keep(g_driver.cuMemFreeAsync(ptr, stream_), "cuMemFreeAsync"); }

void CudaDevice::copy_to_device(uint64_t dst, const void* src, size_t bytes) {
  if (bytes) keep(g_driver.cuMemcpyHtoDAsync(dst, src, bytes, stream_), "cuMemcpyHtoDAsync");
}

void CudaDevice::copy_to_host(void* dst, uint64_t src, size_t bytes) {
  if (bytes) keep(g_driver.cuMemcpyDtoHAsync(dst, src, bytes, stream_), "cuMemcpyDtoHAsync");
  synchronize();
}

void CudaDevice::synchronize() {
  keep(g_driver.cuStreamSynchronize(stream_), "a queued CUDA operation");
  raise_kept();
}

Handle CudaDevice::record_event() {
  Handle e = nullptr;
  check(g_driver.cuEventCreate(&e, 2 /* CU_EVENT_DISABLE_TIMING */), "cuEventCreate");
  check(g_driver.cuEventRecord(e, stream_), "cuEventRecord");
  return e;
}

bool CudaDevice::event_done(Handle event) { return g_driver.cuEventQuery(event) != kNotReady; }

void CudaDevice::wait_event(Handle event) {
  keep(g_driver.cuEventSynchronize(event), "a queued CUDA operation");
  raise_kept();
}

void CudaDevice::destroy_event(Handle event) { g_driver.cuEventDestroy(event); }

Handle CudaDevice::load_module(const std::string& cubin) {
  Handle m = nullptr;
  g_driver.cuCtxSetCurrent(context_);
  check(g_driver.cuModuleLoadData(&m, cubin.data()), "cuModuleLoadData");
  return m;
}

Handle CudaDevice::function(Handle module, const std::string& name) {
  Handle f = nullptr;
  check(g_driver.cuModuleGetFunction(&f, module, name.c_str()), ("cuModuleGetFunction " + name).c_str());
  return f;
}

void CudaDevice::launch(Handle fn, const std::vector<unsigned>& grid, const std::vector<unsigned>& block,
                        const std::vector<KernelArg>& args, unsigned shared_bytes) {
  if (grid.size() != 3 || block.size() != 3) throw std::invalid_argument("launch: grid and block need 3 sizes");
  std::vector<uint64_t> storage(args.size());  // each argument's bytes, 8-aligned
  std::vector<void*> params(args.size());
  for (size_t i = 0; i < args.size(); ++i) {
    const KernelArg& a = args[i];
    if (a.type == "f32") {
      float v = static_cast<float>(a.f);
      std::memcpy(&storage[i], &v, sizeof v);
    } else if (a.type == "f64") {
      std::memcpy(&storage[i], &a.f, sizeof a.f);
    } else if (a.type == "i32") {
      int32_t v = static_cast<int32_t>(a.i);
      std::memcpy(&storage[i], &v, sizeof v);
    } else if (a.type == "i64" || a.type == "index" || a.type == "!llvm.ptr") {
      std::memcpy(&storage[i], &a.i, sizeof a.i);
    } else {
      throw std::invalid_argument("launch: argument " + std::to_string(i) + " has unknown type " + a.type);
    }
    params[i] = &storage[i];
  }
  g_driver.cuCtxSetCurrent(context_);
  keep(g_driver.cuLaunchKernel(fn, grid[0], grid[1], grid[2], block[0], block[1], block[2], shared_bytes, stream_,
                               params.data(), nullptr),
       "cuLaunchKernel");
}

namespace {
// One operand for cuBLAS seen from the row-major side: (transposed?, leading dimension), or
// false when neither axis has stride 1.
bool blas_layout(int64_t rows, int64_t cols, int64_t s0, int64_t s1, bool& trans, int64_t& ld) {
  if (s1 == 1 || cols <= 1) {
    trans = false;
    ld = std::max<int64_t>(std::max<int64_t>(s0, cols), 1);
    return true;
  }
  if (s0 == 1 || rows <= 1) {
    trans = true;
    ld = std::max<int64_t>(std::max<int64_t>(s1, rows), 1);
    return true;
  }
  return false;
}
}  // namespace

void CudaDevice::gemm(int elt, int64_t m, int64_t n, int64_t k, uint64_t a, int64_t sa0, int64_t sa1, uint64_t b,
                      int64_t sb0, int64_t sb1, uint64_t c, int64_t sc0, int64_t sc1, double beta) {
  if (m == 0 || n == 0 || k == 0) return;
  if (g_blas.sgemm == nullptr) return fail("matrix product on cuda: " + g_blas_status);
  bool ta, tb, tc;
  int64_t lda, ldb, ldc;
  if (!blas_layout(m, k, sa0, sa1, ta, lda) || !blas_layout(k, n, sb0, sb1, tb, ldb) ||
      !blas_layout(m, n, sc0, sc1, tc, ldc) || tc)
    return fail("matrix product on cuda: an operand layout cuBLAS cannot take (strides " + std::to_string(sa0) +
                "," + std::to_string(sa1) + " / " + std::to_string(sb0) + "," + std::to_string(sb1) + ")");
  if (blas_ == nullptr) {
    if (g_blas.create(&blas_) != 0) return fail("cublasCreate failed on cuda:" + std::to_string(ordinal_));
    g_blas.set_stream(blas_, stream_);
  }
  // row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T: swap the operands
  const int opa = ta ? 1 : 0, opb = tb ? 1 : 0;  // CUBLAS_OP_N = 0, CUBLAS_OP_T = 1
  int rc;
  if (elt == 4) {
    const float one = 1.0f, bf = static_cast<float>(beta);
    rc = g_blas.sgemm(blas_, opb, opa, int(n), int(m), int(k), &one, reinterpret_cast<const float*>(b), int(ldb),
                      reinterpret_cast<const float*>(a), int(lda), &bf, reinterpret_cast<float*>(c), int(ldc));
  } else {
    const double one = 1.0;
    rc = g_blas.dgemm(blas_, opb, opa, int(n), int(m), int(k), &one, reinterpret_cast<const double*>(b), int(ldb),
                      reinterpret_cast<const double*>(a), int(lda), &beta, reinterpret_cast<double*>(c), int(ldc));
  }
  if (rc != 0) fail("cublas" + std::string(elt == 4 ? "S" : "D") + "gemm failed with status " + std::to_string(rc));
}

}  // namespace theanir::cuda
