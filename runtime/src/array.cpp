#include "array.h"

#include "queue.h"

namespace theanir {

void raise_error(ErrorKind kind, const std::string& message) {
  switch (kind) {
    case ErrorKind::Value: throw nb::value_error(message.c_str());
    case ErrorKind::Type: throw nb::type_error(message.c_str());
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
  if (done()) return;
  std::unique_lock<std::mutex> lock(mu_);
  cv_.wait(lock, [this] { return done(); });
}

void wait_and_check(const std::shared_ptr<Event>& event) {
  if (!event) return;
  if (!event->done()) {
    nb::gil_scoped_release release;
    event->wait();
  }
  collect_deferred();  // the finished task's references can go now that we hold the GIL
  if (event->failed()) raise_error(event->kind(), event->message());
}

void Array::wait() const { wait_and_check(event_); }

nb::object Array::numpy() const {
  wait();
  return buffer_;
}

}  // namespace theanir
