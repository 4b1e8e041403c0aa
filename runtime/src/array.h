// theanir runtime: completion events and the Array (a buffer that a queued call may still be
// computing). An Array owns a NumPy array; reading it waits for its producer's Event and
// raises the producer's error, if any, with the original message.
#pragma once

#include <nanobind/nanobind.h>

#include <atomic>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <string>

#include "lifecycle.h"

namespace theanir {
namespace nb = nanobind;

// The Python exception class an error is raised as.
enum class ErrorKind : int { Runtime = 0, Value = 1, Type = 2, Memory = 3, Index = 4 };

[[noreturn]] void raise_error(ErrorKind kind, const std::string& message);

// Completion of one queued task, shared by the task and the Arrays it writes.
class Event {
 public:
  // Called once by whoever ran the task (a worker, or the caller in sync mode).
  void complete();
  void fail(ErrorKind kind, std::string message);
  // Ready for another run (an event nobody else holds: a runtime-private, reused task's).
  void reset() {
    done_.store(false, std::memory_order_relaxed);
    failed_ = false;
  }
  // Blocks until complete; call without the GIL. Returns at once for an orphan.
  void wait();
  // Waits at most `ms` milliseconds; true once complete.
  bool wait_for(int ms);
  // Made before this process forked from its parent, and not complete: its task stayed in
  // the parent (a child has none of its parent's worker threads), it never completes here.
  bool orphaned() const { return !done() && generation_ != fork_generation(); }
  bool done() const { return done_.load(std::memory_order_acquire); }
  // Valid once done().
  bool failed() const { return failed_; }
  ErrorKind kind() const { return kind_; }
  const std::string& message() const { return message_; }

 private:
  std::mutex mu_;
  std::condition_variable cv_;
  std::atomic<bool> done_{false};
  bool failed_ = false;
  ErrorKind kind_ = ErrorKind::Runtime;
  std::string message_;
  uint64_t generation_ = fork_generation();
};

// Waits for `event` (GIL released when it is not done yet) and raises its error.
void wait_and_check(const std::shared_ptr<Event>& event);
// With the GIL: calls `done(ms)` (a bounded wait, run without the GIL) until it returns true;
// between calls runs Python's signal handlers, and on KeyboardInterrupt cancels every call in
// flight (cancel_all) and raises it.
constexpr int kWaitSliceMs = 50;
// The error of reading (or computing from) an orphaned Event's Array.
extern const char* const kOrphanMessage;
void wait_interruptibly(const std::function<bool(int)>& done);

class Array {
 public:
  Array(nb::object buffer, std::shared_ptr<Event> event, int device)
      : buffer_(std::move(buffer)), event_(std::move(event)), device_(device) {}

  // Waits for the producer; raises its error.
  void wait() const;
  // The NumPy buffer after waiting (zero-copy).
  nb::object numpy() const;
  // The buffer without waiting: for the runtime, which orders by event instead.
  const nb::object& buffer() const { return buffer_; }
  const std::shared_ptr<Event>& event() const { return event_; }
  bool is_ready() const { return !event_ || event_->done(); }
  int device() const { return device_; }

 private:
  nb::object buffer_;
  std::shared_ptr<Event> event_;  // null: ready from the start
  int device_;
};

// The Array `h` is, or nullptr: a type-pointer check (nb::isinstance and nb::cast look the
// type up in nanobind's registry, a cost on every warm call).
inline const Array* array_of(nb::handle h) {
  static PyTypeObject* const type = reinterpret_cast<PyTypeObject*>(nb::type<Array>().ptr());
  if (!PyObject_TypeCheck(h.ptr(), type)) return nullptr;
  return nb::inst_ptr<Array>(h);
}

}  // namespace theanir
