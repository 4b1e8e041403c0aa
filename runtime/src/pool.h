// theanir runtime: the memory of generated code. Compiled code allocates its intermediate
// buffers through two hooks (passes/lower/runtime_memory.py gives every artifact a shim that
// calls them): `theanir_alloc(alignment, size)` and `theanir_free(ptr)`. While a call of an
// Executable with allow_gc=False runs, the calling thread's current pool is that
// Executable's BufferPool: freed buffers go back to it and the next allocation of the same
// size class takes one, so a warm call allocates nothing (Theano's no-GC linker). Without a
// current pool the hooks are aligned_alloc/free.
//
// Every buffer carries a header just below the pointer handed out (its allocation base and
// size class), so any buffer may be freed with or without a pool, on any thread (OpenMP
// workers allocate without one).
//
// Out of memory: generated code cannot handle a failed allocation (it would write through
// the null pointer), so the runtime never returns one to it. Entry points run through
// `call_entry`, which opens a CallFrame on the calling thread: the header links every buffer
// the call allocates and has not freed yet into the frame, and an allocation that fails
// jumps back (longjmp) to `call_entry`, which frees those buffers and throws OutOfMemory (a
// MemoryError in Python). Where no jump is possible (an OpenMP worker thread, or inside a
// parallel region: the OpenMP runtime's frames must not be skipped), the hook returns null
// and the artifact's shim prints a message and aborts, as it does when the library runs
// without theanir's hooks (passes/lower/runtime_memory.py). Generated code has no
// destructors or locks to skip: its frames, and the shim's, may be jumped over.
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <mutex>
#include <new>
#include <stdexcept>
#include <string>
#include <vector>

namespace theanir {

class BufferPool {
 public:
  BufferPool() = default;
  BufferPool(const BufferPool&) = delete;
  BufferPool& operator=(const BufferPool&) = delete;
  ~BufferPool() { clear(); }

  // One thread at a time uses a pool (a call of its function); another thread calling the
  // same function meanwhile runs without it (plain heap), never waits.
  bool try_acquire() { return !busy_.exchange(true, std::memory_order_acquire); }
  void release() { busy_.store(false, std::memory_order_release); }

  // A kept buffer of this class (the user pointer), or nullptr. Only by the holder.
  void* take(size_t align, size_t size);
  // Keep a buffer (user pointer) for reuse. Only by the holder.
  void give(void* user, size_t align, size_t size);
  // Free every kept buffer; a no-op (returns false) while a call holds the pool.
  bool clear();

  size_t buffers() const { return count_.load(std::memory_order_relaxed); }
  size_t bytes() const { return bytes_.load(std::memory_order_relaxed); }

 private:
  struct Bin {
    size_t align, size;
    std::vector<void*> free;
  };
  std::atomic<bool> busy_{false};
  std::vector<Bin> bins_;
  std::atomic<size_t> count_{0}, bytes_{0};
};

// Makes `pool` the calling thread's current pool for the scope, if no other thread holds it.
class PoolScope {
 public:
  explicit PoolScope(BufferPool* pool);
  ~PoolScope();
  PoolScope(const PoolScope&) = delete;
  PoolScope& operator=(const PoolScope&) = delete;

 private:
  BufferPool* pool_ = nullptr;  // acquired by this scope
  BufferPool* previous_ = nullptr;
};

// A compiled call could not allocate a buffer; everything it had allocated is freed.
class OutOfMemory : public std::bad_alloc {
 public:
  explicit OutOfMemory(int64_t size);
  const char* what() const noexcept override { return message_.c_str(); }

 private:
  std::string message_;
};

// A run-time check of generated code failed (dialects/tn/checks.py): `kind` says which
// Python exception the call raises (0: IndexError, 1: ValueError), the message has the
// check's values filled in. Like a failed allocation, the hook `theanir_check_failed` jumps
// back to `call_entry` (which frees the call's buffers), or, where it cannot (a parallel
// region), records the failure and lets the code return (it keeps itself memory-safe).
class CheckFailed : public std::runtime_error {
 public:
  CheckFailed(int kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  int kind() const { return kind_; }

 private:
  int kind_;
};

// Runs the packed entry point `fn(args)` on this thread; a failed allocation of generated
// code throws OutOfMemory (see above) instead of crashing, a failed check CheckFailed.
void call_entry(void (*fn)(void**), void** args);

// Return the memory that freed buffers still hold to the system: the heap cache's blocks,
// and glibc's free pages (malloc_trim). For synchronize() and out-of-memory paths.
void release_free_memory();
size_t heap_cache_bytes();

// The hooks generated code calls (through its shim), and how to install them in an artifact:
// `setter` is the artifact's `void __theanir_set_memory_hooks(void* alloc, void* free)`.
extern "C" void* theanir_alloc(int64_t align, int64_t size);
extern "C" void theanir_free(void* ptr);
void install_memory_hooks(uintptr_t setter);
// The report failed checks call (through the shim of passes/lower/runtime_checks.py, with
// the address of the check's message); `setter` is the artifact's `__theanir_set_check_hook`.
extern "C" void theanir_check_failed(int64_t kind, int64_t message, int64_t v0, int64_t v1, int64_t v2);
void install_check_hook(uintptr_t setter);

}  // namespace theanir
