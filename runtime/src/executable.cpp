#include "executable.h"

#include <nanobind/ndarray.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

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
  bool seen_output = false;
  for (const auto& s : specs_) {
    if (s.dtype < F32 || s.dtype > BOOL) throw std::invalid_argument("Executable: bad dtype code for " + s.name);
    if (!s.output && seen_output) throw std::invalid_argument("Executable: inputs must precede outputs");
    seen_output |= s.output;
    if (!s.output) {
      ++n_inputs_;
      continue;
    }
    nb::list shape;
    for (int64_t e : s.shape) shape.append(e);
    out_shapes_.push_back(nb::tuple(shape));
    out_dtypes_.push_back(np.attr("dtype")(dtype_name(s.dtype)));
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

nb::object Executable::alloc_output(size_t j) { return np_empty_(out_shapes_[j], out_dtypes_[j]); }

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
      nb::try_cast(a.buffer(), arr);
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
    // The caller may write its array once we return: the task reads a private copy.
    const size_t rank = spec.shape.size();
    int64_t size = 1;
    for (int64_t e : spec.shape) size *= e;
    const size_t itemsize = arr.itemsize();
    Owned buf = aligned_buffer((size_t)size * itemsize);
    if (is_contiguous(task->descs[i], rank)) {
      std::memcpy(buf.get(), arr.data(), (size_t)size * itemsize);
      set_data(task->descs[i], buf.get());
    } else {
      copy_to(task->descs[i], rank, itemsize, buf.get());
    }
    task->copies.push_back(std::move(buf));
  }
  return task;
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
  if (!sync) device_queue(device, stream);  // refuse a device without a backend up front
  auto task = prepare(inputs, trust_input, !sync);
  std::vector<nb::object> outs;
  std::vector<size_t> returned;
  for (size_t j = 0; j < out_shapes_.size(); ++j) {
    outs.push_back(alloc_output(j));
    nb::ndarray<> o = nb::cast<nb::ndarray<>>(outs.back());
    describe(specs_[n_inputs_ + j], RoArray(o), task->descs[n_inputs_ + j], false);
    returned.push_back(j);
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

}  // namespace theanir
