import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { crc64 } from 'crc64-ecma182.js';
import { CREDENTIALS, errorCode, rawRequest, startTestServer, headersOf, type TestServer } from './helpers.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
  await t.client().putBucket('bkt');
  await t.client().putBucket('other');
});
afterAll(async () => t.close());

const md5Hex = (b: Buffer): string => createHash('md5').update(b).digest('hex').toUpperCase();
const md5B64 = (b: Buffer): string => createHash('md5').update(b).digest('base64');
const sign = { credentials: CREDENTIALS };

describe('PutObject / GetObject / HeadObject', () => {
  it('stores bytes, headers and metadata and returns them', async () => {
    const c = t.client();
    const body = Buffer.from('hello world');
    const put = await c.put('dir/hello.txt', body, {
      meta: { Color: 'Blue', mtime: '1.5' } as never,
      headers: { 'Content-Type': 'text/plain', 'Cache-Control': 'no-cache', 'Content-Disposition': 'attachment' },
    });
    expect(headersOf(put)['etag']).toBe(`"${md5Hex(body)}"`);
    expect(headersOf(put)['x-oss-hash-crc64ecma']).toBe(crc64(body));
    expect(headersOf(put)['x-oss-request-id']).toMatch(/^[0-9A-F]{24}$/);
    const got = await c.get('dir/hello.txt');
    expect(Buffer.from(got.content).toString()).toBe('hello world');
    expect(got.res.headers).toMatchObject({
      'content-type': 'text/plain',
      'cache-control': 'no-cache',
      'content-disposition': 'attachment',
      'content-length': '11',
      'x-oss-meta-color': 'Blue',
      'x-oss-hash-crc64ecma': crc64(body),
      etag: `"${md5Hex(body)}"`,
    });
    expect(Date.parse(String(headersOf(got)['last-modified']))).toBeGreaterThan(Date.now() - 60_000);
    const head = await c.head('dir/hello.txt');
    expect(head.meta).toEqual({ color: 'Blue', mtime: '1.5' });
    expect(headersOf(head)['content-length']).toBe('11');
  });

  it('keeps metadata values byte-exact and returns names lower-case', async () => {
    const value = Buffer.from([0x20, 0x41, 0xe9, 0xff, 0x7e, 0x3d, 0x2c]).toString('latin1').trim();
    const put = await rawRequest(t.server, {
      // A Buffer body: Node would send string-body requests' headers as UTF-8.
      method: 'PUT', path: '/bkt/bytes', body: Buffer.from('x'), headers: { 'X-OSS-Meta-MiXed': value }, sign,
    });
    expect(put.status).toBe(200);
    const got = await rawRequest(t.server, { method: 'GET', path: '/bkt/bytes', sign });
    expect(Buffer.from(String(got.headers['x-oss-meta-mixed']), 'latin1')).toEqual(Buffer.from(value, 'latin1'));
  });

  it('stores an empty object and a chunked body', async () => {
    await t.client().put('empty', Buffer.alloc(0));
    expect((await t.client().get('empty')).content.length).toBe(0);
    const chunks = [Buffer.alloc(70_000, 1), Buffer.alloc(3, 2), Buffer.alloc(100_000, 3)];
    const put = await rawRequest(t.server, { method: 'PUT', path: '/bkt/chunked', chunks, sign });
    expect(put.status).toBe(200);
    const whole = Buffer.concat(chunks);
    expect(put.headers.etag).toBe(`"${md5Hex(whole)}"`);
    expect(Buffer.from((await t.client().get('chunked')).content)).toEqual(whole);
  });

  it('reports the CRC64 of bodies of every length and alignment, hashed inline and in worker threads', async () => {
    const random = Buffer.from(Array.from({ length: 9 << 20 }, (_, i) => (i * 2654435761) >>> 24));
    // Odd-sized chunks land at every offset of the server's buffers, and lengths cover the tails
    // of the 8-byte loop; with Content-Length ≥ 8 MiB the workers hash it.
    const cases = [[1], [7], [8], [9], [3, 5, 1000, 13], [65_537, 2, 99_999]].map((sizes) => ({ sizes, length: false }));
    cases.push({ sizes: [1 << 20, 3, (8 << 20) - 5], length: true });
    for (const { sizes, length } of cases) {
      let at = 0;
      const chunks = sizes.map((n) => random.subarray(at, (at += n)));
      const whole = Buffer.concat(chunks);
      const put = await rawRequest(t.server, {
        method: 'PUT', path: '/bkt/crc', chunks: length ? undefined : chunks, body: length ? whole : undefined, sign,
        headers: length ? { 'Content-Length': String(whole.length) } : {},
      });
      expect([sizes, put.status, put.headers['x-oss-hash-crc64ecma']]).toEqual([sizes, 200, crc64(whole)]);
      expect(headersOf(await t.client().head('crc'))['x-oss-hash-crc64ecma']).toBe(crc64(whole));
    }
  });

  it('checks Content-MD5: InvalidDigest (as OSS names both) for a malformed one and for a wrong one', async () => {
    const bad = await rawRequest(t.server, { method: 'PUT', path: '/bkt/md5', body: 'abc', headers: { 'Content-MD5': 'nope' }, sign });
    expect([bad.status, errorCode(bad.body), bad.headers['x-oss-ec']]).toEqual([400, 'InvalidDigest', '0017-00000502']);
    const wrong = await rawRequest(t.server, { method: 'PUT', path: '/bkt/md5', body: 'abc', headers: { 'Content-MD5': md5B64(Buffer.from('abd')) }, sign });
    expect([wrong.status, errorCode(wrong.body), wrong.headers['x-oss-ec']]).toEqual([400, 'InvalidDigest', '0017-00000503']);
    await expect(t.client().put('md5', Buffer.from('abc'), { headers: { 'Content-MD5': md5B64(Buffer.from('abd')) } }))
      .rejects.toMatchObject({ status: 400, code: 'InvalidDigest' });
    await expect(t.client().head('md5')).rejects.toMatchObject({ status: 404 });
    expect(await readdir(join(t.dir, 'tmp'))).toEqual([]);
    const ok = await rawRequest(t.server, { method: 'PUT', path: '/bkt/md5', body: 'abc', headers: { 'Content-MD5': md5B64(Buffer.from('abc')) }, sign });
    expect(ok.status).toBe(200);
  });

  it('answers NoSuchKey, NoSuchBucket and InvalidObjectName with OSS error bodies', async () => {
    await expect(t.client().get('missing')).rejects.toMatchObject({ status: 404, code: 'NoSuchKey' });
    await expect(t.client({ bucket: 'nobucket' }).get('x')).rejects.toMatchObject({ status: 404, code: 'NoSuchBucket' });
    await expect(t.client().put('k'.repeat(1024), Buffer.from('x'))).rejects.toMatchObject({ status: 400, code: 'InvalidObjectName' });
    await t.client().put('é'.repeat(511), Buffer.from('x')); // 1022 bytes is fine
    const missing = await rawRequest(t.server, { method: 'GET', path: '/bkt/missing', sign });
    expect(missing.body.toString()).toMatch(/^<\?xml.*\n<Error><Code>NoSuchKey<\/Code><Message>.+<\/Message><RequestId>[0-9A-F]{24}<\/RequestId><HostId>.+<\/HostId>/s);
  });

  it('deletes with 204, even an absent key', async () => {
    await t.client().put('gone', Buffer.from('x'));
    expect((await t.client().delete('gone')).res.status).toBe(204);
    expect((await t.client().delete('gone')).res.status).toBe(204);
    await expect(t.client().head('gone')).rejects.toMatchObject({ status: 404 });
  });

  it('returns GetObjectMeta', async () => {
    await t.client().put('meta', Buffer.from('12345'));
    const meta = await t.client().getObjectMeta('meta');
    expect(headersOf(meta)['content-length']).toBe('5');
    expect(headersOf(meta).etag).toBe(`"${md5Hex(Buffer.from('12345'))}"`);
  });
});

