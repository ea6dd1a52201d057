import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EncryptedBucket } from '../../src/secure/index.js';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { type Mounted, mountBucket, sh, shStatus } from '../support/mounted.js';
import { encryptedBucket, plaintextOf, sha256 } from './support.js';

const MiB = 1024 * 1024;

function filesBelow(dir: string): string[] {
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name));
}

/**
 * The cache directory (where in-place edits, and new content past 8 MiB, stage the whole file in
 * plaintext) sits on a 2 MiB tmpfs. A file that cannot be staged: the app must get ENOSPC, the
 * object must stay as it was, nothing half-written may be left on the small disk, and the mount
 * must go on serving.
 */
describe('reliability: the local disk under the cache directory is full', () => {
  let local: LocalBucket;
  let m: Mounted;
  let bucket: EncryptedBucket;
  let cacheDir: string;
  let src: string;

  beforeAll(async () => {
    local = await startLocalBucket();
    bucket = encryptedBucket(local);
    // mountBucket passes --cache-dir <dir>/<name>-cache: put the small disk right there.
    cacheDir = join(local.dir, 'small-cache');
    mkdirSync(cacheDir);
    sh(`mount -t tmpfs -o size=2m,mode=0700 tmpfs ${cacheDir}`);
    m = await mountBucket(local, { name: 'small' });
    src = join(local.dir, 'src');
    mkdirSync(src);
  });

  afterAll(async () => {
    await m?.unmount();
    shStatus(`umount ${cacheDir}`);
    await local?.close();
  });

  let scripts = 0;
  const python = (code: string): { status: number; stdout: string; stderr: string } => {
    const file = join(src, `script${scripts++}.py`);
    writeFileSync(file, code);
    return shStatus(`python3 ${file}`);
  };

  /**
   * Writes `src/payload` into `name` from `at`, `chunk` bytes a call, until a write fails; expects
   * that failure to be ENOSPC and the close after it to return. Resolves with the bytes written.
   */
  function writeUntilFull(name: string, o: { flags: string; at: number; chunk: number; before?: string }): number {
    const r = python(`import os
fd = os.open('${m.mountpoint}/${name}', ${o.flags})
${o.before ?? ''}
payload = open('${src}/payload', 'rb').read()
done = 0
try:
    while done < len(payload):
        done += os.pwrite(fd, payload[done:done + ${o.chunk}], ${o.at} + done)
except OSError as e:
    print('write failed', e.errno, e.strerror)
print('done', done)
os.close(fd)
print('closed')
`);
    expect(r.stdout).toMatch(/write failed 28 No space left on device/);
    expect(r.stdout).toContain('closed');
    return Number(/done (\d+)/.exec(r.stdout)![1]);
  }

  it('an in-place edit of a 6 MiB file: the write fails with ENOSPC, the object is unchanged, reads still work', async () => {
    const data = randomBytes(6 * MiB);
    await bucket.put('big.bin', data);
    const etag = (await local.store.head('big.bin')).etag;
    const r = python(`import os
fd = os.open('${m.mountpoint}/big.bin', os.O_RDWR)
try:
    os.pwrite(fd, b'EDIT', 3000000)
    print('written')
except OSError as e:
    print('write failed', e.errno, e.strerror)
try:
    os.close(fd)
    print('closed')
except OSError as e:
    print('close failed', e.errno, e.strerror)
`);
    expect(r.stdout).toContain('No space left on device');
    expect(r.stdout).toMatch(/write failed 28 No space left on device/);
    expect((await local.store.head('big.bin')).etag).toBe(etag);
    expect(sha256(await plaintextOf(bucket, 'big.bin'))).toBe(sha256(data));
    expect(sh(`cat ${m.mountpoint}/big.bin | sha256sum`).split(' ')[0]).toBe(sha256(data));
    // The partial staging file is gone, and the small disk is usable again.
    expect(filesBelow(cacheDir).filter((f) => !f.endsWith('uploads.jsonl') && !f.endsWith('/owner'))).toEqual([]);
    expect(m.log()).toMatch(/ENOSPC/);
  });

  it('an edit that fits at first and then outgrows the disk: a short write, then ENOSPC; the close uploads the staged edit', async () => {
    const data = randomBytes(1 * MiB);
    await bucket.put('grow.bin', data);
    const payload = randomBytes(4 * MiB);
    writeFileSync(join(src, 'payload'), payload);
    // Unaligned on purpose: the request that hits the full disk is then half written.
    const at = 1 * MiB + 1000;
    const done = writeUntilFull('grow.bin', { flags: 'os.O_RDWR', before: "os.pwrite(fd, b'HEAD', 0)", at, chunk: payload.length });
    // The kernel splits the write into 1 MiB requests: those that fit succeed (a short write),
    // the next one fails with ENOSPC; the close then uploads what is staged.
    expect(done).toBeLessThan(payload.length);
    const told = Buffer.concat([data, Buffer.alloc(at - data.length), payload.subarray(0, done)]);
    told.write('HEAD', 0);
    const got = await plaintextOf(bucket, 'grow.bin');
    // Everything the app was told was written is there, byte for byte. KNOWN BUG (src/vfs, see the
    // reliability report): the bytes the failed request managed to put on disk before ENOSPC are
    // uploaded too, so the object can be longer than what the app saw (never other bytes than the
    // app's own). When fixed: expect(sha256(got)).toBe(sha256(told)).
    expect(got.subarray(0, told.length).equals(told)).toBe(true);
    expect(got.subarray(told.length).equals(payload.subarray(done, done + got.length - told.length))).toBe(true);
    expect(filesBelow(cacheDir).filter((f) => !f.endsWith('uploads.jsonl') && !f.endsWith('/owner'))).toEqual([]);
  });

  it('a new file past 8 MiB waits on the cache disk too: the write that moves it there gets ENOSPC; the close uploads what was written, as a local disk keeps it', async () => {
    await bucket.put('new.bin', randomBytes(100_000));
    const payload = randomBytes(12 * MiB);
    writeFileSync(join(src, 'payload'), payload);
    // 8 MiB fit in memory; the next write has to move them to the 2 MiB disk.
    const done = writeUntilFull('new.bin', { flags: 'os.O_WRONLY | os.O_TRUNC', at: 0, chunk: MiB });
    expect(done).toBe(8 * MiB);
    expect(sha256(await plaintextOf(bucket, 'new.bin'))).toBe(sha256(payload.subarray(0, done)));
    expect(await local.store.listMultipartUploads('new')).toEqual([]);
    expect(filesBelow(cacheDir).filter((f) => !f.endsWith('uploads.jsonl') && !f.endsWith('/owner'))).toEqual([]);
  });

  it('a small in-place edit (fits on the disk) still works after the failures', async () => {
    const data = randomBytes(200_000);
    await bucket.put('small.bin', data);
    sh(`printf XYZ | dd of=${m.mountpoint}/small.bin bs=1 seek=100 conv=notrunc status=none`);
    const expected = Buffer.from(data);
    expected.write('XYZ', 100);
    expect(sha256(await plaintextOf(bucket, 'small.bin'))).toBe(sha256(expected));
  });
});
