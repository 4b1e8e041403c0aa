#include "array.h"
#include "pool.h"

#include "queue.h"

#include <chrono>

namespace theanir {

void raise_error(ErrorKind kind, const std::string& message) {
  switch (kind) {
    case ErrorKind::Value: throw nb::value_error(message.c_str());
    case ErrorKind::Type: throw nb::type_error(message.c_str());
    case ErrorKind::Index: throw nb::index_error(message.c_str());
    case ErrorKind::Memory:
      PyErr_SetString(PyExc_MemoryError, message.c_str());
      throw nb::python_error();
    case ErrorKind::Runtime: break;
  }
  throw std::runtime_error(message);
}

void Event::complete() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    done_.store(true, std::memory_order_release);
  }
  cv_.notify_all();
}

void Event::fail(ErrorKind kind, std::string message) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    failed_ = true;
    kind_ = kind;
    message_ = std::move(message);
    done_.store(true, std::memory_order_release);
  }
  cv_.notify_all();
}

void Event::wait() {
  if (done() || orphaned()) return;
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return done(); });
}

bool Event::wait_for(int ms) {
  if (done()) return true;
  std::unique_lock<std::mutex> lock(mu_);
  return cv_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return done(); });
}

const char* const kOrphanMessage =
    "this th.Array was still being computed when the process forked; its call ran in the parent "
    "process only, so the child cannot read it (synchronize with th.synchronize() or read the "
    "result before forking)";

// Waits until `done()` returns true, in slices with the GIL released: between slices Python's
// signal handlers run, and Ctrl-C (KeyboardInterrupt) cancels the calls in flight and raises.
void wait_interruptibly(const std::function<bool(int)>& done) {
  for (;;) {
    {
      nb::gil_scoped_release release;
      if (done(kWaitSliceMs)) return;
    }
    if (PyErr_CheckSignals() != 0) {
      // Ctrl-C cancels the compiled work in flight; another handler's exception (an alarm's
      // timeout, say) only abandons this wait.
      if (PyErr_ExceptionMatches(PyExc_KeyboardInterrupt)) {
        {
          nb::gil_scoped_release release;
          cancel_all();
          settle_all(500);  // the cancelled tasks left in the queues fail at once: let them
        }
        collect_deferred();  // and drop their references (an exit may follow)
      }
      throw nb::python_error();
    }
  }
}

void wait_and_check(const std::shared_ptr<Event>& event) {
  if (!event) return;
  if (event->orphaned()) throw std::runtime_error(kOrphanMessage);
  if (!event->done()) {
    Event* e = event.get();
    wait_interruptibly([e](int ms) { return e->wait_for(ms); });
  }
  collect_deferred();  // the finished task's references can go now that we hold the GIL
  if (event->failed()) raise_error(event->kind(), event->message());
}

void Array::wait() const { wait_and_check(event_); }

nb::object Array::numpy() const {
  wait();
  return buffer();
}

void Array::resolve() const {
  if (event_ && !event_->done() && !event_->orphaned()) {
    Event* e = event_.get();
    wait_interruptibly([e](int ms) { return e->wait_for(ms); });
  }
  if (event_ && (!event_->done() || event_->failed())) return;  // the placeholder stays
  buffer_ = adopt_array(pending_->dtype, pending_->slot);
  pending_->adopted = true;
}

PendingResult::~PendingResult() {
  if (!adopted && !slot.empty() && slot[0] != 0) theanir_free(reinterpret_cast<void*>((intptr_t)slot[0]));
}

}  // namespace theanir
