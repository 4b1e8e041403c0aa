// theanir runtime: warm-call caches. A call whose positional arguments have the layouts of
// a call the full (Python) path already served goes straight to that call's Executable.
//
// FastCache serves th.jit (frontend/api.py); FunctionCache serves th.function
// (frontend/symbolic.py), whose compiled step also reads the shared variables' storage
// cells and writes the updates' results back into them. A pattern is at least as
// discriminating as the frontend's signature key (exact ndarray type, dtype number, byte
// order, shape, strides; exact scalar type; static value type and ==) plus the settings' key.
#pragma once

#include <nanobind/nanobind.h>

#include <cstdint>
#include <vector>

namespace theanir {
namespace nb = nanobind;

// Both caches are base classes of the Python objects they serve (th.jit's JitFunction,
// th.function's Function): their `__call__` is C++ (`call_or_slow`), which tries the cache
// and otherwise calls the object's Python `_call_slow(*args, **kwargs)`, so a warm call runs
// no Python code at all.
template <typename Cache>
nb::object call_or_slow(Cache& self, nb::args args, nb::kwargs kwargs) {
  if (kwargs.size() == 0) {
    nb::object out = self.call(args);
    if (!out.is(self.miss())) return out;
  }
  return nb::find(&self).attr("_call_slow")(*args, **kwargs);
}

// The th.config state a warm call depends on, mirrored here by frontend/config.py so that a
// call passes no settings: `options_key`, a 64-bit hash of the CompileOptions key (the one
// definition of what decides generated code, passes/options.py) and allow_gc, computed in
// Python (frontend/options.py: warm_key); and th.config.sync. An entry remembers the key it
// was compiled under and misses under any other (a changed option never reuses stale code).
void set_call_config(uint64_t options_key, bool sync);

// One positional argument's pattern.
struct Slot {
  enum Kind : int { NDARRAY, ARRAY, FLOAT, INT, BOOL_, STATIC };
  Kind kind = NDARRAY;
  int type_num = 0;
  std::vector<int64_t> dims, strides;  // bytes
  nb::object value;                    // STATIC
};

class FastCache {
 public:
  explicit FastCache(nb::object miss) : miss_(std::move(miss)) {}
  // Remember the pattern of `args` (a call the full path just served). `statics`: positions
  // of static arguments; `out_kind`: 0 one leaf, 1 flat tuple, 2 rebuild with `unflatten`.
  // Returns false (remembers nothing) for an argument it cannot match quickly.
  bool add(nb::tuple args, std::vector<int> statics, uint64_t options_key, nb::object executable, int out_kind,
           nb::object unflatten);
  // The call's result, or the `miss` object given at construction.
  nb::object call(nb::tuple args);
  void clear() { entries_.clear(); }
  size_t size() const { return entries_.size(); }
  const nb::object& miss() const { return miss_; }
  bool trust_input = false;  // the caller promises dtypes and layouts (Executable::call_async)

  static constexpr size_t kMaxEntries = 16;

 private:
  struct Entry {
    uint64_t options_key;
    std::vector<Slot> slots;
    nb::object executable;
    int out_kind;
    nb::object unflatten;
  };
  std::vector<Entry> entries_;  // most recent last
  nb::object miss_;
};

// th.function's cache. `cells`: the storage cells ([value, private] lists) of the shared
// variables the step reads, in the compiled order after the explicit inputs; `updated[u]`:
// the cell that the step's output `n_out + u` is stored into after the call. An updated cell
// must be private (its buffer is the function's alone: the update may write it in place),
// else the call misses and the full path makes it private.
class FunctionCache {
 public:
  FunctionCache(nb::object miss, std::vector<nb::object> cells, std::vector<int> updated, size_t n_out,
                bool single);
  bool add(nb::tuple args, uint64_t options_key, nb::object executable);
  // The outputs (one, or a list), or the `miss` object.
  nb::object call(nb::tuple args);
  void clear() { entries_.clear(); }
  size_t size() const { return entries_.size(); }
  const nb::object& miss() const { return miss_; }
  bool trust_input = false;

  static constexpr size_t kMaxEntries = 16;

 private:
  struct Entry {
    uint64_t options_key;
    std::vector<Slot> slots;  // the arguments, then the cells' values
    nb::object executable;
  };
  std::vector<Entry> entries_;  // most recent last
  nb::object miss_;
  std::vector<nb::object> cells_;
  std::vector<int> updated_;
  std::vector<bool> must_own_;  // per cell: updated, so it must be private
  size_t n_out_;
  bool single_;
};

}  // namespace theanir