describe('PutObject with x-oss-forbid-overwrite', () => {
  const put = (path: string, body: string, forbid: string) =>
    rawRequest(t.server, { method: 'PUT', path, body: Buffer.from(body), headers: { 'x-oss-forbid-overwrite': forbid }, sign });

  it('true: writes a new key, and refuses an existing one with 409 FileAlreadyExists, leaving it as it was', async () => {
    expect((await put('/bkt/forbid/new', 'first', 'true')).status).toBe(200);
    const refused = await put('/bkt/forbid/new', 'second', 'true');
    expect(refused.status).toBe(409);
    expect(errorCode(refused.body)).toBe('FileAlreadyExists');
    expect((await rawRequest(t.server, { method: 'GET', path: '/bkt/forbid/new', sign })).body.toString()).toBe('first');
  });

  it('false (or absent): overwrites as usual', async () => {
    expect((await put('/bkt/forbid/over', 'first', 'true')).status).toBe(200);
    expect((await put('/bkt/forbid/over', 'second', 'false')).status).toBe(200);
    expect((await rawRequest(t.server, { method: 'GET', path: '/bkt/forbid/over', sign })).body.toString()).toBe('second');
  });
});

describe('Range', () => {
  const data = Buffer.from('0123456789');
  beforeAll(async () => t.client().put('range', data));
  const get = (range: string) => rawRequest(t.server, { method: 'GET', path: '/bkt/range', headers: { Range: range }, sign });

  it.each([
    ['bytes=2-5', 206, '2345', 'bytes 2-5/10'],
    ['bytes=7-', 206, '789', 'bytes 7-9/10'],
    ['bytes=-3', 206, '789', 'bytes 7-9/10'],
    ['bytes=8-100', 206, '89', 'bytes 8-9/10'],
    ['bytes=-100', 206, '0123456789', 'bytes 0-9/10'],
    ['bytes=5-2', 200, '0123456789', undefined],
    ['bytes=1-2,4-5', 200, '0123456789', undefined],
    ['items=1-2', 200, '0123456789', undefined],
  ])('%s → %i', async (range, status, body, contentRange) => {
    const r = await get(range);
    expect(r.status).toBe(status);
    expect(r.body.toString()).toBe(body);
    expect(r.headers['content-range']).toBe(contentRange);
  });

  it('answers 416 InvalidRange past the end', async () => {
    const r = await get('bytes=10-20');
    expect([r.status, errorCode(r.body)]).toEqual([416, 'InvalidRange']);
  });

  it('works through ali-oss', async () => {
    const r = await t.client().get('range', { headers: { Range: 'bytes=3-4' } });
    expect(r.res.status).toBe(206);
    expect(Buffer.from(r.content).toString()).toBe('34');
  });
});

