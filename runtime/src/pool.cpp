#include "pool.h"
#include "print.h"

#include <dlfcn.h>
#include <malloc.h>
#include <unistd.h>

#include <csetjmp>
#include <cstdio>
#include <cstdlib>
#include <algorithm>
#include <cstring>
#include <vector>

namespace theanir {

struct CallFrame;

namespace {

// Read on every allocation and free of generated code: the initial-exec TLS model reads them
// at a fixed offset from the thread pointer, where the default model for a dlopen'ed module
// calls __tls_get_addr each time (2% of a small RNN step).
#define THEANIR_FAST_TLS __attribute__((tls_model("initial-exec")))
THEANIR_FAST_TLS thread_local BufferPool* t_current = nullptr;
THEANIR_FAST_TLS thread_local CallFrame* t_frame = nullptr;

constexpr size_t kMinAlign = 64;  // a cache line; also room for the header
constexpr size_t kMaxBins = 64;   // distinct (alignment, size) classes a pool keeps
constexpr int64_t kMaxAlign = 1 << 20;
// Larger requests cannot be served (and their rounding below would overflow): a size that
// overflowed while generated code computed it arrives here negative or huge.
constexpr int64_t kMaxRequest = INT64_MAX / 4;

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

size_t alignment_of(int64_t align) {
  size_t a = kMinAlign;
  while ((int64_t)a < align) a *= 2;
  return a;
}

// The header, just below the user pointer: the buffer's alignment and size class, and its
// links in the CallFrame that allocated it (owner null: untracked). The allocation starts
// `alignment` (>= 64) bytes below the user pointer.
struct Header {
  Header* prev;
  Header* next;
  CallFrame* owner;
  size_t align, size;
};
static_assert(sizeof(Header) <= kMinAlign, "the header must fit below the user pointer");

Header* header(void* user) { return reinterpret_cast<Header*>(static_cast<char*>(user) - sizeof(Header)); }
void* user_of(Header* h) { return reinterpret_cast<char*>(h) + sizeof(Header); }

// Back to the C heap for good (Function.free() means it; the caches below evict with it).
void heap_release(void* user, size_t align) { std::free(static_cast<char*>(user) - align); }

// Large buffers freed outside a pool wait here (bounded) for the next allocation of their
// class. Why: calls run on the runtime's worker thread, whose glibc arena gives freed
// megabyte blocks back to the kernel (madvise) and faults them in again on the next call;
// on the deep MLP that was a third of the step (22.9 vs 15.0 ms synchronous). glibc also
// maps every block above 32 MB afresh. The bound is what one large step frees: LeNet-5's
// training step at batch 500 frees ~290 MB of 23-64 MB temporaries per call; with 128 MB
// kept, page faults and the kernel's zeroing were a third of its CPU time. So it holds
// capacity() bytes: 512 MiB, or an eighth of physical memory where that is less.
class HeapCache {
 public:
  static constexpr size_t kMinSize = 64 << 10;     // below this, malloc's bins are fast
  static constexpr size_t kMaxSize = 128 << 20;    // above this, one block would crowd it
  static constexpr size_t kCacheBytes = 512 << 20;

  static size_t capacity() {
    static const size_t bytes = [] {
      const long pages = sysconf(_SC_PHYS_PAGES), page = sysconf(_SC_PAGESIZE);
      if (pages <= 0 || page <= 0) return size_t{128} << 20;
      return std::min(kCacheBytes, size_t(pages) * size_t(page) / 8);
    }();
    return bytes;
  }

  void* take(size_t align, size_t size) {
    if (size < kMinSize || size > kMaxSize) return nullptr;
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = blocks_.size(); i-- > 0;) {  // newest first: likeliest still in cache
      if (blocks_[i].size != size || blocks_[i].align != align) continue;
      void* p = blocks_[i].user;
      blocks_.erase(blocks_.begin() + (ptrdiff_t)i);
      bytes_ -= size;
      return p;
    }
    return nullptr;
  }

  // True when kept; false: the caller frees it.
  bool give(void* user, size_t align, size_t size) {
    if (size < kMinSize || size > kMaxSize) return false;
    std::vector<Block> evicted;
    {
      std::lock_guard<std::mutex> lock(mu_);
      blocks_.push_back(Block{align, size, user});
      bytes_ += size;
      size_t drop = 0;
      while (bytes_ > capacity()) bytes_ -= blocks_[drop++].size;  // oldest first
      evicted.assign(blocks_.begin(), blocks_.begin() + (ptrdiff_t)drop);
      blocks_.erase(blocks_.begin(), blocks_.begin() + (ptrdiff_t)drop);
    }
    for (const Block& b : evicted) heap_release(b.user, b.align);
    return true;
  }

