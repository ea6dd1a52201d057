#!/usr/bin/env node
// The pure FUSE ceilings: a trivial fuse-native filesystem in its own process, with the same
// libfuse options the real mount uses (big_writes, 1 MiB requests, 1 MiB read-ahead), and nothing behind it.
//   /zero  SIZE bytes; a read fills the kernel's buffer with zeros and answers at once
//   /sink  accepts any write and acknowledges it (its size follows the writes)
//   /dir   ENTRIES empty files f00000, f00001, …, their attributes answered from memory: what `ls -l`
//          costs in FUSE round trips alone. The kernel's attribute and entry TTL is libfuse's default,
//          1 s, as the mount's default --attr-ttl.
//   /cdir  the same names, their attributes handed to the C side at each readdir, as the mount does
//          for a listing (src/fuse/nativeAttrCache.ts): lookups answered without JavaScript.
//
//   node scripts/bench/fuse-ceiling.mjs MOUNTPOINT SIZE_BYTES [ENTRIES]   → prints "ready", SIGTERM unmounts
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Fuse = require('@ossencfs/fuse-native');
const { MAX_REQUEST_BYTES, setReadAhead } = await import(new URL('../../dist/fuse/requestSize.js', import.meta.url).href);
const { NativeAttrCache } = await import(new URL('../../dist/fuse/nativeAttrCache.js', import.meta.url).href);
const quiet = { debug() {}, info() {}, warn() {}, error() {} };
const attrCache = NativeAttrCache.load({ holdMs: 10_000, ttlMs: 1000 }, quiet);

const [mountpoint, sizeArg, entriesArg = '0'] = process.argv.slice(2);
const zeroSize = Number(sizeArg);
const entries = Number(entriesArg);
if (!mountpoint || !(zeroSize >= 0) || !Number.isInteger(entries) || entries < 0) {
  console.error('usage: fuse-ceiling.mjs MOUNTPOINT SIZE_BYTES [ENTRIES]');
  process.exit(2);
}

class TunedFuse extends Fuse {
  _fuseOptions() {
    const base = super._fuseOptions();
    const extra = ['big_writes', `max_write=${MAX_REQUEST_BYTES}`, `max_read=${MAX_REQUEST_BYTES}`, 'atomic_o_trunc', 'auto_cache', 'fsname=bench-ceiling', 'subtype=ossencfs-bench'].join(',');
    return base === '' ? `-o${extra}` : `${base},${extra}`;
  }
}

const now = new Date();
const uid = process.getuid();
const gid = process.getgid();
let sinkSize = 0;
const stat = (mode, size) => ({ mode, size, uid, gid, nlink: 1, mtime: now, atime: now, ctime: now, blocks: Math.ceil(size / 512), blksize: MAX_REQUEST_BYTES });
const names = Array.from({ length: entries }, (_, i) => `f${String(i).padStart(5, '0')}`);
const inDir = new Set(names);
const attrOf = (path) => {
  if (path === '/' || path === '/dir' || path === '/cdir') return stat(0o40755, 4096);
  if (path === '/zero') return stat(0o100644, zeroSize);
  if (path === '/sink') return stat(0o100644, sinkSize);
  if ((path.startsWith('/dir/') && inDir.has(path.slice(5))) || (path.startsWith('/cdir/') && inDir.has(path.slice(6)))) return stat(0o100644, 0);
  return undefined;
};

const ops = {
  getattr: (path, cb) => {
    const a = attrOf(path);
    return a ? cb(0, a) : cb(Fuse.ENOENT);
  },
  fgetattr: (path, _fd, cb) => {
    const a = attrOf(path);
    return a ? cb(0, a) : cb(Fuse.ENOENT);
  },
  readdir: (path, cb) => {
    if (path === '/cdir') for (const name of names) attrCache.put(`/cdir/${name}`, attrOf(`/cdir/${name}`));
    return path === '/dir' || path === '/cdir' ? cb(0, names) : cb(0, ['zero', 'sink', 'dir', 'cdir']);
  },
  open: (path, _flags, cb) => (attrOf(path) ? cb(0, path === '/zero' ? 1 : 2) : cb(Fuse.ENOENT)),
  create: (path, _mode, cb) => (path === '/sink' ? ((sinkSize = 0), cb(0, 2)) : cb(Fuse.EACCES)),
  truncate: (path, size, cb) => (path === '/sink' ? ((sinkSize = size), cb(0)) : cb(Fuse.EACCES)),
  ftruncate: (path, _fd, size, cb) => (path === '/sink' ? ((sinkSize = size), cb(0)) : cb(Fuse.EACCES)),
  read: (_path, _fd, buf, len, pos, cb) => {
    const n = Math.max(0, Math.min(len, zeroSize - pos));
    buf.fill(0, 0, n);
    cb(n);
  },
  write: (_path, _fd, _buf, len, pos, cb) => {
    sinkSize = Math.max(sinkSize, pos + len);
    cb(len);
  },
  flush: (_path, _fd, cb) => cb(0),
  release: (_path, _fd, cb) => cb(0),
  utimens: (_path, _a, _m, cb) => cb(0),
  chmod: (_path, _m, cb) => cb(0),
};

const fuse = new TunedFuse(mountpoint, ops, { mkdir: true });
fuse.mount(async (err) => {
  if (err) {
    console.error(`mount failed: ${err.message}`);
    process.exit(1);
  }
  const readAhead = await setReadAhead(mountpoint);
  if (!readAhead.ok) console.error(`read-ahead left at 128 KiB: ${readAhead.reason}`);
  console.log('ready');
});
const stop = () => fuse.unmount(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
