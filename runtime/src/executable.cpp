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

#include <chrono>
#include <cstring>
#include <mutex>
#include <stdexcept>

#include "descriptor.h"
#include "queue.h"

namespace theanir {


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

namespace {
// Calls that write their inputs (donated buffers: in-place updates of shared variables) run
// one at a time: two threads stepping the same function (or two functions updating the same
// variable) would otherwise write one buffer at once. Taken after the task's dependencies are
// done, so a call waiting for another's result never holds it.
std::mutex g_in_place_mu;

// Whether the caller can still write an input's memory after the call returns: a writeable
// array, or a read-only view of memory that is writeable elsewhere (np.broadcast_to of a
// writeable array, a .view() made read-only, a read-only np.memmap of a file another mapping
// can write). Read-only all the way down to an array that owns its memory (th.Array results
// are such arrays) or to a bytes object: it cannot change. Any other exporter may.
bool memory_may_change(PyObject* obj) {
  for (int depth = 0; depth < 64 && obj; ++depth) {
    if (!PyArray_Check(obj)) return !PyBytes_CheckExact(obj);
    PyArrayObject* a = reinterpret_cast<PyArrayObject*>(obj);
    if (PyArray_ISWRITEABLE(a)) return true;
    obj = PyArray_BASE(a);
    if (!obj) return false;
  }
  return true;
}

// What a NumPy array that nanobind cannot view (or that is of no compiled dtype) is, for the
// error: its dtype and, where they are the reason, its byte order or strides.
std::string str_of(nb::handle obj) {
  nb::object text = nb::steal(PyObject_Str(obj.ptr()));
  const char* utf8 = text.is_valid() ? PyUnicode_AsUTF8(text.ptr()) : nullptr;
  if (!utf8) PyErr_Clear();
  return utf8 ? utf8 : "?";
}

std::string ndarray_text(nb::handle obj) {
  if (!PyArray_Check(obj.ptr())) return nb::type_name(obj.type()).c_str();
  PyArrayObject* a = reinterpret_cast<PyArrayObject*>(obj.ptr());
  std::string text = "an ndarray of dtype " + str_of(obj.attr("dtype"));
  if (PyArray_DESCR(a)->byteorder == '>') text += " (non-native byte order)";
  const npy_intp item = PyArray_ITEMSIZE(a);
  for (int d = 0; d < PyArray_NDIM(a); ++d) {
    if (item > 0 && PyArray_STRIDES(a)[d] % item != 0) {
      return text + " whose strides " + str_of(obj.attr("strides")) +
             " are not multiples of its itemsize " + std::to_string((long long)item) +
             " (copy it with np.ascontiguousarray)";
    }
  }
  return text;
}

// The private copy of an input (Task::copies) comes from the runtime's heap cache
// (runtime/src/pool.h): a large block is reused warm from the previous call, not faulted in
// page by page (most of the cost of copying a fresh 18 MB buffer).
struct HookFree {
  void operator()(void* p) const { theanir_free(p); }
};
using Snapshot = std::unique_ptr<void, HookFree>;

Snapshot snapshot_buffer(size_t bytes) {
  void* p = theanir_alloc(64, (int64_t)(bytes ? bytes : 1));
  if (!p) throw std::bad_alloc();
  return Snapshot(p);
}

// A failed run-time check of generated code -> the Python exception it raises.
ErrorKind check_error_kind(const CheckFailed& e) { return e.kind() == 0 ? ErrorKind::Index : ErrorKind::Value; }

const char* const kCancelledMessage =
    "the call was cancelled by KeyboardInterrupt (Ctrl-C stops every compiled call running or queued "
    "at that moment)";

// After a Ctrl-C seen during an inline call (GIL held): cancel what else is in flight, then
// let Python's handler raise KeyboardInterrupt here.
void raise_interrupt() {
  {
    nb::gil_scoped_release release;
    cancel_all();
  }
  if (PyErr_CheckSignals() != 0) throw nb::python_error();  // Python's handler: KeyboardInterrupt
}
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
  std::vector<Snapshot> copies;  // inputs copied at enqueue (the caller may write its arrays)
  std::vector<Swap> swaps;
  int64_t n_calls = 1;
  uint64_t seq = 0;  // lifecycle.h: tasks numbered up to a Ctrl-C never start
  std::shared_ptr<BufferPool> pool;  // the function's (allow_gc=False) or this task's, or none
  bool in_place = false;             // writes an input: serialized (g_in_place_mu)
  std::shared_ptr<Event> done = std::make_shared<Event>();
  PyObject* keepalive = nullptr;  // inputs, outputs and the code, until the task has run
  std::vector<void*> ptrs, packed;  // the packed call's arguments (kept: a reused task)
  std::vector<nb::object> outs;     // the output buffers, while the caller holds the GIL
  std::vector<std::shared_ptr<PendingResult>> pending;  // per dynamic output (else null)
  std::atomic<int64_t>* run_ns = nullptr;  // the executable's run-time average (kept alive by keepalive)
  int64_t copy_ns = 0;                     // copy_input's time and bytes for this call
  size_t copied = 0;

