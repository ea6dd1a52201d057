import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { crc64 } from 'crc64-ecma182.js';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { startTestServer, headersOf, type TestOss, type TestServer } from './helpers.js';

// Objects made by CompleteMultipartUpload keep their parts' files as their data: these tests drive
// every operation that reads, copies, replaces or removes such an object.

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
  await t.client().putBucket('bkt');
});
afterAll(async () => t.close());

const KIB = 1024;
function filled(size: number, seed: number): Buffer {
  const b = Buffer.alloc(size);
  for (let i = 0; i < size; i++) b[i] = (i * 131 + seed * 7 + (i >> 9)) & 0xff;
  return b;
}

/** Uploads `sizes` as parts of `key` and completes it; returns the whole body. */
async function multipart(c: TestOss, key: string, sizes: number[], seed = 1): Promise<Buffer> {
  const init = await c.initMultipartUpload(key);
  const parts = sizes.map((size, i) => filled(size, seed + i));
  const done: { number: number; etag: string }[] = [];
  for (const [i, p] of parts.entries()) done.push({ number: i + 1, etag: (await c.uploadPart(key, init.uploadId, i + 1, p, 0, p.length)).etag });
  await c.completeMultipartUpload(key, init.uploadId, done);
  return Buffer.concat(parts);
}

/** Inode → path of every file under the bucket's data directory. */
async function dataFiles(): Promise<Map<number, string>> {
  const root = join(t.dir, 'buckets', 'bkt', 'data');
  const files = new Map<number, string>();
  for (const shard of await readdir(root).catch(() => [])) {
    for (const name of await readdir(join(root, shard))) {
      // The server removes an old version's files in the background: one may go between readdir and stat.
      const st = await stat(join(root, shard, name)).catch(() => undefined);
      if (st) files.set(st.ino, name);
    }
  }
  return files;
}

async function emptyBucket(c: TestOss): Promise<void> {
  for (const o of (await c.list({ 'max-keys': 1000 }, {})).objects ?? []) await c.delete(o.name);
  expect((await dataFiles()).size).toBe(0);
}

