/*
 * ossencfs: keeps the process's memory (private keys, data keys, access secrets, plaintext) out of
 * core files and away from other processes of the same user: core size limit 0 (soft and hard, so
 * nothing in the process raises it again) and not dumpable (no core even where the limit is set
 * back from outside, no ptrace attach or /proc/PID/mem by same-user processes). Node has no API
 * for either. See src/util/hardening.ts.
 */
#include <errno.h>
#include <node_api.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>

/* harden() -> '' when both took, else the failing call and its errno text. */
static napi_value harden(napi_env env, napi_callback_info info) {
  char failure[160] = "";
  struct rlimit none = {0, 0};
  if (setrlimit(RLIMIT_CORE, &none) != 0) snprintf(failure, sizeof failure, "setrlimit(RLIMIT_CORE, 0): %s", strerror(errno));
  else if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) != 0) snprintf(failure, sizeof failure, "prctl(PR_SET_DUMPABLE, 0): %s", strerror(errno));
  napi_value result;
  napi_create_string_utf8(env, failure, NAPI_AUTO_LENGTH, &result);
  return result;
}

NAPI_MODULE_INIT() {
  napi_value fn;
  napi_create_function(env, "harden", NAPI_AUTO_LENGTH, harden, NULL, &fn);
  napi_set_named_property(env, exports, "harden", fn);
  return exports;
}
