#!/usr/bin/env node
// The pure FUSE ceilings: a trivial fuse-native filesystem in its own process, with the same
// libfuse options the real mount uses (big_writes, 128 KiB requests), and nothing behind it.
//   /zero  SIZE bytes; a read fills the kernel's buffer with zeros and answers at once
//   /sink  accepts any write and acknowledges it (its size follows the writes)
//
//   node scripts/bench/fuse-ceiling.mjs MOUNTPOINT SIZE_BYTES    → prints "ready", SIGTERM unmounts
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const Fuse = require('fuse-native');

const [mountpoint, sizeArg] = process.argv.slice(2);
const zeroSize = Number(sizeArg);
if (!mountpoint || !(zeroSize >= 0)) {
  console.error('usage: fuse-ceiling.mjs MOUNTPOINT SIZE_BYTES');
  process.exit(2);
}

class TunedFuse extends Fuse {
  _fuseOptions() {
    const base = super._fuseOptions();
    const extra = ['big_writes', 'max_write=131072', 'max_read=131072', 'atomic_o_trunc', 'auto_cache', 'fsname=bench-ceiling', 'subtype=ossencfs-bench'].join(',');
    return base === '' ? `-o${extra}` : `${base},${extra}`;
  }
}

const now = new Date();
const uid = process.getuid();
const gid = process.getgid();
let sinkSize = 0;
const stat = (mode, size) => ({ mode, size, uid, gid, nlink: 1, mtime: now, atime: now, ctime: now, blocks: Math.ceil(size / 512), blksize: 4096 });
const attrOf = (path) =>
  path === '/' ? stat(0o40755, 4096) : path === '/zero' ? stat(0o100644, zeroSize) : path === '/sink' ? stat(0o100644, sinkSize) : undefined;

const ops = {
  getattr: (path, cb) => {
    const a = attrOf(path);
    return a ? cb(0, a) : cb(Fuse.ENOENT);
  },
  fgetattr: (path, _fd, cb) => {
    const a = attrOf(path);
    return a ? cb(0, a) : cb(Fuse.ENOENT);
  },
  readdir: (_path, cb) => cb(0, ['zero', 'sink']),
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
fuse.mount((err) => {
  if (err) {
    console.error(`mount failed: ${err.message}`);
    process.exit(1);
  }
  console.log('ready');
});
const stop = () => fuse.unmount(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
