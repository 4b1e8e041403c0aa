#include "pool.h"

#include <cstdlib>
#include <cstring>

namespace theanir {

namespace {

thread_local BufferPool* t_current = nullptr;

constexpr size_t kMinAlign = 64;  // a cache line; also room for the header
constexpr size_t kMaxBins = 64;   // distinct (alignment, size) classes a pool keeps

size_t round_up(size_t n, size_t to) { return (n + to - 1) / to * to; }

size_t alignment_of(int64_t align) {
  size_t a = kMinAlign;
  while ((int64_t)a < align) a *= 2;
  return a;
}

// The header: two words just below the user pointer, [alignment, size class]. The
// allocation starts `alignment` bytes below the user pointer.
size_t* header(void* user) { return static_cast<size_t*>(user) - 2; }

void* heap_alloc(size_t align, size_t size) {
  void* base = std::aligned_alloc(align, align + round_up(size, align));
  if (!base) return nullptr;
  void* user = static_cast<char*>(base) + align;
  header(user)[0] = align;
  header(user)[1] = size;
  return user;
}

void heap_free(void* user, size_t align) { std::free(static_cast<char*>(user) - align); }

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
    for (void* p : b.free) heap_free(p, b.align);
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

extern "C" void* theanir_alloc(int64_t align, int64_t size) {
  const size_t a = alignment_of(align);
  const size_t s = round_up(size > 0 ? (size_t)size : 1, kMinAlign);
  if (BufferPool* pool = t_current) {
    if (void* p = pool->take(a, s)) return p;
  }
  return heap_alloc(a, s);
}

extern "C" void theanir_free(void* user) {
  if (!user) return;
  const size_t a = header(user)[0], s = header(user)[1];
  if (BufferPool* pool = t_current) return pool->give(user, a, s);
  heap_free(user, a);
}

void install_memory_hooks(uintptr_t setter) {
  if (!setter) return;
  using Setter = void (*)(void*, void*);
  reinterpret_cast<Setter>(setter)(reinterpret_cast<void*>(&theanir_alloc), reinterpret_cast<void*>(&theanir_free));
}

}  // namespace theanir
