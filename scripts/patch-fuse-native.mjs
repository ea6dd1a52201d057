// Patches fuse-native 2.2.6's C glue, then builds the addon from source with node-gyp and this
// machine's Node headers (no download). Each patch is applied once, so the script is idempotent;
// it rebuilds only when the source changed or nothing is built yet.
//
//  - utimens: fuse-native passes the access time twice and never the modification time, and it
//    turns UTIME_NOW/UTIME_OMIT (touch -a, touch -m) into ordinary millisecond times. The fix
//    passes both times, with NOW and OMIT as markers above 2^63 (see src/fuse/operations.ts), and
//    sets flag_utime_omit_ok: without it libfuse 2.9 drops a change of one time alone.
//  - 1 MiB requests: native/fuse-native/large_requests.c (its header says why) is spliced in, and
//    fuse_new gets its channel.
//  - attributes answered in C: native/fuse-native/attr_cache.c (its header says why) is spliced in,
//    libfuse's getattr goes through it, and its functions are exported to JavaScript.
//  - the caller: native/fuse-native/caller.c (its header says why) is spliced in ahead of the
//    thread locals, which gain the caller of the operation in flight; the FUSE thread records it
//    as an operation starts, the dispatch publishes it, and ossencfs_caller() is exported.
//  - extended attributes answered in C: native/fuse-native/xattrs.c (its header says why) is
//    spliced in, and libfuse's getxattr and listxattr go through it.
// Each spliced file sits between two marker lines and is replaced whenever it changes.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gypRebuild } from './node-gyp.mjs';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const dir = join(root, 'node_modules', 'fuse-native');
const source = join(dir, 'fuse-native.c');

/** Replaces `from` by `to` unless `to` is already there; fails loudly on an unexpected source. */
function replaceOnce(text, from, to, what) {
  if (text.includes(to)) return text;
  if (!text.includes(from)) throw new Error(`patch-fuse-native: ${what}: fuse-native.c is not the expected 2.2.6 source`);
  return text.replace(from, to);
}

const utimens = {
  from: `  l->atime = timespec_to_uint64(&tv[0]);
  l->mtime = timespec_to_uint64(&tv[1]);
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  FUSE_UINT64_TO_INTS_ARGV(l->atime, 3)
  FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)`,
  to: `  l->atime = utimens_arg(&tv[0]);
  l->mtime = utimens_arg(&tv[1]);
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  FUSE_UINT64_TO_INTS_ARGV(l->atime, 3)
  FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)`,
  anchor: 'FUSE_METHOD_VOID(utimens',
  helper: `
/* ossencfs: UTIME_NOW / UTIME_OMIT as markers JS can tell from any real time. */
static uint64_t utimens_arg (const struct timespec* ts) {
  if (ts->tv_nsec == UTIME_OMIT) return 0x8000000000000000ULL;
  if (ts->tv_nsec == UTIME_NOW) return 0x8000000100000000ULL;
  return timespec_to_uint64(ts);
}
`,
};

/** `text` with native/fuse-native/NAME between its markers, before `anchor` the first time. */
function splice(text, name, anchor = 'static void* start_fuse_thread') {
  const begin = `/* ossencfs: native/fuse-native/${name} begins */`;
  const end = `/* ossencfs: native/fuse-native/${name} ends */`;
  const block = `${begin}\n${readFileSync(join(root, 'native', 'fuse-native', name), 'utf8')}${end}\n`;
  const at = text.indexOf(begin);
  return at >= 0
    ? text.slice(0, at) + block + text.slice(text.indexOf(end) + end.length + 1)
    : replaceOnce(text, anchor, `${block}\n${anchor}`, name);
}

const before = readFileSync(source, 'utf8');
let text = before;
if (!text.includes(utimens.to)) {
  text = replaceOnce(text, utimens.from, utimens.to, 'utimens');
  text = text.replace(utimens.anchor, `${utimens.helper}\n${utimens.anchor}`);
}
text = replaceOnce(
  text,
  '  struct fuse_operations ops = { };\n',
  '  struct fuse_operations ops = { };\n  ops.flag_utime_omit_ok = 1;\n',
  'utimens with one time omitted',
);
text = splice(text, 'large_requests.c');
text = replaceOnce(
  text,
  '  struct fuse *fuse = fuse_new(ch, &args',
  '  struct fuse_chan *loop_ch = ossencfs_large_requests(ch);\n  struct fuse *fuse = fuse_new(loop_ch == NULL ? ch : loop_ch, &args',
  'large requests',
);
text = splice(text, 'attr_cache.c');
text = replaceOnce(text, 'ops.getattr = fuse_native_getattr;', 'ops.getattr = ossencfs_getattr;', 'attribute cache');
text = replaceOnce(
  text,
  '  NAPI_EXPORT_FUNCTION(fuse_native_mount)\n',
  '  NAPI_EXPORT_FUNCTION(fuse_native_mount)\n' +
    ['put', 'forget', 'clear', 'stats'].map((f) => `  NAPI_EXPORT_FUNCTION(ossencfs_attr_cache_${f})\n`).join(''),
  'attribute cache',
);
text = splice(text, 'xattrs.c');
text = replaceOnce(text, 'ops.getxattr = fuse_native_getxattr;', 'ops.getxattr = ossencfs_getxattr;', 'extended attributes');
text = replaceOnce(text, 'ops.listxattr = fuse_native_listxattr;', 'ops.listxattr = ossencfs_listxattr;', 'extended attributes');

text = splice(text, 'caller.c', '// Data structures');
text = replaceOnce(
  text,
  '  // Internal bookkeeping\n  fuse_thread_t *fuse;',
  '  // ossencfs: the caller of the operation in flight (native/fuse-native/caller.c)\n  ossencfs_caller_t caller;\n\n  // Internal bookkeeping\n  fuse_thread_t *fuse;',
  'caller',
);
text = replaceOnce(
  text,
  '  fuse_thread_locals_t *l = get_thread_locals();\\\n  l->op = op_##name;\\\n',
  '  fuse_thread_locals_t *l = get_thread_locals();\\\n  ossencfs_caller_record(&(l->caller));\\\n  l->op = op_##name;\\\n',
  'caller',
);
text = replaceOnce(
  text,
  '  void (*fn)(uv_async_t *, fuse_thread_locals_t *, fuse_thread_t *) = l->op_fn;\n\n  fn(handle, l, ft);',
  '  void (*fn)(uv_async_t *, fuse_thread_locals_t *, fuse_thread_t *) = l->op_fn;\n\n  ossencfs_caller_now = l->caller;\n  fn(handle, l, ft);',
  'caller',
);
text = replaceOnce(
  text,
  '  NAPI_EXPORT_FUNCTION(ossencfs_attr_cache_stats)\n',
  '  NAPI_EXPORT_FUNCTION(ossencfs_attr_cache_stats)\n  NAPI_EXPORT_FUNCTION(ossencfs_caller)\n',
  'caller',
);

if (text !== before) writeFileSync(source, text);
if (text === before && existsSync(join(dir, 'build', 'Release', 'fuse.node'))) process.exit(0);
gypRebuild(dir, 'fuse-native');
console.log('setup: built fuse-native with the utimens fix, 1 MiB requests, attributes and extended attributes answered in C, and the caller of each operation');
