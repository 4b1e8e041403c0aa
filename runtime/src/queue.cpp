#include "queue.h"

#include <pthread.h>

#include "array.h"

#include <chrono>
#include <map>
#include <new>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace theanir {

DeviceQueue::DeviceQueue(int device, int stream) : device_(device), stream_(stream) {
  worker_ = std::thread([this] { loop(); });
  worker_.detach();  // queues live as long as the process; exit drains them (synchronize_all)
}

void DeviceQueue::push(std::function<void()> task) {
  {
    std::lock_guard<std::mutex> lock(mu_);
    tasks_.push_back(std::move(task));
    pushed_.fetch_add(1, std::memory_order_relaxed);
  }
  work_cv_.notify_one();
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

bool DeviceQueue::full() {
  std::lock_guard<std::mutex> lock(mu_);
  return tasks_.size() >= kMaxPending;
}

bool DeviceQueue::idle() {
  // Pushes come from threads holding the GIL, as our caller does: none can race this read. A
  // stale `finished_` only says "busy" (the caller then queues, which is always correct);
  // acquire pairs with the worker's release so a finished task's writes are visible.
  return finished_.load(std::memory_order_acquire) == pushed_.load(std::memory_order_relaxed);
}

void DeviceQueue::wait_for_room() {
  std::unique_lock<std::mutex> lock(mu_);
  idle_cv_.wait(lock, [this] { return tasks_.size() < kMaxPending; });
}

void DeviceQueue::loop() {
  for (;;) {
    std::function<void()> task;
    {
      std::unique_lock<std::mutex> lock(mu_);
      work_cv_.wait(lock, [this] { return !tasks_.empty(); });
      task = std::move(tasks_.front());
      tasks_.pop_front();
    }
    task();  // tasks catch their own errors and record them in their Event
    task = nullptr;
    {
      std::lock_guard<std::mutex> lock(mu_);
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
