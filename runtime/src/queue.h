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
  // Enqueue a task; it must not touch Python objects (no GIL on the worker).
  void push(std::function<void()> task);
  // Block until every task pushed so far has run; call without the GIL.
  void synchronize();
  uint64_t pushed() const { return pushed_.load(); }
  // Waits at most `ms` milliseconds for task number `target` to finish; true once it has.
  bool wait_finished(uint64_t target, int ms);
  // Backpressure: a caller far ahead of the worker waits (without the GIL) for room.
  static constexpr size_t kMaxPending = 4096;
  bool full();
  // Nothing queued or running: a call made now may run inline without passing anything.
  bool idle();
  void wait_for_room();
  int device() const { return device_; }
  int stream() const { return stream_; }

 private:
  void loop();

  int device_, stream_;
  std::mutex mu_;
  std::condition_variable work_cv_, idle_cv_;
  std::deque<std::function<void()>> tasks_;
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

// Python references a worker is done with: a worker cannot drop them (no GIL), so it parks
// them here and the next caller holding the GIL (an enqueue, a read) drops them.
void defer_decref(PyObject* obj);
void collect_deferred();  // requires the GIL; a lock only when something is parked

}  // namespace theanir
