"""The fixed C text of an AOT library's wrapper (codegen/aot_c.py fills in the names).

`COMMON`: errors and `PREFIX_last_error`, the check hook, the per-thread cache of the code's
buffers (its memory hooks), the one-time setup (hooks, CPU features), buffer validation
(`th_arg`), results of dynamic size (`th_take_slot`) and the `memrefCopy` the code may call.
`STATE_FUNCTIONS`: a training library's `PREFIX_init`/`free`/`get_state`/`set_state`.
PREFIX, ENTRY, CPU_CHECKS, TARGET_NAME, TARGET_CPU and NSTATES are replaced by the generator.
"""

COMMON = r"""
#define EXPORT __attribute__((visibility("default")))
extern void ENTRY(void **args);
extern void __theanir_set_check_hook(void *hook) __attribute__((weak));
extern void __theanir_set_memory_hooks(void *alloc, void *release) __attribute__((weak));
extern void __theanir_set_cancel_flag(void *flag) __attribute__((weak));
static void th_set_hooks(void *alloc, void *release);

/* For th.aot.load (the Python runtime calls the packed entry with its own checks, pools,
   Ctrl-C and check hooks): 0 the packed entry, 1 2 3 the memory, cancel and check hook
   setters (NULL where the code has none). */
EXPORT void *PREFIX_entry_point(int which) {
  switch (which) {
    case 0: return (void *)&ENTRY;
    case 1: return __theanir_set_memory_hooks ? (void *)&th_set_hooks : NULL;
    case 2: return (void *)&__theanir_set_cancel_flag;
    case 3: return (void *)&__theanir_set_check_hook;
    default: return NULL;
  }
}

static __thread char th_error[1024];
static __thread int th_check_failed;

static int th_fail(int code, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(th_error, sizeof th_error, fmt, ap);
  va_end(ap);
  return code;
}

EXPORT const char *PREFIX_last_error(void) { return th_error; }

/* Failed run-time checks of the code (its messages hold {0}..{2} for the values): recorded for
   this thread; the code goes on memory-safely and the call returns THEANIR_ERR_CHECK. */
static void th_check_hook(int64_t kind, int64_t message, int64_t v0, int64_t v1, int64_t v2) {
  const int64_t values[3] = {v0, v1, v2};
  const char *p = (const char *)(intptr_t)message;
  size_t n = 0;
  if (kind == 2 || th_check_failed || p == NULL) return; /* kind 2: a debug print, ignored here */
  th_check_failed = 1;
  for (; *p && n + 24 < sizeof th_error; ++p) {
    if (p[0] == '{' && p[1] >= '0' && p[1] <= '2' && p[2] == '}') {
      n += (size_t)snprintf(th_error + n, sizeof th_error - n, "%lld", (long long)values[p[1] - '0']);
      p += 2;
    } else {
      th_error[n++] = *p;
    }
  }
  th_error[n] = 0;
}

/* The code's buffers (memref.alloc/dealloc) come from here: freed blocks stay in a small
   per-thread cache and the next call's allocation of the same size reuses one (a training
   step allocates the same buffers every call; glibc's malloc of ~100 kB-1.5 MB blocks,
   trimmed back to the system and faulted in again, cost ~20% of an MLP step). A 64-byte
   header holds the block's size, so any thread may free it. A thread's cache is released
   when the thread exits. */
#define TH_CACHE_BLOCKS 32
#define TH_CACHE_BYTES ((int64_t)256 << 20)
typedef struct { void *base[TH_CACHE_BLOCKS]; int64_t size[TH_CACHE_BLOCKS]; int n; int64_t bytes; } th_cache;
static __thread th_cache *th_blocks;
static pthread_key_t th_cache_key;

static void th_cache_release(void *arg) {
  th_cache *c = (th_cache *)arg;
  for (int i = 0; i < c->n; ++i) free(c->base[i]);
  free(c);
}

static void *th_code_alloc(int64_t align, int64_t size) {
  th_cache *c = th_blocks;
  int64_t want = (size + 63) / 64 * 64;
  (void)align; /* <= 64 for the code's buffers */
  if (c != NULL)
    for (int i = c->n - 1; i >= 0; --i)
      if (c->size[i] == want) {
        char *base = (char *)c->base[i];
        c->bytes -= want;
        c->base[i] = c->base[--c->n];
        c->size[i] = c->size[c->n];
        return base + 64;
      }
  char *base = (char *)aligned_alloc(64, (size_t)(want + 64));
  if (base == NULL) return NULL; /* the code's shim reports it and aborts */
  *(int64_t *)base = want;
  return base + 64;
}

static void th_code_free(void *p) {
  if (p == NULL) return;
  char *base = (char *)p - 64;
  int64_t size = *(int64_t *)base;
  th_cache *c = th_blocks;
  if (c == NULL && (c = (th_cache *)calloc(1, sizeof(th_cache))) != NULL) {
    th_blocks = c;
    pthread_setspecific(th_cache_key, c);
  }
  if (c == NULL || c->n == TH_CACHE_BLOCKS || c->bytes + size > TH_CACHE_BYTES) {
    free(base);
    return;
  }
  c->base[c->n] = base;
  c->size[c->n++] = size;
  c->bytes += size;
}

/* The free of the allocator the code uses now (ours, or the one th.aot.load's runtime
   installs through PREFIX_entry_point(1)): a result buffer the code hands out is freed by it. */
static void (*volatile th_hook_free)(void *) = free;

static void th_set_hooks(void *alloc, void *release) {
  th_hook_free = release ? (void (*)(void *))release : free;
  __theanir_set_memory_hooks(alloc, release);
}

static pthread_once_t th_once = PTHREAD_ONCE_INIT;
static const char *th_cpu_missing = NULL;

static void th_setup(void) {
  if (__theanir_set_check_hook) __theanir_set_check_hook((void *)&th_check_hook);
  if (__theanir_set_memory_hooks && pthread_key_create(&th_cache_key, th_cache_release) == 0)
    th_set_hooks((void *)&th_code_alloc, (void *)&th_code_free);
  __builtin_cpu_init();
CPU_CHECKS
}

EXPORT int PREFIX_check_cpu(void) {
  pthread_once(&th_once, th_setup);
  if (th_cpu_missing)
    return th_fail(THEANIR_ERR_CPU, "libPREFIX.so was compiled for target TARGET_NAME (CPU TARGET_CPU), which needs the "
                   "CPU feature %s; this CPU lacks it (rebuild with target=\"native\" here or an older x86-64 level)",
                   th_cpu_missing);
  return THEANIR_OK;
}

EXPORT const char *PREFIX_manifest(void) { return th_manifest; }

static const char *const th_dtype_names[] = {"float32", "float64", "int32", "int64", "bool"};
static const int64_t th_itemsize[] = {4, 8, 4, 8, 1};

static const char *th_dtype_name(int32_t code) {
  return (code >= 0 && code < 5) ? th_dtype_names[code] : "unknown";
}

/* One argument as the code expects it: a memref descriptor {allocated, aligned, offset,
   sizes[rank], strides[rank]} in `desc`. An input with strides is copied into `*tmp` (malloc,
   freed by the caller) unless the code takes it strided. Outputs get rank and shape filled. */
static int th_arg(const char *role, int index, const char *name, const theanir_buffer *b, int32_t dtype,
                  int32_t rank, const int64_t *static_shape, int output, int strided_ok, int64_t *desc, void **tmp) {
  int64_t isz = th_itemsize[dtype], count = 1, extent = 1, contig[THEANIR_MAX_RANK], shape[THEANIR_MAX_RANK];
  int contiguous = 1;
  if (b == NULL) return th_fail(THEANIR_ERR_NULL, "%s %d ('%s'): null theanir_buffer pointer", role, index, name);
  if (b->dtype != dtype)
    return th_fail(THEANIR_ERR_DTYPE, "%s %d ('%s'): dtype code %d (%s), expected %d (%s)", role, index, name,
                   (int)b->dtype, th_dtype_name(b->dtype), (int)dtype, th_dtype_name(dtype));
  if (!output) {
    if (b->rank != rank)
      return th_fail(THEANIR_ERR_RANK, "%s %d ('%s'): rank %d, expected %d", role, index, name, (int)b->rank, (int)rank);
    for (int d = 0; d < rank; ++d) {
      shape[d] = static_shape[d] < 0 ? b->shape[d] : static_shape[d]; /* -1: a dynamic dim, any size */
      if (b->shape[d] != shape[d] || shape[d] < 0)
        return static_shape[d] < 0
                   ? th_fail(THEANIR_ERR_SHAPE, "%s %d ('%s'): dim %d has size %lld", role, index, name, d,
                             (long long)b->shape[d])
                   : th_fail(THEANIR_ERR_SHAPE, "%s %d ('%s'): dim %d has size %lld, expected %lld", role, index,
                             name, d, (long long)b->shape[d], (long long)static_shape[d]);
    }
  } else {
    for (int d = 0; d < rank; ++d) shape[d] = static_shape[d];
  }
  for (int d = rank - 1; d >= 0; --d) {
    contig[d] = count;
    if (__builtin_mul_overflow(count, shape[d], &count))
      return th_fail(THEANIR_ERR_SIZE, "%s %d ('%s'): the shape's size overflows", role, index, name);
  }
  if (b->strides != NULL) {
    for (int d = 0; d < rank; ++d) {
      int64_t span;
      if (b->strides[d] < 0)
        return th_fail(THEANIR_ERR_STRIDES, "%s %d ('%s'): stride %d is %lld; strides must be >= 0", role, index, name,
                       d, (long long)b->strides[d]);
      if (shape[d] > 1 && b->strides[d] != contig[d]) contiguous = 0;
      if (shape[d] > 0 && (__builtin_mul_overflow(shape[d] - 1, b->strides[d], &span) ||
                           __builtin_add_overflow(extent, span, &extent)))
        return th_fail(THEANIR_ERR_SIZE, "%s %d ('%s'): the strides' extent overflows", role, index, name);
    }
    if (count == 0) extent = 0;
    if (output && !contiguous)
      return th_fail(THEANIR_ERR_STRIDES, "%s %d ('%s'): outputs are written C-contiguous; pass strides NULL", role,
                     index, name);
  } else {
    extent = count;
  }
  if (__builtin_mul_overflow(extent, isz, &extent))
    return th_fail(THEANIR_ERR_SIZE, "%s %d ('%s'): the shape's size overflows", role, index, name);
  if (b->nbytes < extent)
    return th_fail(THEANIR_ERR_SIZE, "%s %d ('%s'): buffer has %lld bytes, its %s %s needs %lld", role, index, name,
                   (long long)b->nbytes, th_dtype_name(dtype), output ? "result" : "shape", (long long)extent);
  if (b->data == NULL && extent > 0)
    return th_fail(THEANIR_ERR_NULL, "%s %d ('%s'): data is NULL", role, index, name);
  if (((uintptr_t)b->data) % (uintptr_t)isz != 0)
    return th_fail(THEANIR_ERR_ALIGN, "%s %d ('%s'): data %p is not aligned to its %lld-byte elements", role, index,
                   name, b->data, (long long)isz);
  void *data = b->data ? b->data : (void *)th_itemsize; /* never a null pointer in a descriptor */
  const int64_t *strides = contig;
  if (!contiguous) {
    if (strided_ok) {
      strides = b->strides;
    } else {
      char *copy = (char *)malloc((size_t)(count * isz) + 1);
      if (copy == NULL) return th_fail(THEANIR_ERR_MEMORY, "%s %d ('%s'): out of memory copying a strided input",
                                       role, index, name);
      int64_t idx[THEANIR_MAX_RANK] = {0};
      for (int64_t i = 0; i < count; ++i) {
        int64_t off = 0;
        for (int d = 0; d < rank; ++d) off += idx[d] * b->strides[d];
        memcpy(copy + i * isz, (const char *)b->data + off * isz, (size_t)isz);
        for (int d = rank - 1; d >= 0; --d) {
          if (++idx[d] < shape[d]) break;
          idx[d] = 0;
        }
      }
      *tmp = copy;
      data = copy;
    }
  }
  desc[0] = (int64_t)(intptr_t)data;
  desc[1] = (int64_t)(intptr_t)data;
  desc[2] = 0;
  for (int d = 0; d < rank; ++d) {
    desc[3 + d] = shape[d];
    desc[3 + rank + d] = strides[d];
  }
  if (output) {
    theanir_buffer *out = (theanir_buffer *)b;
    out->rank = rank;
    for (int d = 0; d < rank; ++d) out->shape[d] = shape[d];
  }
  return THEANIR_OK;
}

/* An output with dynamic dims: the code allocates it and writes its address and sizes into
   `slot` [address, size 0, ...]; copied into the caller's buffer when `copy` (the last step),
   then freed. On THEANIR_ERR_SIZE the caller's rank and shape hold the result's shape. */
static int th_take_slot(int index, const char *name, theanir_buffer *b, int32_t dtype, int32_t rank,
                        const int64_t *slot, int copy) {
  void *p = (void *)(intptr_t)slot[0];
  int64_t bytes = th_itemsize[dtype];
  int rc = THEANIR_OK;
  for (int d = 0; d < rank; ++d)
    if (__builtin_mul_overflow(bytes, slot[1 + d], &bytes)) bytes = INT64_MAX;
  if (copy) {
    b->rank = rank;
    for (int d = 0; d < rank; ++d) b->shape[d] = slot[1 + d];
    if (b->nbytes < bytes)
      rc = th_fail(THEANIR_ERR_SIZE, "output %d ('%s'): buffer has %lld bytes, its %s result needs %lld (its shape "
                   "is in the buffer's rank and shape)", index, name, (long long)b->nbytes, th_dtype_name(dtype),
                   (long long)bytes);
    else if (bytes > 0)
      memcpy(b->data, p, (size_t)bytes);
  }
  if (p != NULL) th_hook_free(p);
  return rc;
}

/* A memref descriptor of a library-owned contiguous buffer. */
static void th_own_desc(void *data, int32_t rank, const int64_t *shape, int64_t *desc) {
  int64_t count = 1;
  desc[0] = desc[1] = (int64_t)(intptr_t)data;
  desc[2] = 0;
  for (int d = rank - 1; d >= 0; --d) {
    desc[3 + d] = shape[d];
    desc[3 + rank + d] = count;
    count *= shape[d];
  }
}

/* memrefCopy (MLIR's runner utils, which need libMLIR): copies between memrefs with layouts. */
typedef struct { int64_t rank; int64_t *desc; } th_unranked;
__attribute__((visibility("hidden"))) void memrefCopy(int64_t isz, th_unranked *src, th_unranked *dst) {
  int64_t rank = src->rank, idx[64] = {0}, count = 1;
  int64_t *s = src->desc, *t = dst->desc;
  char *sp = (char *)(intptr_t)s[1] + s[2] * isz, *tp = (char *)(intptr_t)t[1] + t[2] * isz;
  for (int64_t d = 0; d < rank; ++d) count *= s[3 + d];
  for (int64_t i = 0; i < count; ++i) {
    int64_t so = 0, to = 0;
    for (int64_t d = 0; d < rank; ++d) {
      so += idx[d] * s[3 + rank + d];
      to += idx[d] * t[3 + rank + d];
    }
    memcpy(tp + to * isz, sp + so * isz, (size_t)isz);
    for (int64_t d = rank - 1; d >= 0; --d) {
      if (++idx[d] < s[3 + d]) break;
      idx[d] = 0;
    }
  }
}
"""