  // Ready for another inline call (Executable::spare_): its vectors keep their capacity.
  void reset(Packed f, size_t n_args) {
    fn = f;
    descs.resize(n_args);
    deps.clear();
    copies.clear();
    swaps.clear();
    n_calls = 1;
    seq = new_task_seq();
    keepalive = nullptr;
    in_place = false;
    pending.clear();
    copy_ns = 0;
    copied = 0;
    if (done.use_count() == 1) {
      done->reset();
    } else {
      done = std::make_shared<Event>();  // the last one went to failed results
    }
  }

  void run() noexcept {
    for (const auto& e : deps) {
      e->wait();
      if (e->orphaned()) return done->fail(ErrorKind::Runtime, kOrphanMessage);
      if (e->failed()) return done->fail(e->kind(), e->message());
    }
    if (!compute_begin(seq)) return done->fail(ErrorKind::Runtime, kCancelledMessage);
    // Buffers are dropped while the gate is held: a fork never copies a pool's lock held.
    struct End {
      Task* t;
      ~End() {
        t->copies.clear();
        t->pool.reset();
        compute_end();
      }
    } end{this};
    try {
      std::unique_lock<std::mutex> in_place_lock(g_in_place_mu, std::defer_lock);
      if (in_place) in_place_lock.lock();
      PoolScope scope(pool.get());
      const size_t n = descs.size();
      ptrs.resize(n);
      packed.resize(n);
      for (size_t i = 0; i < n; ++i) {
        ptrs[i] = descs[i].data();
        packed[i] = &ptrs[i];
      }
      const auto t0 = std::chrono::steady_clock::now();
      for (int64_t k = 0; k < n_calls; ++k) {
        for (const Swap& s : swaps) {
          set_data(descs[s.in], k == 0 ? s.initial : s.bufs[(k - 1) % 2]);
          set_data(descs[s.out], s.bufs[k % 2]);
        }
        call_entry(fn, packed.data());  // out of memory: OutOfMemory, the call's buffers freed
      }
      // A loop may have stopped at a poll of the cancel flag: the results are not the call's.
      if (cancel_requested()) return done->fail(ErrorKind::Runtime, kCancelledMessage);
      if (run_ns) {
        const int64_t t = std::chrono::duration_cast<std::chrono::nanoseconds>(
                              std::chrono::steady_clock::now() - t0).count() / n_calls;
        const int64_t old = run_ns->load(std::memory_order_relaxed);
        run_ns->store(old < 0 ? t : (3 * old + t) / 4, std::memory_order_relaxed);
      }
      {
        // The inputs' private copies go back to the heap cache before the caller hears of the
        // result (outside the function's pool), so its next call finds them warm instead of
        // faulting in a fresh block while these still wait for End.
        PoolScope outside(nullptr);
        copies.clear();
      }
      done->complete();
    } catch (const std::bad_alloc& e) {
      done->fail(ErrorKind::Memory, e.what());
    } catch (const CheckFailed& e) {
      done->fail(check_error_kind(e), e.what());
    } catch (const std::exception& e) {
      done->fail(ErrorKind::Runtime, e.what());
    } catch (...) {
      done->fail(ErrorKind::Runtime, "unknown error in a compiled call");
    }
  }
};

// The pending dynamic-shape result of output j of `task`, or null.
static std::shared_ptr<PendingResult> pending_of(const Executable::Task& task, size_t j) {
  return j < task.pending.size() ? task.pending[j] : nullptr;
}

Executable::Executable(uintptr_t fn, std::vector<ArgSpec> specs, nb::object keepalive, uintptr_t memory_hooks,
                       bool allow_gc, uintptr_t cancel_hook, bool cancellable, uintptr_t check_hook,
                       bool checked)
    : fn_(reinterpret_cast<Packed>(fn)), specs_(std::move(specs)), keepalive_(std::move(keepalive)) {
  if (fn == 0) throw std::invalid_argument("Executable: null entry point");
  install_memory_hooks(memory_hooks);
  install_check_hook(check_hook);
  checked_ = checked || check_hook != 0;
  if (cancel_hook) reinterpret_cast<void (*)(void*)>(cancel_hook)(cancel_flag());
  cancellable_ = cancellable || cancel_hook != 0;
  if (cancellable_) refresh_sigint_handler();
  set_allow_gc(allow_gc);
  nb::module_ np = nb::module_::import_("numpy");
  np_empty_ = np.attr("empty");
  numpy_ready_ = numpy_api_ready();
  bool seen_output = false;
  for (const auto& s : specs_) {
    if (s.dtype < F32 || s.dtype > C128) throw std::invalid_argument("Executable: bad dtype code for " + s.name);
    if (!s.output && seen_output) throw std::invalid_argument("Executable: inputs must precede outputs");
    seen_output |= s.output;
    size_t elems = 1;
    bool dyn = false;
    for (int64_t e : s.shape) {
      if (e == -1) dyn = true;
      else if (e < 0) throw std::invalid_argument("Executable: bad dim in the shape of " + s.name);
      else elems *= (size_t)e;
    }
    any_dyn_ |= dyn;
    total_bytes_ += dyn ? kInlineBytes + 1 : elems * dtype_size(s.dtype);  // dynamic: never "small"
    if (!s.output) {
      ++n_inputs_;
      continue;
    }
    if (dyn && s.alias >= 0) throw std::invalid_argument("Executable: output '" + s.name + "' has dynamic dims and aliases an input");
    dyn_out_.push_back(dyn);
    any_dyn_out_ |= dyn;
    nb::list shape;
    for (int64_t e : s.shape) shape.append(e);
    out_shapes_.push_back(nb::tuple(shape));
    out_dtypes_.push_back(np.attr("dtype")(dtype_name(s.dtype)));
    const size_t rank = s.shape.size();
    if (dyn) {  // the slot: a 1-d int64 buffer of 1 + rank entries
      out_descs_.push_back({0, 0, 0, (int64_t)(1 + rank), 1});
      continue;
    }
    std::vector<int64_t> d(3 + 2 * rank, 0);
    int64_t st = 1;
    for (size_t k = rank; k-- > 0;) {
      d[3 + k] = s.shape[k];
      d[3 + rank + k] = st;
      st *= s.shape[k];
    }
    out_descs_.push_back(std::move(d));
  }
  donated_.assign(n_inputs_, -1);
  for (size_t j = n_inputs_; j < specs_.size(); ++j) {
    const ArgSpec& s = specs_[j];
    if (s.alias < 0) continue;
    if ((size_t)s.alias >= n_inputs_ || donated_[s.alias] >= 0) {
      throw std::invalid_argument("Executable: output '" + s.name + "' aliases no input, or one already aliased");
    }
    const ArgSpec& in = specs_[s.alias];
    if (in.shape != s.shape || in.dtype != s.dtype || !in.contiguous) {
      throw std::invalid_argument("Executable: output '" + s.name + "' aliases input '" + in.name +
                                  "' of another shape, dtype or layout");
    }
    donated_[s.alias] = (int)(j - n_inputs_);
    any_donated_ = true;
  }
}

void Executable::set_allow_gc(bool allow) {
  if (allow) {
    pool_.reset();  // calls in flight keep theirs
  } else if (!pool_) {
    pool_ = std::make_shared<BufferPool>();
  }
}

std::pair<size_t, size_t> Executable::pool_stats() const {
  return pool_ ? std::make_pair(pool_->buffers(), pool_->bytes()) : std::make_pair(size_t(0), size_t(0));
}

void Executable::release_memory() {
  if (pool_) pool_ = std::make_shared<BufferPool>();  // the old one is freed by its last holder
}

void Executable::call(nb::list arrays, bool trust_input) {
  const size_t n = specs_.size();
  if (any_dyn_out_) throw nb::type_error("call: this function's outputs have dynamic shapes; use call_async");
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
                                           ", got " + ndarray_text(arrays[i]));
    }
    if (spec.alias >= 0) {  // written into the input's buffer, which must be writeable
      nb::ndarray<> in;
      if (!nb::try_cast(arrays[spec.alias], in)) {
        arg_error(ErrorKind::Value, specs_[spec.alias], "updated in place, but the array is read-only");
      }
      descs[i] = descs[spec.alias];
    } else {
      describe(spec, arr, descs[i], trust_input);
    }
    ptrs[i] = descs[i].data();
    packed[i] = &ptrs[i];
  }
  std::shared_ptr<BufferPool> pool = pool_;
  bool cancelled = false, interrupted = false;
  std::exception_ptr failure;  // out of memory (call_entry freed the call's buffers)
  {
    nb::gil_scoped_release release;
    if (!compute_begin(new_task_seq())) {
      cancelled = true;
    } else {
      interrupted = run_interruptible(cancellable_, [&] {
        std::unique_lock<std::mutex> in_place_lock(g_in_place_mu, std::defer_lock);
        if (any_donated_) in_place_lock.lock();
        PoolScope scope(pool.get());
        try {
          call_entry(fn_, packed.data());
        } catch (...) {
          failure = std::current_exception();
        }
        cancelled = cancel_requested();
      });
      compute_end();
    }
  }
  if (failure) {
    try {
      std::rethrow_exception(failure);
    } catch (const CheckFailed& e) {
      raise_error(check_error_kind(e), e.what());
    }
  }
  if (interrupted) raise_interrupt();
  if (cancelled) throw std::runtime_error(kCancelledMessage);
}

