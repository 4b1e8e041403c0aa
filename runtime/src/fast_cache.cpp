#include "fast_cache.h"

// The NumPy C API table lives in executable.cpp (imported there).
#define PY_ARRAY_UNIQUE_SYMBOL theanir_native_ARRAY_API
#define NO_IMPORT_ARRAY
#define NPY_NO_DEPRECATED_API NPY_2_0_API_VERSION
#include <numpy/arrayobject.h>

#include <nanobind/stl/vector.h>

#include <algorithm>
#include <cmath>
#include <atomic>

#include "array.h"
#include "executable.h"
#include "lifecycle.h"

namespace theanir {

namespace {

// The layout of an exact, native-order ndarray (the buffer of a th.Array included).
bool ndarray_layout(PyObject* obj, Slot& s) {
  if (Py_TYPE(obj) != &PyArray_Type) return false;
  PyArrayObject* a = reinterpret_cast<PyArrayObject*>(obj);
  if (!PyArray_ISNOTSWAPPED(a)) return false;
  s.type_num = PyArray_DESCR(a)->type_num;
  const int nd = PyArray_NDIM(a);
  s.dims.assign(PyArray_DIMS(a), PyArray_DIMS(a) + nd);
  s.strides.assign(PyArray_STRIDES(a), PyArray_STRIDES(a) + nd);
  return true;
}

bool ndarray_matches(PyObject* obj, const Slot& s) {
  if (Py_TYPE(obj) != &PyArray_Type) return false;
  PyArrayObject* a = reinterpret_cast<PyArrayObject*>(obj);
  const size_t nd = (size_t)PyArray_NDIM(a);
  if (nd != s.dims.size() || PyArray_DESCR(a)->type_num != s.type_num || !PyArray_ISNOTSWAPPED(a)) return false;
  const npy_intp* d = PyArray_DIMS(a);
  const npy_intp* st = PyArray_STRIDES(a);
  for (size_t k = 0; k < nd; ++k) {
    if ((int64_t)d[k] != s.dims[k] || (int64_t)st[k] != s.strides[k]) return false;
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

// Two plain static values (plain_static) that key the same compiled code: as the frontend's
// key (frontend/api.py _static_key), a NaN matches a NaN, and 0.0 does not match -0.0.
bool static_equal(PyObject* a, PyObject* b) {
  if (Py_TYPE(a) != Py_TYPE(b)) return false;
  if (a == b) return true;
  if (PyFloat_CheckExact(a)) {
    const double x = PyFloat_AS_DOUBLE(a), y = PyFloat_AS_DOUBLE(b);
    return x == y ? std::signbit(x) == std::signbit(y) : std::isnan(x) && std::isnan(y);
  }
  if (PyTuple_CheckExact(a)) {
    const Py_ssize_t n = PyTuple_GET_SIZE(a);
    if (PyTuple_GET_SIZE(b) != n) return false;
    for (Py_ssize_t i = 0; i < n; ++i) {
      if (!static_equal(PyTuple_GET_ITEM(a, i), PyTuple_GET_ITEM(b, i))) return false;
    }
    return true;
  }
  const int r = PyObject_RichCompareBool(a, b, Py_EQ);
  if (r < 0) PyErr_Clear();
  return r == 1;
}

// The pattern of a dynamic argument for input `spec`; false if it has none.
bool make_slot(nb::handle arg, const ArgSpec& spec, Slot& s) {
  PyObject* obj = arg.ptr();
  if (PyFloat_CheckExact(obj)) {
    s.kind = Slot::FLOAT;
    return spec.dtype == F64 && spec.shape.empty();
  }
  if (PyBool_Check(obj)) {
    s.kind = Slot::BOOL_;
    return spec.dtype == BOOL && spec.shape.empty();
  }
  if (PyLong_CheckExact(obj)) {
    s.kind = Slot::INT;
    return spec.dtype == I64 && spec.shape.empty();
  }
  if (const Array* a = array_of(arg)) {
    s.kind = Slot::ARRAY;
    return ndarray_layout(a->buffer().ptr(), s);
  }
  s.kind = Slot::NDARRAY;
  return ndarray_layout(obj, s);
}

bool slot_matches(const Slot& s, nb::handle arg) {
  PyObject* obj = arg.ptr();
  switch (s.kind) {
    case Slot::NDARRAY: return ndarray_matches(obj, s);
    case Slot::ARRAY: {
      const Array* a = array_of(arg);
      return a && ndarray_matches(a->buffer().ptr(), s);
    }
    case Slot::FLOAT: return PyFloat_CheckExact(obj);
    case Slot::INT: return PyLong_CheckExact(obj);
    case Slot::BOOL_: return PyBool_Check(obj);
    case Slot::STATIC: return static_equal(obj, s.value.ptr());
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

// The runtime inputs of a matched call, borrowed (arrays) or made here (scalars become 0-d
// arrays), on the stack for the usual few arguments.
class Staged {
 public:
  explicit Staged(size_t capacity) {
    if (capacity > kSmall) big_.resize(capacity);
  }
  // Add the input for `obj` matched as `kind`; false for an int that does not fit int64
  // (the full path raises NumPy's error).
  bool add(Slot::Kind kind, nb::handle obj) {
    switch (kind) {
      case Slot::STATIC: return true;
      case Slot::FLOAT: return own(scalar_array<double>(NPY_FLOAT64, PyFloat_AS_DOUBLE(obj.ptr())));
      case Slot::BOOL_: return own(scalar_array<npy_bool>(NPY_BOOL, obj.ptr() == Py_True));
      case Slot::INT: {
        int overflow = 0;
        const long long v = PyLong_AsLongLongAndOverflow(obj.ptr(), &overflow);
        if (overflow || (v == -1 && PyErr_Occurred())) {
          PyErr_Clear();
          return false;
        }
        return own(scalar_array<int64_t>(NPY_INT64, (int64_t)v));
      }
      default: slots()[n_++] = obj; return true;
    }
  }
  const nb::handle* data() const { return big_.empty() ? small_ : big_.data(); }
  size_t size() const { return n_; }

 private:
  static constexpr size_t kSmall = 16;
  nb::handle* slots() { return big_.empty() ? small_ : big_.data(); }
  bool own(nb::object o) {
    slots()[n_++] = o;
    made_.push_back(std::move(o));
    return true;
  }
  nb::handle small_[kSmall];
  std::vector<nb::handle> big_;
  std::vector<nb::object> made_;
  size_t n_ = 0;
};

// The kinds of an entry's slots, copied: the call may run finalizers (Python code that could
// add entries) and runs without the GIL (another thread's add may evict the entry).
struct Kinds {
  explicit Kinds(const std::vector<Slot>& slots) : n(slots.size()) {
    if (n > 16) big.resize(n);
    Slot::Kind* k = data();
    for (size_t i = 0; i < n; ++i) k[i] = slots[i].kind;
  }
  Slot::Kind* data() { return n > 16 ? big.data() : small; }
  size_t n;
  Slot::Kind small[16];
  std::vector<Slot::Kind> big;
};

template <typename Entry>
void remember(std::vector<Entry>& entries, Entry e, size_t max_entries) {
  const uint64_t options_key = e.options_key;
  entries.erase(std::remove_if(entries.begin(), entries.end(),
                               [&](const Entry& old) { return old.options_key != options_key; }),
                entries.end());
  if (entries.size() >= max_entries) entries.erase(entries.begin());
  entries.push_back(std::move(e));
}

std::atomic<uint64_t> g_options_key{0};
std::atomic<bool> g_sync{false};

}  // namespace

void set_call_config(uint64_t options_key, bool sync) {
  g_options_key.store(options_key, std::memory_order_relaxed);
  g_sync.store(sync, std::memory_order_relaxed);
}

// ------------------------------------------------------------------ FastCache (th.jit)
bool FastCache::add(nb::tuple args, std::vector<int> statics, uint64_t options_key, nb::object executable,
                    int out_kind, nb::object unflatten) {
  if (!numpy_api_ready() || !nb::isinstance<Executable>(executable)) return false;
  const Executable& exe = nb::cast<const Executable&>(executable);
  const size_t n = nb::len(args);
  Entry e{options_key, std::vector<Slot>(n), executable, out_kind, unflatten};
  std::vector<bool> is_static(n, false);
  for (int p : statics) {
    if (p < 0) p += (int)n;
    if (p < 0 || (size_t)p >= n) return false;
    is_static[p] = true;
  }
  size_t dyn = 0;
  for (size_t i = 0; i < n; ++i) {
    Slot& s = e.slots[i];
    if (is_static[i]) {
      if (!plain_static(args[i].ptr())) return false;
      s.kind = Slot::STATIC;
      s.value = nb::borrow(args[i]);
      continue;
    }
    if (dyn >= exe.num_inputs() || !make_slot(args[i], exe.specs()[dyn], s)) return false;
    ++dyn;
  }
  if (dyn != exe.num_inputs()) return false;
  remember(entries_, std::move(e), kMaxEntries);
  return true;
}

nb::object FastCache::call(nb::tuple args) {
  const uint64_t options_key = g_options_key.load(std::memory_order_relaxed);
  const bool sync = g_sync.load(std::memory_order_relaxed), trust = trust_input;
  const size_t n = nb::len(args);
  for (size_t k = entries_.size(); k-- > 0;) {
    const Entry& e = entries_[k];
    if (e.options_key != options_key || e.slots.size() != n) continue;
    bool match = true;
    for (size_t i = 0; i < n && match; ++i) match = slot_matches(e.slots[i], args[i]);
    if (!match) continue;
    nb::object executable = e.executable, unflatten = e.unflatten;
    const int out_kind = e.out_kind;
    Kinds kinds(e.slots);
    Staged inputs(n);
    for (size_t i = 0; i < n; ++i) {
      if (!inputs.add(kinds.data()[i], args[i])) return miss_;
    }
    Executable& exe = *nb::inst_ptr<Executable>(executable);
    const size_t n_out = exe.num_args() - exe.num_inputs();
    if (out_kind == 0 && n_out == 1) {
      nb::object out;
      exe.call_core(inputs.data(), inputs.size(), trust, 0, 0, sync, &out);
      return out;
    }
    std::vector<nb::object> out(n_out);
    exe.call_core(inputs.data(), inputs.size(), trust, 0, 0, sync, out.data());
    if (out_kind == 0) return out[0];
    nb::object seq = nb::steal(out_kind == 1 ? PyTuple_New((Py_ssize_t)n_out) : PyList_New((Py_ssize_t)n_out));
    for (size_t j = 0; j < n_out; ++j) {
      PyObject* o = out[j].release().ptr();
      if (out_kind == 1) {
        PyTuple_SET_ITEM(seq.ptr(), j, o);
      } else {
        PyList_SET_ITEM(seq.ptr(), j, o);
      }
    }
    return out_kind == 1 ? seq : unflatten(seq);
  }
  return miss_;
}

// ------------------------------------------------------------------ FunctionCache (th.function)
FunctionCache::FunctionCache(nb::object miss, std::vector<nb::object> cells, std::vector<int> updated,
                             size_t n_out, bool single)
    : miss_(std::move(miss)), cells_(std::move(cells)), updated_(std::move(updated)), n_out_(n_out),
      single_(single) {
  must_own_.assign(cells_.size(), false);
  for (const nb::object& c : cells_) {
    if (!PyList_CheckExact(c.ptr()) || PyList_GET_SIZE(c.ptr()) != 2) {
      throw nb::type_error("FunctionCache: a cell must be a [value, private] list");
    }
  }
  for (int u : updated_) {
    if (u < 0 || (size_t)u >= cells_.size()) throw nb::value_error("FunctionCache: an update names no cell");
    must_own_[u] = true;
  }
}

bool FunctionCache::add(nb::tuple args, uint64_t options_key, nb::object executable) {
  if (!numpy_api_ready() || !nb::isinstance<Executable>(executable)) return false;
  const Executable& exe = nb::cast<const Executable&>(executable);
  const size_t n = nb::len(args), m = cells_.size();
  if (n + m != exe.num_inputs() || exe.num_args() - exe.num_inputs() != n_out_ + updated_.size()) return false;
  Entry e{options_key, std::vector<Slot>(n + m), executable};
  for (size_t i = 0; i < n; ++i) {
    if (!make_slot(args[i], exe.specs()[i], e.slots[i])) return false;
  }
  for (size_t c = 0; c < m; ++c) {
    nb::handle value = PyList_GET_ITEM(cells_[c].ptr(), 0);
    Slot& s = e.slots[n + c];
    if (!make_slot(value, exe.specs()[n + c], s) || (s.kind != Slot::NDARRAY && s.kind != Slot::ARRAY)) return false;
  }
  remember(entries_, std::move(e), kMaxEntries);
  return true;
}

nb::object FunctionCache::call(nb::tuple args) {
  const uint64_t options_key = g_options_key.load(std::memory_order_relaxed);
  const bool sync = g_sync.load(std::memory_order_relaxed), trust = trust_input;
  const size_t n = nb::len(args), m = cells_.size();
  // Reading the variables, the call and storing the updates are one step with respect to
  // other updating calls (lifecycle.h): an inline call releases the GIL while it runs, and
  // another thread would otherwise read the same old values and one store would be lost.
  struct Updates {
    bool held;
    explicit Updates(bool any) : held(any) {
      if (held) lock_updates();
    }
    ~Updates() {
      if (held) unlock_updates();
    }
  } updates_lock(!updated_.empty());
  for (size_t c = 0; c < m; ++c) {  // an update may write in place: only into private storage
    if (must_own_[c] && PyList_GET_ITEM(cells_[c].ptr(), 1) != Py_True) return miss_;
  }
  for (size_t k = entries_.size(); k-- > 0;) {
    const Entry& e = entries_[k];
    if (e.options_key != options_key || e.slots.size() != n + m) continue;
    bool match = true;
    for (size_t i = 0; i < n && match; ++i) match = slot_matches(e.slots[i], args[i]);
    for (size_t c = 0; c < m && match; ++c) match = slot_matches(e.slots[n + c], PyList_GET_ITEM(cells_[c].ptr(), 0));
    if (!match) continue;
    nb::object executable = e.executable;
    Kinds kinds(e.slots);
    Staged inputs(n + m);
    for (size_t i = 0; i < n; ++i) {
      if (!inputs.add(kinds.data()[i], args[i])) return miss_;
    }
    // The cells' values, owned here: the call releases the GIL, and another thread may store
    // a new value into a cell meanwhile.
    std::vector<nb::object> values(m);
    for (size_t c = 0; c < m; ++c) {
      values[c] = nb::borrow(PyList_GET_ITEM(cells_[c].ptr(), 0));
      inputs.add(Slot::NDARRAY, values[c]);
    }
    Executable& exe = *nb::inst_ptr<Executable>(executable);
    nb::object out_small[4];
    std::vector<nb::object> out_big;
    const size_t n_res = n_out_ + updated_.size();
    nb::object* out = out_small;
    if (n_res > 4) {
      out_big.resize(n_res);
      out = out_big.data();
    }
    exe.call_core(inputs.data(), inputs.size(), trust, 0, 0, sync, out);
    for (size_t u = 0; u < updated_.size(); ++u) {  // steals the reference; drops the old value
      PyList_SetItem(cells_[updated_[u]].ptr(), 0, out[n_out_ + u].release().ptr());
    }
    if (single_) return out[0];
    nb::list result = nb::steal<nb::list>(PyList_New((Py_ssize_t)n_out_));
    for (size_t j = 0; j < n_out_; ++j) PyList_SET_ITEM(result.ptr(), j, out[j].release().ptr());
    return result;
  }
  return miss_;
}

}  // namespace theanir
