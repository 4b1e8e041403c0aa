// theanir runtime: a compiled entry point with its signature. Calls validate every buffer
// against the signature, build the memref descriptors, and run the packed wrapper
// `void fn(void**)` (args[i] points at the i-th descriptor pointer) without the GIL, either
// inline (sync) or as a task on a device queue (async), returning Arrays.
#pragma once

#include <nanobind/nanobind.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "array.h"
#include "pool.h"

namespace theanir {
namespace nb = nanobind;

// dtype codes shared with theanir/runtime/__init__.py
enum DType : int { F32 = 0, F64 = 1, I32 = 2, I64 = 3, BOOL = 4, C64 = 5, C128 = 6 };  // complex: 2 floats
int dtype_typenum(int code);  // the NumPy type number of a dtype code

struct ArgSpec {
  std::string name;
  int dtype;
  std::vector<int64_t> shape;
  bool contiguous;  // compiled for a C-contiguous buffer (identity layout)
  bool output;      // written by the function
  int alias = -1;   // an output written into the buffer of this input (donated), else -1
};

using Packed = void (*)(void**);

class Executable {
 public:
  // `memory_hooks`: the artifact's hook setter (passes/lower/runtime_memory.py), 0 if none.
  // `allow_gc=false` keeps the intermediate buffers of generated code in a pool between
  // calls (runtime/src/pool.h); true frees them at once.
  // `cancel_hook`: the artifact's `__theanir_set_cancel_flag` (passes/lower/cancel_points.py),
  // 0 if none; `cancellable`: its loops poll the cancel flag (set already, or by the hook).
  // `check_hook`: the artifact's `__theanir_set_check_hook` (passes/lower/runtime_checks.py),
  // 0 if it has no run-time checks (or they report to the runtime already); `checked`: its
  // failed checks report to the runtime (installed already, or by the hook). A checked call
  // that writes donated inputs in place (th.function's updates) runs inline: a failed check
  // raises at the call and the caller's variables keep their values, instead of holding a
  // failed result.
  Executable(uintptr_t fn, std::vector<ArgSpec> specs, nb::object keepalive, uintptr_t memory_hooks = 0,
             bool allow_gc = true, uintptr_t cancel_hook = 0, bool cancellable = false,
             uintptr_t check_hook = 0, bool checked = false);

  // Legacy synchronous call: `arrays` holds the inputs then caller-allocated outputs.
  void call(nb::list arrays, bool trust_input);
  // Allocate the outputs and run: inline when `sync`, else queued on (device, stream).
  // A small call (inputs + outputs <= kInlineBytes) runs inline too, without copying its
  // inputs, when the queue is idle and no input is an unfinished or failed Array: nothing
  // queued can then be overtaken. Its results are complete Arrays; an error is still raised
  // at the read, as for a queued call. Returns one Array per output.
  static constexpr size_t kInlineBytes = 256 * 1024;  // a 784->10 SGD step at batch 1 moves 66 KB
  // A bigger call runs inline as well, on the same conditions, when its writable NumPy inputs
  // would have to be copied for the queue and that copy would cost at least 1/kCopyFactor of
  // the call itself (run_ns_ and copy_ns_per_gb_ measured on earlier calls): queued, the
  // caller pays the copy now and saves at most the rest of the run, only when it has other
  // work to overlap; inline it saves the copy (its time and memory traffic) for sure. A chain
  // of 20 elementwise ops on two 40 MB arrays ran 5.7 ms and its copies took 8 ms.
  static constexpr int64_t kCopyFactor = 4;
  nb::list call_async(nb::list inputs, bool trust_input, int device, int stream, bool sync);
  // call_async for the warm-call caches: borrowed inputs, the outputs' Arrays into `results`.
  void call_core(const nb::handle* inputs, size_t n, bool trust_input, int device, int stream, bool sync,
                 nb::object* results);
  // Run `n_calls` times in one task; after each step the output of each (input, output)
  // pair in `updates` becomes that input of the next step (an output aliasing its input is
  // updated in place). Returns the last outputs. The steps share a buffer pool even with
  // allow_gc (dropped when the task ends).
  nb::list run(nb::list inputs, int64_t n_calls, std::vector<std::pair<int, int>> updates,
               bool trust_input, int device, int stream, bool sync);

