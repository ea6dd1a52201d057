import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, lstatSync, openSync, readFileSync, readdirSync, readlinkSync, renameSync, statSync, unlinkSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { type Mounted, mountBucket, sh, shStatus } from '../support/mounted.js';
import { encryptedBucket, plaintextOf, until } from '../reliability/support.js';

const MiB = 1024 * 1024;

/** Everything here goes through the real CLI, the real FUSE mount, ali-oss and the local server. */
describe('mount: files and directories', () => {
  let local: LocalBucket;
  let m: Mounted;
  let src: string;
  const MARKER = `PLAINTEXT-MARKER-${randomBytes(8).toString('hex')}`;

  beforeAll(async () => {
    local = await startLocalBucket();
    m = await mountBucket(local, { prefix: 'home' });
    src = join(local.dir, 'src');
    sh(`mkdir -p ${src}`);
  });

  afterAll(async () => {
    await m?.unmount();
    await local?.close();
  });

  const sizes = [0, 1, 15, 16, 17, 1024 * 1024 - 1, 1024 * 1024, 1024 * 1024 + 1, 64 * 1024 * 1024];
  it.each(sizes)('cp and cmp a %i-byte file, in and out', (size) => {
    const from = join(src, `f${size}`);
    writeFileSync(from, randomBytes(size));
    sh(`cp ${from} ${m.mountpoint}/f${size}`);
    expect(statSync(join(m.mountpoint, `f${size}`)).size).toBe(size);
    sh(`cmp ${from} ${m.mountpoint}/f${size}`);
    sh(`cp ${m.mountpoint}/f${size} ${src}/back${size} && cmp ${from} ${src}/back${size}`);
  });

  it('reads at random offsets match the source (dd skip/count)', () => {
    const from = join(src, 'f67108864');
    for (let i = 0; i < 20; i++) {
      const offset = Math.floor(Math.random() * (64 * 1024 * 1024 - 10_000));
      const count = 1 + Math.floor(Math.random() * 9000);
      const fromMount = sh(`dd if=${m.mountpoint}/f67108864 bs=65536 skip=${offset} count=${count} iflag=skip_bytes,count_bytes status=none | od -An -v -tx1 | tr -d ' \\n'`);
      const expected = readFileSync(from).subarray(offset, offset + count).toString('hex');
      expect(fromMount).toBe(expected);
    }
  });

  it('appends, overwrites in the middle, truncates up and down', () => {
    const p = join(m.mountpoint, 'edit.txt');
    writeFileSync(p, `hello ${MARKER}\n`);
    sh(`echo more >> ${p}`);
    expect(readFileSync(p, 'utf8')).toBe(`hello ${MARKER}\nmore\n`);
    sh(`printf XY | dd of=${p} bs=1 seek=2 conv=notrunc status=none`);
    expect(readFileSync(p, 'utf8')).toBe(`heXYo ${MARKER}\nmore\n`);
    sh(`truncate -s 4 ${p}`);
    expect(readFileSync(p, 'utf8')).toBe('heXY');
    sh(`truncate -s 10 ${p}`);
    expect(readFileSync(p)).toEqual(Buffer.concat([Buffer.from('heXY'), Buffer.alloc(6)]));
  });

  it('overwrites an existing big file in the middle and keeps the rest', () => {
    const from = join(src, 'f1048577');
    sh(`cp ${from} ${m.mountpoint}/mid && printf ABCDEFGH | dd of=${m.mountpoint}/mid bs=1 seek=500000 conv=notrunc status=none`);
    const expected = readFileSync(from);
    expected.write('ABCDEFGH', 500000);
    expect(readFileSync(join(m.mountpoint, 'mid')).equals(expected)).toBe(true);
  });

  /** Streams `size` random bytes into `p` (over 'the previous version'), then writes `patch` at `at`; `beforeClose` runs with the file still open. */
  async function streamThenPatch(p: string, size: number, at: number, beforeClose: () => Promise<void>): Promise<Buffer> {
    writeFileSync(p, 'the previous version');
    const data = randomBytes(size);
    const fd = openSync(p, 'w');
    try {
      for (let from = 0; from < data.length; from += MiB) writeSync(fd, data, from, Math.min(MiB, data.length - from), from);
      const patch = Buffer.from('PATCHED');
      writeSync(fd, patch, 0, patch.length, at);
      patch.copy(data, at);
      await beforeClose();
    } finally {
      closeSync(fd);
    }
    return data;
  }

  it.each([
    ['a header written last', 3],
    ['a write behind its end, past the first 8 MiB', 9 * MiB + 3],
  ])('a file written past 8 MiB then patched (%s): nothing is sent before close, then one upload of the exact size with its MD5', async (_, at) => {
    // OSS wants an encrypted multipart upload's exact size at Initiate: content past the 8 MiB kept
    // in memory waits in a staging file until the upload, so the previous version stays whole.
    const bucket = encryptedBucket(local);
    const name = `staged-${at}.bin`;
    const data = await streamThenPatch(join(m.mountpoint, name), 20 * MiB + 5, at, async () => {
      expect(await local.store.listMultipartUploads('home/')).toEqual([]);
      const inBucket = await plaintextOf(bucket, `home/${name}`);
      expect(inBucket.equals(Buffer.from('the previous version')), `${inBucket.length} bytes in the bucket before close`).toBe(true);
    });
    expect((await plaintextOf(bucket, `home/${name}`)).equals(data)).toBe(true);
    const head = await bucket.head(`home/${name}`);
    expect(head.envelope?.dataSize).toBe(data.length);
    expect(head.envelope?.unencryptedContentMd5).toBe(createHash('md5').update(data).digest('base64'));
  });

  it('a file written past 8 MiB and unlinked before close: nothing of it reaches the bucket', async () => {
    const p = join(m.mountpoint, 'early-gone.bin');
    await streamThenPatch(p, 20 * MiB + 5, 9 * MiB + 3, async () => {
      // The kernel renames an open file it unlinks to .fuse_hidden… and removes that at release.
      // In this process: a forked `rm` would close its copy of the descriptor, and that flush uploads.
      unlinkSync(p);
    });
    expect(existsSync(p)).toBe(false);
    // Release (and so the hidden name's removal) comes after close(2) has returned.
    await until('the hidden name to go', async () => (await local.store.list('home/.fuse_hidden')).objects.length === 0);
    expect((await local.store.list('home/early-gone')).objects).toEqual([]);
    expect(await local.store.listMultipartUploads('home/')).toEqual([]);
  });

  it('a new file written past 8 MiB and renamed before close: one upload, under the new name only', async () => {
    const first = join(m.mountpoint, 'early-new.bin');
    const data = randomBytes(20 * MiB + 5);
    const fd = openSync(first, 'w');
    try {
      for (let from = 0; from < data.length; from += MiB) writeSync(fd, data, from, Math.min(MiB, data.length - from), from);
      writeSync(fd, Buffer.from('PATCHED'), 0, 7, 9 * MiB + 3);
      Buffer.from('PATCHED').copy(data, 9 * MiB + 3);
      // In this process: a forked `mv` would close its copy of fd, and that flush uploads.
      renameSync(first, join(m.mountpoint, 'early-renamed.bin'));
    } finally {
      closeSync(fd);
    }
    const keys = (await local.store.list('home/early-')).objects.map((o) => o.key);
    expect(keys).toEqual(['home/early-renamed.bin']);
    expect((await plaintextOf(encryptedBucket(local), 'home/early-renamed.bin')).equals(data)).toBe(true);
  });

  it('the mount keeps /.ossencfs for itself: not found, not creatable', () => {
    expect(shStatus(`stat ${m.mountpoint}/.ossencfs`).stderr).toMatch(/No such file or directory/);
    expect(shStatus(`mkdir ${m.mountpoint}/.ossencfs`).stderr).toMatch(/Operation not permitted/);
    expect(shStatus(`touch ${m.mountpoint}/.ossencfs`).stderr).toMatch(/Operation not permitted/);
  });

  it('a file opened again right after close, before FUSE released it: each open sees and keeps the last content', () => {
    // FUSE sends release after close(2) returns, so the next open can start while the previous
    // one's last handle is still being released; such an open once joined the file as it closed
    // (its writes then failed EBADF, its close ENOENT, ~1 cycle in 80). Each cycle truncates,
    // appends, patches and reads back, every open right after the previous close.
    const out = sh(`python3 - <<'PY'
import os, random
p = '${m.mountpoint}/reopened.bin'
fails = []
for i in range(200):
    try:
        data = os.urandom(random.choice([10, 5000, 200000]))
        with open(p, 'wb') as f: f.write(data)
        extra = os.urandom(random.choice([1, 3000]))
        with open(p, 'ab') as f: f.write(extra)
        fd = os.open(p, os.O_RDWR)
        os.pwrite(fd, b'XY', 3)
        os.close(fd)
        expected = bytearray(data + extra); expected[3:5] = b'XY'
        with open(p, 'rb') as f: got = f.read()
        if got != bytes(expected): fails.append(f'{i}: read {len(got)} bytes, expected {len(expected)}')
    except OSError as e:
        fails.append(f'{i}: {e}')
print(len(fails), fails[:5])
PY`);
    expect(out.trim()).toBe('0 []');
    expect(m.log()).not.toMatch(/reopened\.bin: closed with changes that were never uploaded/);
  });

  it('mv of files and of a directory tree; rm -r', () => {
    sh(`mkdir -p ${m.mountpoint}/tree/a/b && echo one > ${m.mountpoint}/tree/a/one && echo two > ${m.mountpoint}/tree/a/b/two`);
    sh(`mv ${m.mountpoint}/tree/a/one ${m.mountpoint}/tree/uno`);
    expect(readFileSync(join(m.mountpoint, 'tree/uno'), 'utf8')).toBe('one\n');
    expect(existsSync(join(m.mountpoint, 'tree/a/one'))).toBe(false);
    sh(`mv ${m.mountpoint}/tree ${m.mountpoint}/moved`);
    expect(readFileSync(join(m.mountpoint, 'moved/a/b/two'), 'utf8')).toBe('two\n');
    expect(existsSync(join(m.mountpoint, 'tree'))).toBe(false);
    // replacing an existing target
    sh(`echo new > ${m.mountpoint}/moved/x && mv ${m.mountpoint}/moved/x ${m.mountpoint}/moved/uno`);
    expect(readFileSync(join(m.mountpoint, 'moved/uno'), 'utf8')).toBe('new\n');
    sh(`rm -r ${m.mountpoint}/moved`);
    expect(existsSync(join(m.mountpoint, 'moved'))).toBe(false);
  });

  it('mkdir -p 20 levels, rmdir refuses a non-empty directory', () => {
    const deep = Array.from({ length: 20 }, (_, i) => `d${i}`).join('/');
    sh(`mkdir -p ${m.mountpoint}/${deep} && echo x > ${m.mountpoint}/${deep}/leaf`);
    expect(readFileSync(join(m.mountpoint, deep, 'leaf'), 'utf8')).toBe('x\n');
    const r = shStatus(`rmdir ${m.mountpoint}/d0`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/not empty/i);
  });

  it('names with spaces, unicode, %, +, #, a newline, and 255 bytes', () => {
    const names = ['with space', 'ünïcødé-文件', '100%', 'a+b', '#hash', 'new\nline', 'n'.repeat(255)];
    for (const name of names) writeFileSync(join(m.mountpoint, name), name);
    const listed = readdirSync(m.mountpoint);
    for (const name of names) {
      expect(listed).toContain(name);
      expect(readFileSync(join(m.mountpoint, name), 'utf8')).toBe(name);
    }
    const tooLong = shStatus(`touch ${m.mountpoint}/${'n'.repeat(256)}`);
    expect(tooLong.status).not.toBe(0);
  });

  it('symlinks: create, readlink, follow; hard links are refused with EPERM', () => {
    writeFileSync(join(m.mountpoint, 'target.txt'), 'pointed at');
    sh(`ln -s target.txt ${m.mountpoint}/link`);
    expect(lstatSync(join(m.mountpoint, 'link')).isSymbolicLink()).toBe(true);
    expect(readlinkSync(join(m.mountpoint, 'link'))).toBe('target.txt');
    expect(readFileSync(join(m.mountpoint, 'link'), 'utf8')).toBe('pointed at');
    const hard = shStatus(`ln ${m.mountpoint}/target.txt ${m.mountpoint}/hard`);
    expect(hard.status).not.toBe(0);
    expect(hard.stderr).toMatch(/not permitted/i);
  });

  it('O_EXCL refuses an existing file; O_APPEND appends', () => {
    writeFileSync(join(m.mountpoint, 'excl'), 'a');
    expect(() => writeFileSync(join(m.mountpoint, 'excl'), 'b', { flag: 'wx' })).toThrow(/EEXIST/);
    writeFileSync(join(m.mountpoint, 'excl'), 'b', { flag: 'a' });
    expect(readFileSync(join(m.mountpoint, 'excl'), 'utf8')).toBe('ab');
  });

  it('chmod, chown and touch -d survive a remount', async () => {
    writeFileSync(join(m.mountpoint, 'attrs'), 'x');
    sh(`chmod 640 ${m.mountpoint}/attrs && chown 1234:4321 ${m.mountpoint}/attrs && touch -d '2001-02-03 04:05:06' ${m.mountpoint}/attrs`);
    sh(`mkdir ${m.mountpoint}/adir && chmod 700 ${m.mountpoint}/adir && touch -d '2002-01-01 00:00:00' ${m.mountpoint}/adir`);
    await m.unmount();
    m = await mountBucket(local, { prefix: 'home' });
    const st = statSync(join(m.mountpoint, 'attrs'));
    expect(st.mode & 0o777).toBe(0o640);
    expect(st.uid).toBe(1234);
    expect(st.gid).toBe(4321);
    expect(st.mtime.toISOString()).toBe(new Date('2001-02-03T04:05:06').toISOString());
    const dt = statSync(join(m.mountpoint, 'adir'));
    expect(dt.isDirectory()).toBe(true);
    expect(dt.mode & 0o777).toBe(0o700);
    expect(dt.mtime.toISOString()).toBe(new Date('2002-01-01T00:00:00').toISOString());
  });

  it('utimens: distinct atime and mtime (rsync, cp -p), and touch = now', () => {
    const path = join(m.mountpoint, 'times');
    writeFileSync(path, 'x');
    // os.utime sets both times in one utimensat(2), as rsync and cp -p do.
    sh(`python3 -c "import os; os.utime('${path}', ns=(1081051444000000000, 1046660583250000000))"`);
    let st = statSync(path);
    expect(st.atime.toISOString()).toBe('2004-04-04T04:04:04.000Z');
    expect(st.mtime.toISOString()).toBe('2003-03-03T03:03:03.250Z');
    sh(`cp -p ${path} ${m.mountpoint}/times-copy`);
    expect(statSync(join(m.mountpoint, 'times-copy')).mtime.toISOString()).toBe('2003-03-03T03:03:03.250Z');
    const before = Date.now();
    sh(`touch ${path}`); // UTIME_NOW for both
    st = statSync(path);
    expect(Math.abs(st.mtimeMs - before)).toBeLessThan(60_000);
  });

  it('a shared mmap of a file: writes through the mapping reach the object, in an existing file and one grown first', async () => {
    // Programs that map files writable (databases, some editors and build tools) write back through
    // FUSE's page writeback, not write(2). python3 is on every machine node-gyp builds on.
    const path = join(m.mountpoint, 'mapped.bin');
    const before = randomBytes(3 * MiB + 100);
    writeFileSync(path, before);
    sh(`python3 - '${path}' <<'PY'
import mmap, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
os.ftruncate(fd, ${4 * MiB})   # grown first, then written through the mapping past the old end
with mmap.mmap(fd, ${4 * MiB}) as m:
    m[0:5] = b'first'
    m[${2 * MiB - 2}:${2 * MiB + 3}] = b'cross'
    m[${4 * MiB - 4}:] = b'last'
    m.flush()
os.close(fd)
PY`);
    const expected = Buffer.concat([before, Buffer.alloc(4 * MiB - before.length)]);
    expected.write('first', 0);
    expected.write('cross', 2 * MiB - 2);
    expected.write('last', 4 * MiB - 4);
    expect(readFileSync(path).equals(expected)).toBe(true);
    const bucket = encryptedBucket(local);
    await until('the mapped writes in the bucket', async () => (await plaintextOf(bucket, 'home/mapped.bin')).equals(expected));
  });

  it('statfs answers (df)', () => {
    expect(sh(`df -P ${m.mountpoint}`)).toMatch(/oss:\/\/test-bucket\/home/);
  });

  it('no plaintext marker ever reached the server data directory', () => {
    const hits = shStatus(`grep -rl ${MARKER} ${local.dataDir}`);
    expect(hits.status).toBe(1); // grep: 1 = no match
    // …while the mount still reads it back in the clear somewhere it was written.
    writeFileSync(join(m.mountpoint, 'marker'), MARKER);
    expect(readFileSync(join(m.mountpoint, 'marker'), 'utf8')).toBe(MARKER);
    expect(shStatus(`grep -rl ${MARKER} ${local.dataDir}`).status).toBe(1);
  });
});
