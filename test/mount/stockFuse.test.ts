import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmdirSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillDirectory, type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { BIN, type Mounted, mountBucket, sh, shStatus, withEnv } from '../support/mounted.js';

/** More names than one LIST page (the store's pages hold 1,000 keys). */
const FILES = 1_050;
const nameOf = (i: number): string => `f${String(i).padStart(4, '0')}`;
const STOCK = { OSSENCFS_FUSE_BUILD: 'stock' };

/** Runs a python3 script (argv[1] is `path`) with libc through ctypes, for buffer sizes of our choosing; its stdout lines. */
function py(script: string, path: string): string[] {
  const prelude = 'import ctypes, ctypes.util, errno, os, sys\nlibc = ctypes.CDLL(ctypes.util.find_library("c"), use_errno=True)\np = sys.argv[1]\n';
  const r = spawnSync('python3', ['-c', prelude + script, path], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python3 exited ${r.status}: ${r.stderr}`);
  return r.stdout.trim().split('\n');
}

/**
 * The mount on fuse-native as npm ships it (OSSENCFS_FUSE_BUILD=stock, src/fuse/fuseBuild.ts):
 * everyday work through the real CLI and ordinary programs, each degradation said once at
 * start-up, and where stock fuse-native would answer wrong, a refusal instead.
 */
describe('mount: on stock fuse-native', () => {
  let local: LocalBucket;
  let m: Mounted;

  beforeAll(async () => {
    local = await startLocalBucket();
    await fillDirectory(local, 'big', FILES, nameOf);
    m = await mountBucket(local, { name: 'stock', env: STOCK });
  }, 300_000);

  afterAll(async () => {
    await m?.unmount();
    await local?.close();
  });

  it('says at start-up, one WARN line each, what it goes without', () => {
    const warned = m.log().split('\n').filter((l) => / WARN /.test(l)).map((l) => l.replace(/^\S+ WARN /, ''));
    const about = (pattern: RegExp): string[] => warned.filter((l) => pattern.test(l));
    for (const pattern of [/^fuse-native: running on the stock build/, /^requests stay at 128 KiB/, /^setting times:/, /^extended attributes:/, /^no attribute mirror/, /^listings are answered whole/, /^new entries are the mounting user's/]) {
      expect(about(pattern), String(pattern)).toHaveLength(1);
    }
  });

  it('creates, writes and reads back a file larger than a request, renames, chmods and unlinks it', () => {
    const data = randomBytes(3 * 1024 * 1024 + 123);
    const path = join(m.mountpoint, 'data.bin');
    writeFileSync(path, data);
    expect(readFileSync(path).equals(data)).toBe(true);
    sh(`chmod 604 ${path}`);
    expect(statSync(path).mode & 0o777).toBe(0o604);
    renameSync(path, join(m.mountpoint, 'moved.bin'));
    expect(sh(`ls ${m.mountpoint}`).split('\n')).toContain('moved.bin');
    expect(readFileSync(join(m.mountpoint, 'moved.bin')).equals(data)).toBe(true);
    unlinkSync(join(m.mountpoint, 'moved.bin'));
    expect(sh(`ls -a ${m.mountpoint}`).trim().split('\n')).toEqual(['.', '..', 'big']);
  });

  it('makes and removes directories, new entries being the mounting user\'s', () => {
    const dir = join(m.mountpoint, 'made/inner');
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, 'f'), 'x');
    expect(sh(`stat -c %u:%g ${dir} ${dir}/f`).trim().split('\n')).toEqual([`${process.getuid!()}:${process.getgid!()}`, `${process.getuid!()}:${process.getgid!()}`]);
    expect(shStatus(`rmdir ${dir}`).status).not.toBe(0);
    unlinkSync(join(dir, 'f'));
    rmdirSync(dir);
    rmdirSync(join(m.mountpoint, 'made'));
    expect(sh(`ls ${m.mountpoint}`).trim()).toBe('big');
  });

  it('ls -l of a directory past one LIST page shows every name once, with its size and mode', () => {
    const lines = sh(`ls -l ${m.mountpoint}/big`).trim().split('\n').slice(1);
    expect(lines).toHaveLength(FILES);
    lines.forEach((line, i) => {
      const [mode, , , , size, , , , name] = line.split(/\s+/);
      expect([mode, Number(size), name]).toEqual(['-rw-r-----', 1 + (i % 97), nameOf(i)]);
    });
  }, 120_000);

  it('touch sets both times to now; any other time fails with EOPNOTSUPP and changes nothing', async () => {
    const path = join(m.mountpoint, 'touched');
    writeFileSync(path, 'x');
    await new Promise((r) => setTimeout(r, 1100));
    const before = statSync(path);
    const started = Date.now();
    sh(`touch ${path}`);
    const touched = statSync(path);
    expect(touched.mtimeMs).toBeGreaterThan(before.mtimeMs);
    expect(touched.mtimeMs).toBeGreaterThanOrEqual(started - 50);
    expect(touched.atimeMs).toBe(touched.mtimeMs);
    // touch of a new name: create, then both times to now.
    expect(shStatus(`touch ${m.mountpoint}/fresh`).status).toBe(0);
    expect(statSync(join(m.mountpoint, 'fresh')).size).toBe(0);

    // An explicit time: stock fuse-native passes the access time in place of the modification time.
    const dated = shStatus(`touch -d '2001-01-01 00:00:00' ${path}`);
    expect(dated.status).not.toBe(0);
    expect(dated.stderr).toContain('Operation not supported');
    const copied = shStatus(`python3 -c "import os,sys; os.utime(sys.argv[1], (1000000000, 1200000000))" ${path}`);
    expect(copied.stderr).toContain('Operation not supported');
    expect(statSync(path).mtimeMs).toBe(touched.mtimeMs);
  });

  it('touch -m or -a alone is dropped by libfuse before it reaches the mount: no error, no change (documented)', () => {
    const path = join(m.mountpoint, 'one-time');
    writeFileSync(path, 'x');
    const before = statSync(path);
    expect(shStatus(`touch -m -d '2001-01-01 00:00:00' ${path}`).status).toBe(0);
    expect(shStatus(`touch -a -d '2001-01-01 00:00:00' ${path}`).status).toBe(0);
    expect([statSync(path).mtimeMs, statSync(path).atimeMs]).toEqual([before.mtimeMs, before.atimeMs]);
  });

  it('extended attributes: values and lists fit the caller\'s buffer or answer ERANGE, as getxattr(2) says', () => {
    const path = join(m.mountpoint, 'attrs');
    writeFileSync(path, 'x');
    sh(`setfattr -n user.color -v blue ${path}`);
    const long = 'v'.repeat(300);
    sh(`setfattr -n user.long -v ${long} ${path}`);
    // Enough names that the list outgrows Python's first 256-byte buffer.
    for (let i = 0; i < 12; i++) sh(`setfattr -n user.name-of-some-length-${i} -v ${i} ${path}`);
    const out = py(`buf = ctypes.create_string_buffer(64)
def call(f, size):
    ctypes.set_errno(0)
    n = f(size)
    print(n, errno.errorcode.get(ctypes.get_errno(), '-') if n < 0 else buf.raw[:n])
print(libc.getxattr(p.encode(), b'user.color', None, 0))
call(lambda s: libc.getxattr(p.encode(), b'user.color', buf, s), 3)
call(lambda s: libc.getxattr(p.encode(), b'user.color', buf, s), 64)
call(lambda s: libc.listxattr(p.encode(), buf, s), 4)
print(os.getxattr(p, 'user.long') == b'v' * 300)
print(sorted(os.listxattr(p)) == sorted(['user.color', 'user.long'] + ['user.name-of-some-length-%d' % i for i in range(12)]))
print(libc.listxattr(p.encode(), None, 0) == sum(len(n) + 1 for n in os.listxattr(p)))
try:
    os.getxattr(p, 'security.capability')
except OSError as e:
    print(errno.errorcode[e.errno])`, path);
    expect(out).toEqual(['4', '-1 ERANGE', "4 b'blue'", '-1 ERANGE', 'True', 'True', 'True', 'ENODATA']);
    expect(sh(`getfattr --only-values -n user.color ${path}`)).toBe('blue');
    // The mount lived through all of it.
    expect(readFileSync(path, 'utf8')).toBe('x');
  });
});

describe('mount: on stock fuse-native, what needs our build is refused', () => {
  let local: LocalBucket;
  beforeAll(async () => {
    local = await startLocalBucket();
  });
  afterAll(async () => {
    await local?.close();
  });

  /** `ossencfs mount` in the background, as a user runs it: its exit code and stderr. */
  const mount = (args: string[]) => {
    const mountpoint = join(local.dir, 'shared');
    const r = spawnSync(process.execPath, [BIN, 'mount', `oss://${local.bucket}`, mountpoint, '--endpoint', local.server.url, '--rsa-key', local.keyFile, '--cache-dir', join(local.dir, 'cache'), ...args], {
      env: withEnv({ ...STOCK, OSS_ACCESS_KEY_ID: local.credentials.accessKeyId, OSS_ACCESS_KEY_SECRET: local.credentials.accessKeySecret }),
      encoding: 'utf8',
      timeout: 60_000,
    });
    return { code: r.status, stderr: r.stderr, mounted: sh(`findmnt -n ${mountpoint} || true`).trim() };
  };

  it('--allow-other and -o allow_root (and --attr-mirror on) fail with one line naming what is missing, and nothing is mounted', () => {
    const refusals = [
      [['--allow-other'], '--allow-other needs the caller of each request'],
      [['-o', 'allow_root'], '-o allow_root needs the caller of each request'],
      [['--attr-mirror', 'on'], '--attr-mirror on: this fuse-native build has no attribute table'],
    ] as const;
    for (const [args, line] of refusals) {
      const r = mount([...args]);
      expect(r.code, r.stderr).toBe(1);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toContain(line);
      expect(r.mounted).toBe('');
    }
  }, 180_000);
});