void Executable::set_shape_function(uintptr_t fn) {
  shape_fn_ = reinterpret_cast<Packed>(fn);
  shape_words_ = out_shapes_.size();
  for (size_t j = n_inputs_; j < specs_.size(); ++j) shape_words_ += specs_[j].shape.size();
}

int dtype_typenum(int code) {
  switch (code) {
    case F32: return NPY_FLOAT32;
    case F64: return NPY_FLOAT64;
    case I32: return NPY_INT32;
    case I64: return NPY_INT64;
    case C64: return NPY_COMPLEX64;
    case C128: return NPY_COMPLEX128;
  }
  return NPY_BOOL;
}

// Results of at least this many bytes come from the runtime's heap cache (theanir_alloc), not
// NumPy's allocator: glibc maps a block above its mmap threshold (32 MB at most) fresh on every
// allocation and unmaps it on free, so a loop producing a 40 MB result faulted all of its
// pages in every call (~570 faults and 3.5 ms per call for 10^7 float32, most of a fused
// elementwise chain, and serial work that kept 2 OpenMP threads from scaling). The cache
// hands the block freed by the previous call's result back warm. Smaller results keep
// NumPy's allocator (its small-block cache is faster than a capsule).
constexpr int64_t kWarmOutputBytes = int64_t(1) << 20;

