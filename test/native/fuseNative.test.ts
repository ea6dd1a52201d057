import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, rmdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants, tmpdir } from 'node:os';
import { join } from 'node:path';
import Fuse, { type Operations, type Stat } from '@ossencfs/fuse-native';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';

/**
 * Our fuse-native build (native/fuse-native) on its own: a tiny filesystem in this process whose
 * handlers record what the binding hands them, driven by ordinary programs in other processes
 * (this process's event loop must stay free to answer them). Each test checks one of our patches
 * through real syscalls; against fuse-native 2.2.6 as published, each of them fails.
 */

/** The functions our C adds to the addon (native/fuse-native/{attr_cache,caller}.c). */
type OurExports = typeof import('@ossencfs/fuse-native/binding');
const binding = createRequire(import.meta.url)('@ossencfs/fuse-native/binding') as Partial<OurExports>;
/** The addon's function `name`, or a failed test naming it. */
function our<K extends keyof OurExports>(name: K): OurExports[K] {
  if (typeof binding[name] !== 'function') throw new Error(`the addon has no ${name}`);
  return binding[name] as OurExports[K];
}

const MiB = 1024 * 1024;
/** utimens markers (patches/0001-utimens-times.patch): UTIME_OMIT, UTIME_NOW. */
const OMIT = 2 ** 63;
const NOW = 2 ** 63 + 2 ** 32;
const ENOENT = -constants.errno.ENOENT;
const ENODATA = -constants.errno.ENODATA;
/** Someone other than root, for the caller's identity. */
const OTHER = { uid: 4321, gid: 4322 };

interface Node {
  mode: number;
  size: number;
  uid: number;
  gid: number;
}

/** What the handlers saw since the last reset. */
const seen = {
  getattr: [] as string[],
  writes: [] as number[],
  utimens: [] as [path: string, atime: number, mtime: number][],
  getxattr: [] as string[],
  creates: [] as { path: string; caller: [number, number, number] }[],
};
const nodes = new Map<string, Node>();
const t0 = Date.UTC(2020, 0, 1);
const statOf = (n: Node): Stat => ({ ...n, nlink: 1, atime: t0, mtime: t0, ctime: t0, blksize: MiB, blocks: Math.ceil(n.size / 512) });

function reset(): void {
  for (const list of Object.values(seen)) list.length = 0;
  nodes.clear();
  nodes.set('/', { mode: 0o40777, size: 4096, uid: 0, gid: 0 });
  nodes.set('/file', { mode: 0o100666, size: 1, uid: 0, gid: 0 });
}

const ops: Operations = {
  getattr: (path, cb) => {
    seen.getattr.push(path);
    const n = nodes.get(path);
    return n ? cb(0, statOf(n)) : cb(ENOENT);
  },
  fgetattr: (path, _fd, cb) => {
    const n = nodes.get(path);
    return n ? cb(0, statOf(n)) : cb(ENOENT);
  },
  readdir: (_path, cb) => cb(0, [...nodes.keys()].filter((p) => p !== '/').map((p) => p.slice(1))),
  open: (path, _flags, cb) => (nodes.has(path) ? cb(0, 1) : cb(ENOENT)),
  create: (path, mode, cb) => {
    // Valid only here, at the handler's start. Without it, the caller's test fails on its values.
    const caller = binding.ossencfs_caller?.() ?? [-1, -1, -1];
    seen.creates.push({ path, caller });
    nodes.set(path, { mode, size: 0, uid: caller[0], gid: caller[1] });
    cb(0, 2);
  },
  truncate: (path, size, cb) => {
    nodes.get(path)!.size = size;
    cb(0);
  },
  ftruncate: (path, _fd, size, cb) => {
    nodes.get(path)!.size = size;
    cb(0);
  },
  write: (path, _fd, _buffer, length, position, cb) => {
    seen.writes.push(length);
    const n = nodes.get(path)!;
    n.size = Math.max(n.size, position + length);
    cb(length);
  },
  utimens: (path, atime, mtime, cb) => {
    seen.utimens.push([path, Number(atime), Number(mtime)]);
    cb(0);
  },
  getxattr: (_path, name, _position, cb) => {
    seen.getxattr.push(name);
    return name === 'user.color' ? cb(0, Buffer.from('blue')) : cb(ENODATA);
  },
  listxattr: (_path, cb) => cb(0, ['user.color']),
  flush: (_path, _fd, cb) => cb(0),
  release: (_path, _fd, cb) => cb(0),
};

