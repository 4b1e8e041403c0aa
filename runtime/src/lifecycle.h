// theanir runtime: what runs compiled code must agree with fork, Ctrl-C and other threads.
//
// The compute gate. Every run of generated code (a worker's task or an inline call) holds the
// gate from just before the code starts until it has returned and dropped its buffers.
// `pause_compute` closes the gate and waits until nothing runs: before fork (OpenBLAS's own
// fork handler joins its threads and deadlocks when a BLAS call is in flight; a lock held by a
// running call would stay locked in the child) and while Ctrl-C cancels the calls in flight.
//
// Cancellation. Generated loops poll a process-wide flag (passes/lower/cancel_points.py)
// and exit when it is set; the runtime then fails the call. `cancel_all` (Ctrl-C) cancels
// every call started or queued before it: the running ones through the flag, the rest when
// they reach the gate. The flag is cleared only once nothing runs, so a call that returns
// while it is set can always be told apart (and fails instead of returning a truncated loop).
//
// Fork. After fork the child has none of the parent's worker threads: tasks queued in the
// parent never run there. Events remember the fork generation they were made in, so a child
// that reads an Array pending at the fork gets an error instead of waiting forever.
//
// The update lock (th.function): a call that stores updates into shared variables reads the
// variables, runs and stores the results as one step with respect to other such calls.
#pragma once

#include <atomic>
#include <cstdint>

namespace theanir {

// A new task number (tasks made later have larger ones).
uint64_t new_task_seq();
// Before running task `seq`'s code: waits while the gate is closed; false if the task was
// cancelled (it must not run). Every true is paired with `compute_end`.
bool compute_begin(uint64_t seq);
void compute_end();
// The code that just returned may have stopped a loop early: the call must fail.
bool cancel_requested();
// Close the gate (nested: one `resume_compute` each) and wait until no compiled code runs.
// Call without the GIL, or with it where no running task can need it (tasks never take it).
void pause_compute();
void resume_compute();
// Ctrl-C: cancel every task numbered so far (running loops exit at their next poll); returns
// once none of them runs. Call without the GIL.
void cancel_all();
// The flag generated code polls (int32, nonzero: stop), for its `__theanir_set_cancel_flag`.
std::atomic<int32_t>* cancel_flag();

// The fork generation: bumped in every child.
uint64_t fork_generation();

// th.function's update lock, reentrant on one thread. `lock_updates` waits without the GIL;
// call it with the GIL held.
void lock_updates();
void unlock_updates();

// Run `fn` (compiled code, without the GIL) with SIGINT also setting the cancel flag, when
// called on the main thread and Python handles SIGINT: an inline call of a function with
// loops can then be interrupted. Returns true if SIGINT arrived meanwhile. No system call.
template <typename Fn>
bool run_interruptible(bool enable, Fn&& fn);
void set_main_thread(unsigned long ident);  // threading.main_thread().ident
// Put our SIGINT handler in front of Python's again if Python replaced it (a system call).
void refresh_sigint_handler();
bool sigint_guard_begin();  // true: our handler is installed
bool sigint_guard_end();    // restores Python's handler; true if SIGINT arrived

template <typename Fn>
bool run_interruptible(bool enable, Fn&& fn) {
  const bool guarded = enable && sigint_guard_begin();
  fn();
  return guarded && sigint_guard_end();
}

}  // namespace theanir