nb::object Executable::alloc_output(size_t j, const int64_t* dims) {
  if (numpy_ready_) {
    const ArgSpec& s = specs_[n_inputs_ + j];
    static_assert(sizeof(npy_intp) == sizeof(int64_t), "64-bit npy_intp expected");
    const int typenum = dtype_typenum(s.dtype);
    const int64_t* shape = dims ? dims : s.shape.data();
    int64_t bytes = (int64_t)dtype_size(s.dtype);
    for (size_t k = 0; k < s.shape.size() && bytes > 0; ++k) {
      bytes = shape[k] > 0 && bytes <= INT64_MAX / shape[k] ? bytes * shape[k] : 0;
    }
    if (bytes >= kWarmOutputBytes) {
      if (void* p = theanir_alloc(64, bytes)) {  // null: NumPy's allocator tries (and raises)
        std::vector<int64_t> slot(1 + s.shape.size());
        slot[0] = (int64_t)(intptr_t)p;
        for (size_t k = 0; k < s.shape.size(); ++k) slot[1 + k] = shape[k];
        return adopt_array(s.dtype, slot);  // read-only, freed back to the cache with the array
      }
    }
    PyObject* o = PyArray_SimpleNew((int)s.shape.size(), (npy_intp*)shape, typenum);
    if (!o) throw nb::python_error();
    // Results are immutable to NumPy (np.asarray(result) is read-only): a queued call that
    // reads one is never handed a buffer the caller can change meanwhile, so it is not copied.
    PyArray_CLEARFLAGS(reinterpret_cast<PyArrayObject*>(o), NPY_ARRAY_WRITEABLE);
    return nb::steal(o);
  }
  if (dims) {
    nb::list shape;
    for (size_t k = 0; k < specs_[n_inputs_ + j].shape.size(); ++k) shape.append(dims[k]);
    return np_empty_(nb::tuple(shape), out_dtypes_[j]);
  }
  return np_empty_(out_shapes_[j], out_dtypes_[j]);
}

// A buffer the code allocated through theanir_alloc (runtime/src/pool.h), freed with the array.
static void free_adopted(void* p) noexcept { theanir_free(p); }

nb::object adopt_array(int dtype, const std::vector<int64_t>& slot) {
  const size_t rank = slot.size() - 1;
  void* data = reinterpret_cast<void*>((intptr_t)slot[0]);
  std::vector<npy_intp> dims(rank);
  for (size_t k = 0; k < rank; ++k) dims[k] = (npy_intp)slot[1 + k];
  if (!numpy_api_ready()) throw std::runtime_error("dynamic-shape results need NumPy's C API");
  nb::capsule owner(data, [](void* p) noexcept { free_adopted(p); });
  const int typenum = dtype_typenum(dtype);
  PyObject* o = PyArray_New(&PyArray_Type, (int)rank, dims.data(), typenum, nullptr, data, 0, NPY_ARRAY_CARRAY, nullptr);
  if (!o) throw nb::python_error();
  if (PyArray_SetBaseObject(reinterpret_cast<PyArrayObject*>(o), owner.release().ptr()) != 0) {
    Py_DECREF(o);
    throw nb::python_error();
  }
  PyArray_CLEARFLAGS(reinterpret_cast<PyArrayObject*>(o), NPY_ARRAY_WRITEABLE);
  return nb::steal(o);
}

// A failed call's dynamic output: an empty array of the output's rank (reads raise the error).
nb::object Executable::alloc_failed_placeholder(size_t j) const {
  const ArgSpec& s = specs_[n_inputs_ + j];
  nb::list shape;
  for (size_t k = 0; k < s.shape.size(); ++k) shape.append(0);
  return np_empty_(nb::tuple(shape), out_dtypes_[j]);
}