describe('conditional requests', () => {
  it('If-Match → 412 on mismatch; If-None-Match and If-Modified-Since → 304', async () => {
    const c = t.client();
    const put = await c.put('cond', Buffer.from('v1'));
    const etag = String(headersOf(put)['etag']);
    expect((await c.get('cond', { headers: { 'If-Match': etag } })).res.status).toBe(200);
    await expect(c.get('cond', { headers: { 'If-Match': '"0123"' } })).rejects.toMatchObject({ status: 412, code: 'PreconditionFailed' });
    await expect(c.head('cond', { headers: { 'If-Match': '"0123"' } })).rejects.toMatchObject({ status: 412 });
    expect((await c.get('cond', { headers: { 'If-None-Match': etag } })).res.status).toBe(304);
    const future = new Date(Date.now() + 3_600_000).toUTCString();
    const since = await rawRequest(t.server, { method: 'GET', path: '/bkt/cond', headers: { 'If-Modified-Since': future }, sign });
    expect(since.status).toBe(304);
    const past = new Date(Date.now() - 3_600_000).toUTCString();
    expect((await rawRequest(t.server, { method: 'GET', path: '/bkt/cond', headers: { 'If-Modified-Since': past }, sign })).status).toBe(200);
  });
});

describe('DeleteMultipleObjects', () => {
  it('deletes verbosely and quietly', async () => {
    const c = t.client();
    for (const k of ['m/1', 'm/2', 'm/3']) await c.put(k, Buffer.from(k));
    const verbose = await c.deleteMulti(['m/1', 'm/2', 'm/absent']);
    expect(verbose.deleted.map((d: { Key: string }) => d.Key).sort()).toEqual(['m/1', 'm/2', 'm/absent']);
    const quiet = await c.deleteMulti(['m/3'], { quiet: true });
    expect(quiet.deleted).toEqual([]);
    expect((await c.list({ prefix: 'm/' }, {})).objects ?? []).toEqual([]);
  });

  it('checks the Content-MD5 of the request', async () => {
    const body = '<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>false</Quiet><Object><Key>a</Key></Object></Delete>';
    const r = await rawRequest(t.server, { method: 'POST', path: '/bkt/?delete', body, headers: { 'Content-MD5': md5B64(Buffer.from('x')) }, sign: { ...sign, resource: '/bkt/?delete' } });
    expect([r.status, errorCode(r.body)]).toEqual([400, 'InvalidDigest']);
  });
});

