// theanir runtime: device queues. One in-order queue per (device, stream), each served by a
// worker thread that runs tasks without the GIL. Device 0 is the CPU; a CUDA backend adds
// its own devices behind the same interface (a task then records a stream event instead of
// running inline on the worker).
#pragma once

#include <Python.h>

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <thread>

namespace theanir {

class DeviceQueue {
 public:
  DeviceQueue(int device, int stream);
  // Enqueue a task; it must not touch Python objects (no GIL on the worker). `bytes`: the
  // memory it holds until it has run (its buffers), counted against max_pending_bytes().
  void push(std::function<void()> task, size_t bytes = 0);
  // Block until every task pushed so far has run; call without the GIL.
  void synchronize();
  uint64_t pushed() const { return pushed_.load(); }
  // Waits at most `ms` milliseconds for task number `target` to finish; true once it has.
  bool wait_finished(uint64_t target, int ms);
  // Backpressure: a caller far ahead of the worker waits (without the GIL) for room: at most
  // kMaxPending tasks, holding at most max_pending_bytes() (a task of any size fits when
  // nothing else is pending). Counting calls alone let a loop over large arrays queue 4096
  // calls' buffers (tens of GB) before waiting.
  static constexpr size_t kMaxPending = 4096;
  bool full(size_t bytes = 0);
  // Nothing queued or running: a call made now may run inline without passing anything.
  bool idle();
  void wait_for_room(size_t bytes = 0);
  int device() const { return device_; }
  int stream() const { return stream_; }

 private:
  void loop();

  int device_, stream_;
  std::mutex mu_;
  std::condition_variable work_cv_, idle_cv_;
  struct Item {
    std::function<void()> run;
    size_t bytes;
  };
  bool has_room(size_t bytes) const;  // under mu_
  std::deque<Item> tasks_;
  size_t pending_bytes_ = 0;  // of the tasks queued or running; under mu_
  // Written under mu_; atomics so that idle() can read them without it (the warm call path).
  std::atomic<uint64_t> pushed_{0}, finished_{0};
  std::thread worker_;
};

// The queue of (device, stream), started on first use and kept for the process's life.
// Raises for a device without a backend (only device 0, the CPU, exists).
DeviceQueue& device_queue(int device, int stream);
// Queue (0, 0), the one warm calls use, without the registry's lock once it exists.
DeviceQueue& default_queue();
// Block until every queue is idle; call without the GIL.
void synchronize_all();
// The same with the GIL: waits in slices so that Ctrl-C raises KeyboardInterrupt (and cancels
// the calls in flight) instead of waiting for an endless loop (array.h, wait_interruptibly).
void synchronize_all_interruptible();
// Waits at most `ms` milliseconds (without the GIL) for the tasks pushed so far.
void settle_all(int ms);

// The bound on the bytes that the tasks of one queue hold (th.config.max_pending_bytes).
// Default: an eighth of physical memory, within [64 MiB, 1 GiB]: pending calls only hide
// dispatch latency, which a few calls already do; beyond that they only hold memory.
size_t default_max_pending_bytes();
size_t max_pending_bytes();
void set_max_pending_bytes(size_t bytes);
// The most bytes any queue held since the last call (then reset): synchronize() returns
// freed memory to the system only after a backlog worth it.
size_t take_peak_pending_bytes();

// Python references a worker is done with: a worker cannot drop them (no GIL), so it parks
// them here and the next caller holding the GIL (an enqueue, a read) drops them.
void defer_decref(PyObject* obj);
void collect_deferred();  // requires the GIL; a lock only when something is parked

}  // namespace theanir