void Executable::prepare(Task* task, const nb::handle* inputs, size_t n, bool trust, bool copy_writable,
                         nb::handle* donated) {
  if (n != n_inputs_) {
    throw nb::type_error(("expected " + std::to_string(n_inputs_) + " inputs, got " + std::to_string(n)).c_str());
  }
  for (size_t i = 0; i < n_inputs_; ++i) {
    const ArgSpec& spec = specs_[i];
    nb::handle obj = inputs[i];
    RoArray arr;
    bool writable = false;
    if (const Array* ap = array_of(obj)) {
      const Array& a = *ap;
      // Unfinished, or failed (its error propagates to our outputs): the task waits on it.
      if (a.event() && (!a.event()->done() || a.event()->failed())) task->deps.push_back(a.event());
      if (donated_[i] >= 0) {  // a result's buffer is the runtime's: read-only to NumPy only
        describe_donated(i, a.buffer(), task->descs[i], true);
        donated[i] = a.buffer();
        continue;
      }
      bool unused;
      if (numpy_ready_ && describe_fast(spec, a.buffer().ptr(), task->descs[i], unused)) continue;
      nb::try_cast(a.buffer(), arr);
    } else if (donated_[i] >= 0) {
      describe_donated(i, obj, task->descs[i]);
      donated[i] = obj;
      continue;
    } else if (numpy_ready_ && describe_fast(spec, obj.ptr(), task->descs[i], writable)) {
      if (!copy_writable || !(writable || memory_may_change(obj.ptr()))) continue;
      copy_input(task, i, (size_t)PyArray_ITEMSIZE(reinterpret_cast<PyArrayObject*>(obj.ptr())));
      continue;
    } else {
      nb::ndarray<> w;
      if (nb::try_cast(obj, w)) {
        writable = true;
        arr = RoArray(w);
      } else if (nb::try_cast(obj, arr)) {
        writable = !numpy_ready_ || memory_may_change(obj.ptr());  // a read-only np.memmap, a view...
      } else {
        arg_error(ErrorKind::Type, spec, std::string("expected a NumPy array or th.Array of dtype ") +
                                             dtype_name(spec.dtype) + ", got " + ndarray_text(obj));
      }
    }
    describe(spec, arr, task->descs[i], trust);
    if (!(writable && copy_writable)) continue;
    copy_input(task, i, arr.itemsize());
  }
  if (any_donated_) check_overlap(*task);
  task->in_place = any_donated_;
}

// An input that an output is written into: an exact, writeable, C-contiguous ndarray of the
// compiled dtype and shape in native byte order (never trusted, never copied).
void Executable::describe_donated(size_t i, nb::handle buffer, std::vector<int64_t>& d, bool result) const {
  const ArgSpec& spec = specs_[i];
  const std::string why = "is updated in place (by '" + specs_[n_inputs_ + donated_[i]].name + "'): ";
  if (!numpy_ready_ || Py_TYPE(buffer.ptr()) != &PyArray_Type) {
    arg_error(ErrorKind::Type, spec, why + "expected a NumPy array or th.Array, got " +
                                         nb::type_name(buffer.type()).c_str());
  }
  bool writable = false;
  if (!describe_fast(spec, buffer.ptr(), d, writable)) {
    RoArray arr;
    nb::try_cast(buffer, arr);
    ArgSpec any_layout = spec;
    any_layout.contiguous = false;
    describe(any_layout, arr, d, false);  // raises a dtype or shape mismatch
    arg_error(ErrorKind::Value, spec, why + "expected a C-contiguous array in native byte order");
  }
  if (!writable && !result) arg_error(ErrorKind::Value, spec, why + "the array is read-only");
}

// A donated buffer is written while the other inputs are read: none may share its memory.
void Executable::check_overlap(const Task& task) const {
  auto range = [&](size_t i, int64_t& lo, int64_t& hi) {
    const std::vector<int64_t>& d = task.descs[i];
    const size_t rank = specs_[i].shape.size();
    const int64_t item = (int64_t)dtype_size(specs_[i].dtype);
    lo = hi = d[1];
    for (size_t k = 0; k < rank; ++k) {
      if (d[3 + k] == 0) return false;
      const int64_t span = (d[3 + k] - 1) * d[3 + rank + k] * item;
      (span < 0 ? lo : hi) += span;
    }
    hi += item;
    return true;
  };
  for (size_t i = 0; i < n_inputs_; ++i) {
    int64_t lo, hi;
    if (donated_[i] < 0 || !range(i, lo, hi)) continue;
    for (size_t m = 0; m < n_inputs_; ++m) {
      int64_t lo2, hi2;
      if (m == i || !range(m, lo2, hi2) || hi2 <= lo || hi <= lo2) continue;
      arg_error(ErrorKind::Value, specs_[i], "is updated in place (by '" + specs_[n_inputs_ + donated_[i]].name +
                                                 "') but shares memory with argument '" + specs_[m].name + "'");
    }
  }
}

// The caller may write its array once we return: the task reads a private copy.
void Executable::copy_input(Task* task, size_t i, size_t itemsize) {
  const size_t rank = specs_[i].shape.size();
  int64_t size = 1;
  for (size_t k = 0; k < rank; ++k) size *= task->descs[i][3 + k];  // the call's sizes (dynamic dims)
  const auto t0 = std::chrono::steady_clock::now();
  Snapshot buf = snapshot_buffer((size_t)size * itemsize);
  if (is_contiguous(task->descs[i], rank)) {
    std::memcpy(buf.get(), reinterpret_cast<const void*>((intptr_t)task->descs[i][1]), (size_t)size * itemsize);
    set_data(task->descs[i], buf.get());
  } else {
    copy_to(task->descs[i], rank, itemsize, buf.get());
  }
  task->copies.push_back(std::move(buf));
  task->copy_ns += std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - t0).count();
  task->copied += (size_t)size * itemsize;
}

