/*
 * ossencfs: who asked. #included into fuse-native.c by patches/0005-caller.patch.
 *
 * A new file belongs to the process that made it, and fuse-native hands JavaScript no caller.
 * libfuse knows it only on the FUSE thread serving the request (fuse_get_context()), while
 * JavaScript runs on the event loop's thread. So the FUSE thread records it in its own locals as
 * the operation starts (FUSE_NATIVE_HANDLER), and the dispatch on the JavaScript thread, which
 * runs one operation at a time, publishes that operation's caller just before it calls into
 * JavaScript. fuse-native's index.js calls the handler synchronously from there, so a handler
 * that reads ossencfs_caller() at its start gets its own caller, whichever FUSE thread sent it.
 */
#include <sys/types.h>

typedef struct {
  uid_t uid;
  gid_t gid;
  pid_t pid;
} ossencfs_caller_t;

/* Written and read on the JavaScript thread only. */
static ossencfs_caller_t ossencfs_caller_now;

/* On the FUSE thread, in the request libfuse is serving. */
static void ossencfs_caller_record (ossencfs_caller_t *caller) {
  struct fuse_context *ctx = fuse_get_context();
  caller->uid = ctx->uid;
  caller->gid = ctx->gid;
  caller->pid = ctx->pid;
}

/* ossencfsCaller(): [uid, gid, pid] of the operation being dispatched into JavaScript. */
NAPI_METHOD(ossencfs_caller) {
  napi_value result, uid, gid, pid;
  napi_create_uint32(env, (uint32_t) ossencfs_caller_now.uid, &uid);
  napi_create_uint32(env, (uint32_t) ossencfs_caller_now.gid, &gid);
  napi_create_uint32(env, (uint32_t) ossencfs_caller_now.pid, &pid);
  napi_create_array_with_length(env, 3, &result);
  napi_set_element(env, result, 0, uid);
  napi_set_element(env, result, 1, gid);
  napi_set_element(env, result, 2, pid);
  return result;
}
