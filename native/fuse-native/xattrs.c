/*
 * ossencfs: extended attributes, the part answered without a trip into JavaScript. #included into
 * fuse-native.c by patches/0004-xattrs.patch.
 *
 * Once a filesystem answers getxattr at all, the kernel asks it for security.capability before
 * every write(2) (to know whether the write must drop file capabilities), and tools ask for
 * security.selinux and the like. Only user.* names are ever stored (src/vfs/xattrNames.ts), so any
 * other name is ENODATA, answered here: the kernel's round trip stays, the two cross-thread wake-ups
 * of a JavaScript answer do not.
 *
 * fuse-native copies at most the caller's buffer of a value, yet answers its whole length, which
 * libfuse would then send from a buffer that short: past it, the answer is ERANGE, as getxattr(2)
 * says. A list it writes past a short buffer (an exception that ends the process), and sizes 128
 * bytes too long for a size query: it gets a buffer as large as Linux's largest list instead, and
 * the caller what fits, the exact length, or ERANGE.
 */
#include <errno.h>
#include <stdlib.h>

#define OSSENCFS_XATTR_LIST_MAX 65536 /* XATTR_LIST_MAX */

static int ossencfs_getxattr (const char *path, const char *name, char *value, size_t size) {
  if (strncmp(name, "user.", 5) != 0) return -ENODATA;
  int res = fuse_native_getxattr(path, name, value, size);
  if (size > 0 && res > (int) size) return -ERANGE;
  return res;
}

static int ossencfs_listxattr (const char *path, char *list, size_t size) {
  char *all = malloc(OSSENCFS_XATTR_LIST_MAX);
  if (all == NULL) return -ENOMEM;
  int res = fuse_native_listxattr(path, all, OSSENCFS_XATTR_LIST_MAX);
  if (res > 0 && size > 0) {
    if ((size_t) res > size) res = -ERANGE;
    else memcpy(list, all, res);
  }
  free(all);
  return res;
}
