#include "descriptor.h"

// The NumPy C API table lives in executable.cpp (imported there).
#define PY_ARRAY_UNIQUE_SYMBOL theanir_native_ARRAY_API
#define NO_IMPORT_ARRAY
#define NPY_NO_DEPRECATED_API NPY_2_0_API_VERSION
#include <numpy/arrayobject.h>

#include <cstdlib>
#include <cstring>
#include <sstream>

namespace theanir {

const char* dtype_name(int code) {
  switch (code) {
    case F32: return "float32";
    case F64: return "float64";
    case I32: return "int32";
    case I64: return "int64";
    case BOOL: return "bool";
    case C64: return "complex64";
    case C128: return "complex128";
  }
  return "?";
}

size_t dtype_size(int code) {
  return code == F32 || code == I32 ? 4 : code == BOOL ? 1 : code == C128 ? 16 : 8;
}

bool dtype_matches(const nb::dlpack::dtype& dt, int code) {
  using nb::dlpack::dtype_code;
  switch (code) {
    case F32: return dt.code == (uint8_t)dtype_code::Float && dt.bits == 32;
    case F64: return dt.code == (uint8_t)dtype_code::Float && dt.bits == 64;
    case I32: return dt.code == (uint8_t)dtype_code::Int && dt.bits == 32;
    case I64: return dt.code == (uint8_t)dtype_code::Int && dt.bits == 64;
    case BOOL: return dt.code == (uint8_t)dtype_code::Bool && dt.bits == 8;
    case C64: return dt.code == (uint8_t)dtype_code::Complex && dt.bits == 64;
    case C128: return dt.code == (uint8_t)dtype_code::Complex && dt.bits == 128;
  }
  return false;
}

std::string dlpack_name(const nb::dlpack::dtype& dt) {
  using nb::dlpack::dtype_code;
  const char* kind = dt.code == (uint8_t)dtype_code::Float ? "float"
                     : dt.code == (uint8_t)dtype_code::Int ? "int"
                     : dt.code == (uint8_t)dtype_code::UInt ? "uint"
                     : dt.code == (uint8_t)dtype_code::Bool ? "bool" : "complex";
  return dt.code == (uint8_t)dtype_code::Bool ? "bool" : kind + std::to_string(dt.bits);
}

std::string shape_str(const std::vector<int64_t>& s) {
  std::ostringstream os;
  os << "(";
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == -1) os << "?"; else os << s[i];
    os << (s.size() == 1 || i + 1 < s.size() ? "," : "");
  }
  os << ")";
  return os.str();
}

[[noreturn]] void arg_error(ErrorKind kind, const ArgSpec& spec, const std::string& what) {
  raise_error(kind, "argument '" + spec.name + "': " + what);
}

// Validate `arr` against `spec` and fill its memref descriptor `d`
// {allocated, aligned, offset, sizes[rank], strides[rank]} (strides in elements).
// Never trusted (they would crash): rank, shape, a null buffer, an element size smaller than
// compiled for, and a layout whose elements do not fit the canonical reading. With trust,
// the dtype (of equal size) and contiguity are the caller's promise.
void describe(const ArgSpec& spec, const RoArray& arr, std::vector<int64_t>& d, bool trust) {
  const size_t rank = spec.shape.size();
  if (arr.ndim() != rank) {
    arg_error(ErrorKind::Value, spec, "expected rank " + std::to_string(rank) + " shape " + shape_str(spec.shape) +
                                          ", got rank " + std::to_string(arr.ndim()));
  }
  std::vector<int64_t> shape(rank);
  int64_t size = 1;
  for (size_t k = 0; k < rank; ++k) {
    shape[k] = (int64_t)arr.shape(k);
    size *= shape[k];
  }
  for (size_t k = 0; k < rank; ++k) {  // -1: a dynamic dim, any size
    if (spec.shape[k] != shape[k] && spec.shape[k] != -1) {
      arg_error(ErrorKind::Value, spec, "expected shape " + shape_str(spec.shape) + ", got " + shape_str(shape));
    }
  }
  if (size > 0 && arr.data() == nullptr) arg_error(ErrorKind::Value, spec, "null data pointer");
  const bool same_dtype = dtype_matches(arr.dtype(), spec.dtype);
  if (!same_dtype && (!trust || spec.output || arr.itemsize() < dtype_size(spec.dtype))) {
    arg_error(ErrorKind::Type, spec, std::string("expected dtype ") + dtype_name(spec.dtype) + ", got " +
                                         dlpack_name(arr.dtype()));
  }
  d.assign(3 + 2 * rank, 0);
  d[0] = d[1] = (int64_t)(intptr_t)arr.data();
  int64_t expect = 1, last = 0;
  bool contiguous = true, nonnegative = true;
  for (size_t k = rank; k-- > 0;) {
    const int64_t st = (int64_t)arr.stride(k);
    d[3 + k] = shape[k];
    d[3 + rank + k] = st;
    if (shape[k] != 1 && st != expect) contiguous = false;
    if (st < 0) nonnegative = false;
    last += (shape[k] - 1) * st;
    expect *= shape[k];
  }
  if (!spec.contiguous || size == 0) return;  // compiled for a strided layout: the array's own
  if (!contiguous && (!trust || !nonnegative || last < size - 1)) {
    arg_error(ErrorKind::Value, spec, "expected a C-contiguous array");
  }
  int64_t st = 1;  // identity layout: canonical strides
  for (size_t k = rank; k-- > 0;) {
    d[3 + rank + k] = st;
    st *= shape[k];
  }
}

