/*
 * ossencfs: sets glibc malloc's mmap and trim thresholds and its top pad for the running process
 * (mallopt), which Node offers no way to do once it runs; tells how much memory malloc holds free
 * (mallinfo2); and marks the heap grown since tuning for transparent huge pages (madvise).
 * See src/util/allocator.ts for why.
 */
#include <stdbool.h>
#include <node_api.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

/* Where the heap ended when tune() ran, and where it ended at the last adviseHugePages(). */
static uintptr_t heap_base = 0, advised_end = 0;

/* Reads `count` byte counts from 1 to 2^30 into `out`; false (with a RangeError thrown) if it cannot. */
static bool byte_counts(napi_env env, napi_callback_info info, size_t count, int64_t *out, const char *usage) {
  size_t argc = 2;
  napi_value argv[2];
  bool valid = count <= 2 && napi_get_cb_info(env, info, &argc, argv, NULL, NULL) == napi_ok && argc == count;
  for (size_t i = 0; valid && i < count; i++) {
    valid = napi_get_value_int64(env, argv[i], &out[i]) == napi_ok && out[i] > 0 && out[i] <= (1 << 30);
  }
  if (!valid) napi_throw_range_error(env, NULL, usage);
  return valid;
}

static napi_value boolean(napi_env env, bool value) {
  napi_value result;
  napi_get_boolean(env, value, &result);
  return result;
}

/* tune(mmapThreshold, trimThreshold) -> true when this is glibc and it took both values. */
static napi_value tune(napi_env env, napi_callback_info info) {
  int64_t value[2];
  if (!byte_counts(env, info, 2, value, "tune(mmapThreshold, trimThreshold): two byte counts from 1 to 2^30")) return NULL;
  bool ok = false;
#if defined(__GLIBC__)
  ok = mallopt(M_MMAP_THRESHOLD, (int) value[0]) == 1 && mallopt(M_TRIM_THRESHOLD, (int) value[1]) == 1;
  if (ok) {
    uintptr_t page = (uintptr_t) sysconf(_SC_PAGESIZE);
    heap_base = ((uintptr_t) sbrk(0) + page - 1) & ~(page - 1);
    advised_end = heap_base;
  }
#endif
  return boolean(env, ok);
}

/* padHeap(bytes) -> true when malloc took it as what a heap grows by beyond the request (M_TOP_PAD). */
static napi_value pad_heap(napi_env env, napi_callback_info info) {
  int64_t value[1];
  if (!byte_counts(env, info, 1, value, "padHeap(bytes): a byte count from 1 to 2^30")) return NULL;
  bool ok = false;
#if defined(__GLIBC__)
  ok = mallopt(M_TOP_PAD, (int) value[0]) == 1;
#endif
  return boolean(env, ok);
}

/*
 * freeBytes() -> bytes glibc malloc holds free for reuse in all its arenas, less the free top of
 * the main heap (it may never have been touched, so need not be resident), or -1 when this is not glibc.
 */
static napi_value free_bytes(napi_env env, napi_callback_info info) {
  (void) info;
  double bytes = -1;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  struct mallinfo2 m = mallinfo2(); /* keepcost: the main heap's top */
  bytes = (double) (m.fordblks - m.keepcost);
#endif
  napi_value result;
  napi_create_double(env, bytes, &result);
  return result;
}

/*
 * adviseHugePages() -> true when the heap had grown since the last call and what it grew by since
 * tune() is now marked for transparent huge pages. Only a heap grown in big steps (padHeap) has
 * mappings that hold whole (aligned) huge pages: the kernel keeps each step a mapping of its own.
 */
static napi_value advise_huge_pages(napi_env env, napi_callback_info info) {
  (void) info;
  bool advised = false;
  uintptr_t page = (uintptr_t) sysconf(_SC_PAGESIZE);
  uintptr_t end = (uintptr_t) sbrk(0) & ~(page - 1);
  if (heap_base != 0 && end != advised_end && end > heap_base) {
    advised = madvise((void *) heap_base, end - heap_base, MADV_HUGEPAGE) == 0;
  }
  advised_end = end;
  return boolean(env, advised);
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "tune", NAPI_AUTO_LENGTH, tune, NULL, &fn);
  napi_set_named_property(env, exports, "tune", fn);
  napi_create_function(env, "freeBytes", NAPI_AUTO_LENGTH, free_bytes, NULL, &fn);
  napi_set_named_property(env, exports, "freeBytes", fn);
  napi_create_function(env, "padHeap", NAPI_AUTO_LENGTH, pad_heap, NULL, &fn);
  napi_set_named_property(env, exports, "padHeap", fn);
  napi_create_function(env, "adviseHugePages", NAPI_AUTO_LENGTH, advise_huge_pages, NULL, &fn);
  napi_set_named_property(env, exports, "adviseHugePages", fn);
  return exports;
}