// Whether this call's copies of writable NumPy inputs would cost at least 1/kCopyFactor of
// its run (both measured on earlier calls: the run's moving average, the fastest of at least
// two queued copies, since the first copy into a fresh buffer also pays its page faults;
// false until then).
bool Executable::copies_dominate(const nb::handle* inputs, size_t n) const {
  const int64_t run = run_ns_.load(std::memory_order_relaxed);
  const int64_t per_gb = copy_ns_per_gb_.load(std::memory_order_relaxed);
  if (run < 0 || per_gb <= 0 || copy_samples_.load(std::memory_order_relaxed) < 2 || !numpy_ready_ ||
      n != n_inputs_)
    return false;
  size_t bytes = 0;
  for (size_t i = 0; i < n; ++i) {
    PyObject* o = inputs[i].ptr();
    if (donated_[i] >= 0 || Py_TYPE(o) != &PyArray_Type) continue;
    PyArrayObject* a = reinterpret_cast<PyArrayObject*>(o);
    if (PyArray_ISWRITEABLE(a)) bytes += (size_t)PyArray_NBYTES(a);
  }
  return bytes > kInlineBytes && run <= kCopyFactor * (int64_t)((double)bytes * (double)per_gb / 1e9);
}

// The outputs of a prepared task: new C-contiguous NumPy buffers, or the buffer of the input
// an output is written into (donated[input]).
void Executable::bind_outputs(Task* task, const nb::handle* donated) {
  task->outs.clear();
  // The shape function sizes the dynamic outputs it can (it reads the inputs' descriptors only).
  int64_t words_small[32];
  std::vector<int64_t> words_big;
  int64_t* words = words_small;
  if (shape_fn_) {
    if (shape_words_ > 32) {
      words_big.resize(shape_words_);
      words = words_big.data();
    }
    void* ptrs_small[16];
    void* packed_small[16];
    std::vector<void*> ptrs_big, packed_big;
    void** ptrs = ptrs_small;
    void** packed = packed_small;
    if (n_inputs_ + 1 > 16) {
      ptrs_big.resize(n_inputs_ + 1);
      packed_big.resize(n_inputs_ + 1);
      ptrs = ptrs_big.data();
      packed = packed_big.data();
    }
    int64_t out_desc[5] = {(int64_t)(intptr_t)words, (int64_t)(intptr_t)words, 0, (int64_t)shape_words_, 1};
    for (size_t i = 0; i < n_inputs_; ++i) ptrs[i] = task->descs[i].data();
    ptrs[n_inputs_] = out_desc;
    for (size_t i = 0; i <= n_inputs_; ++i) packed[i] = &ptrs[i];
    shape_fn_(packed);
  }
  size_t dims_at = out_shapes_.size();  // where output j's dims start in `words`
  for (size_t j = 0; j < out_shapes_.size(); ++j) {
    std::vector<int64_t>& d = task->descs[n_inputs_ + j];
    const size_t rank = specs_[n_inputs_ + j].shape.size();
    const int64_t* dims = words + dims_at;
    dims_at += rank;
    if (const int in = specs_[n_inputs_ + j].alias; in >= 0) {
      task->outs.push_back(nb::borrow(donated[in]));
      d = task->descs[in];
      continue;
    }
    if (dyn_out_[j] && shape_fn_ && words[j] == 1) {  // sized before the call: a destination
      for (size_t k = 0; k < rank; ++k) {
        if (dims[k] < 0) {
          throw nb::value_error(("output '" + specs_[n_inputs_ + j].name + "': its shape function gave size " +
                                 std::to_string(dims[k]) + " along dim " + std::to_string(k)).c_str());
        }
      }
      task->outs.push_back(alloc_output(j, dims));
      PyObject* o = task->outs.back().ptr();
      d.assign(3 + 2 * rank, 0);
      int64_t st = 1;
      for (size_t k = rank; k-- > 0;) {
        d[3 + k] = dims[k];
        d[3 + rank + k] = st;
        st *= dims[k];
      }
      set_data(d, numpy_ready_ && Py_TYPE(o) == &PyArray_Type
                      ? PyArray_DATA(reinterpret_cast<PyArrayObject*>(o))
                      : const_cast<void*>(nb::cast<RoArray>(task->outs.back()).data()));
      continue;
    }
    if (dyn_out_[j]) {  // the code fills the slot; the result's Array adopts the buffer
      task->pending.resize(out_shapes_.size());
      auto pr = std::make_shared<PendingResult>();
      pr->slot.assign(out_descs_[j][3], 0);
      pr->dtype = specs_[n_inputs_ + j].dtype;
      d = out_descs_[j];
      set_data(d, pr->slot.data());
      task->pending[j] = std::move(pr);
      task->outs.push_back(alloc_failed_placeholder(j));  // empty, the right rank: until adopted
      continue;
    }
    task->outs.push_back(alloc_output(j));
    PyObject* o = task->outs.back().ptr();
    d = out_descs_[j];  // the compiled shape and dtype, canonical strides
    set_data(d, numpy_ready_ && Py_TYPE(o) == &PyArray_Type
                    ? PyArray_DATA(reinterpret_cast<PyArrayObject*>(o))
                    : const_cast<void*>(nb::cast<RoArray>(task->outs.back()).data()));
  }
}

// Code that prints writes to the process's stdout: what Python buffered goes first (with the
// GIL held; a missing or broken sys.stdout is left alone). Returns true (such calls are sync).
static bool flush_python_stdout() {
  PyObject* out = PySys_GetObject("stdout");  // borrowed
  if (out && out != Py_None) {
    PyObject* r = PyObject_CallMethod(out, "flush", nullptr);
    if (r) Py_DECREF(r);
    else PyErr_Clear();
  }
  return true;
}

