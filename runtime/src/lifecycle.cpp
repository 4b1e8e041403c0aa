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
  // The fast path is two atomics: a task counts itself running, then checks for a pause; a
  // pause is announced, then waits for the count to drain (both sequentially consistent, so
  // one of the two always sees the other).
  std::atomic<int> paused{0};   // nested pause_compute calls
  std::atomic<int> running{0};  // compiled code in flight
  std::atomic<uint64_t> cancelled_upto{0};  // tasks numbered <= this never start
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
  for (;;) {
    g.running.fetch_add(1);
    if (g.paused.load() == 0) break;
    compute_end();  // paused: step back out, wait for the resume, try again
    std::unique_lock<std::mutex> lock(g.mu);
    g.cv.wait(lock, [&] { return g.paused.load() == 0; });
  }
  if (seq <= g.cancelled_upto.load()) {
    compute_end();
    return false;
  }
  return true;
}

void compute_end() {
  Gate& g = *g_gate;
  if (g.running.fetch_sub(1) == 1 && g.paused.load() != 0) {
    std::lock_guard<std::mutex> lock(g.mu);  // pairs with the waiter's check under mu
    g.cv.notify_all();
  }
}

bool cancel_requested() { return g_cancel.load(std::memory_order_acquire) != 0; }

void pause_compute() {
  Gate& g = *g_gate;
  g.paused.fetch_add(1);
  std::unique_lock<std::mutex> lock(g.mu);
  g.cv.wait(lock, [&] { return g.running.load() == 0; });
}

void resume_compute() {
  Gate& g = *g_gate;
  {
    std::lock_guard<std::mutex> lock(g.mu);
    if (g.paused.load() > 0) g.paused.fetch_sub(1);
  }
  g.cv.notify_all();
}

void cancel_all() {
  const uint64_t upto = g_seq.load(std::memory_order_relaxed);
  g_cancel.store(1, std::memory_order_release);  // running loops stop at their next poll
  pause_compute();
  {
    std::lock_guard<std::mutex> lock(g_gate->mu);
    if (upto > g_gate->cancelled_upto.load()) g_gate->cancelled_upto.store(upto);
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
// Python's own SIGINT handler only records the signal; its Python handler runs when the main
// thread runs bytecode, which it does not while it runs compiled code. So our handler sits in
// front of Python's: it always calls Python's (nothing changes for Python), and while the
// main thread runs an inline call of code with loops it also sets the cancel flag. Installed
// once (no system call per call), over Python's handler only: SIG_DFL must still kill and
// SIG_IGN ignore. Python reinstalls its own when a script calls signal.signal(SIGINT, ...):
// `refresh_sigint_handler` (each new Executable with loops) puts ours back in front.
namespace {
struct sigaction g_prev_sigint;
std::atomic<bool> g_sigint_installed{false};
std::atomic<bool> g_inline_running{false};
std::atomic<bool> g_sigint_seen{false};
pthread_t g_main_thread;
std::atomic<bool> g_main_known{false};

void on_sigint(int sig) {  // async-signal-safe: atomics, then Python's own C handler
  if (g_inline_running.load(std::memory_order_acquire)) {
    g_sigint_seen.store(true, std::memory_order_relaxed);
    g_cancel.store(1, std::memory_order_release);
  }
  g_prev_sigint.sa_handler(sig);
}
}  // namespace

void set_main_thread(unsigned long ident) {
  g_main_thread = (pthread_t)ident;
  g_main_known.store(true, std::memory_order_release);
}

void refresh_sigint_handler() {
  struct sigaction cur = {};
  if (sigaction(SIGINT, nullptr, &cur) != 0) return;
  if (!(cur.sa_flags & SA_SIGINFO) && cur.sa_handler == on_sigint) return;  // ours, in front
  g_sigint_installed.store(false, std::memory_order_release);
  if ((cur.sa_flags & SA_SIGINFO) || cur.sa_handler == SIG_DFL || cur.sa_handler == SIG_IGN) return;
  g_prev_sigint = cur;
  struct sigaction ours = cur;
  ours.sa_handler = on_sigint;
  if (sigaction(SIGINT, &ours, nullptr) == 0) g_sigint_installed.store(true, std::memory_order_release);
}

bool sigint_guard_begin() {
  if (!g_sigint_installed.load(std::memory_order_acquire) || !g_main_known.load(std::memory_order_relaxed) ||
      !pthread_equal(pthread_self(), g_main_thread)) {
    return false;
  }
  g_sigint_seen.store(false, std::memory_order_relaxed);
  g_inline_running.store(true, std::memory_order_release);
  return true;
}

bool sigint_guard_end() {
  g_inline_running.store(false, std::memory_order_release);
  return g_sigint_seen.exchange(false, std::memory_order_acq_rel);
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
