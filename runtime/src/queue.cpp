#include "queue.h"

#include <pthread.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <map>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "array.h"

namespace theanir {

DeviceQueue::DeviceQueue(int device, int stream) : device_(device), stream_(stream) {
  worker_ = std::thread([this] { loop(); });
  worker_.detach();  // queues live as long as the process; exit drains them (synchronize_all)
}

namespace {
std::atomic<size_t> g_max_pending_bytes{default_max_pending_bytes()};
std::atomic<size_t> g_peak_pending_bytes{0};
}  // namespace

size_t default_max_pending_bytes() {
  const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
  const size_t lo = size_t(64) << 20, hi = size_t(1) << 30;
  if (pages <= 0 || page <= 0) return hi;
  return std::min(hi, std::max(lo, (size_t)pages * (size_t)page / 8));
}

size_t max_pending_bytes() { return g_max_pending_bytes.load(std::memory_order_relaxed); }
void set_max_pending_bytes(size_t bytes) { g_max_pending_bytes.store(bytes, std::memory_order_relaxed); }
size_t take_peak_pending_bytes() { return g_peak_pending_bytes.exchange(0, std::memory_order_relaxed); }

void DeviceQueue::push(std::function<void()> task, size_t bytes) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(Item{std::move(task), bytes});
    pending_bytes_ += bytes;
    if (pending_bytes_ > g_peak_pending_bytes.load(std::memory_order_relaxed)) {
      g_peak_pending_bytes.store(pending_bytes_, std::memory_order_relaxed);
    }
    pushed_.fetch_add(1, std::memory_order_relaxed);
  }
  work_cv_.notify_one();
}

bool DeviceQueue::has_room(size_t bytes) const {
  return tasks_.size() < kMaxPending && (pending_bytes_ == 0 || pending_bytes_ + bytes <= max_pending_bytes());
}

void DeviceQueue::synchronize() {
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t target = pushed_.load();
  idle_cv_.wait(lock, [&] { return finished_.load() >= target; });
}

bool DeviceQueue::wait_finished(uint64_t target, int ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return idle_cv_.wait_for(lock, std::chrono::milliseconds(ms), [&] { return finished_.load() >= target; });
}

bool DeviceQueue::full(size_t bytes) {
  std::lock_guard<std::mutex> lock(mu_);
  return !has_room(bytes);
}

bool DeviceQueue::idle() {
  // Pushes come from threads holding the GIL, as our caller does: none can race this read. A
  // stale `finished_` only says "busy" (the caller then queues, which is always correct);
  // acquire pairs with the worker's release so a finished task's writes are visible.
  return finished_.load(std::memory_order_acquire) == pushed_.load(std::memory_order_relaxed);
}

void DeviceQueue::wait_for_room(size_t bytes) {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [&] { return has_room(bytes); });
}

void DeviceQueue::loop() {
  for (;;) {
    Item task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [this] { return !tasks_.empty(); });
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task.run();  // tasks catch their own errors and record them in their Event
    task.run = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
      pending_bytes_ -= task.bytes;
      finished_.fetch_add(1, std::memory_order_release);
    }
    idle_cv_.notify_all();
  }
}

namespace {
std::mutex g_queues_mu;
std::map<std::pair<int, int>, DeviceQueue*>& queues() {
  static auto* q = new std::map<std::pair<int, int>, DeviceQueue*>();  // never destroyed
  return *q;
}
std::mutex g_garbage_mu;
std::atomic<bool> g_has_garbage{false};
std::atomic<DeviceQueue*> g_default_queue{nullptr};
std::vector<PyObject*>& garbage() {
  static auto* g = new std::vector<PyObject*>();
  return *g;
}
// A forked child has none of the parent's worker threads: it starts with no queues (the
// parent's are abandoned, not destroyed) and no pending references. The locks are held
// across fork so that the child never inherits one mid-update.
void before_fork() {
  g_queues_mu.lock();
  g_garbage_mu.lock();
}
void after_fork_parent() {
  g_garbage_mu.unlock();
  g_queues_mu.unlock();
}
void after_fork_child() {
  new (&queues()) std::map<std::pair<int, int>, DeviceQueue*>();  // drop the parent's queues
  g_default_queue.store(nullptr);
  g_has_garbage.store(false);
  garbage().clear();
  g_garbage_mu.unlock();
  g_queues_mu.unlock();
}
const bool g_fork_handlers = [] {
  pthread_atfork(before_fork, after_fork_parent, after_fork_child);
  return true;
}();

}  // namespace

DeviceQueue& device_queue(int device, int stream) {
  if (device != 0) {
    throw std::invalid_argument("device " + std::to_string(device) +
                                " has no backend (only device 0, the CPU, is available)");
  }
  if (stream < 0) throw std::invalid_argument("stream must be >= 0, got " + std::to_string(stream));
  std::lock_guard<std::mutex> lock(g_queues_mu);
  DeviceQueue*& q = queues()[{device, stream}];
  if (!q) q = new DeviceQueue(device, stream);
  if (device == 0 && stream == 0) g_default_queue.store(q, std::memory_order_release);
  return *q;
}

DeviceQueue& default_queue() {
  if (DeviceQueue* q = g_default_queue.load(std::memory_order_acquire)) return *q;
  return device_queue(0, 0);
}

void synchronize_all() {
  std::vector<DeviceQueue*> all;
  {
    std::lock_guard<std::mutex> lock(g_queues_mu);
    for (auto& kv : queues()) all.push_back(kv.second);
  }
  for (DeviceQueue* q : all) q->synchronize();
}

void synchronize_all_interruptible() {
  std::vector<std::pair<DeviceQueue*, uint64_t>> all;
  {
    std::lock_guard<std::mutex> lock(g_queues_mu);
    for (auto& kv : queues()) all.emplace_back(kv.second, kv.second->pushed());
  }
  for (auto [q, target] : all) wait_interruptibly([q = q, target = target](int ms) { return q->wait_finished(target, ms); });
}

void settle_all(int ms) {
  std::vector<std::pair<DeviceQueue*, uint64_t>> all;
  {
    std::lock_guard<std::mutex> lock(g_queues_mu);
    for (auto& kv : queues()) all.emplace_back(kv.second, kv.second->pushed());
  }
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(ms);
  for (auto [q, target] : all) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - std::chrono::steady_clock::now());
    if (left.count() <= 0 || !q->wait_finished(target, (int)left.count())) return;
  }
}

void defer_decref(PyObject* obj) {
  std::lock_guard<std::mutex> lock(g_garbage_mu);
  garbage().push_back(obj);
  g_has_garbage.store(true, std::memory_order_release);
}

void collect_deferred() {
  if (!g_has_garbage.load(std::memory_order_acquire)) return;
  std::vector<PyObject*> drop;
  {
    std::lock_guard<std::mutex> lock(g_garbage_mu);
    g_has_garbage.store(false, std::memory_order_relaxed);
    if (garbage().empty()) return;
    drop.swap(garbage());
  }
  for (PyObject* o : drop) Py_DECREF(o);  // may run finalizers that enqueue again: lock not held
}

}  // namespace theanir
