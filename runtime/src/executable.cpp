#include "executable.h"

// The NumPy C API, for the common case only: reading an exact np.ndarray's layout and
// allocating outputs without going through DLPack or np.empty's argument parsing.
#define PY_ARRAY_UNIQUE_SYMBOL theanir_native_ARRAY_API
#define NPY_NO_DEPRECATED_API NPY_2_0_API_VERSION
#include <numpy/arrayobject.h>

#include <nanobind/ndarray.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <stdexcept>

#include "queue.h"

namespace theanir {

namespace {

const char* dtype_name(int code) {
  switch (code) {
    case F32: return "float32";
    case F64: return "float64";
    case I32: return "int32";
    case I64: return "int64";
    case BOOL: return "bool";
  }
  return "?";
}

size_t dtype_size(int code) { return code == F32 || code == I32 ? 4 : code == BOOL ? 1 : 8; }

bool dtype_matches(const nb::dlpack::dtype& dt, int code) {
  using nb::dlpack::dtype_code;
  switch (code) {
    case F32: return dt.code == (uint8_t)dtype_code::Float && dt.bits == 32;
    case F64: return dt.code == (uint8_t)dtype_code::Float && dt.bits == 64;
    case I32: return dt.code == (uint8_t)dtype_code::Int && dt.bits == 32;
    case I64: return dt.code == (uint8_t)dtype_code::Int && dt.bits == 64;
    case BOOL: return dt.code == (uint8_t)dtype_code::Bool && dt.bits == 8;
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
  for (size_t i = 0; i < s.size(); ++i) os << s[i] << (s.size() == 1 || i + 1 < s.size() ? "," : "");
  os << ")";
  return os.str();
}

using RoArray = nb::ndarray<nb::ro>;

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
  if (shape != spec.shape) {
    arg_error(ErrorKind::Value, spec, "expected shape " + shape_str(spec.shape) + ", got " + shape_str(shape));
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
  const bool ok = spec.dtype == F32 || spec.dtype == F64 ? kind == 'f'
                  : spec.dtype == BOOL                   ? kind == 'b'
                                                         : kind == 'i';
  if (!ok) return false;
  const npy_intp* dims = PyArray_DIMS(a);
  const npy_intp* strides = PyArray_STRIDES(a);
  int64_t size = 1;
  for (size_t k = 0; k < rank; ++k) {
    if ((int64_t)dims[k] != spec.shape[k]) return false;
    size *= spec.shape[k];
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
    if (spec.contiguous && size > 0 && spec.shape[k] != 1 && el != expect) return false;
    d[3 + k] = spec.shape[k];
    d[3 + rank + k] = spec.contiguous && size > 0 ? expect : el;
    expect *= spec.shape[k];
  }
  writable = PyArray_ISWRITEABLE(a);
  return true;
}

bool numpy_api_ready() {
  static const bool ready = [] {
    if (_import_array() < 0) {
      PyErr_Clear();
      return false;
    }
    return true;
  }();
  return ready;
}

struct FreeDeleter {
  void operator()(void* p) const { std::free(p); }
};
using Owned = std::unique_ptr<void, FreeDeleter>;

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

void set_data(std::vector<int64_t>& d, void* p) { d[0] = d[1] = (int64_t)(intptr_t)p; }

}  // namespace

// One call (or n_calls chained ones) ready to run without the GIL.
struct Executable::Task {
  struct Swap {
    int in, out;
    void* initial;  // the caller's buffer: read by step 0, never written
    void* bufs[2];  // step k writes bufs[k % 2] and reads bufs[(k - 1) % 2]
  };
  Packed fn = nullptr;
  std::vector<std::vector<int64_t>> descs;
  std::vector<std::shared_ptr<Event>> deps;
  std::vector<Owned> copies;  // inputs copied at enqueue (the caller may write its arrays)
  std::vector<Swap> swaps;
  int64_t n_calls = 1;
  std::shared_ptr<Event> done = std::make_shared<Event>();
  PyObject* keepalive = nullptr;  // inputs, outputs and the code, until the task has run