describe('objects completed from parts', () => {
  it('complete links the parts in, never copying them, and the upload is gone', async () => {
    const c = t.client();
    await emptyBucket(c);
    const init = await c.initMultipartUpload('linked');
    const parts = [filled(100 * KIB, 1), filled(120 * KIB, 2), filled(7, 3)];
    const done: { number: number; etag: string }[] = [];
    for (const [i, p] of parts.entries()) done.push({ number: i + 1, etag: (await c.uploadPart('linked', init.uploadId, i + 1, p, 0, p.length)).etag });
    const uploadDir = join(t.dir, 'buckets', 'bkt', 'uploads', init.uploadId);
    const partInodes = await Promise.all((await readdir(uploadDir)).filter((f) => !f.endsWith('.json')).map(async (f) => (await stat(join(uploadDir, f))).ino));
    await c.completeMultipartUpload('linked', init.uploadId, done);
    expect([...(await dataFiles()).keys()].sort()).toEqual(partInodes.sort());
    await expect(readdir(uploadDir)).rejects.toMatchObject({ code: 'ENOENT' });
    const got = await c.get('linked');
    expect(Buffer.from(got.content)).toEqual(Buffer.concat(parts));
    expect(headersOf(got)['x-oss-hash-crc64ecma']).toBe(crc64(Buffer.concat(parts)));
  });

  it('serves ranges within, across and at the edges of parts, and HEAD', async () => {
    const c = t.client();
    const whole = await multipart(c, 'ranges', [100 * KIB, 100 * KIB, 100 * KIB, 5], 4);
    const edge = 100 * KIB;
    for (const [start, end] of [[0, 0], [10, 20], [edge - 1, edge], [edge - 3, 2 * edge + 3], [edge, 2 * edge - 1], [3 * edge, 3 * edge + 4], [5, 3 * edge + 4]] as const) {
      const got = await c.get('ranges', undefined, { headers: { Range: `bytes=${start}-${end}` } });
      expect([got.res.status, Buffer.from(got.content)]).toEqual([206, whole.subarray(start, end + 1)]);
    }
    const suffix = await c.get('ranges', undefined, { headers: { Range: 'bytes=-100005' } });
    expect(Buffer.from(suffix.content)).toEqual(whole.subarray(whole.length - 100005));
    const head = await c.head('ranges');
    expect(head.res.headers).toMatchObject({ 'content-length': String(whole.length), 'x-oss-hash-crc64ecma': crc64(whole), 'x-oss-object-type': 'Multipart' });
  });

  it('concurrent GETs of megabytes, across parts, each get their own bytes (the server reuses its read buffers)', async () => {
    const c = t.client();
    const MIB = 1024 * KIB;
    const parted = await multipart(c, 'concurrent/parts', [3 * MIB + 5, 2 * MIB + 7, MIB], 9);
    const simple = filled(5 * MIB + 3, 40);
    await c.put('concurrent/simple', simple);
    const reads = Array.from({ length: 12 }, (_, i) => {
      const [key, whole] = i % 2 ? ['concurrent/simple', simple] : ['concurrent/parts', parted];
      const start = (i * 777_777) % Math.floor(whole.length / 2);
      const end = Math.min(whole.length - 1, start + MIB * (1 + (i % 4)) + i);
      return c.get(key, undefined, { headers: { Range: `bytes=${start}-${end}` } }).then((got) => ({ got: Buffer.from(got.content), want: whole.subarray(start, end + 1) }));
    });
    for (const { got, want } of await Promise.all(reads)) expect(got.equals(want)).toBe(true);
  });

  it('copies such an object (CopyObject) and ranges of it into parts (UploadPartCopy)', async () => {
    const c = t.client();
    const whole = await multipart(c, 'copy/src', [100 * KIB, 150 * KIB, 50 * KIB], 9);
    await c.copy('copy/dst', 'copy/src');
    const copied = await c.get('copy/dst');
    expect(Buffer.from(copied.content)).toEqual(whole);
    expect(copied.res.headers).toMatchObject({ etag: headersOf(await c.head('copy/src')).etag, 'x-oss-hash-crc64ecma': crc64(whole) });
    const init = await c.initMultipartUpload('copy/parts');
    const from = { sourceKey: 'copy/src', sourceBucketName: 'bkt' };
    const p1 = await c.uploadPartCopy('copy/parts', init.uploadId, 1, `${50 * KIB}-${260 * KIB - 1}`, from);
    const p2 = await c.uploadPartCopy('copy/parts', init.uploadId, 2, `${260 * KIB}-${300 * KIB - 1}`, from);
    await c.completeMultipartUpload('copy/parts', init.uploadId, [{ number: 1, etag: p1.etag }, { number: 2, etag: p2.etag }]);
    expect(Buffer.from((await c.get('copy/parts')).content)).toEqual(whole.subarray(50 * KIB));
    // The copy shares the source's files: deleting the source leaves it whole.
    await c.delete('copy/src');
    expect(Buffer.from((await c.get('copy/dst')).content)).toEqual(whole);
  });

  it('frees the part files on delete and overwrite, including a multipart over a multipart', async () => {
    const c = t.client();
    await emptyBucket(c);
    await multipart(c, 'freed', [100 * KIB, 100 * KIB, 1]);
    expect((await dataFiles()).size).toBe(3);
    const second = await multipart(c, 'freed', [100 * KIB, 3], 5);
    expect((await dataFiles()).size).toBe(2);
    expect(Buffer.from((await c.get('freed')).content)).toEqual(second);
    await c.put('freed', Buffer.from('simple now'));
    expect((await dataFiles()).size).toBe(0); // a small object keeps its bytes in its metadata
    const large = filled(100 * KIB, 4);
    await c.put('freed', large);
    expect((await dataFiles()).size).toBe(1);
    expect(Buffer.from((await c.get('freed')).content)).toEqual(large);
    await multipart(c, 'freed', [100 * KIB, 100 * KIB]);
    await c.delete('freed');
    expect((await dataFiles()).size).toBe(0);
  });

  it('keeps a GET whole while the object is overwritten and deleted, then frees the old files', async () => {
    const c = t.client();
    await emptyBucket(c);
    // More than socket buffers hold, so the server is still opening parts when they are replaced.
    const old = await multipart(c, 'busy', Array.from({ length: 24 }, () => 1024 * KIB), 2);
    const got = await c.getStream('busy');
    const stream = got.stream as NodeJS.ReadableStream & AsyncIterable<Buffer>;
    const chunks: Buffer[] = [];
    const iterator = stream[Symbol.asyncIterator]();
    chunks.push((await iterator.next()).value as Buffer); // the GET has started and holds its version
    const replacement = await multipart(c, 'busy', [100 * KIB, 1], 3);
    expect(Buffer.from((await c.get('busy')).content)).toEqual(replacement);
    await c.delete('busy');
    for (let r = await iterator.next(); !r.done; r = await iterator.next()) chunks.push(r.value as Buffer);
    expect(Buffer.concat(chunks).equals(old)).toBe(true);
    // The server releases the old files once the response is sent.
    for (let i = 0; i < 100 && (await dataFiles()).size > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect((await dataFiles()).size).toBe(0);
  });

  it('keeps such objects across a restart, and reads the single-file metadata of earlier versions', async () => {
    const c = t.client();
    const whole = await multipart(c, 'restarted', [100 * KIB, 100 * KIB, 9], 6);
    const legacy = filled(300 * KIB, 7); // large enough for a data file of its own
    await c.put('legacy', legacy);
    await t.restart(async () => {
      // Before multipart objects kept their parts, `data` was the name of the one data file.
      const metaRoot = join(t.dir, 'buckets', 'bkt', 'meta');
      for (const shard of await readdir(metaRoot)) {
        for (const name of await readdir(join(metaRoot, shard))) {
          const path = join(metaRoot, shard, name);
          const record = JSON.parse(await readFile(path, 'utf8')) as { key: string; data: { name: string }[] };
          if (record.key === 'legacy') await writeFile(path, JSON.stringify({ ...record, data: record.data[0]!.name }));
        }
      }
    });
    expect(Buffer.from((await c.get('restarted')).content)).toEqual(whole);
    expect(Buffer.from((await c.get('restarted', undefined, { headers: { Range: `bytes=${100 * KIB - 2}-${100 * KIB + 1}` } })).content))
      .toEqual(whole.subarray(100 * KIB - 2, 100 * KIB + 2));
    expect(Buffer.from((await c.get('legacy')).content)).toEqual(legacy);
    await c.put('legacy', Buffer.from('replaced'));
    expect(Buffer.from((await c.get('legacy')).content).toString()).toBe('replaced');
  });

  it('a restart after a crash mid-complete shows the previous version and lets the upload complete', async () => {
    const c = t.client();
    await emptyBucket(c);
    await c.put('crashed', Buffer.from('previous version'));
    const init = await c.initMultipartUpload('crashed');
    const parts = [filled(100 * KIB, 1), filled(3, 2)];
    const done: { number: number; etag: string }[] = [];
    for (const [i, p] of parts.entries()) done.push({ number: i + 1, etag: (await c.uploadPart('crashed', init.uploadId, i + 1, p, 0, p.length)).etag });
    const uploadDir = join(t.dir, 'buckets', 'bkt', 'uploads', init.uploadId);
    await t.restart(async () => {
      // The crash: the parts were linked in as data files, the metadata not yet renamed into place.
      const { link, mkdir } = await import('node:fs/promises');
      for (const [i, f] of (await readdir(uploadDir)).filter((f) => !f.endsWith('.json')).entries()) {
        await mkdir(join(t.dir, 'buckets', 'bkt', 'data', 'zz'), { recursive: true });
        await link(join(uploadDir, f), join(t.dir, 'buckets', 'bkt', 'data', 'zz', `zz${i}`));
      }
    });
    expect(Buffer.from((await c.get('crashed')).content).toString()).toBe('previous version');
    expect((await dataFiles()).size).toBe(0); // the orphaned links went at start; the small version has no data file
    await c.completeMultipartUpload('crashed', init.uploadId, done);
    expect(Buffer.from((await c.get('crashed')).content)).toEqual(Buffer.concat(parts));
    expect((await dataFiles()).size).toBe(2);
  });
});
