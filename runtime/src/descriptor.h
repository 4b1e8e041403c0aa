// theanir runtime: memref descriptors of NumPy buffers. A descriptor is MLIR's rank-generic
// memref struct as int64 words {allocated, aligned, offset, sizes[rank], strides[rank]}
// (strides in elements); `describe` validates an array against its compiled ArgSpec and
// fills one, with the errors the runtime raises for bad input.
#pragma once

#include <nanobind/nanobind.h>
#include <nanobind/ndarray.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "array.h"
#include "executable.h"

namespace theanir {

using RoArray = nb::ndarray<nb::ro>;

const char* dtype_name(int code);
size_t dtype_size(int code);
bool dtype_matches(const nb::dlpack::dtype& dt, int code);
std::string dlpack_name(const nb::dlpack::dtype& dt);
std::string shape_str(const std::vector<int64_t>& s);

[[noreturn]] void arg_error(ErrorKind kind, const ArgSpec& spec, const std::string& what);

// Validate `arr` against `spec` and fill its descriptor `d`. Never trusted (they would
// crash): rank, shape, a null buffer, an element size smaller than compiled for, and a layout
// whose elements do not fit the canonical reading. With trust, the dtype (of equal size) and
// contiguity are the caller's promise.
void describe(const ArgSpec& spec, const RoArray& arr, std::vector<int64_t>& d, bool trust);

// The common case of `describe`, straight from an exact np.ndarray (needs the NumPy C API):
// false for anything else, which `describe` then decides (and words the error).
bool describe_fast(const ArgSpec& spec, PyObject* obj, std::vector<int64_t>& d, bool& writable);

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Owned = std::unique_ptr<void, FreeDeleter>;

// 64-byte aligned, at least one byte.
Owned aligned_buffer(size_t bytes);
// Copy a strided view (descriptor `d`) into `dst` in C order; rewrite `d` to describe it.
void copy_to(std::vector<int64_t>& d, size_t rank, size_t itemsize, void* dst);
bool is_contiguous(const std::vector<int64_t>& d, size_t rank);
inline void set_data(std::vector<int64_t>& d, void* p) { d[0] = d[1] = (int64_t)(intptr_t)p; }

}  // namespace theanir
