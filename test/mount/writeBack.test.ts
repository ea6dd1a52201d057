import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePosixMeta } from '../../src/secure/index.js';
import { encryptedBucket, plaintextOf, sha256, until } from '../reliability/support.js';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { type Mounted, mountBucket, sh } from '../support/mounted.js';
import { fault, resetSeen, seen } from '../support/serverAdmin.js';

const present = async (local: LocalBucket, key: string): Promise<boolean> =>
  local.store.head(key).then(
    () => true,
    () => false,
  );

/**
 * Write-back: a closed new file uploads after a short wait, so what programs do right after close
 * (rsync: set times and mode, rename the temporary name) folds into its one upload.
 */
describe('mount: write-back of new files', () => {
  let local: LocalBucket;
  let m: Mounted;
  let src: string;

  beforeAll(async () => {
    local = await startLocalBucket();
    // Long enough that every check below runs inside the window.
    m = await mountBucket(local, { name: 'write-back', args: ['--write-back', '5'] });
    src = join(local.dir, 'src');
    mkdirSync(src);
  });

  afterAll(async () => {
    await m?.unmount();
    await local?.close();
  });

  it('rsync of new files: one PUT each under the final name with its times and mode, no CopyObject or DELETE', async () => {
    const files = 12;
    for (let i = 0; i < files; i++) writeFileSync(join(src, `r${i}`), randomBytes(1000 + i * 5000), { mode: 0o640 });
    sh(`touch -d '2021-03-04 05:06:07' ${src}/r*`);
    sh(`mkdir ${m.mountpoint}/rs`);
    await resetSeen(local);
    sh(`rsync -a ${src}/ ${m.mountpoint}/rs/`);
    // Inside the window the mount already shows the final names, times and modes.
    expect(statSync(join(m.mountpoint, 'rs', 'r3')).mtime.toISOString()).toBe(statSync(join(src, 'r3')).mtime.toISOString());
    expect(statSync(join(m.mountpoint, 'rs', 'r3')).mode & 0o777).toBe(0o640);
    await until('uploads after the window', async () => (await seen(local, { method: 'PUT' })).length >= files, 20);

    const requests = await seen(local);
    // rsync -a also sets the directory's time when it differs at its granularity: a metadata update of
    // the directory marker, which depends on the second boundary and is not about the files.
    const puts = requests.filter((r) => r.method === 'PUT' && r.path !== `/${local.bucket}/rs/`);
    expect(puts.map((r) => r.path).sort()).toEqual(Array.from({ length: files }, (_, i) => `/${local.bucket}/rs/r${i}`).sort());
    expect(requests.filter((r) => r.method === 'DELETE')).toEqual([]);
    const bucket = encryptedBucket(local);
    for (let i = 0; i < files; i++) {
      expect(sha256(await plaintextOf(bucket, `rs/r${i}`))).toBe(sha256(readFileSync(join(src, `r${i}`))));
      const posix = decodePosixMeta((await local.store.head(`rs/r${i}`)).meta);
      expect(posix.mode! & 0o777).toBe(0o640);
      expect(posix.mtime).toBe(Date.parse('2021-03-04T05:06:07') / 1000);
    }
    // A no-op second run sees nothing to do.
    expect(sh(`rsync -a -i ${src}/ ${m.mountpoint}/rs/`).trim()).toBe('');
  });

  it('close is not a durability point, fsync is: fsync uploads at once; a plain close waits for the window', async () => {
    sh(`python3 -c "import os; fd = os.open('${m.mountpoint}/synced.txt', os.O_WRONLY | os.O_CREAT, 0o644); os.write(fd, b'synced'); os.fsync(fd); os.close(fd)"`);
    expect(await present(local, 'synced.txt')).toBe(true);
    writeFileSync(join(m.mountpoint, 'later.txt'), 'later');
    expect(await present(local, 'later.txt')).toBe(false);
    expect(readFileSync(join(m.mountpoint, 'later.txt'), 'utf8')).toBe('later');
    await until('the write-back upload', () => present(local, 'later.txt'), 20);
  });

  it('an overwrite of an existing object still uploads at close', async () => {
    writeFileSync(join(m.mountpoint, 'over.txt'), 'v1');
    await until('v1 uploaded', () => present(local, 'over.txt'), 20);
    writeFileSync(join(m.mountpoint, 'over.txt'), 'v2');
    expect((await plaintextOf(encryptedBucket(local), 'over.txt')).toString()).toBe('v2');
  });

  it('a write-back upload that fails is tried again later; the file stays readable meanwhile and nothing is lost', async () => {
    // More 503s than one upload's retry budget (6 tries): the first write-back attempt fails.
    await fault(local, { action: 'fail', count: 8, status: 503, method: 'PUT', path: '/retry.bin' });
    const data = randomBytes(200_000);
    writeFileSync(join(m.mountpoint, 'retry.bin'), data);
    await until('a failed attempt in the log', () => /retry\.bin: upload after close failed, trying again/.test(m.log()), 30);
    expect(sha256(readFileSync(join(m.mountpoint, 'retry.bin')))).toBe(sha256(data));
    await until('the retried upload', () => present(local, 'retry.bin'), 40);
    expect(sha256(await plaintextOf(encryptedBucket(local), 'retry.bin'))).toBe(sha256(data));
  });

  /** Writes `name`, closes it and waits until its write-back PUT is in flight (held by a latency fault). */
  async function uploadInFlight(name: string, data: Buffer): Promise<void> {
    await fault(local, { action: 'latency', ms: 3000, count: 1, method: 'PUT', path: `/${name}` });
    writeFileSync(join(m.mountpoint, name), data);
    await until(`the write-back PUT of ${name} in flight`, async () => (await seen(local, { method: 'PUT', path: `/${name}` })).length > 0, 20);
  }

  it('mv while the write-back upload is in flight: the file ends up under the new name only', async () => {
    const data = randomBytes(30_000);
    await uploadInFlight('race-mv.bin', data);
    sh(`mv ${m.mountpoint}/race-mv.bin ${m.mountpoint}/race-moved.bin`);
    expect(sha256(readFileSync(join(m.mountpoint, 'race-moved.bin')))).toBe(sha256(data));
    expect(sh(`ls ${m.mountpoint}`)).not.toContain('race-mv.bin');
    await until('the held PUT answered', async () => (await seen(local, { method: 'PUT', path: '/race-mv.bin' })).every((r) => r.status !== 0), 20);
    expect(await present(local, 'race-mv.bin')).toBe(false);
    expect(sha256(await plaintextOf(encryptedBucket(local), 'race-moved.bin'))).toBe(sha256(data));
  });

  it('rm while the write-back upload is in flight: the name does not come back', async () => {
    await uploadInFlight('race-rm.bin', randomBytes(30_000));
    sh(`rm ${m.mountpoint}/race-rm.bin`);
    await until('the held PUT answered', async () => (await seen(local, { method: 'PUT', path: '/race-rm.bin' })).every((r) => r.status !== 0), 20);
    expect(await present(local, 'race-rm.bin')).toBe(false);
    expect(sh(`ls ${m.mountpoint}`)).not.toContain('race-rm.bin');
  });

  it('chmod and utime by path while the write-back upload is in flight: the object gets them as well, uploaded again', async () => {
    await uploadInFlight('race-attr.bin', randomBytes(30_000));
    // By path, as rsync does after the rename (touch would open the file, and its close upload again).
    const mtime = Date.parse('2020-01-02T03:04:05Z') / 1000;
    sh(`python3 -c "import os; p = '${m.mountpoint}/race-attr.bin'; os.chmod(p, 0o600); os.utime(p, (${mtime}, ${mtime}))"`);
    await until('the new mode and time in the bucket', async () => {
      const posix = await local.store.head('race-attr.bin').then((h) => decodePosixMeta(h.meta), () => undefined);
      return posix !== undefined && (posix.mode! & 0o777) === 0o600 && posix.mtime === mtime;
    }, 20);
    expect(m.log()).not.toMatch(/race-attr\.bin: closed with changes that were never uploaded/);
  });

  it('a file uploaded and closed before its write-back window ends: the window running out later changes nothing', () => {
    // The write-back timer outlived the file when something else uploaded and closed it first (an
    // fsync here; a directory rename does too): when it ran, it wrote the file's attributes as
    // they were then over the newer ones, and a stat or read in the next second saw the old size.
    const p = join(m.mountpoint, 'outlived.txt');
    const out = sh(`python3 - <<'PY'
import os, time
p = '${p}'
with open(p, 'wb') as f: f.write(b'A' * 10)        # new: its upload waits for the window (5 s)
closed = time.time()
fd = os.open(p, os.O_RDWR); os.fsync(fd); os.close(fd)   # uploaded now, and closed
with open(p, 'ab') as f: f.write(b'B' * 10)        # in the bucket: uploads at close
time.sleep(max(0, closed + 5.4 - time.time()))      # the window has run out
sizes = [os.stat(p).st_size]
with open(p, 'rb') as f: sizes.append(len(f.read()))
print(sizes)
PY`);
    expect(out.trim()).toBe('[20, 20]');
  });

  it('unmount uploads what is still waiting', async () => {
    const data = randomBytes(50_000);
    writeFileSync(join(m.mountpoint, 'at-unmount.bin'), data);
    expect(await present(local, 'at-unmount.bin')).toBe(false);
    await m.unmount();
    expect(sha256(await plaintextOf(encryptedBucket(local), 'at-unmount.bin'))).toBe(sha256(data));
    m = await mountBucket(local, { name: 'write-back', args: ['--write-back', '5'] });
  });
});