void Executable::call_core(const nb::handle* inputs, size_t n, bool trust_input, int device, int stream, bool sync,
                           nb::object* results) {
  collect_deferred();
  if (checked_ && any_donated_) sync = true;  // a failed check must not leave updates failed
  if (printing_) sync = flush_python_stdout();
  DeviceQueue* queue = nullptr;
  bool inline_small = false;
  if (!sync) {  // refuses a device without a backend up front
    queue = device == 0 && stream == 0 ? &default_queue() : &device_queue(device, stream);
    size_t bytes = total_bytes_;
    if (any_dyn_ && numpy_ready_) {  // sizes of this call's inputs (dynamic outputs not counted)
      bytes = 0;
      for (size_t i = 0; i < n && bytes <= kInlineBytes; ++i) {
        PyObject* o = inputs[i].ptr();
        if (Py_TYPE(o) == &PyArray_Type) bytes += (size_t)PyArray_NBYTES(reinterpret_cast<PyArrayObject*>(o));
        else bytes = kInlineBytes + 1;  // an Array (maybe pending) or another object: queue it
      }
    }
    inline_small = n == n_inputs_ && queue->idle() && (bytes <= kInlineBytes || copies_dominate(inputs, n));  // or copy-bound
    for (size_t i = 0; i < n && inline_small; ++i) {
      const Array* a = array_of(inputs[i]);
      if (a && a->event() && (!a->event()->done() || a->event()->failed())) inline_small = false;
    }
  }
  const size_t n_out = out_shapes_.size();
  nb::handle donated_small[8];
  std::vector<nb::handle> donated_big;
  nb::handle* donated = donated_small;
  if (any_donated_ && n_inputs_ > 8) {
    donated_big.resize(n_inputs_);
    donated = donated_big.data();
  }
  if (inline_small || sync) {
    // Run here, not queued: a reused task (no allocations but the outputs), results complete.
    // Sync mode may wait here for unfinished inputs (deps) and raises errors at once.
    std::shared_ptr<Task> task;
    const bool spare = !spare_busy_.exchange(true, std::memory_order_acquire);
    struct Release {
      std::atomic<bool>* flag;
      ~Release() {
        if (flag) flag->store(false, std::memory_order_release);
      }
    } release_spare{spare ? &spare_busy_ : nullptr};
    if (spare) {
      if (!spare_) spare_ = std::make_shared<Task>();
      task = spare_;
      task->reset(fn_, specs_.size());
    } else {
      task = std::make_shared<Task>();
      task->reset(fn_, specs_.size());
    }
    task->pool = pool_;
    task->run_ns = &run_ns_;
    prepare(task.get(), inputs, n, trust_input, false, donated);
    bind_outputs(task.get(), donated);
    bool interrupted;
    {
      nb::gil_scoped_release release;
      interrupted = run_interruptible(cancellable_, [&] { task->run(); });
    }
    task->pool.reset();
    if (interrupted) {
      task->outs.clear();
      raise_interrupt();
    }
    if (task->done->failed() && sync) {
      task->outs.clear();
      raise_error(task->done->kind(), task->done->message());
    }
    // Failed: the error surfaces at the read, as it would have from the queue.
    std::shared_ptr<Event> event = task->done->failed() ? task->done : nullptr;
    for (size_t j = 0; j < n_out; ++j) {
      results[j] = nb::cast(Array(std::move(task->outs[j]), event, device, pending_of(*task, j)));
    }
    task->pending.clear();
    task->outs.clear();
    return;
  }
  auto task = std::make_shared<Task>();
  task->reset(fn_, specs_.size());
  task->pool = pool_;
  task->run_ns = &run_ns_;
  prepare(task.get(), inputs, n, trust_input, true, donated);
  if (task->copied > kInlineBytes) {  // the fastest copy seen: a buffer's first use also faults its pages in
    const int64_t per_gb = (int64_t)((double)task->copy_ns * 1e9 / (double)task->copied);
    const int64_t old = copy_ns_per_gb_.load(std::memory_order_relaxed);
    if (old < 0 || per_gb < old) copy_ns_per_gb_.store(per_gb, std::memory_order_relaxed);
    copy_samples_.fetch_add(1, std::memory_order_relaxed);
  }
  bind_outputs(task.get(), donated);
  nb::tuple ins = nb::steal<nb::tuple>(PyTuple_New((Py_ssize_t)n));
  for (size_t i = 0; i < n; ++i) PyTuple_SET_ITEM(ins.ptr(), i, inputs[i].inc_ref().ptr());
  task->keepalive = nb::make_tuple(nb::find(this), ins, nb::cast(task->outs)).release().ptr();
  std::vector<nb::object> outs = std::move(task->outs);
  std::vector<size_t> returned(n_out);
  for (size_t j = 0; j < n_out; ++j) returned[j] = j;
  nb::list out = launch(task, outs, returned, device, stream, false);  // pending: task->pending
  for (size_t j = 0; j < n_out; ++j) results[j] = out[j];
}