  void run() noexcept {
    for (const auto& e : deps) {
      e->wait();
      if (e->failed()) return done->fail(e->kind(), e->message());
    }
    try {
      const size_t n = descs.size();
      std::vector<void*> ptrs(n), packed(n);
      for (size_t i = 0; i < n; ++i) {
        ptrs[i] = descs[i].data();
        packed[i] = &ptrs[i];
      }
      for (int64_t k = 0; k < n_calls; ++k) {
        for (const Swap& s : swaps) {
          set_data(descs[s.in], k == 0 ? s.initial : s.bufs[(k - 1) % 2]);
          set_data(descs[s.out], s.bufs[k % 2]);
        }
        fn(packed.data());
      }
      done->complete();
    } catch (const std::exception& e) {
      done->fail(ErrorKind::Runtime, e.what());
    } catch (...) {
      done->fail(ErrorKind::Runtime, "unknown error in a compiled call");
    }
  }
};

Executable::Executable(uintptr_t fn, std::vector<ArgSpec> specs, nb::object keepalive)
    : fn_(reinterpret_cast<Packed>(fn)), specs_(std::move(specs)), keepalive_(std::move(keepalive)) {
  if (fn == 0) throw std::invalid_argument("Executable: null entry point");
  nb::module_ np = nb::module_::import_("numpy");
  np_empty_ = np.attr("empty");
  numpy_ready_ = numpy_api_ready();
  bool seen_output = false;
  for (const auto& s : specs_) {
    if (s.dtype < F32 || s.dtype > BOOL) throw std::invalid_argument("Executable: bad dtype code for " + s.name);
    if (!s.output && seen_output) throw std::invalid_argument("Executable: inputs must precede outputs");
    seen_output |= s.output;
    size_t elems = 1;
    for (int64_t e : s.shape) elems *= (size_t)e;
    total_bytes_ += elems * dtype_size(s.dtype);
    if (!s.output) {
      ++n_inputs_;
      continue;
    }
    nb::list shape;
    for (int64_t e : s.shape) shape.append(e);
    out_shapes_.push_back(nb::tuple(shape));
    out_dtypes_.push_back(np.attr("dtype")(dtype_name(s.dtype)));
    const size_t rank = s.shape.size();
    std::vector<int64_t> d(3 + 2 * rank, 0);
    int64_t st = 1;
    for (size_t k = rank; k-- > 0;) {
      d[3 + k] = s.shape[k];
      d[3 + rank + k] = st;
      st *= s.shape[k];
    }
    out_descs_.push_back(std::move(d));
  }
}

void Executable::call(nb::list arrays, bool trust_input) {
  const size_t n = specs_.size();
  if (nb::len(arrays) != n) {
    throw nb::type_error(("expected " + std::to_string(n) + " buffers, got " + std::to_string(nb::len(arrays))).c_str());
  }
  std::vector<std::vector<int64_t>> descs(n);
  std::vector<void*> ptrs(n), packed(n);
  for (size_t i = 0; i < n; ++i) {
    const ArgSpec& spec = specs_[i];
    RoArray arr;
    nb::ndarray<> w;
    if (spec.output && nb::try_cast(arrays[i], w)) {
      arr = RoArray(w);
    } else if (nb::try_cast(arrays[i], arr) && spec.output) {
      arg_error(ErrorKind::Value, spec, "the output buffer is read-only");
    }
    if (!arr.is_valid()) {
      arg_error(ErrorKind::Type, spec, std::string("expected a NumPy array of dtype ") + dtype_name(spec.dtype) +
                                           ", got " + nb::type_name(arrays[i].type()).c_str());
    }
    describe(spec, arr, descs[i], trust_input);
    ptrs[i] = descs[i].data();
    packed[i] = &ptrs[i];
  }
  nb::gil_scoped_release release;
  fn_(packed.data());
}

nb::object Executable::alloc_output(size_t j) {
  if (numpy_ready_) {
    const ArgSpec& s = specs_[n_inputs_ + j];
    static_assert(sizeof(npy_intp) == sizeof(int64_t), "64-bit npy_intp expected");
    const int typenum = s.dtype == F32 ? NPY_FLOAT32 : s.dtype == F64 ? NPY_FLOAT64 : s.dtype == I32 ? NPY_INT32
                        : s.dtype == I64 ? NPY_INT64 : NPY_BOOL;
    PyObject* o = PyArray_SimpleNew((int)s.shape.size(), (npy_intp*)s.shape.data(), typenum);
    if (!o) throw nb::python_error();
    return nb::steal(o);
  }
  return np_empty_(out_shapes_[j], out_dtypes_[j]);
}

std::shared_ptr<Executable::Task> Executable::prepare(nb::list inputs, bool trust, bool copy_writable) {
  if (nb::len(inputs) != n_inputs_) {
    throw nb::type_error(("expected " + std::to_string(n_inputs_) + " inputs, got " +
                          std::to_string(nb::len(inputs))).c_str());
  }
  auto task = std::make_shared<Task>();
  task->fn = fn_;
  task->descs.resize(specs_.size());
  for (size_t i = 0; i < n_inputs_; ++i) {
    const ArgSpec& spec = specs_[i];
    nb::handle obj = inputs[i];
    RoArray arr;
    bool writable = false;
    if (nb::isinstance<Array>(obj)) {
      const Array& a = nb::cast<const Array&>(obj);
      // Unfinished, or failed (its error propagates to our outputs): the task waits on it.
      if (a.event() && (!a.event()->done() || a.event()->failed())) task->deps.push_back(a.event());
      bool unused;
      if (numpy_ready_ && describe_fast(spec, a.buffer().ptr(), task->descs[i], unused)) continue;
      nb::try_cast(a.buffer(), arr);
    } else if (numpy_ready_ && describe_fast(spec, obj.ptr(), task->descs[i], writable)) {
      if (!(writable && copy_writable)) continue;
      copy_input(task.get(), i, (size_t)PyArray_ITEMSIZE(reinterpret_cast<PyArrayObject*>(obj.ptr())));
      continue;
    } else {
      nb::ndarray<> w;
      if (nb::try_cast(obj, w)) {
        writable = true;
        arr = RoArray(w);
      } else if (!nb::try_cast(obj, arr)) {
        arg_error(ErrorKind::Type, spec, std::string("expected a NumPy array or th.Array of dtype ") +
                                             dtype_name(spec.dtype) + ", got " + nb::type_name(obj.type()).c_str());
      }
    }
    describe(spec, arr, task->descs[i], trust);
    if (!(writable && copy_writable)) continue;
    copy_input(task.get(), i, arr.itemsize());
  }
  return task;
}

// The caller may write its array once we return: the task reads a private copy.
void Executable::copy_input(Task* task, size_t i, size_t itemsize) {
  const size_t rank = specs_[i].shape.size();
  int64_t size = 1;
  for (int64_t e : specs_[i].shape) size *= e;
  Owned buf = aligned_buffer((size_t)size * itemsize);
  if (is_contiguous(task->descs[i], rank)) {
    std::memcpy(buf.get(), reinterpret_cast<const void*>((intptr_t)task->descs[i][1]), (size_t)size * itemsize);
    set_data(task->descs[i], buf.get());
  } else {
    copy_to(task->descs[i], rank, itemsize, buf.get());
  }
  task->copies.push_back(std::move(buf));
}

nb::list Executable::launch(std::shared_ptr<Task> task, const std::vector<nb::object>& outs,
                            const std::vector<size_t>& returned, int device, int stream, bool sync) {
  nb::list result;
  if (sync) {
    {
      nb::gil_scoped_release release;
      task->run();
    }
    if (task->done->failed()) raise_error(task->done->kind(), task->done->message());
    for (size_t j : returned) result.append(nb::cast(Array(outs[j], nullptr, device)));
    return result;
  }
  DeviceQueue& queue = device_queue(device, stream);
  if (queue.full()) {
    nb::gil_scoped_release release;
    queue.wait_for_room();
  }
  for (size_t j : returned) result.append(nb::cast(Array(outs[j], task->done, device)));
  queue.push([task] {
    task->run();
    if (task->keepalive) defer_decref(task->keepalive);
    task->keepalive = nullptr;
  });
  return result;
}

nb::list Executable::call_async(nb::list inputs, bool trust_input, int device, int stream, bool sync) {
  collect_deferred();
  bool inline_small = false;
  if (!sync) {
    DeviceQueue& queue = device_queue(device, stream);  // refuse a device without a backend up front
    if (total_bytes_ <= kInlineBytes && nb::len(inputs) == n_inputs_ && queue.idle()) {
      inline_small = true;
      for (nb::handle obj : inputs) {
        if (!nb::isinstance<Array>(obj)) continue;
        const auto& ev = nb::cast<const Array&>(obj).event();
        if (ev && (!ev->done() || ev->failed())) {
          inline_small = false;
          break;
        }
      }
    }
  }
  auto task = prepare(inputs, trust_input, !sync && !inline_small);
  std::vector<nb::object> outs;
  std::vector<size_t> returned;
  for (size_t j = 0; j < out_shapes_.size(); ++j) {
    outs.push_back(alloc_output(j));
    std::vector<int64_t>& d = task->descs[n_inputs_ + j];
    d = out_descs_[j];  // a new C-contiguous buffer of the compiled shape and dtype
    if (numpy_ready_ && Py_TYPE(outs.back().ptr()) == &PyArray_Type) {
      set_data(d, PyArray_DATA(reinterpret_cast<PyArrayObject*>(outs.back().ptr())));
    } else {
      set_data(d, nb::cast<nb::ndarray<>>(outs.back()).data());
    }
    returned.push_back(j);
  }
  if (inline_small) {
    {
      nb::gil_scoped_release release;
      task->run();
    }
    // Failed: the error surfaces at the read, as it would have from the queue.
    std::shared_ptr<Event> event = task->done->failed() ? task->done : nullptr;
    nb::list result;
    for (size_t j : returned) result.append(nb::cast(Array(outs[j], event, device)));
    return result;
  }
  if (!sync) {
    nb::object self = nb::find(this);
    task->keepalive = nb::make_tuple(self, inputs, nb::cast(outs)).release().ptr();
  }
  return launch(task, outs, returned, device, stream, sync);
}

nb::list Executable::run(nb::list inputs, int64_t n_calls, std::vector<std::pair<int, int>> updates,
                         bool trust_input, int device, int stream, bool sync) {
  collect_deferred();
  if (n_calls < 1) throw nb::value_error(("run: n_calls must be >= 1, got " + std::to_string(n_calls)).c_str());
  if (!sync) device_queue(device, stream);
  auto task = prepare(inputs, trust_input, !sync);
  task->n_calls = n_calls;
  const size_t n_out = out_shapes_.size();
  std::vector<nb::object> outs;  // the outputs, then a second buffer per update
  std::vector<size_t> returned;
  for (size_t j = 0; j < n_out; ++j) {
    outs.push_back(alloc_output(j));
    nb::ndarray<> o = nb::cast<nb::ndarray<>>(outs.back());
    describe(specs_[n_inputs_ + j], RoArray(o), task->descs[n_inputs_ + j], false);
    returned.push_back(j);
  }
  for (const auto& [in, out] : updates) {
    if (in < 0 || (size_t)in >= n_inputs_ || out < 0 || (size_t)out >= n_out) {
      throw nb::value_error("run: an update pair names no such input or output");
    }
    const ArgSpec& si = specs_[in];
    const ArgSpec& so = specs_[n_inputs_ + out];
    if (si.shape != so.shape || si.dtype != so.dtype) {
      throw nb::value_error(("run: the update of '" + si.name + "' has shape " + shape_str(so.shape) + " " +
                             dtype_name(so.dtype) + ", but the input is " + shape_str(si.shape) + " " +
                             dtype_name(si.dtype)).c_str());
    }
    std::vector<int64_t>& din = task->descs[in];
    const size_t rank = si.shape.size();
    if (!is_contiguous(din, rank)) {  // later steps read our C-ordered buffers
      Owned buf = aligned_buffer(nb::cast<nb::ndarray<>>(outs[out]).nbytes());
      copy_to(din, rank, dtype_size(si.dtype), buf.get());
      task->copies.push_back(std::move(buf));
    }
    outs.push_back(alloc_output(out));
    Task::Swap s{in, (int)(n_inputs_ + out), (void*)(intptr_t)din[1],
                 {nb::cast<nb::ndarray<>>(outs[out]).data(), nb::cast<nb::ndarray<>>(outs.back()).data()}};
    returned[out] = (n_calls - 1) % 2 == 0 ? (size_t)out : outs.size() - 1;
    task->swaps.push_back(s);
  }
  if (!sync) {
    nb::object self = nb::find(this);
    task->keepalive = nb::make_tuple(self, inputs, nb::cast(outs)).release().ptr();
  }
  return launch(task, outs, returned, device, stream, sync);
}

// ------------------------------------------------------------------ FastCache
namespace {

// The layout of an exact, native-order ndarray (the buffer of a th.Array included).
bool ndarray_layout(PyObject* obj, int& type_num, std::vector<int64_t>& dims, std::vector<int64_t>& strides) {
  if (Py_TYPE(obj) != &PyArray_Type) return false;
  PyArrayObject* a = reinterpret_cast<PyArrayObject*>(obj);
  if (!PyArray_ISNOTSWAPPED(a)) return false;
  type_num = PyArray_DESCR(a)->type_num;
  const int nd = PyArray_NDIM(a);
  dims.assign(PyArray_DIMS(a), PyArray_DIMS(a) + nd);
  strides.assign(PyArray_STRIDES(a), PyArray_STRIDES(a) + nd);
  return true;
}

bool ndarray_matches(PyObject* obj, int type_num, const std::vector<int64_t>& dims,
                     const std::vector<int64_t>& strides) {
  if (Py_TYPE(obj) != &PyArray_Type) return false;
  PyArrayObject* a = reinterpret_cast<PyArrayObject*>(obj);
  const size_t nd = (size_t)PyArray_NDIM(a);
  if (nd != dims.size() || PyArray_DESCR(a)->type_num != type_num || !PyArray_ISNOTSWAPPED(a)) return false;
  const npy_intp* d = PyArray_DIMS(a);
  const npy_intp* st = PyArray_STRIDES(a);
  for (size_t k = 0; k < nd; ++k) {
    if ((int64_t)d[k] != dims[k] || (int64_t)st[k] != strides[k]) return false;
  }
  return true;
}

// A static value whose == runs no Python code (so no call can reenter the cache mid-match).
bool plain_static(PyObject* v, int depth = 0) {
  if (v == Py_None || PyBool_Check(v) || PyLong_CheckExact(v) || PyFloat_CheckExact(v) ||
      PyUnicode_CheckExact(v) || PyBytes_CheckExact(v)) {
    return true;
  }
  if (PyTuple_CheckExact(v) && depth < 4) {
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(v); ++i) {
      if (!plain_static(PyTuple_GET_ITEM(v, i), depth + 1)) return false;
    }
    return true;
  }
  return false;
}

template <typename T>
nb::object scalar_array(int typenum, T value) {
  PyObject* o = PyArray_SimpleNew(0, nullptr, typenum);
  if (!o) throw nb::python_error();
  *static_cast<T*>(PyArray_DATA(reinterpret_cast<PyArrayObject*>(o))) = value;
  return nb::steal(o);
}

}  // namespace

bool FastCache::add(nb::tuple args, std::vector<int> statics, uint64_t generation, nb::object executable,
                    int out_kind, nb::object unflatten) {
  if (!numpy_api_ready() || !nb::isinstance<Executable>(executable)) return false;
  const Executable& exe = nb::cast<const Executable&>(executable);
  const size_t n = nb::len(args);
  Entry e{generation, std::vector<Slot>(n), executable, out_kind, unflatten};
  std::vector<bool> is_static(n, false);
  for (int p : statics) {
    if (p < 0) p += (int)n;
    if (p < 0 || (size_t)p >= n) return false;
    is_static[p] = true;
  }
  size_t dyn = 0;
  for (size_t i = 0; i < n; ++i) {
    PyObject* obj = args[i].ptr();
    Slot& s = e.slots[i];
    if (is_static[i]) {
      if (!plain_static(obj)) return false;
      s.kind = STATIC;
      s.value = nb::borrow(obj);
      continue;
    }
    const ArgSpec* spec = dyn < exe.num_inputs() ? &exe.specs()[dyn] : nullptr;
    ++dyn;
    if (!spec) return false;
    if (PyFloat_CheckExact(obj)) {
      if (spec->dtype != F64 || !spec->shape.empty()) return false;
      s.kind = FLOAT;
    } else if (PyBool_Check(obj)) {
      if (spec->dtype != BOOL || !spec->shape.empty()) return false;
      s.kind = BOOL_;
    } else if (PyLong_CheckExact(obj)) {
      if (spec->dtype != I64 || !spec->shape.empty()) return false;
      s.kind = INT;
    } else if (nb::isinstance<Array>(obj)) {
      s.kind = ARRAY;
      if (!ndarray_layout(nb::cast<const Array&>(args[i]).buffer().ptr(), s.type_num, s.dims, s.strides)) return false;
    } else {
      s.kind = NDARRAY;
      if (!ndarray_layout(obj, s.type_num, s.dims, s.strides)) return false;
    }
  }
  if (dyn != exe.num_inputs()) return false;
  entries_.erase(std::remove_if(entries_.begin(), entries_.end(),
                                [&](const Entry& old) { return old.generation != generation; }),
                 entries_.end());
  if (entries_.size() >= kMaxEntries) entries_.erase(entries_.begin());
  entries_.push_back(std::move(e));
  return true;
}

nb::object FastCache::call(nb::tuple args, uint64_t generation, bool trust_input, bool sync) {
  const size_t n = nb::len(args);
  for (size_t k = entries_.size(); k-- > 0;) {
    const Entry& e = entries_[k];
    if (e.generation != generation || e.slots.size() != n) continue;
    bool match = true;
    for (size_t i = 0; i < n && match; ++i) {
      PyObject* obj = args[i].ptr();
      const Slot& s = e.slots[i];
      switch (s.kind) {
        case NDARRAY: match = ndarray_matches(obj, s.type_num, s.dims, s.strides); break;
        case ARRAY:
          match = nb::isinstance<Array>(obj) &&
                  ndarray_matches(nb::cast<const Array&>(args[i]).buffer().ptr(), s.type_num, s.dims, s.strides);
          break;
        case FLOAT: match = PyFloat_CheckExact(obj); break;
        case INT: match = PyLong_CheckExact(obj); break;
        case BOOL_: match = PyBool_Check(obj); break;
        case STATIC: {
          if (Py_TYPE(obj) != Py_TYPE(s.value.ptr())) {
            match = false;
            break;
          }
          if (obj == s.value.ptr()) break;
          const int r = PyObject_RichCompareBool(obj, s.value.ptr(), Py_EQ);
          if (r < 0) PyErr_Clear();
          match = r == 1;
          break;
        }
      }
    }
    if (!match) continue;
    // Copy what the call needs: allocations below may run finalizers (Python code that could
    // add entries), and the call runs without the GIL (another thread's add may evict `e`).
    nb::object executable = e.executable, unflatten = e.unflatten;
    const int out_kind = e.out_kind;
    Kind kinds_small[8];
    std::vector<Kind> kinds_big;
    Kind* kinds = kinds_small;
    if (n > 8) {
      kinds_big.resize(n);
      kinds = kinds_big.data();
    }
    for (size_t i = 0; i < n; ++i) kinds[i] = e.slots[i].kind;
    nb::list inputs;
    for (size_t i = 0; i < n; ++i) {
      PyObject* obj = args[i].ptr();
      switch (kinds[i]) {
        case STATIC: break;
        case FLOAT: inputs.append(scalar_array<double>(NPY_FLOAT64, PyFloat_AS_DOUBLE(obj))); break;
        case BOOL_: inputs.append(scalar_array<npy_bool>(NPY_BOOL, obj == Py_True)); break;
        case INT: {
          int overflow = 0;
          const long long v = PyLong_AsLongLongAndOverflow(obj, &overflow);
          if (overflow || (v == -1 && PyErr_Occurred())) {
            PyErr_Clear();
            return miss_;  // the full path raises NumPy's error
          }
          inputs.append(scalar_array<int64_t>(NPY_INT64, (int64_t)v));
          break;
        }
        default: inputs.append(nb::borrow(obj));
      }
    }
    Executable& exe = nb::cast<Executable&>(executable);
    nb::list out = exe.call_async(inputs, trust_input, 0, 0, sync);
    if (out_kind == 0) return out[0];
    if (out_kind == 1) return nb::tuple(out);
    return unflatten(out);
  }
  return miss_;
}

}  // namespace theanir