describe('CopyObject', () => {
  it('copies within and across buckets with COPY and REPLACE', async () => {
    const c = t.client();
    await c.put('src', Buffer.from('source bytes'), { meta: { a: '1' } as never, headers: { 'Content-Type': 'text/x-src' } });
    const copied = await c.copy('dst', 'src');
    expect(copied.res.status).toBe(200);
    const dst = await c.head('dst');
    expect(dst.meta).toEqual({ a: '1' });
    expect(headersOf(dst)['content-type']).toBe('text/x-src');
    await c.copy('dst2', 'src', 'bkt', { meta: { b: '2' } as never, headers: { 'Content-Type': 'text/x-new' } });
    const dst2 = await c.head('dst2');
    expect(dst2.meta).toEqual({ b: '2' });
    expect(headersOf(dst2)['content-type']).toBe('text/x-new');
    const other = t.client({ bucket: 'other' });
    await other.copy('copied', 'src', 'bkt');
    expect(Buffer.from((await other.get('copied')).content).toString()).toBe('source bytes');
    await c.put('src', Buffer.from('changed'));
    expect(Buffer.from((await c.get('dst')).content).toString()).toBe('source bytes');
    await expect(c.copy('x', 'absent')).rejects.toMatchObject({ status: 404, code: 'NoSuchKey' });
  });

  it('updates metadata in place (copy to itself with REPLACE)', async () => {
    const c = t.client();
    await c.put('self', Buffer.from('same'), { meta: { mode: '33188' } as never });
    await c.copy('self', 'self', 'bkt', { meta: { mode: '33261' } as never });
    expect((await c.head('self')).meta).toEqual({ mode: '33261' });
    expect(Buffer.from((await c.get('self')).content).toString()).toBe('same');
  });
});

describe('persistence', () => {
  it('keeps objects and metadata across a restart, with no temp files left', async () => {
    await t.client().put('persist', Buffer.from('still here'), { meta: { k: 'v' } as never });
    await t.restart();
    const got = await t.client().get('persist');
    expect(Buffer.from(got.content).toString()).toBe('still here');
    expect(headersOf(got)['x-oss-meta-k']).toBe('v');
    expect(await readdir(join(t.dir, 'tmp'))).toEqual([]);
  });

  it('keeps a small object\'s bytes in its metadata file (up to 16 KiB), and serves, copies and restarts it like any other', async () => {
    const c = t.client();
    const KIB = 1024;
    const bodyOf = (size: number, seed: number): Buffer => Buffer.from(Array.from({ length: size }, (_, i) => (i * 31 + seed) & 0xff));
    const dataFiles = async (): Promise<number> => {
      const root = join(t.dir, 'buckets', 'inline', 'data');
      let n = 0;
      for (const shard of await readdir(root).catch(() => [])) n += (await readdir(join(root, shard))).length;
      return n;
    };
    await c.putBucket('inline');
    c.useBucket('inline');
    // `over` is held in memory while received, like the others, but written to a data file of its own.
    const bodies = { empty: Buffer.alloc(0), small: bodyOf(4 * KIB, 1), edge: bodyOf(16 * KIB, 2), over: bodyOf(16 * KIB + 1, 3), large: bodyOf(300 * KIB, 4) };
    for (const [key, body] of Object.entries(bodies)) await c.put(key, body, { meta: { k: key } as never });
    expect(await dataFiles()).toBe(2); // only `over` and `large` have data files

    await c.copy('small-copy', 'small'); // CopyObject of an inline object
    await c.delete('small');
    const init = await c.initMultipartUpload('assembled');
    const part = await c.uploadPartCopy('assembled', init.uploadId, 1, '100-4095', { sourceKey: 'edge', sourceBucketName: 'inline' });
    await c.completeMultipartUpload('assembled', init.uploadId, [{ number: 1, etag: headersOf(part).etag as string }]);

    await t.restart(); // read back from disk, not from the server's memory
    for (const [key, body] of Object.entries({ ...bodies, small: undefined, 'small-copy': bodies.small })) {
      if (body === undefined) continue;
      const got = await c.get(key);
      expect(Buffer.from(got.content).equals(body)).toBe(true);
      expect(headersOf(got)['x-oss-hash-crc64ecma']).toBe(crc64(body));
      expect(headersOf(got)['x-oss-meta-k']).toBe(key === 'small-copy' ? 'small' : key);
    }
    const ranged = await c.get('edge', undefined, { headers: { Range: 'bytes=1000-1999' } });
    expect(Buffer.from(ranged.content).equals(bodies.edge.subarray(1000, 2000))).toBe(true);
    expect(Buffer.from((await c.get('assembled')).content).equals(bodies.edge.subarray(100, 4096))).toBe(true);
    await expect(c.get('small')).rejects.toMatchObject({ status: 404 });
  });
});