nb::list Executable::launch(std::shared_ptr<Task> task, const std::vector<nb::object>& outs,
                            const std::vector<size_t>& returned, int device, int stream, bool sync) {
  nb::list result;
  if (sync) {
    bool interrupted;
    {
      nb::gil_scoped_release release;
      interrupted = run_interruptible(cancellable_, [&] { task->run(); });
    }
    if (interrupted) raise_interrupt();
    if (task->done->failed()) raise_error(task->done->kind(), task->done->message());
    for (size_t j : returned) result.append(nb::cast(Array(outs[j], nullptr, device)));
    return result;
  }
  DeviceQueue& queue = device_queue(device, stream);
  // The task holds its inputs and outputs until it has run (run(): a second buffer per update).
  size_t bytes = total_bytes_;
  for (const auto& s : task->swaps) bytes += nb::cast<RoArray>(outs[s.out - n_inputs_]).nbytes();
  if (queue.full(bytes)) {
    {
      nb::gil_scoped_release release;
      queue.wait_for_room(bytes);
    }
    collect_deferred();  // the outputs of the calls that made room, dropped by their caller
  }
  for (size_t j : returned) result.append(nb::cast(Array(outs[j], task->done, device, pending_of(*task, j))));
  queue.push([task] {
    task->run();
    if (task->keepalive) defer_decref(task->keepalive);
    task->keepalive = nullptr;
  }, bytes);
  return result;
}

nb::list Executable::call_async(nb::list inputs, bool trust_input, int device, int stream, bool sync) {
  const size_t n = nb::len(inputs);
  std::vector<nb::handle> handles(n);
  for (size_t i = 0; i < n; ++i) handles[i] = PyList_GET_ITEM(inputs.ptr(), i);
  std::vector<nb::object> results(out_shapes_.size());
  call_core(handles.data(), n, trust_input, device, stream, sync, results.data());
  nb::list out;
  for (nb::object& r : results) out.append(std::move(r));
  return out;
}

nb::list Executable::run(nb::list inputs, int64_t n_calls, std::vector<std::pair<int, int>> updates,
                         bool trust_input, int device, int stream, bool sync) {
  collect_deferred();
  if (any_dyn_out_) throw nb::type_error("run: not available for functions whose outputs have dynamic shapes");
  if (n_calls < 1) throw nb::value_error(("run: n_calls must be >= 1, got " + std::to_string(n_calls)).c_str());
  if (printing_) sync = flush_python_stdout();
  if (!sync) device_queue(device, stream);
  const size_t n = nb::len(inputs);
  std::vector<nb::handle> handles(n), donated(n_inputs_);
  for (size_t i = 0; i < n; ++i) handles[i] = PyList_GET_ITEM(inputs.ptr(), i);
  auto task = std::make_shared<Task>();
  task->reset(fn_, specs_.size());
  prepare(task.get(), handles.data(), n, trust_input, !sync, donated.data());
  task->n_calls = n_calls;
  task->pool = pool_ ? pool_ : n_calls > 1 ? std::make_shared<BufferPool>() : nullptr;
  const size_t n_out = out_shapes_.size();
  std::vector<nb::object> outs;  // the outputs, then a second buffer per update
  std::vector<size_t> returned;
  for (size_t j = 0; j < n_out; ++j) {
    if (const int in = specs_[n_inputs_ + j].alias; in >= 0) {  // updated in place at every step
      outs.push_back(nb::borrow(donated[in]));
      task->descs[n_inputs_ + j] = task->descs[in];
      returned.push_back(j);
      continue;
    }
    outs.push_back(alloc_output(j));
    describe(specs_[n_inputs_ + j], nb::cast<RoArray>(outs.back()), task->descs[n_inputs_ + j], false);
    returned.push_back(j);
  }
  for (const auto& [in, out] : updates) {
    if (in < 0 || (size_t)in >= n_inputs_ || out < 0 || (size_t)out >= n_out) {
      throw nb::value_error("run: an update pair names no such input or output");
    }
    const ArgSpec& si = specs_[in];
    const ArgSpec& so = specs_[n_inputs_ + out];
    if (so.alias == in) continue;  // in place: nothing to swap
    if (so.alias >= 0) {
      throw nb::value_error(("run: output '" + so.name + "' is written into input '" + specs_[so.alias].name +
                             "', not '" + si.name + "'").c_str());
    }
    if (si.shape != so.shape || si.dtype != so.dtype) {
      throw nb::value_error(("run: the update of '" + si.name + "' has shape " + shape_str(so.shape) + " " +
                             dtype_name(so.dtype) + ", but the input is " + shape_str(si.shape) + " " +
                             dtype_name(si.dtype)).c_str());
    }
    std::vector<int64_t>& din = task->descs[in];
    const size_t rank = si.shape.size();
    if (!is_contiguous(din, rank)) {  // later steps read our C-ordered buffers
      Snapshot buf = snapshot_buffer(nb::cast<RoArray>(outs[out]).nbytes());
      copy_to(din, rank, dtype_size(si.dtype), buf.get());
      task->copies.push_back(std::move(buf));
    }
    outs.push_back(alloc_output(out));
    Task::Swap s{in, (int)(n_inputs_ + out), (void*)(intptr_t)din[1],
                 {const_cast<void*>(nb::cast<RoArray>(outs[out]).data()),
                  const_cast<void*>(nb::cast<RoArray>(outs.back()).data())}};
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