  size_t bytes() {
    std::lock_guard<std::mutex> lock(mu_);
    return bytes_;
  }

  // Back to the heap: the cache only stands in for reuse between close calls, and holds
  // nothing a finished workload needs (synchronize(), out of memory).
  void clear() {
    std::vector<Block> all;
    {
      std::lock_guard<std::mutex> lock(mu_);
      all.swap(blocks_);
      bytes_ = 0;
    }
    for (const Block& b : all) heap_release(b.user, b.align);
  }

 private:
  struct Block {
    size_t align, size;
    void* user;
  };
  std::mutex mu_;
  std::vector<Block> blocks_;
  size_t bytes_ = 0;
};

// Never destroyed: buffers may be freed by other libraries' static destructors at exit.
HeapCache& heap_cache() {
  static HeapCache* cache = new HeapCache();
  return *cache;
}

// Small buffers freed outside a pool wait in a per-thread cache for the next allocation of
// their class. Why: a scan body allocates its step's buffers on every iteration (the new
// carry, a temporary) and frees the previous ones; glibc serves 64-byte-aligned blocks
// through memalign, which bypasses its fast per-thread bins and splits and coalesces chunks
// every time (9% of an Elman RNN training step at hidden 100). Per thread, so no lock; at
// most kBins classes x kPerBin blocks and kCacheBytes, freed when the thread ends.
class SmallCache {
 public:
  static constexpr size_t kMaxSize = HeapCache::kMinSize - 1;
  static constexpr size_t kBins = 16, kPerBin = 8, kCacheBytes = 1 << 20;

  ~SmallCache();

  void* take(size_t align, size_t size) {
    for (Bin& b : bins_) {
      if (b.size != size || b.align != align || b.count == 0) continue;
      bytes_ -= size;
      return b.blocks[--b.count];
    }
    return nullptr;
  }

  // True when kept; false: the caller frees it.
  bool give(void* user, size_t align, size_t size) {
    if (size > kMaxSize || bytes_ + size > kCacheBytes) return false;
    Bin* empty = nullptr;
    for (Bin& b : bins_) {
      if (b.size == size && b.align == align) {
        if (b.count == kPerBin) return false;
        b.blocks[b.count++] = user;
        bytes_ += size;
        return true;
      }
      if (!empty && b.count == 0) empty = &b;
    }
    if (!empty) return false;
    *empty = Bin{align, size, 1, {user}};
    bytes_ += size;
    return true;
  }

 private:
  struct Bin {
    size_t align = 0, size = 0, count = 0;
    void* blocks[kPerBin] = {};
  };
  Bin bins_[kBins];
  size_t bytes_ = 0;
};

// Set when this thread's SmallCache is destroyed: buffers freed later (by other thread_local
// or static destructors) go straight back to the C heap.
THEANIR_FAST_TLS thread_local bool t_small_gone = false;
THEANIR_FAST_TLS thread_local SmallCache t_small;

SmallCache::~SmallCache() {
  t_small_gone = true;
  for (Bin& b : bins_) {
    for (size_t i = 0; i < b.count; ++i) heap_release(b.blocks[i], b.align);
  }
}

void* heap_alloc(size_t align, size_t size, bool retry = true) {
  if (size <= SmallCache::kMaxSize) {
    if (!t_small_gone) {
      if (void* p = t_small.take(align, size)) return p;
    }
  } else if (void* p = heap_cache().take(align, size)) {
    return p;
  }
  void* base = std::aligned_alloc(align, align + round_up(size, align));
  if (!base) {
    if (!retry) return nullptr;
    release_free_memory();  // the caches' blocks may make room
    return heap_alloc(align, size, false);
  }
  void* user = static_cast<char*>(base) + align;
  header(user)->align = align;
  header(user)->size = size;
  return user;
}

void heap_free(void* user, size_t align) {
  const size_t size = header(user)->size;
  if (size <= SmallCache::kMaxSize) {
    if (!t_small_gone && t_small.give(user, align, size)) return;
  } else if (heap_cache().give(user, align, size)) {
    return;
  }
  heap_release(user, align);
}

}  // namespace

