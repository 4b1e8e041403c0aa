// theanir runtime: a compiled entry point with its signature. Calls validate every buffer
// against the signature, build the memref descriptors, and run the packed wrapper
// `void fn(void**)` (args[i] points at the i-th descriptor pointer) without the GIL, either
// inline (sync) or as a task on a device queue (async), returning Arrays.
#pragma once

#include <nanobind/nanobind.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "array.h"

namespace theanir {
namespace nb = nanobind;

// dtype codes shared with theanir/runtime/__init__.py
enum DType : int { F32 = 0, F64 = 1, I32 = 2, I64 = 3, BOOL = 4 };

struct ArgSpec {
  std::string name;
  int dtype;
  std::vector<int64_t> shape;
  bool contiguous;  // compiled for a C-contiguous buffer (identity layout)
  bool output;      // written by the function
};

using Packed = void (*)(void**);

class Executable {
 public:
  Executable(uintptr_t fn, std::vector<ArgSpec> specs, nb::object keepalive);

  // Legacy synchronous call: `arrays` holds the inputs then caller-allocated outputs.
  void call(nb::list arrays, bool trust_input);
  // Allocate the outputs and run: inline when `sync`, else queued on (device, stream).
  // A small call (inputs + outputs <= kInlineBytes) runs inline too, without copying its
  // inputs, when the queue is idle and no input is an unfinished or failed Array: nothing
  // queued can then be overtaken. Its results are complete Arrays; an error is still raised
  // at the read, as for a queued call. Returns one Array per output.
  static constexpr size_t kInlineBytes = 64 * 1024;
  nb::list call_async(nb::list inputs, bool trust_input, int device, int stream, bool sync);
  // Run `n_calls` times in one task; after each step the output of each (input, output)
  // pair in `updates` becomes that input of the next step. Returns the last outputs.
  nb::list run(nb::list inputs, int64_t n_calls, std::vector<std::pair<int, int>> updates,
               bool trust_input, int device, int stream, bool sync);

  size_t num_args() const { return specs_.size(); }
  size_t num_inputs() const { return n_inputs_; }
  const std::vector<ArgSpec>& specs() const { return specs_; }

 private:
  struct Task;
  std::shared_ptr<Task> prepare(nb::list inputs, bool trust, bool copy_writable);
  nb::object alloc_output(size_t i);
  void copy_input(Task* task, size_t i, size_t itemsize);
  nb::list launch(std::shared_ptr<Task> task, const std::vector<nb::object>& outs,
                  const std::vector<size_t>& returned, int device, int stream, bool sync);

  Packed fn_;
  std::vector<ArgSpec> specs_;
  size_t n_inputs_ = 0;
  nb::object keepalive_;  // keeps the code (ExecutionEngine / shared object) alive
  nb::object np_empty_;
  bool numpy_ready_ = false;  // the NumPy C API is imported: fast paths for exact ndarrays
  std::vector<nb::object> out_shapes_, out_dtypes_;
  std::vector<std::vector<int64_t>> out_descs_;  // canonical descriptors, data pointer unset
  size_t total_bytes_ = 0;                        // every input and output buffer
};

// The jit's warm-call cache (frontend/api.py): calls of positional NumPy arrays, th.Arrays,
// Python scalars and static values whose layout matches an entry that the full path made
// go straight to the entry's Executable. A pattern is at least as discriminating as the
// frontend's signature key (exact ndarray type, dtype number, byte order, shape, strides;
// exact scalar type; static value type and ==; the config generation).
class FastCache {
 public:
  explicit FastCache(nb::object miss) : miss_(std::move(miss)) {}
  // Remember the pattern of `args` (a call the full path just served). `statics`: positions
  // of static arguments; `out_kind`: 0 one leaf, 1 flat tuple, 2 rebuild with `unflatten`.
  // Returns false (remembers nothing) for an argument it cannot match quickly.
  bool add(nb::tuple args, std::vector<int> statics, uint64_t generation, nb::object executable, int out_kind,
           nb::object unflatten);
  // The call's result, or the `miss` object given at construction.
  nb::object call(nb::tuple args, uint64_t generation, bool trust_input, bool sync);
  void clear() { entries_.clear(); }
  size_t size() const { return entries_.size(); }

  static constexpr size_t kMaxEntries = 16;

 private:
  enum Kind : int { NDARRAY, ARRAY, FLOAT, INT, BOOL_, STATIC };
  struct Slot {
    Kind kind;
    int type_num = 0;
    std::vector<int64_t> dims, strides;  // bytes
    nb::object value;                    // STATIC
  };
  struct Entry {
    uint64_t generation;
    std::vector<Slot> slots;
    nb::object executable;
    int out_kind;
    nb::object unflatten;
  };
  std::vector<Entry> entries_;  // most recent last
  nb::object miss_;
};

}  // namespace theanir
