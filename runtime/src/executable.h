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
  // Returns one Array per output.
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
  nb::list launch(std::shared_ptr<Task> task, const std::vector<nb::object>& outs,
                  const std::vector<size_t>& returned, int device, int stream, bool sync);

  Packed fn_;
  std::vector<ArgSpec> specs_;
  size_t n_inputs_ = 0;
  nb::object keepalive_;  // keeps the code (ExecutionEngine / shared object) alive
  nb::object np_empty_;
  std::vector<nb::object> out_shapes_, out_dtypes_;
};

}  // namespace theanir