// The common case of `describe`, straight from an exact np.ndarray: dtype and shape as
// compiled, native byte order, an aligned-to-itemsize layout that is C-contiguous when
// compiled for it. Returns false for anything else: `describe` then decides (and words the
// error), so both accept exactly the same arrays for valid input.
bool describe_fast(const ArgSpec& spec, PyObject* obj, std::vector<int64_t>& d, bool& writable) {
  if (Py_TYPE(obj) != &PyArray_Type) return false;
  PyArrayObject* a = reinterpret_cast<PyArrayObject*>(obj);
  const size_t rank = spec.shape.size();
  if ((size_t)PyArray_NDIM(a) != rank || !PyArray_ISNOTSWAPPED(a)) return false;
  PyArray_Descr* dt = PyArray_DESCR(a);
  const int64_t itemsize = (int64_t)PyDataType_ELSIZE(dt);
  if ((size_t)itemsize != dtype_size(spec.dtype)) return false;
  const char kind = dt->kind;
  const bool ok = spec.dtype == F32 || spec.dtype == F64   ? kind == 'f'
                  : spec.dtype == BOOL                     ? kind == 'b'
                  : spec.dtype == C64 || spec.dtype == C128 ? kind == 'c'
                                                           : kind == 'i';
  if (!ok) return false;
  const npy_intp* dims = PyArray_DIMS(a);
  const npy_intp* strides = PyArray_STRIDES(a);
  int64_t size = 1;
  for (size_t k = 0; k < rank; ++k) {
    if ((int64_t)dims[k] != spec.shape[k] && spec.shape[k] != -1) return false;
    size *= (int64_t)dims[k];
  }
  void* data = PyArray_DATA(a);
  if (size > 0 && data == nullptr) return false;
  d.assign(3 + 2 * rank, 0);
  d[0] = d[1] = (int64_t)(intptr_t)data;
  int64_t expect = 1;
  for (size_t k = rank; k-- > 0;) {
    const int64_t st = (int64_t)strides[k];
    if (st % itemsize != 0) return false;
    const int64_t el = st / itemsize;
    if (spec.contiguous && size > 0 && dims[k] != 1 && el != expect) return false;
    d[3 + k] = (int64_t)dims[k];
    d[3 + rank + k] = spec.contiguous && size > 0 ? expect : el;
    expect *= (int64_t)dims[k];
  }
  writable = PyArray_ISWRITEABLE(a);
  return true;
}

Owned aligned_buffer(size_t bytes) {
  const size_t n = ((bytes ? bytes : 1) + 63) / 64 * 64;
  void* p = std::aligned_alloc(64, n);
  if (!p) throw std::bad_alloc();
  return Owned(p);
}

// Copy a strided view (descriptor `d`) into `dst` in C order; rewrite `d` to describe it.
void copy_to(std::vector<int64_t>& d, size_t rank, size_t itemsize, void* dst) {
  const char* src = reinterpret_cast<const char*>((intptr_t)d[1]);
  char* out = static_cast<char*>(dst);
  std::vector<int64_t> idx(rank, 0);
  int64_t size = 1;
  for (size_t k = 0; k < rank; ++k) size *= d[3 + k];
  for (int64_t n = 0; n < size; ++n) {
    int64_t off = 0;
    for (size_t k = 0; k < rank; ++k) off += idx[k] * d[3 + rank + k];
    std::memcpy(out + n * itemsize, src + off * (int64_t)itemsize, itemsize);
    for (size_t k = rank; k-- > 0;) {
      if (++idx[k] < d[3 + k]) break;
      idx[k] = 0;
    }
  }
  d[0] = d[1] = (int64_t)(intptr_t)dst;
  int64_t st = 1;
  for (size_t k = rank; k-- > 0;) {
    d[3 + rank + k] = st;
    st *= d[3 + k];
  }
}

bool is_contiguous(const std::vector<int64_t>& d, size_t rank) {
  int64_t expect = 1;
  for (size_t k = rank; k-- > 0;) {
    if (d[3 + k] != 1 && d[3 + rank + k] != expect) return false;
    expect *= d[3 + k];
  }
  return true;
}

}  // namespace theanir
