import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { EncryptedBucket } from '../../src/secure/index.js';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { type Mounted, mountBucket, sh, shStatus, UPLOAD_AT_CLOSE } from '../support/mounted.js';
import { encryptedBucket, plaintextOf, sha256, timed, until } from './support.js';
import { fault, resetSeen, seen } from '../support/serverAdmin.js';

const MiB = 1024 * 1024;

/**
 * Retries through the real mount: faults are armed in the server process over its admin endpoint,
 * the app (cat, cp, dd) runs against the FUSE mount, and requests are counted by the server.
 * Objects to read are planted in-process through EncryptedBucket, so the mount has never cached them.
 */
describe('reliability: retries through the mount', () => {
  let local: LocalBucket;
  let m: Mounted;
  let bucket: EncryptedBucket;
  let src: string;
  const timings: Record<string, number> = {};

  beforeAll(async () => {
    local = await startLocalBucket();
    bucket = encryptedBucket(local);
    m = await mountBucket(local, { name: 'retries', args: UPLOAD_AT_CLOSE });
    src = join(local.dir, 'src');
    sh(`mkdir -p ${src}`);
  });

  /** The mount log's length when the current test started: a failure prints what the test added (it holds no secrets). */
  let logAtStart = 0;
  beforeEach(() => {
    logAtStart = m.log().length;
  });
  const logOfThisTest = (): string => m.log().slice(logAtStart);

  afterEach(async ({ task }) => {
    await fault(local, { action: 'clear' });
    if (task.result?.state === 'fail') console.log(`mount log during "${task.name}":\n${logOfThisTest().split('\n').slice(-80).join('\n')}`);
  });

  afterAll(async () => {
    console.log(`bounded-failure timings (s): ${JSON.stringify(timings)}`);
    await m?.unmount();
    await local?.close();
  });

  /** Plants an object the mount has never seen and returns its plaintext. */
  async function plant(key: string, size: number): Promise<Buffer> {
    const data = randomBytes(size);
    await bucket.put(key, data);
    return data;
  }

  const catSha = (name: string): string => sh(`cat ${m.mountpoint}/${name} | sha256sum`).split(' ')[0]!;

  it('3×503 on every GET of a file, then success: cat returns the exact bytes', async () => {
    const data = await plant('r503.bin', 3 * MiB + 5);
    await resetSeen(local);
    await fault(local, { action: 'fail', count: 3, status: 503, method: 'GET', path: '/r503.bin' });
    expect(catSha('r503.bin')).toBe(sha256(data));
    const gets = await seen(local, { method: 'GET', path: '/r503.bin' });
    expect(gets.filter((r) => r.status === 503)).toHaveLength(3);
    expect(gets.filter((r) => r.status === 200 || r.status === 206).length).toBeGreaterThan(0);
  });

  it('5×500 on HEAD and GET (the retry budget is 6 tries): the read still succeeds', async () => {
    const data = await plant('r500.bin', 200_000);
    await fault(local, { action: 'fail', count: 5, status: 500, path: '/r500.bin' });
    expect(catSha('r500.bin')).toBe(sha256(data));
  });

  it('429 throttling on GETs is retried', async () => {
    const data = await plant('r429.bin', 100_000);
    await fault(local, { action: 'fail', count: 2, status: 429, method: 'GET', path: '/r429.bin' });
    expect(catSha('r429.bin')).toBe(sha256(data));
  });

  it('a GET reset mid-body is resumed from the byte where it stopped: exact bytes', async () => {
    const data = await plant('reset.bin', 4 * MiB);
    await resetSeen(local);
    // Every GET of this object is cut after 300,000 bytes, three times over.
    await fault(local, { action: 'resetResponse', bytes: 300_000, count: 3, method: 'GET', path: '/reset.bin' });
    expect(catSha('reset.bin')).toBe(sha256(data));
    const gets = await seen(local, { method: 'GET', path: '/reset.bin' });
    // A resumed request asks for the rest of its range from the byte where an earlier one was cut
    // (300,000 bytes in); read-ahead may ask for several blocks at once, so that is not a block boundary.
    const starts = gets.map((r) => Number(/^bytes=(\d+)-/.exec(r.range ?? '')?.[1] ?? 0));
    const resumed = starts.filter((start) => start % MiB !== 0);
    expect(resumed.length).toBeGreaterThan(0);
    expect(resumed.every((start) => starts.includes(start - 300_000))).toBe(true);
    // Each resume is in the log at debug level, with the byte it starts from.
    const logged = [...logOfThisTest().matchAll(/ DEBUG GET \S+\/reset\.bin: .*; resuming at byte (\d+)$/gm)].map((x) => Number(x[1]));
    const byNumber = (a: number, b: number): number => a - b;
    expect(logged.sort(byNumber)).toEqual(resumed.sort(byNumber));
  });

  it('a dd read at an offset survives a reset, byte-exact', async () => {
    const data = await plant('reset-dd.bin', 3 * MiB);
    await fault(local, { action: 'resetResponse', bytes: 1000, count: 2, method: 'GET', path: '/reset-dd.bin' });
    const out = join(src, 'reset-dd.out');
    sh(`dd if=${m.mountpoint}/reset-dd.bin of=${out} bs=4096 skip=1234567 count=100000 iflag=skip_bytes,count_bytes status=none`);
    expect(readFileSync(out).equals(data.subarray(1234567, 1234567 + 100000))).toBe(true);
  });

  it('403 on GET is not retried: one request, cat fails with Permission denied', async () => {
    await plant('r403.bin', 100_000);
    sh(`stat ${m.mountpoint}/r403.bin`);
    await resetSeen(local);
    await fault(local, { action: 'fail', count: 10, status: 403, method: 'GET', path: '/r403.bin' });
    const r = shStatus(`cat ${m.mountpoint}/r403.bin > /dev/null`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
    // The kernel may send the read twice (readahead, then the page itself): each FUSE read is
    // exactly one GET, never a retry loop.
    const gets = await seen(local, { method: 'GET', path: '/r403.bin' });
    const failedReads = m.log().match(/WARN read \/r403\.bin: EACCES: GET test-bucket\/r403\.bin: AccessDenied \(HTTP 403\)/g) ?? [];
    expect(gets.every((g) => g.status === 403)).toBe(true);
    expect(gets.length).toBe(failedReads.length);
    expect(gets.length).toBeLessThanOrEqual(2);
  });

  it('404 on GET is not retried: one request, cat fails with No such file or directory', async () => {
    await plant('r404.bin', 100_000);
    sh(`stat ${m.mountpoint}/r404.bin`);
    await resetSeen(local);
    await fault(local, { action: 'fail', count: 10, status: 404, method: 'GET', path: '/r404.bin' });
    const r = shStatus(`cat ${m.mountpoint}/r404.bin > /dev/null`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/No such file or directory/);
    const gets = await seen(local, { method: 'GET', path: '/r404.bin' });
    const failedReads = m.log().match(/read \/r404\.bin: ENOENT: GET test-bucket\/r404\.bin: NoSuchKey \(HTTP 404\)/g) ?? [];
    expect(gets.every((g) => g.status === 404)).toBe(true);
    expect(gets.length).toBe(failedReads.length);
    expect(gets.length).toBeLessThanOrEqual(2);
  });

  it('a persistent 503 on GET: cat fails with Input/output error within a bounded time; the mount works afterwards', async () => {
    const data = await plant('dead.bin', 500_000);
    sh(`stat ${m.mountpoint}/dead.bin`);
    await resetSeen(local);
    await fault(local, { action: 'fail', count: 1_000_000, status: 503, method: 'GET', path: '/dead.bin' });
    const { seconds, result } = timed(() => shStatus(`cat ${m.mountpoint}/dead.bin > /dev/null`));
    timings['persistent 503 GET → EIO'] = Number(seconds.toFixed(2));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/Input\/output error/);
    expect(seconds).toBeLessThan(35);
    // The store's policy: 6 tries of one request.
    const gets = await seen(local, { method: 'GET', path: '/dead.bin' });
    expect(gets.length).toBeGreaterThanOrEqual(6);
    expect(m.log()).toMatch(/read \/dead\.bin: EIO: .*ServiceUnavailable/);
    await fault(local, { action: 'clear' });
    expect(catSha('dead.bin')).toBe(sha256(data));
    sh(`ls ${m.mountpoint} > /dev/null && echo fine > ${m.mountpoint}/after-dead.txt`);
    expect(readFileSync(join(m.mountpoint, 'after-dead.txt'), 'utf8')).toBe('fine\n');
  });

  it('3×503 on PUT of a small file (one PutObject at close): the write succeeds with the exact bytes', async () => {
    const data = randomBytes(300_000);
    writeFileSync(join(src, 'small'), data);
    await resetSeen(local);
    await fault(local, { action: 'fail', count: 3, status: 503, method: 'PUT', path: '/w-small.bin' });
    sh(`cp ${src}/small ${m.mountpoint}/w-small.bin`);
    const puts = await seen(local, { method: 'PUT', path: '/w-small.bin' });
    expect(puts.filter((p) => p.status === 503)).toHaveLength(3);
    expect(sha256(await plaintextOf(bucket, 'w-small.bin'))).toBe(sha256(data));
    // Each retried try is in the log at debug level, with the cause.
    const retries = logOfThisTest().split('\n').filter((l) => / DEBUG PUT \S+\/w-small\.bin: .*\(HTTP 503\).*; try \d follows$/.test(l));
    expect(retries.map((l) => l.match(/try (\d) follows/)![1])).toEqual(['2', '3', '4']);
  });

  it("503s on the parts of a big file's multipart upload, and on its initiate/complete: exact bytes", async () => {
    const data = randomBytes(20 * MiB + 123);
    writeFileSync(join(src, 'big'), data);
    await resetSeen(local);
    await fault(local, { action: 'fail', count: 4, status: 503, method: 'PUT', path: '/w-big.bin' });
    await fault(local, { action: 'fail', count: 2, status: 500, method: 'POST', path: '/w-big.bin' });
    sh(`cp ${src}/big ${m.mountpoint}/w-big.bin`);
    const failed = (await seen(local, { path: '/w-big.bin' })).filter((p) => p.status >= 500);
    expect(failed).toHaveLength(6);
    expect(sha256(await plaintextOf(bucket, 'w-big.bin'))).toBe(sha256(data));
    expect(await local.store.listMultipartUploads('w-big')).toEqual([]);
  });

  it('a request body reset mid-upload (PutObject and UploadPart) is sent again: exact bytes', async () => {
    const small = randomBytes(500_000);
    const big = randomBytes(12 * MiB);
    writeFileSync(join(src, 'rq-small'), small);
    writeFileSync(join(src, 'rq-big'), big);
    await fault(local, { action: 'resetRequest', bytes: 100_000, count: 2, method: 'PUT', path: '/rq-' });
    sh(`cp ${src}/rq-small ${m.mountpoint}/rq-small.bin`);
    await fault(local, { action: 'resetRequest', bytes: 1_000_000, count: 2, method: 'PUT', path: '/rq-big' });
    sh(`cp ${src}/rq-big ${m.mountpoint}/rq-big.bin`);
    expect(sha256(await plaintextOf(bucket, 'rq-small.bin'))).toBe(sha256(small));
    expect(sha256(await plaintextOf(bucket, 'rq-big.bin'))).toBe(sha256(big));
  });

  it('a persistent 503 on PUT: cp fails with Input/output error in bounded time, the old version stays, the mount works afterwards', async () => {
    const old = await plant('keep.bin', 100_000);
    const data = randomBytes(200_000);
    writeFileSync(join(src, 'keep-new'), data);
    await fault(local, { action: 'fail', count: 1_000_000, status: 503, method: 'PUT', path: '/keep.bin' });
    const { seconds, result } = timed(() => shStatus(`cp ${src}/keep-new ${m.mountpoint}/keep.bin`));
    timings['persistent 503 PUT → EIO at close'] = Number(seconds.toFixed(2));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/Input\/output error/);
    expect(seconds).toBeLessThan(35);
    expect(sha256(await plaintextOf(bucket, 'keep.bin'))).toBe(sha256(old));
    await fault(local, { action: 'clear' });
    sh(`cp ${src}/keep-new ${m.mountpoint}/keep.bin`);
    expect(sha256(await plaintextOf(bucket, 'keep.bin'))).toBe(sha256(data));
  });

  it("a persistent failure of a big file's upload at close: EIO, no multipart upload left over, the old version stays", async () => {
    const old = await plant('keep-big.bin', 1000);
    await fault(local, { action: 'fail', count: 1_000_000, status: 503, method: 'PUT', path: '/keep-big.bin' });
    const { seconds, result } = timed(() => shStatus(`dd if=/dev/urandom of=${m.mountpoint}/keep-big.bin bs=1M count=24 status=none`));
    timings['persistent 503 on parts → EIO'] = Number(seconds.toFixed(2));
    expect(result.status).not.toBe(0);
    expect(result.stderr).toMatch(/Input\/output error/);
    expect(seconds).toBeLessThan(70);
    expect(sha256(await plaintextOf(bucket, 'keep-big.bin'))).toBe(sha256(old));
    // FUSE's release comes after close(2) and tries the upload once more, which fails as well.
    await until('the release to give up', () => /keep-big\.bin: closed with changes that were never uploaded/.test(m.log()), 60);
    expect(await local.store.listMultipartUploads('keep-big')).toEqual([]);
    await fault(local, { action: 'clear' });
    expect(sh(`cat ${m.mountpoint}/keep-big.bin | sha256sum`).split(' ')[0]).toBe(sha256(old));
  });
});
