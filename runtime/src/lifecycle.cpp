#include "lifecycle.h"

#include <pthread.h>
#include <signal.h>

#include <condition_variable>
#include <mutex>
#include <new>

#include <Python.h>

namespace theanir {

namespace {

struct Gate {
  std::mutex mu;
  std::condition_variable cv;
  int paused = 0;        // nested pause_compute calls
  int running = 0;       // compiled code in flight
  uint64_t cancelled_upto = 0;  // tasks numbered <= this never start
};
Gate* g_gate = new Gate();  // never destroyed; rebuilt in a forked child
std::atomic<uint64_t> g_seq{0};
std::atomic<int32_t> g_cancel{0};
std::atomic<uint64_t> g_fork_gen{0};

struct UpdateLock {
  std::mutex mu;
  std::atomic<pthread_t> owner{0};
  int depth = 0;
};
UpdateLock* g_updates = new UpdateLock();

}  // namespace

uint64_t new_task_seq() { return g_seq.fetch_add(1, std::memory_order_relaxed) + 1; }

bool compute_begin(uint64_t seq) {
  Gate& g = *g_gate;
  std::unique_lock<std::mutex> lock(g.mu);
  g.cv.wait(lock, [&] { return g.paused == 0; });
  if (seq <= g.cancelled_upto) return false;
  ++g.running;
  return true;
}

void compute_end() {
  Gate& g = *g_gate;
  {
    std::lock_guard<std::mutex> lock(g.mu);
    --g.running;
  }
  g.cv.notify_all();
}

bool cancel_requested() { return g_cancel.load(std::memory_order_acquire) != 0; }

void pause_compute() {
  Gate& g = *g_gate;
  std::unique_lock<std::mutex> lock(g.mu);
  ++g.paused;
  g.cv.wait(lock, [&] { return g.running == 0; });
}

void resume_compute() {
  Gate& g = *g_gate;
  {
    std::lock_guard<std::mutex> lock(g.mu);
    if (g.paused > 0) --g.paused;
  }
  g.cv.notify_all();
}

void cancel_all() {
  const uint64_t upto = g_seq.load(std::memory_order_relaxed);
  g_cancel.store(1, std::memory_order_release);  // running loops stop at their next poll
  pause_compute();
  {
    std::lock_guard<std::mutex> lock(g_gate->mu);
    if (upto > g_gate->cancelled_upto) g_gate->cancelled_upto = upto;
    // Nothing runs: every call that saw the flag has failed already; later ones must not.
    g_cancel.store(0, std::memory_order_release);
  }
  resume_compute();
}

std::atomic<int32_t>* cancel_flag() { return &g_cancel; }

uint64_t fork_generation() { return g_fork_gen.load(std::memory_order_acquire); }

void lock_updates() {
  UpdateLock& u = *g_updates;
  const pthread_t self = pthread_self();
  if (u.depth > 0 && pthread_equal(u.owner.load(std::memory_order_relaxed), self)) {
    ++u.depth;  // a finalizer or callback of this thread's own call: it holds the lock already
    return;
  }
  if (!u.mu.try_lock()) {
    // The holder may be waiting for the GIL (after its compiled call): wait without it.
    Py_BEGIN_ALLOW_THREADS
    u.mu.lock();
    Py_END_ALLOW_THREADS
  }
  u.owner.store(self, std::memory_order_relaxed);
  u.depth = 1;
}

void unlock_updates() {
  UpdateLock& u = *g_updates;
  if (u.depth == 0 || !pthread_equal(u.owner.load(std::memory_order_relaxed), pthread_self())) return;
  if (--u.depth > 0) return;
  u.owner.store(0, std::memory_order_relaxed);
  u.mu.unlock();
}

// ------------------------------------------------------------------ SIGINT during inline calls
namespace {
struct sigaction g_prev_sigint;
std::atomic<bool> g_sigint_seen{false};
pthread_t g_main_thread;
std::atomic<bool> g_main_known{false};

void on_sigint(int sig) {  // async-signal-safe: atomics, then Python's own C handler
  g_sigint_seen.store(true, std::memory_order_relaxed);
  g_cancel.store(1, std::memory_order_release);
  if (g_prev_sigint.sa_flags & SA_SIGINFO) return;  // not Python's handler (never installed over)
  const auto prev = g_prev_sigint.sa_handler;
  if (prev != SIG_DFL && prev != SIG_IGN && prev != nullptr) prev(sig);  // trips Python's flag
}
}  // namespace

void set_main_thread(unsigned long ident) {
  g_main_thread = (pthread_t)ident;
  g_main_known.store(true, std::memory_order_release);
}

bool sigint_guard_begin() {
  if (!g_main_known.load(std::memory_order_acquire) || !pthread_equal(pthread_self(), g_main_thread)) return false;
  struct sigaction ours = {};
  ours.sa_handler = on_sigint;
  sigemptyset(&ours.sa_mask);
  ours.sa_flags = SA_ONSTACK;
  struct sigaction prev = {};
  if (sigaction(SIGINT, nullptr, &prev) != 0) return false;
  // Only over Python's handler (a plain handler): SIG_DFL must still kill, SIG_IGN ignore.
  if ((prev.sa_flags & SA_SIGINFO) || prev.sa_handler == SIG_DFL || prev.sa_handler == SIG_IGN) return false;
  g_prev_sigint = prev;
  g_sigint_seen.store(false, std::memory_order_relaxed);
  return sigaction(SIGINT, &ours, nullptr) == 0;
}

bool sigint_guard_end() {
  sigaction(SIGINT, &g_prev_sigint, nullptr);
  return g_sigint_seen.exchange(false, std::memory_order_relaxed);
}

// ------------------------------------------------------------------ fork
namespace {
void before_fork() { pause_compute(); }  // usually already paused by the Python hook
void after_fork_parent() { resume_compute(); }
void after_fork_child() {
  // The parent's threads are gone: nothing runs here, and no lock they held may stay held.
  g_gate = new Gate();  // the parent's is abandoned (its mutex may be locked)
  g_updates = new UpdateLock();
  g_cancel.store(0);
  g_fork_gen.fetch_add(1, std::memory_order_acq_rel);
  if (g_main_known.load()) g_main_thread = pthread_self();  // the forking thread is the child's only one
}
const bool g_fork_handlers = [] {
  pthread_atfork(before_fork, after_fork_parent, after_fork_child);
  return true;
}();
}  // namespace

}  // namespace theanir