describe('mount: stock fuse-native when native/fuse-native is not built', () => {
  let local: LocalBucket;
  /** NODE_OPTIONS that make a mount process see our build as never built: its binding.js then refuses to load. */
  let unbuilt: Record<string, string>;

  beforeAll(async () => {
    local = await startLocalBucket();
    const preload = join(local.dir, 'hide-fork-addon.cjs');
    writeFileSync(preload, `const fs = require('node:fs');
const existsSync = fs.existsSync;
fs.existsSync = (path) => !String(path).endsWith('/build/source/build/Release/fuse.node') && existsSync(path);
`);
    unbuilt = { NODE_OPTIONS: `--require ${preload}` };
  });
  afterAll(async () => {
    await local?.close();
  });

  it('mounts on stock by itself, saying why; asked for ours, refuses with the reason', async () => {
    const m = await mountBucket(local, { name: 'auto', env: unbuilt });
    try {
      writeFileSync(join(m.mountpoint, 'hello'), 'world');
      expect(readFileSync(join(m.mountpoint, 'hello'), 'utf8')).toBe('world');
      expect(m.log()).toMatch(/ WARN fuse-native: running on the stock build \(native\/fuse-native is not built \(no .*fuse\.node\): run scripts\/setup\.sh\)/);
    } finally {
      await m.unmount();
    }
    await expect(mountBucket(local, { name: 'ours', env: unbuilt, args: ['--fuse-build', 'ossencfs'] })).rejects.toThrow(/--fuse-build ossencfs: native\/fuse-native is not built/);
  }, 120_000);
});