/**
 * The options that matter here: requests up to 1 MiB, every lookup and stat asked of the
 * filesystem (no kernel caching), and other users let in for the caller's test.
 */
class TestFuse extends Fuse {
  protected override _fuseOptions(): string {
    const extra = ['big_writes', `max_write=${MiB}`, 'attr_timeout=0', 'entry_timeout=0', 'allow_other', 'fsname=fuse-native-test'].join(',');
    const base = super._fuseOptions();
    return base === '' ? `-o${extra}` : `${base},${extra}`;
  }
}

/** Runs a program in its own process (never synchronously: this process answers its syscalls). */
function run(file: string, args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(file, args, { encoding: 'utf8' }, (err, stdout, stderr) => {
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : -1) : 0, stdout, stderr });
    });
  });
}

async function ok(file: string, args: string[]): Promise<string> {
  const r = await run(file, args);
  if (r.code !== 0) throw new Error(`${file} ${args.join(' ')} exited ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** One record as attr_cache.c's put reads it: [u32 path length][path, 0-padded to 4][u32 hold, ms][populate_stat's 18 u32]. */
function attrRecord(path: string, n: Node, holdMs = 60_000): Buffer {
  const name = Buffer.from(path);
  const padded = (name.length + 3) & ~3;
  const record = Buffer.alloc(4 + padded + 4 + 18 * 4);
  record.writeUInt32LE(name.length, 0);
  name.copy(record, 4);
  record.writeUInt32LE(holdMs, 4 + padded);
  const split = (v: number) => [v % 2 ** 32, Math.floor(v / 2 ** 32)];
  // mode uid gid size dev nlink ino rdev blksize blocks atime mtime ctime; 64-bit values low word first, times in ms
  const ints = [n.mode, n.uid, n.gid, ...split(n.size), 0, 1, 0, 0, 4096, ...split(Math.ceil(n.size / 512)), ...split(t0), ...split(t0), ...split(t0)];
  ints.forEach((v, i) => record.writeUInt32LE(v, 4 + padded + 4 + i * 4));
  return record;
}

let mnt = '';
let fuse: TestFuse;

beforeAll(async () => {
  reset();
  mnt = mkdtempSync(join(tmpdir(), 'fuse-native-test-'));
  fuse = new TestFuse(mnt, ops, { mkdir: false });
  await new Promise<void>((resolve, reject) => fuse.mount((err) => (err ? reject(err) : resolve())));
});

afterAll(async () => {
  if (fuse) await new Promise<void>((resolve) => fuse.unmount(() => resolve()));
  if (mnt) rmdirSync(mnt);
});

beforeEach(() => reset());

describe('native/fuse-native: utimens (patches/0001)', () => {
  it('touch -a hands over the new access time and UTIME_OMIT for the modification time, touch -m the reverse', async () => {
    await ok('touch', ['-a', '-d', '@1000000000', join(mnt, 'file')]);
    await ok('touch', ['-m', '-d', '@1100000000.5', join(mnt, 'file')]);
    expect(seen.utimens).toEqual([
      ['/file', 1_000_000_000_000, OMIT],
      ['/file', OMIT, 1_100_000_000_500],
    ]);
  });

  it('touch with no time hands over UTIME_NOW for both, and -d sets both to the time given', async () => {
    await ok('touch', [join(mnt, 'file')]);
    await ok('touch', ['-d', '@1200000000', join(mnt, 'file')]);
    expect(seen.utimens).toEqual([
      ['/file', NOW, NOW],
      ['/file', 1_200_000_000_000, 1_200_000_000_000],
    ]);
  });
});

describe('native/fuse-native: 1 MiB requests (patches/0002)', () => {
  it('one write(2) of 1 MiB arrives as one write of 1 MiB', async () => {
    await ok('dd', ['if=/dev/zero', `of=${join(mnt, 'big')}`, `bs=${MiB}`, 'count=1', 'status=none']);
    expect(seen.writes).toEqual([MiB]);
    expect(nodes.get('/big')?.size).toBe(MiB);
  });
});

describe('native/fuse-native: attributes answered in C (patches/0003)', () => {
  const size = async () => Number((await ok('stat', ['-c', '%s', join(mnt, 'file')])).trim());
  const put = (n: Node, holdMs = 60_000) => our('ossencfs_attr_cache_put')(attrRecord('/file', n, holdMs), 60_000);

  it('a getattr of a path in the table is answered from it, without JavaScript, until the path is forgotten', async () => {
    expect(await size()).toBe(1); // JavaScript's answer
    put({ ...nodes.get('/file')!, size: 4242 });
    const [, hitsBefore] = our('ossencfs_attr_cache_stats')();
    seen.getattr.length = 0;

    expect(await size()).toBe(4242);
    expect(await size()).toBe(4242);
    expect(seen.getattr).not.toContain('/file');
    const [entries, hits] = our('ossencfs_attr_cache_stats')();
    expect(entries).toBe(1);
    expect(hits).toBeGreaterThanOrEqual(hitsBefore + 2);

    our('ossencfs_attr_cache_forget')('/file');
    expect(await size()).toBe(1);
    expect(seen.getattr).toContain('/file');
  });

  it('clear empties the table, and an entry whose hold has passed is not used', async () => {
    put({ ...nodes.get('/file')!, size: 4242 });
    expect(await size()).toBe(4242);
    our('ossencfs_attr_cache_clear')();
    expect(our('ossencfs_attr_cache_stats')()[0]).toBe(0);
    expect(await size()).toBe(1);

    put({ ...nodes.get('/file')!, size: 4242 }, 0);
    expect(await size()).toBe(1);
    expect(our('ossencfs_attr_cache_stats')()[0]).toBe(0);
  });

  it('holds a listing of 100,000 names whole, each record for its own hold', async () => {
    our('ossencfs_attr_cache_clear')();
    const names = Array.from({ length: 100_000 }, (_, i) => `/n${String(i).padStart(6, '0')}`);
    // The last name held 0 ms: its hold is over at once, the others' are not.
    const records = names.map((name, i) => attrRecord(name, { mode: 0o100644, size: i, uid: 0, gid: 0 }, i === names.length - 1 ? 0 : 60_000));
    our('ossencfs_attr_cache_put')(Buffer.concat(records), 60_000);
    expect(our('ossencfs_attr_cache_stats')()[0]).toBe(100_000);
    // JavaScript knows none of these names: only the table can answer them.
    const sizes = await ok('stat', ['-c', '%s', ...['/n000000', '/n070000', '/n099998'].map((n) => join(mnt, n))]);
    expect(sizes.trim().split('\n')).toEqual(['0', '70000', '99998']);
    expect((await run('stat', [join(mnt, 'n099999')])).code).not.toBe(0);
    our('ossencfs_attr_cache_clear')();
  });

  it('every field of the stat comes back as put', async () => {
    put({ mode: 0o100640, size: 5 * 2 ** 32 + 7, uid: 1234, gid: 5678 });
    const out = await ok('stat', ['-c', '%f %s %u %g %h %o %b %Y %X %Z', join(mnt, 'file')]);
    const size = 5 * 2 ** 32 + 7;
    expect(out.trim()).toBe(`${(0o100640).toString(16)} ${size} 1234 5678 1 4096 ${Math.ceil(size / 512)} ${t0 / 1000} ${t0 / 1000} ${t0 / 1000}`);
  });
});

describe('native/fuse-native: extended attributes answered in C (patches/0004)', () => {
  it('getxattr of a name outside user.* is ENODATA without a call into JavaScript; a user.* name is JavaScript\'s', async () => {
    for (const name of ['security.selinux', 'security.capability', 'trusted.x', 'system.posix_acl_access']) {
      const r = await run('getfattr', ['-n', name, join(mnt, 'file')]);
      expect(r.code, name).not.toBe(0);
      expect(r.stderr, name).toContain('No such attribute');
    }
    expect(seen.getxattr).toEqual([]);

    expect((await ok('getfattr', ['-n', 'user.color', '--only-values', join(mnt, 'file')]))).toBe('blue');
    expect(seen.getxattr).toContain('user.color');
    expect(await ok('getfattr', ['-d', '--absolute-names', join(mnt, 'file')])).toContain('user.color="blue"');
  });

  it('a size query of a value or of the list is its exact length, a buffer too short for either ERANGE', async () => {
    // libc's getxattr and listxattr with buffers of our choosing, which no shell tool offers.
    const script = `import ctypes, ctypes.util, errno, sys
libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)
p = sys.argv[1].encode()
buf = ctypes.create_string_buffer(64)
def call(f, size):
    ctypes.set_errno(0)
    n = f(size)
    print(n, errno.errorcode.get(ctypes.get_errno(), '-') if n < 0 else buf.raw[:n])
print(libc.getxattr(p, b'user.color', None, 0), libc.listxattr(p, None, 0))
call(lambda s: libc.getxattr(p, b'user.color', buf, s), 3)
call(lambda s: libc.getxattr(p, b'user.color', buf, s), 64)
call(lambda s: libc.listxattr(p, buf, s), 4)
call(lambda s: libc.listxattr(p, buf, s), 64)`;
    const out = await ok('python3', ['-c', script, join(mnt, 'file')]);
    expect(out.trim().split('\n')).toEqual(['4 11', '-1 ERANGE', "4 b'blue'", '-1 ERANGE', "11 b'user.color\\x00'"]);
  });
});

describe('native/fuse-native: the caller (patches/0005)', () => {
  it('create sees the uid and gid of the process that made the file', async () => {
    await ok('setpriv', [`--reuid=${OTHER.uid}`, `--regid=${OTHER.gid}`, '--clear-groups', 'touch', join(mnt, 'theirs')]);
    await ok('touch', [join(mnt, 'mine')]);
    expect(seen.creates.map((c) => [c.path, c.caller[0], c.caller[1]])).toEqual([
      ['/theirs', OTHER.uid, OTHER.gid],
      ['/mine', 0, 0],
    ]);
    expect(seen.creates.every((c) => c.caller[2] > 0)).toBe(true);
    expect((await ok('stat', ['-c', '%u:%g', join(mnt, 'theirs')])).trim()).toBe(`${OTHER.uid}:${OTHER.gid}`);
  });
});

describe('native/fuse-native: listings handed over as they arrive (patches/0006)', () => {
  /** How each directory's listing is served, by path: `push` hands over names (end: -1 more, 0 done, else an errno). */
  const serving = new Map<string, (push: (names: string[], end: number) => void) => void>();
  const opened: string[] = [];
  let streamMnt = '';
  let streamFuse: TestFuse;
  const MORE = -1;

  beforeAll(async () => {
    const push = our('ossencfs_readdir_push');
    our('ossencfs_readdir_serve')((id, path) => {
      opened.push(path);
      const serve = serving.get(path);
      if (serve) serve((names, end) => push(id, Buffer.from(names.map((n) => `${n}\0`).join('')), end));
      else push(id, Buffer.alloc(0), constants.errno.ENOENT);
    });
    // Served from the mount on: this mount takes opendir, readdir and releasedir (the one above does not).
    streamMnt = mkdtempSync(join(tmpdir(), 'fuse-native-stream-'));
    const dirOps: Operations = {
      getattr: (path, cb) => cb(0, statOf(path === '/' || path.startsWith('/d') ? { mode: 0o40755, size: 4096, uid: 0, gid: 0 } : { mode: 0o100644, size: 1, uid: 0, gid: 0 })),
      readdir: (_path, cb) => cb(0, ['not-streamed']),
    };
    streamFuse = new TestFuse(streamMnt, dirOps, { mkdir: false });
    await new Promise<void>((resolve, reject) => streamFuse.mount((err) => (err ? reject(err) : resolve())));
  });

  afterAll(async () => {
    if (streamFuse) await new Promise<void>((resolve) => streamFuse.unmount(() => resolve()));
    if (streamMnt) rmdirSync(streamMnt);
  });

  beforeEach(() => {
    serving.clear();
    opened.length = 0;
  });

  it('a reader gets the first names while the rest are still to come', async () => {
    let more: ((names: string[], end: number) => void) | undefined;
    serving.set('/dslow', (push) => {
      push(['a', 'b'], MORE);
      more = push;
    });
    // Prints each name as getdents returns it, flushed, so the test sees them before the listing ends.
    const reader = spawn('python3', ['-u', '-c', 'import os,sys\nfor e in os.scandir(sys.argv[1]): print(e.name, flush=True)', join(streamMnt, 'dslow')]);
    let out = '';
    const firstTwo = new Promise<void>((resolve) => reader.stdout.on('data', (d: Buffer) => (out += d) && out.split('\n').length > 2 && resolve()));
    const exited = new Promise<number>((resolve) => reader.on('close', (code) => resolve(code ?? -1)));
    await firstTwo;
    expect(out).toBe('a\nb\n');
    expect(more).toBeDefined();
    more!(['c'], 0);
    expect(await exited).toBe(0);
    expect(out).toBe('a\nb\nc\n');
    expect(opened).toEqual(['/dslow']);
  });

  it('thousands of names in pages come back whole and in order, across many readdir requests', async () => {
    const names = Array.from({ length: 5000 }, (_, i) => `file-with-a-longer-name-${String(i).padStart(5, '0')}`);
    serving.set('/dbig', (push) => {
      for (let i = 0; i < names.length; i += 1000) setTimeout(() => push(names.slice(i, i + 1000), i + 1000 >= names.length ? 0 : MORE), i / 100);
    });
    const listed = (await ok('ls', ['-f', join(streamMnt, 'dbig')])).split('\n').filter(Boolean);
    expect(listed).toEqual(['.', '..', ...names]);
  });

  it('a listing that fails at once answers its errno; one that fails later, after the names it gave', async () => {
    serving.set('/dnone', (push) => push([], constants.errno.EACCES));
    const none = await run('ls', [join(streamMnt, 'dnone')]);
    expect(none.code).not.toBe(0);
    expect(none.stderr).toContain('Permission denied');

    serving.set('/dhalf', (push) => {
      push(['x'], MORE);
      setTimeout(() => push([], constants.errno.EIO), 50);
    });
    const half = await run('python3', ['-c', 'import os,sys\nit = os.scandir(sys.argv[1])\nprint(next(it).name)\ntry:\n  list(it)\nexcept OSError as e:\n  print(e.errno)', join(streamMnt, 'dhalf')]);
    expect(half.stdout.trim().split('\n')).toEqual(['x', String(constants.errno.EIO)]);
  });

  it('an empty directory lists as empty', async () => {
    serving.set('/dempty', (push) => push([], 0));
    expect(await ok('ls', ['-A', join(streamMnt, 'dempty')])).toBe('');
  });
});
