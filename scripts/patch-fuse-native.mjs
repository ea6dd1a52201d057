// fuse-native 2.2.6 mishandles utimens in its C glue: it passes the access time twice and never
// the modification time, and it turns UTIME_NOW/UTIME_OMIT (touch -a, touch -m) into ordinary
// millisecond times. This rewrites that one function so both times arrive, with NOW and OMIT as
// markers above 2^63 (see src/fuse/operations.ts), then builds the addon from source with node-gyp
// and this machine's Node headers (no download). Idempotent.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gypRebuild } from './node-gyp.mjs';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..', 'node_modules', 'fuse-native');
const source = join(dir, 'fuse-native.c');
const original = `  l->atime = timespec_to_uint64(&tv[0]);
  l->mtime = timespec_to_uint64(&tv[1]);
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  FUSE_UINT64_TO_INTS_ARGV(l->atime, 3)
  FUSE_UINT64_TO_INTS_ARGV(l->atime, 5)`;
const fixed = `  l->atime = utimens_arg(&tv[0]);
  l->mtime = utimens_arg(&tv[1]);
}, {
  napi_create_string_utf8(env, l->path, NAPI_AUTO_LENGTH, &(argv[2]));
  FUSE_UINT64_TO_INTS_ARGV(l->atime, 3)
  FUSE_UINT64_TO_INTS_ARGV(l->mtime, 5)`;
const helper = `
/* ossencfs: UTIME_NOW / UTIME_OMIT as markers JS can tell from any real time. */
static uint64_t utimens_arg (const struct timespec* ts) {
  if (ts->tv_nsec == UTIME_OMIT) return 0x8000000000000000ULL;
  if (ts->tv_nsec == UTIME_NOW) return 0x8000000100000000ULL;
  return timespec_to_uint64(ts);
}
`;
const anchor = 'FUSE_METHOD_VOID(utimens';

let text = readFileSync(source, 'utf8');
const patched = text.includes(fixed);
if (!patched) {
  if (!text.includes(original)) throw new Error('patch-fuse-native: fuse-native.c is not the expected 2.2.6 source');
  text = text.replace(original, fixed).replace(anchor, `${helper}\n${anchor}`);
  writeFileSync(source, text);
}
if (patched && existsSync(join(dir, 'build', 'Release', 'fuse.node'))) process.exit(0);

gypRebuild(dir, 'fuse-native');
console.log('setup: built fuse-native with the utimens fix');
