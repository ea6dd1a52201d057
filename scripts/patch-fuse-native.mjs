// Patches fuse-native 2.2.6's C glue, then builds the addon from source with node-gyp and this
// machine's Node headers (no download). Each patch is applied once, so the script is idempotent;
// it rebuilds only when the source changed or nothing is built yet.
//
//  - utimens: fuse-native passes the access time twice and never the modification time, and it
//    turns UTIME_NOW/UTIME_OMIT (touch -a, touch -m) into ordinary millisecond times. The fix
//    passes both times, with NOW and OMIT as markers above 2^63 (see src/fuse/operations.ts).
//  - 1 MiB requests: native/fuse-native/large_requests.c (its header says why) is spliced in between two
//    marker lines, replaced whenever that file changes, and fuse_new gets its channel.
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

const BEGIN = '/* ossencfs: native/fuse-native/large_requests.c begins */';
const END = '/* ossencfs: native/fuse-native/large_requests.c ends */';
const largeRequests = `${BEGIN}\n${readFileSync(join(root, 'native', 'fuse-native', 'large_requests.c'), 'utf8')}${END}\n`;

const before = readFileSync(source, 'utf8');
let text = before;
if (!text.includes(utimens.to)) {
  text = replaceOnce(text, utimens.from, utimens.to, 'utimens');
  text = text.replace(utimens.anchor, `${utimens.helper}\n${utimens.anchor}`);
}
const spliced = text.indexOf(BEGIN);
text = spliced >= 0
  ? text.slice(0, spliced) + largeRequests + text.slice(text.indexOf(END) + END.length + 1)
  : replaceOnce(text, 'static void* start_fuse_thread', `${largeRequests}\nstatic void* start_fuse_thread`, 'large requests');
text = replaceOnce(
  text,
  '  struct fuse *fuse = fuse_new(ch, &args',
  '  struct fuse_chan *loop_ch = ossencfs_large_requests(ch);\n  struct fuse *fuse = fuse_new(loop_ch == NULL ? ch : loop_ch, &args',
  'large requests',
);

if (text !== before) writeFileSync(source, text);
if (text === before && existsSync(join(dir, 'build', 'Release', 'fuse.node'))) process.exit(0);
gypRebuild(dir, 'fuse-native');
console.log('setup: built fuse-native with the utimens fix and 1 MiB requests');