void* BufferPool::take(size_t align, size_t size) {
  for (Bin& b : bins_) {
    if (b.size != size || b.align != align || b.free.empty()) continue;
    void* p = b.free.back();
    b.free.pop_back();
    count_.store(count_.load(std::memory_order_relaxed) - 1, std::memory_order_relaxed);
    bytes_.store(bytes_.load(std::memory_order_relaxed) - size, std::memory_order_relaxed);
    return p;
  }
  return nullptr;
}

void BufferPool::give(void* user, size_t align, size_t size) {
  Bin* bin = nullptr;
  for (Bin& b : bins_) {
    if (b.size == size && b.align == align) {
      bin = &b;
      break;
    }
  }
  if (!bin) {
    if (bins_.size() >= kMaxBins) return heap_free(user, align);
    bins_.push_back(Bin{align, size, {}});
    bin = &bins_.back();
  }
  bin->free.push_back(user);
  count_.store(count_.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  bytes_.store(bytes_.load(std::memory_order_relaxed) + size, std::memory_order_relaxed);
}

bool BufferPool::clear() {
  if (!try_acquire()) return false;
  for (Bin& b : bins_) {
    for (void* p : b.free) heap_release(p, b.align);
  }
  bins_.clear();
  count_.store(0, std::memory_order_relaxed);
  bytes_.store(0, std::memory_order_relaxed);
  release();
  return true;
}

PoolScope::PoolScope(BufferPool* pool) : previous_(t_current) {
  if (pool && pool->try_acquire()) pool_ = pool;
  t_current = pool_;
}

PoolScope::~PoolScope() {
  t_current = previous_;
  if (pool_) pool_->release();
}

// One entry call on its thread: the buffers it allocated and has not freed (through their
// headers; newest first), and where an allocation that fails jumps to. `lock` guards the
// list: OpenMP workers of the call may free a buffer its thread allocated.
struct CallFrame {
  std::jmp_buf env;
  Header* live = nullptr;
  std::atomic<bool> lock{false};
  int64_t failed = 0;  // the size that could not be allocated
  CallFrame* previous = nullptr;
  bool check = false;  // a run-time check failed: check_kind, check_message
  int check_kind = 0;
  std::string check_message;
};

namespace {

void lock_frame(CallFrame* f) {
  while (f->lock.exchange(true, std::memory_order_acquire)) {
  }
}
void unlock_frame(CallFrame* f) { f->lock.store(false, std::memory_order_release); }

// Link a buffer just handed out into the calling thread's frame (if it has one).
void track(void* user) {
  Header* h = header(user);
  CallFrame* f = t_frame;
  h->owner = f;
  if (!f) return;
  lock_frame(f);
  h->prev = nullptr;
  h->next = f->live;
  if (f->live) f->live->prev = h;
  f->live = h;
  unlock_frame(f);
}

void untrack(void* user) {
  Header* h = header(user);
  CallFrame* f = h->owner;
  if (!f) return;
  lock_frame(f);
  if (h->prev) {
    h->prev->next = h->next;
  } else {
    f->live = h->next;
  }
  if (h->next) h->next->prev = h->prev;
  unlock_frame(f);
  h->owner = nullptr;
}

// Inside an OpenMP parallel region the OpenMP runtime's frames lie between us and the
// entry call: jumping over them would leave its threads waiting at a barrier forever.
bool in_parallel_region() {
  for (const char* lib : {"libiomp5.so", "libomp.so", "libgomp.so.1"}) {
    void* handle = dlopen(lib, RTLD_LAZY | RTLD_NOLOAD);  // only if already loaded
    if (!handle) continue;
    auto level = reinterpret_cast<int (*)()>(dlsym(handle, "omp_get_level"));
    const bool inside = level && level() > 0;
    dlclose(handle);
    if (inside) return true;
  }
  return false;
}

// An allocation failed: back to call_entry if this thread may jump there, else return (the
// shim aborts with a message). No object with a destructor may be alive in our callers
// between the generated code and here.
[[gnu::noinline]] void out_of_memory(int64_t size) {
  CallFrame* f = t_frame;
  if (!f || in_parallel_region()) return;
  f->failed = size;
  std::longjmp(f->env, 1);
}

// setjmp's own frame: nothing here changes between the setjmp and a longjmp.
[[gnu::noinline]] bool run_guarded(CallFrame* f, void (*fn)(void**), void** args) {
  if (setjmp(f->env) != 0) return false;
  fn(args);
  return true;
}

std::string bytes_text(int64_t n) {
  char buf[96];
  std::snprintf(buf, sizeof buf, "%lld bytes (%.1f GiB)", (long long)n, (double)n / (1024.0 * 1024 * 1024));
  return buf;
}

}  // namespace

OutOfMemory::OutOfMemory(int64_t size)
    : message_(size < 0 || size > kMaxRequest
                   ? "out of memory: compiled code requested a buffer of " + std::to_string(size) +
                         " bytes (its size overflows)"
                   : "out of memory: compiled code could not allocate a buffer of " + bytes_text(size)) {}

void call_entry(void (*fn)(void**), void** args) {
  CallFrame frame;
  frame.previous = t_frame;
  t_frame = &frame;
  const bool ok = run_guarded(&frame, fn, args);  // false: a jump back (memory or a check)
  t_frame = frame.previous;
  // Buffers of the call still allocated: after a normal return only what generated code
  // leaks (detached: freeing them later must not touch this frame); after a failure, every
  // intermediate the call held, freed for good.
  for (Header* h = frame.live; h;) {
    Header* next = h->next;
    h->owner = nullptr;
    if (!ok) heap_release(user_of(h), h->align);
    h = next;
  }
  if (frame.check) throw CheckFailed(frame.check_kind, frame.check_message);
  if (ok) return;
  release_free_memory();
  throw OutOfMemory(frame.failed);
}

namespace {

// The check's message with {0}, {1}, {2} replaced by the values (no other braces in it).
void record_check(CallFrame* f, int64_t kind, const char* message, const int64_t* values) {
  std::string out;
  for (const char* p = message; *p; ++p) {
    if (p[0] == '{' && p[1] >= '0' && p[1] <= '2' && p[2] == '}') {
      out += std::to_string(values[p[1] - '0']);
      p += 2;
    } else {
      out += *p;
    }
  }
  f->check_kind = static_cast<int>(kind);
  f->check_message = std::move(out);
  f->check = true;
}

}  // namespace

extern "C" void theanir_check_failed(int64_t kind, int64_t message, int64_t v0, int64_t v1, int64_t v2) {
  if (kind == 2) {  // not a failure: tn.print's report (print.cpp), which returns
    print_tensor(reinterpret_cast<const char*>(message), reinterpret_cast<const int64_t*>(v0), v1 != 0);
    return;
  }
  CallFrame* f = t_frame;
  if (!f) return;  // not inside call_entry (an OpenMP worker): the code stays memory-safe
  if (!f->check) {
    const int64_t values[3] = {v0, v1, v2};
    record_check(f, kind, reinterpret_cast<const char*>(message), values);
  }
  if (in_parallel_region()) return;  // call_entry fails the call when the code returns
  std::longjmp(f->env, 1);           // nothing with a destructor is alive in this frame
}

void install_check_hook(uintptr_t setter) {
  if (!setter) return;
  reinterpret_cast<void (*)(void*)>(setter)(reinterpret_cast<void*>(&theanir_check_failed));
}

void release_free_memory() {
  heap_cache().clear();
  malloc_trim(0);
}

size_t heap_cache_bytes() { return heap_cache().bytes(); }

extern "C" void* theanir_alloc(int64_t align, int64_t size) {
  void* p = nullptr;
  if (size >= 0 && size <= kMaxRequest && align <= kMaxAlign) {
    const size_t a = alignment_of(align);
    const size_t s = round_up(size > 0 ? (size_t)size : 1, kMinAlign);
    if (BufferPool* pool = t_current) p = pool->take(a, s);
    if (!p) p = heap_alloc(a, s);
  }
  if (p) {
    track(p);
    return p;
  }
  out_of_memory(size);  // does not return when it can jump back to call_entry
  return nullptr;
}

extern "C" void theanir_free(void* user) {
  if (!user) return;
  untrack(user);
  const Header* h = header(user);
  if (BufferPool* pool = t_current) return pool->give(user, h->align, h->size);
  heap_free(user, h->align);
}

void install_memory_hooks(uintptr_t setter) {
  if (!setter) return;
  using Setter = void (*)(void*, void*);
  reinterpret_cast<Setter>(setter)(reinterpret_cast<void*>(&theanir_alloc), reinterpret_cast<void*>(&theanir_free));
}

}  // namespace theanir
