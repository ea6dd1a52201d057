import { constants, linkSync, lstatSync, mkdirSync, readdirSync, renameSync, statSync, unlinkSync, writeFileSync } from 'node:fs';
import { connect, createServer } from 'node:net';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePosixMeta } from '../../src/secure/index.js';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { type Mounted, mountBucket, sh, shStatus } from '../support/mounted.js';

/** st_rdev as Linux encodes a device number (glibc's makedev for numbers below 4096/2^20). */
const makedev = (major: number, minor: number): number => (major << 8) | (minor & 0xff) | ((minor & 0xfff00) << 12);

/** The errno code a node:fs call fails with, or 'ok'. */
function errnoOf(call: () => unknown): string {
  try {
    call();
    return 'ok';
  } catch (err) {
    return (err as NodeJS.ErrnoException).code ?? String(err);
  }
}

/** FIFOs, sockets and device nodes as empty objects with their mode (and rdev); hard links' errors. */
describe('mount: special files and hard links', () => {
  let local: LocalBucket;
  let m: Mounted;
  const PREFIX = 'home';

  beforeAll(async () => {
    local = await startLocalBucket();
    m = await mountBucket(local, { prefix: PREFIX });
  });

  afterAll(async () => {
    await m?.unmount();
    await local?.close();
  });

  it('mkfifo, mknod c/b and mknod of a regular file are made, listed and stat’ed with their type and rdev, each one empty object', async () => {
    const dir = join(m.mountpoint, 'made');
    mkdirSync(dir);
    sh(`cd ${dir} && mkfifo -m 640 fifo && mknod -m 600 chr c 1 7 && mknod blk b 259 70000`);
    sh(`python3 -c "import os, stat; os.mknod('${dir}/reg', stat.S_IFREG | 0o640)"`);
    expect(readdirSync(dir).sort()).toEqual(['blk', 'chr', 'fifo', 'reg']);
    expect(sh(`cd ${dir} && stat -c '%n %F %a %t:%T %s' fifo chr blk reg`).trim().split('\n')).toEqual([
      'fifo fifo 640 0:0 0',
      'chr character special file 600 1:7 0',
      // %t/%T print major/minor in hex
      `blk block special file 644 ${(259).toString(16)}:${(70000).toString(16)} 0`,
      'reg regular empty file 640 0:0 0',
    ]);
    expect(statSync(join(dir, 'blk')).rdev).toBe(makedev(259, 70000));
    // As s3fs keeps them: an empty object each, the mode with its type bits, and a device's number.
    for (const [name, mode, rdev] of [['fifo', constants.S_IFIFO | 0o640, undefined], ['chr', constants.S_IFCHR | 0o600, makedev(1, 7)], ['reg', constants.S_IFREG | 0o640, undefined]] as const) {
      const head = await local.store.head(`${PREFIX}/made/${name}`);
      expect(head.size).toBe(0);
      const posix = decodePosixMeta(head.meta);
      expect(posix.mode, name).toBe(mode);
      expect(posix.rdev, name).toBe(rdev);
    }
  });

  it('a FIFO carries data between two processes and the mount never sees it opened', () => {
    const fifo = join(m.mountpoint, 'pipe');
    sh(`mkfifo ${fifo}`);
    expect(sh(`(echo through the pipe > ${fifo} &) ; cat ${fifo}`)).toBe('through the pipe\n');
    // The kernel opens FIFOs itself: no open of it (which any read or write would need) reaches the filesystem.
    expect(m.log()).toMatch(/DEBUG mknod \/pipe ok/);
    expect(m.log()).not.toMatch(/DEBUG (open|release) \/pipe /);
  });

  it('a unix socket bound in the mount (the kernel makes it by mknod) takes connections', async () => {
    const path = join(m.mountpoint, 'echo.sock');
    const server = createServer((c) => c.pipe(c));
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(path, resolve));
    try {
      expect(lstatSync(path).isSocket()).toBe(true);
      const reply = await new Promise<string>((resolve, reject) => {
        const client = connect(path, () => client.end('ping'));
        let got = '';
        client.on('data', (d: Buffer) => (got += d.toString())).on('end', () => resolve(got)).on('error', reject);
      });
      expect(reply).toBe('ping');
      expect(readdirSync(m.mountpoint)).toContain('echo.sock');
    } finally {
      await new Promise((r) => server.close(r));
    }
  });

  it('a device node on the mount (nodev, as FUSE mounts are) cannot be opened: EACCES from the kernel', () => {
    sh(`mknod ${m.mountpoint}/null-dev c 1 3`);
    const r = shStatus(`cat ${m.mountpoint}/null-dev`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
    expect(m.log()).not.toMatch(/DEBUG open \/null-dev /);
  });

  it('special files are renamed, chmod’ed and removed like files, and survive a remount', async () => {
    const dir = join(m.mountpoint, 'keep');
    mkdirSync(dir);
    sh(`cd ${dir} && mkfifo f0 && mknod c0 c 4 64 && mknod b0 b 8 3`);
    sh(`python3 -c "import socket; socket.socket(socket.AF_UNIX).bind('${dir}/s0')"`);
    renameSync(join(dir, 'f0'), join(dir, 'fifo'));
    renameSync(join(dir, 'c0'), join(dir, 'tty'));
    renameSync(join(dir, 's0'), join(dir, 'sock'));
    sh(`chmod 604 ${dir}/tty && chmod 1640 ${dir}/fifo`);
    unlinkSync(join(dir, 'b0'));
    const expected = ['fifo fifo 1640 0:0', 'sock socket 755 0:0', 'tty character special file 604 4:40'];
    const described = (): string[] => sh(`cd ${dir} && stat -c '%n %F %a %t:%T' fifo sock tty`).trim().split('\n');
    expect(described()).toEqual(expected);

    await m.unmount();
    m = await mountBucket(local, { prefix: PREFIX });
    expect(readdirSync(dir).sort()).toEqual(['fifo', 'sock', 'tty']);
    expect(described()).toEqual(expected);
    expect(sh(`(echo after remount > ${dir}/fifo &) ; cat ${dir}/fifo`)).toBe('after remount\n');
  });

  it('a device node planted in the bucket (no key holder vouched for it) shows as a regular file', async () => {
    // What a mknod through the mount stores, without the attribute MAC: a bucket writer's device.
    await local.store.put(`${PREFIX}/planted`, Buffer.alloc(0), { meta: { mode: String(constants.S_IFCHR | 0o666), rdev: String(0x0101) } });
    const st = lstatSync(join(m.mountpoint, 'planted'));
    expect(st.isFile()).toBe(true);
    expect(st.rdev).toBe(0);
  });

  it('link gives the errors POSIX names first, then EPERM (object storage has no hard links)', () => {
    const dir = join(m.mountpoint, 'links');
    mkdirSync(join(dir, 'sub'), { recursive: true });
    writeFileSync(join(dir, 'file'), 'x');
    writeFileSync(join(dir, 'other'), 'y');
    sh(`mkfifo ${dir}/fifo`);
    expect(errnoOf(() => linkSync(join(dir, 'missing'), join(dir, 'new')))).toBe('ENOENT');
    expect(errnoOf(() => linkSync(join(dir, 'file'), join(dir, 'other')))).toBe('EEXIST');
    expect(errnoOf(() => linkSync(join(dir, 'sub'), join(dir, 'new')))).toBe('EPERM');
    expect(errnoOf(() => linkSync(join(dir, 'file'), join(dir, 'x'.repeat(256))))).toBe('ENAMETOOLONG');
    expect(errnoOf(() => linkSync(join(dir, 'file'), join(dir, 'nodir', 'new')))).toBe('ENOENT');
    expect(errnoOf(() => linkSync(join(dir, 'file'), join(dir, 'other', 'new')))).toBe('ENOTDIR');
    expect(errnoOf(() => linkSync(join(dir, 'file'), join(dir, 'new')))).toBe('EPERM');
    expect(errnoOf(() => linkSync(join(dir, 'fifo'), join(dir, 'new')))).toBe('EPERM');
    expect(shStatus(`ln ${dir}/file ${dir}/new`).stderr).toMatch(/Operation not permitted/);
    // Nothing was made, and the source is as it was.
    expect(readdirSync(dir).sort()).toEqual(['fifo', 'file', 'other', 'sub']);
    expect(statSync(join(dir, 'file')).nlink).toBe(1);
  });

  it('a name over 255 bytes is ENAMETOOLONG for a lookup as for a create, not ENOENT', () => {
    const long = join(m.mountpoint, 'n'.repeat(256));
    expect(errnoOf(() => statSync(long))).toBe('ENAMETOOLONG');
    expect(errnoOf(() => writeFileSync(long, 'x'))).toBe('ENAMETOOLONG');
    expect(errnoOf(() => renameSync(long, join(m.mountpoint, 'short')))).toBe('ENAMETOOLONG');
    expect(errnoOf(() => statSync(join(m.mountpoint, 'n'.repeat(255))))).toBe('ENOENT');
  });

  it('on a read-only mount, mknod and link fail with EROFS', async () => {
    writeFileSync(join(m.mountpoint, 'ro-src'), 'x');
    const ro = await mountBucket(local, { name: 'ro', prefix: PREFIX, args: ['--read-only'] });
    try {
      expect(errnoOf(() => linkSync(join(ro.mountpoint, 'ro-src'), join(ro.mountpoint, 'ro-link')))).toBe('EROFS');
      expect(shStatus(`mkfifo ${ro.mountpoint}/ro-fifo`).stderr).toMatch(/Read-only file system/);
      expect(shStatus(`mknod ${ro.mountpoint}/ro-chr c 1 3`).stderr).toMatch(/Read-only file system/);
    } finally {
      await ro.unmount();
    }
  });
});
