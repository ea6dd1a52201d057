/*
 * ossencfs: sets glibc malloc's mmap and trim thresholds for the running process (mallopt), which
 * Node offers no way to do once it runs, and tells how much memory malloc holds free (mallinfo2).
 * See src/util/allocator.ts for why.
 */
#include <stdbool.h>
#include <node_api.h>
#if defined(__GLIBC__)
#include <malloc.h>
#endif

/* tune(mmapThreshold, trimThreshold) -> true when this is glibc and it took both values. */
static napi_value tune(napi_env env, napi_callback_info info) {
  size_t argc = 2;
  napi_value argv[2];
  int64_t mmap_threshold = 0;
  int64_t trim_threshold = 0;
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok || argc < 2 ||
      napi_get_value_int64(env, argv[0], &mmap_threshold) != napi_ok ||
      napi_get_value_int64(env, argv[1], &trim_threshold) != napi_ok ||
      mmap_threshold <= 0 || mmap_threshold > (1 << 30) || trim_threshold <= 0 || trim_threshold > (1 << 30)) {
    napi_throw_range_error(env, NULL, "tune(mmapThreshold, trimThreshold): two byte counts from 1 to 2^30");
    return NULL;
  }
  bool ok = false;
#if defined(__GLIBC__)
  ok = mallopt(M_MMAP_THRESHOLD, (int) mmap_threshold) == 1 && mallopt(M_TRIM_THRESHOLD, (int) trim_threshold) == 1;
#endif
  napi_value result;
  napi_get_boolean(env, ok, &result);
  return result;
}

/* freeBytes() -> bytes glibc malloc holds free for reuse in all its arenas, or -1 when this is not glibc. */
static napi_value free_bytes(napi_env env, napi_callback_info info) {
  (void) info;
  double bytes = -1;
#if defined(__GLIBC__) && (__GLIBC__ > 2 || (__GLIBC__ == 2 && __GLIBC_MINOR__ >= 33))
  bytes = (double) mallinfo2().fordblks;
#endif
  napi_value result;
  napi_create_double(env, bytes, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "tune", NAPI_AUTO_LENGTH, tune, NULL, &fn);
  napi_set_named_property(env, exports, "tune", fn);
  napi_create_function(env, "freeBytes", NAPI_AUTO_LENGTH, free_bytes, NULL, &fn);
  napi_set_named_property(env, exports, "freeBytes", fn);
  return exports;
}
