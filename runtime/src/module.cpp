// theanir runtime, the nanobind module `_native`: ArgSpec, Executable, Array and the queues.
#include <nanobind/nanobind.h>
#include <nanobind/stl/pair.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>

#include "array.h"
#include "executable.h"
#include "fast_cache.h"
#include "lifecycle.h"
#include "pool.h"
#include "queue.h"

namespace nb = nanobind;
using namespace theanir;

void bind_cuda(nb::module_& m);  // cuda_module.cpp

namespace {

constexpr size_t kTrimAfterBytes = size_t(256) << 20;

// A task that fails on the worker with `message`: tests the error path of queued calls.
nb::object failing_array(std::string message, int device, int stream) {
  auto event = std::make_shared<Event>();
  nb::object buffer = nb::module_::import_("numpy").attr("zeros")(nb::make_tuple());
  device_queue(device, stream).push([event, message] { event->fail(ErrorKind::Runtime, message); });
  return nb::cast(Array(buffer, event, device));
}

}  // namespace

NB_MODULE(_native, m) {
  m.doc() = "theanir runtime: validated, synchronous or queued calls into compiled entry points";
  bind_cuda(m);
  nb::class_<ArgSpec>(m, "ArgSpec")
      .def(nb::init<std::string, int, std::vector<int64_t>, bool, bool, int>(), nb::arg("name"), nb::arg("dtype"),
           nb::arg("shape"), nb::arg("contiguous"), nb::arg("output"), nb::arg("alias") = -1)
      .def_ro("name", &ArgSpec::name)
      .def_ro("dtype", &ArgSpec::dtype)
      .def_ro("shape", &ArgSpec::shape)
      .def_ro("contiguous", &ArgSpec::contiguous)
      .def_ro("output", &ArgSpec::output)
      .def_ro("alias", &ArgSpec::alias);

  nb::class_<Array>(m, "Array", "A result of a compiled call; reading it waits for the call.")
      .def("block_until_ready", [](nb::handle self) { nb::cast<const Array&>(self).wait(); return nb::borrow(self); },
           "Wait for the call that computes this array; raise its error, if any. Returns self.")
      .def("numpy", &Array::numpy, "The data as a NumPy array (waits; no copy).")
      .def("is_ready", &Array::is_ready, "True once the call that computes this array has finished.")
      // a result of dynamic shape: waits for its producer (and raises its error)
      .def_prop_ro("shape", [](const Array& a) { return (a.shape_pending() ? a.numpy() : a.buffer()).attr("shape"); })
      .def_prop_ro("dtype", [](const Array& a) { return a.buffer().attr("dtype"); })
      .def_prop_ro("ndim", [](const Array& a) { return a.buffer().attr("ndim"); })
      .def_prop_ro("size", [](const Array& a) { return (a.shape_pending() ? a.numpy() : a.buffer()).attr("size"); })
      .def_prop_ro("device", &Array::device);

  nb::class_<Executable>(m, "Executable")
      .def(nb::init<uintptr_t, std::vector<ArgSpec>, nb::object, uintptr_t, bool, uintptr_t, bool, uintptr_t, bool>(),
           nb::arg("fn"), nb::arg("specs"), nb::arg("keepalive"), nb::arg("memory_hooks") = 0,
           nb::arg("allow_gc") = true, nb::arg("cancel_hook") = 0, nb::arg("cancellable") = false,
           nb::arg("check_hook") = 0, nb::arg("checked") = false)
      .def("call", &Executable::call, nb::arg("arrays"), nb::arg("trust_input") = false)
      .def("call_async", &Executable::call_async, nb::arg("inputs"), nb::arg("trust_input") = false,
           nb::arg("device") = 0, nb::arg("stream") = 0, nb::arg("sync") = false)
      .def("run", &Executable::run, nb::arg("inputs"), nb::arg("n_calls"), nb::arg("updates"),
           nb::arg("trust_input") = false, nb::arg("device") = 0, nb::arg("stream") = 0, nb::arg("sync") = false)
      .def_prop_rw("allow_gc", &Executable::allow_gc, &Executable::set_allow_gc,
                   "False: a pool keeps the intermediate buffers of generated code between calls.")
      .def("pool_stats", &Executable::pool_stats, "(buffers, bytes) kept by the pool; (0, 0) with allow_gc.")
      .def("release_memory", &Executable::release_memory, "Free the pool's kept buffers.")
      .def("set_shape_function", &Executable::set_shape_function, nb::arg("fn"),
           "Install the generated shape function (packed): it sizes dynamic outputs before a call.")
      .def_prop_ro("has_shape_function", &Executable::has_shape_function)
      .def_prop_ro("num_args", &Executable::num_args)
      .def_prop_ro("num_inputs", &Executable::num_inputs)
      .def_prop_ro("cancellable", &Executable::cancellable, "Its loops stop at Ctrl-C (they poll the cancel flag).")
      .def_prop_ro("checked", &Executable::checked, "It has run-time checks; a failed one fails the call.")
      .def_prop_rw("printing", &Executable::printing, &Executable::set_printing,
                   "Its code prints (tn.print): calls run inline after sys.stdout is flushed.");

  // Base classes of th.jit's JitFunction and th.function's Function (frontend/): calling one
  // tries the cache, else the Python `_call_slow`; the `_fast_*` methods are for the subclass.
  nb::class_<FastCache>(m, "FastCache", "The jit's warm-call cache (see runtime/src/fast_cache.h).")
      .def(nb::init<nb::object>(), nb::arg("miss"))
      .def("__call__", &call_or_slow<FastCache>)
      .def("_fast_add", &FastCache::add, nb::arg("args"), nb::arg("statics"), nb::arg("options_key"),
           nb::arg("executable"), nb::arg("out_kind"), nb::arg("unflatten").none())
      .def("_fast_call", &FastCache::call, nb::arg("args"))
      .def("_fast_clear", &FastCache::clear)
      .def("_fast_size", &FastCache::size)
      .def_rw("trust_input", &FastCache::trust_input);

  nb::class_<FunctionCache>(m, "FunctionCache", "th.function's warm-call cache (see runtime/src/fast_cache.h).")
      .def(nb::init<nb::object, std::vector<nb::object>, std::vector<int>, size_t, bool>(), nb::arg("miss"),
           nb::arg("cells"), nb::arg("updated"), nb::arg("n_out"), nb::arg("single"))
      .def("__call__", &call_or_slow<FunctionCache>)
      .def("_fast_add", &FunctionCache::add, nb::arg("args"), nb::arg("options_key"), nb::arg("executable"))
      .def("_fast_call", &FunctionCache::call, nb::arg("args"))
      .def("_fast_clear", &FunctionCache::clear)
      .def("_fast_size", &FunctionCache::size)
      .def_rw("trust_input", &FunctionCache::trust_input);

  m.def("synchronize", [] {
    synchronize_all_interruptible();
    collect_deferred();
    // After a backlog, the memory its buffers took stays with the allocator (glibc keeps
    // freed megabyte blocks in its arenas; the heap cache keeps up to 128 MB): give it back.
    // Not after every synchronize: trimming costs milliseconds (an MLP step queued 30 times,
    // ~100 MB, would pay ~5 ms), and a loop that synchronizes often would refault the pages.
    if (take_peak_pending_bytes() >= std::min(kTrimAfterBytes, max_pending_bytes() / 2)) {
      nb::gil_scoped_release release;
      release_free_memory();
    }
  }, "Block until every queued call has finished (Ctrl-C cancels them and raises KeyboardInterrupt); "
     "after a backlog, return freed memory to the system.");
  m.def("set_max_pending_bytes", &set_max_pending_bytes, nb::arg("bytes"),
        "Bound the bytes that queued calls hold (th.config.max_pending_bytes).");
  m.def("max_pending_bytes", &max_pending_bytes);
  m.def("default_max_pending_bytes", &default_max_pending_bytes);
  m.def("release_free_memory", [] {
    nb::gil_scoped_release release;
    release_free_memory();
  }, "Return the memory of freed buffers (the runtime's caches, glibc's free pages) to the system.");
  // runtime/src/lifecycle.h: fork, Ctrl-C and th.function's update lock.
  m.def("_set_main_thread", &set_main_thread, nb::arg("ident"));
  m.def("_fork_prepare", [] {
    nb::gil_scoped_release release;
    pause_compute();
  }, "os.register_at_fork(before=...): wait until no compiled code runs, and let none start.");
  m.def("_fork_parent", &resume_compute);
  m.def("cancel_flag_address", [] { return (uintptr_t)cancel_flag(); },
        "Address of the int32 flag generated loops poll (for __theanir_set_cancel_flag).");
  m.def("_lock_updates", &lock_updates);
  m.def("_unlock_updates", &unlock_updates);
  m.def("set_call_config", &set_call_config, nb::arg("options_key"), nb::arg("sync"),
        "The warm key of th.config's compile options (frontend/options.py) and its sync flag, for the "
        "warm-call caches (frontend/config.py).");
  m.def("memory_hooks", [] {
    return std::make_pair((uintptr_t)&theanir_alloc, (uintptr_t)&theanir_free);
  }, "Addresses of the allocation hooks generated code calls (runtime/src/pool.h).");
  m.def("check_hook", [] { return (uintptr_t)&theanir_check_failed; },
        "Address of the report failed run-time checks call (for __theanir_set_check_hook).");
  m.def("ready_array", [](nb::object buffer) { return nb::cast(Array(std::move(buffer), nullptr, 0)); },
        nb::arg("buffer"),
        "An Array that is complete from the start, holding `buffer` (runtime/__init__.py's "
        "array_from_numpy passes a private C-contiguous read-only NumPy array): unpickled Arrays.");
  m.def("failing_array", &failing_array, nb::arg("message"), nb::arg("device") = 0, nb::arg("stream") = 0);
}