STATE_FUNCTIONS = r"""
static void *th_alloc(int64_t nbytes) {
  size_t size = (size_t)((nbytes + 63) / 64 * 64);
  return aligned_alloc(64, size ? size : 64);
}

EXPORT int PREFIX_init(void) {
  int rc = PREFIX_check_cpu();
  if (rc != THEANIR_OK) return rc;
  pthread_mutex_lock(&th_lock);
  for (int i = 0; i < NSTATES; ++i) {
    if (th_state[i] == NULL) th_state[i] = th_alloc(th_state_bytes[i]);
    if (th_state_updated[i] && th_next[i] == NULL) th_next[i] = th_alloc(th_state_bytes[i]);
    if (th_state[i] == NULL || (th_state_updated[i] && th_next[i] == NULL)) {
      pthread_mutex_unlock(&th_lock);
      return th_fail(THEANIR_ERR_MEMORY, "PREFIX_init: out of memory");
    }
    memcpy(th_state[i], th_blob + th_state_offset[i], (size_t)th_state_bytes[i]);
  }
  th_ready = 1;
  th_error[0] = 0;
  pthread_mutex_unlock(&th_lock);
  return THEANIR_OK;
}

EXPORT void PREFIX_free(void) {
  pthread_mutex_lock(&th_lock);
  for (int i = 0; i < NSTATES; ++i) {
    free(th_state[i]);
    free(th_next[i]);
    th_state[i] = th_next[i] = NULL;
  }
  th_ready = 0;
  pthread_mutex_unlock(&th_lock);
}

EXPORT int PREFIX_num_states(void) { return NSTATES; }

EXPORT const char *PREFIX_state_name(int index) {
  return (index >= 0 && index < NSTATES) ? th_state_names[index] : NULL;
}

static int th_find_state(const char *fn, const char *name) {
  if (name == NULL) return -th_fail(THEANIR_ERR_NULL, "%s: name is NULL", fn) - 1;
  for (int i = 0; i < NSTATES; ++i)
    if (strcmp(th_state_names[i], name) == 0) return i;
  return -th_fail(THEANIR_ERR_STATE, "%s: no state named '%s' (see PREFIX_state_name)", fn, name) - 1;
}

EXPORT int PREFIX_get_state(const char *name, theanir_buffer *out) {
  int64_t desc[3 + 2 * THEANIR_MAX_RANK];
  void *tmp = NULL;
  int i = th_find_state("PREFIX_get_state", name), rc;
  if (i < 0) return -i - 1;
  pthread_mutex_lock(&th_lock);
  if (!th_ready) {
    pthread_mutex_unlock(&th_lock);
    return th_fail(THEANIR_ERR_STATE, "PREFIX_get_state: call PREFIX_init() first");
  }
  rc = th_arg("state", i, name, out, th_state_dtype[i], th_state_rank[i], th_state_shape[i], 1, 0, desc, &tmp);
  if (rc == THEANIR_OK) memcpy(out->data, th_state[i], (size_t)th_state_bytes[i]);
  pthread_mutex_unlock(&th_lock);
  return rc;
}

EXPORT int PREFIX_set_state(const char *name, const theanir_buffer *value) {
  int64_t desc[3 + 2 * THEANIR_MAX_RANK];
  void *tmp = NULL;
  int i = th_find_state("PREFIX_set_state", name), rc;
  if (i < 0) return -i - 1;
  pthread_mutex_lock(&th_lock);
  if (!th_ready) {
    pthread_mutex_unlock(&th_lock);
    return th_fail(THEANIR_ERR_STATE, "PREFIX_set_state: call PREFIX_init() first");
  }
  rc = th_arg("state", i, name, value, th_state_dtype[i], th_state_rank[i], th_state_shape[i], 0, 0, desc, &tmp);
  if (rc == THEANIR_OK) memcpy(th_state[i], (const void *)(intptr_t)desc[1], (size_t)th_state_bytes[i]);
  free(tmp);
  pthread_mutex_unlock(&th_lock);
  return rc;
}
"""
