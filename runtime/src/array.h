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
#include <vector>

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

// A result whose shape the running code decides (dynamic dims): the code stores the address
// and sizes of the buffer it allocated in `slot`; `adopt` (with the GIL, once the producer
// is done) makes it the Array's NumPy array. A buffer never adopted is freed here.
struct PendingResult {
  std::vector<int64_t> slot;  // [address, sizes...], written by the code
  int dtype = 0;              // runtime/src/executable.h DType code
  bool adopted = false;
  ~PendingResult();  // no Python objects: a worker thread may drop the last reference
};

// The NumPy array (read-only, C order) owning a buffer the code allocated through
// theanir_alloc, described by a slot [address, sizes...]; freed with the array. With the GIL.
nb::object adopt_array(int dtype, const std::vector<int64_t>& slot);

class Array {
 public:
  Array(nb::object buffer, std::shared_ptr<Event> event, int device,
        std::shared_ptr<PendingResult> pending = nullptr)
      : buffer_(std::move(buffer)), event_(std::move(event)), device_(device), pending_(std::move(pending)) {}

  // Waits for the producer; raises its error.
  void wait() const;
  // The NumPy buffer after waiting (zero-copy).
  nb::object numpy() const;
  // The buffer without waiting: for the runtime, which orders by event instead. A pending
  // result of dynamic shape has no buffer before its producer is done: this waits for it
  // then (with the GIL released), without raising (a failed producer leaves an empty
  // placeholder of the right rank and dtype; readers raise its error).
  const nb::object& buffer() const {
    if (pending_ && !pending_->adopted) resolve();
    return buffer_;
  }
  const std::shared_ptr<Event>& event() const { return event_; }
  // A result of dynamic shape: its shape is known once its producer is done.
  bool shape_pending() const { return pending_ && !pending_->adopted; }
  bool is_ready() const { return !event_ || event_->done(); }
  int device() const { return device_; }

 private:
  void resolve() const;
  mutable nb::object buffer_;
  std::shared_ptr<Event> event_;  // null: ready from the start
  int device_;
  std::shared_ptr<PendingResult> pending_;
};

// The Array `h` is, or nullptr: a type-pointer check (nb::isinstance and nb::cast look the
// type up in nanobind's registry, a cost on every warm call).
inline const Array* array_of(nb::handle h) {
  static PyTypeObject* const type = reinterpret_cast<PyTypeObject*>(nb::type<Array>().ptr());
  if (!PyObject_TypeCheck(h.ptr(), type)) return nullptr;
  return nb::inst_ptr<Array>(h);
}

}  // namespace theanir