  bool allow_gc() const { return !pool_; }
  void set_allow_gc(bool allow);
  // The pool's kept buffers and bytes ((0, 0) with allow_gc).
  std::pair<size_t, size_t> pool_stats() const;
  // Drop the kept buffers (Theano's Function.free()); calls in flight keep theirs until done.
  void release_memory();

  size_t num_args() const { return specs_.size(); }
  size_t num_inputs() const { return n_inputs_; }
  bool cancellable() const { return cancellable_; }
  bool checked() const { return checked_; }
  // Some output's shape is known only when the code has run (its Array adopts the buffer).
  bool dynamic_outputs() const { return any_dyn_out_; }
  // Its code prints (tn.print, runtime/src/print.cpp): calls run inline, after Python's
  // sys.stdout is flushed, so the prints land in order with the program's own output.
  bool printing() const { return printing_; }
  void set_printing(bool p) { printing_ = p; }
  // The generated shape function (passes/lower/shape_function.py), packed: its arguments are
  // the inputs' descriptors and an int64 buffer it fills with one flag per output (1: the
  // dims below size it, the runtime allocates it; 0: its slot) then every output's dims.
  void set_shape_function(uintptr_t fn);
  bool has_shape_function() const { return shape_fn_ != nullptr; }
  const std::vector<ArgSpec>& specs() const { return specs_; }

 public:
  struct Task;

 private:
  // Validate the inputs into `task`; `donated[i]` gets the NumPy buffer of each input that an
  // output is written into (never copied; it must be writeable and C-contiguous).
  void prepare(Task* task, const nb::handle* inputs, size_t n, bool trust, bool copy_writable, nb::handle* donated);
  void bind_outputs(Task* task, const nb::handle* donated);
  // `result`: the buffer of a th.Array (the runtime's own, read-only to NumPy only).
  void describe_donated(size_t i, nb::handle buffer, std::vector<int64_t>& d, bool result = false) const;
  void check_overlap(const Task& task) const;
  nb::object alloc_output(size_t i, const int64_t* dims = nullptr);  // dims: a dynamic output's
  void copy_input(Task* task, size_t i, size_t itemsize);
  bool copies_dominate(const nb::handle* inputs, size_t n) const;  // kCopyFactor above
  nb::list launch(std::shared_ptr<Task> task, const std::vector<nb::object>& outs,
                  const std::vector<size_t>& returned, int device, int stream, bool sync);

  Packed fn_;
  std::vector<ArgSpec> specs_;
  size_t n_inputs_ = 0;
  nb::object keepalive_;  // keeps the code (ExecutionEngine / shared object) alive
  nb::object np_empty_;
  bool numpy_ready_ = false;  // the NumPy C API is imported: fast paths for exact ndarrays
  // Outputs with dynamic dims (-1 in their shape): the code writes [address, sizes...] into
  // a slot (passes/lower/dynamic_results.py) and the buffer becomes the result's array.
  std::vector<char> dyn_out_;
  Packed shape_fn_ = nullptr;     // set_shape_function
  size_t shape_words_ = 0;        // its buffer: one flag per output, then every output's dims
  bool any_dyn_out_ = false;
  bool any_dyn_ = false;  // some input or output has a dynamic dim: sizes known per call
  nb::object alloc_failed_placeholder(size_t j) const;
  std::vector<nb::object> out_shapes_, out_dtypes_;
  std::vector<std::vector<int64_t>> out_descs_;  // canonical descriptors, data pointer unset
  size_t total_bytes_ = 0;                        // every input and output buffer
  std::vector<int> donated_;                      // per input: the output written into it, or -1
  bool any_donated_ = false;
  bool cancellable_ = false;                      // has loops that poll the cancel flag
  bool printing_ = false;                         // set_printing
  bool checked_ = false;                          // has run-time checks (dialects/tn/checks.py)
  std::shared_ptr<BufferPool> pool_;              // null with allow_gc
  std::shared_ptr<Task> spare_;                   // reused by inline calls, one at a time
  std::atomic<bool> spare_busy_{false};
  std::atomic<int64_t> run_ns_{-1};          // a call's run time (moving average), -1: none yet
  std::atomic<int64_t> copy_ns_per_gb_{-1};  // the queued calls' input copies, ns per GB (the fastest)
  std::atomic<int> copy_samples_{0};          // queued calls that copied more than kInlineBytes
};

// The NumPy C API is imported (once per process; false if it cannot be).
bool numpy_api_ready();

}  // namespace theanir
