import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CREDENTIALS, rawRequest, startTestServer, headersOf, type TestOss, type TestServer } from './helpers.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
  await t.client().putBucket('bkt');
});
afterAll(async () => t.close());

/** The envelope as ali-oss sends it in `meta` (it adds the `x-oss-meta-` prefix). */
const ENVELOPE = {
  'client-side-encryption-key': 'd3JhcHBlZA==',
  'client-side-encryption-start': 'aXY=',
  'client-side-encryption-cek-alg': 'AES/CTR/NoPadding',
  'client-side-encryption-wrap-alg': 'RSA/NONE/PKCS1Padding',
};
const PART = 100 * 1024;

function layout(dataSize: number, partSize = PART, envelope: Record<string, string> = ENVELOPE): Record<string, string> {
  return { ...envelope, 'client-side-encryption-data-size': String(dataSize), 'client-side-encryption-part-size': String(partSize) };
}

/** ali-oss's `meta` names → the headers of an UploadPart (ali-oss adds no prefix there). */
function partHeaders(meta: Record<string, string>): Record<string, string> {
  return Object.fromEntries(Object.entries(meta).map(([name, value]) => [`x-oss-meta-${name}`, value]));
}

async function refused(promise: Promise<unknown>): Promise<{ status: number; code: string; ec: string | undefined }> {
  try {
    await promise;
  } catch (err) {
    const e = err as { status: number; code: string; ecCode?: string };
    return { status: e.status, code: e.code, ec: e.ecCode };
  }
  throw new Error('the request was accepted');
}

/** ali-oss hands one part over as an object, several as an array. */
async function partCount(c: TestOss, key: string, uploadId: string): Promise<number> {
  return [(await c.listParts(key, uploadId, {})).parts].flat().length;
}

async function initiate(c: TestOss, key: string, meta: Record<string, string>): Promise<string> {
  return (await c.initMultipartUpload(key, { meta } as never)).uploadId;
}

async function uploadPart(c: TestOss, key: string, uploadId: string, n: number, body: Buffer, meta: Record<string, string>) {
  return c.uploadPart(key, uploadId, n, body, 0, body.length, { headers: partHeaders(meta) } as never);
}

describe('client-side encryption: PutObject', () => {
  it('needs -key (0005-00000401) and -start (0005-00000402) once any CSE header is sent', async () => {
    const c = t.client();
    const { 'client-side-encryption-key': _key, ...noKey } = ENVELOPE;
    const { 'client-side-encryption-start': _start, ...noStart } = ENVELOPE;
    expect(await refused(c.put('p/nokey', Buffer.from('x'), { meta: noKey } as never))).toEqual({ status: 400, code: 'InvalidArgument', ec: '0005-00000401' });
    expect(await refused(c.put('p/nostart', Buffer.from('x'), { meta: noStart } as never))).toEqual({ status: 400, code: 'InvalidArgument', ec: '0005-00000402' });
    await expect(c.head('p/nokey')).rejects.toMatchObject({ status: 404 });
    await c.put('p/ok', Buffer.from('ciphertext'), { meta: ENVELOPE } as never);
    await c.put('p/plain', Buffer.from('plaintext'), { meta: { mode: '33188' } } as never);
    expect((await c.head('p/ok')).meta).toEqual(ENVELOPE);
  });

  it('puts the EC number in <EC> and x-oss-ec, and the Code in <Code>', async () => {
    const r = await rawRequest(t.server, { method: 'PUT', path: '/bkt/p/raw', body: 'x', headers: { 'x-oss-meta-client-side-encryption-start': 'aXY=' }, sign: { credentials: CREDENTIALS } });
    const xml = r.body.toString();
    expect([r.status, r.headers['x-oss-ec']]).toEqual([400, '0005-00000401']);
    expect(xml).toContain('<EC>0005-00000401</EC>');
    expect(xml).toContain('<Code>InvalidArgument</Code>');
  });
});

describe('client-side encryption: multipart', () => {
  it('completes an upload whose every part repeats the Initiate and has the size its number requires', async () => {
    const c = t.client();
    const data = randomBytes(2 * PART + 123);
    const meta = layout(data.length);
    const id = await initiate(c, 'm/ok', meta);
    const parts = [];
    for (let n = 1; n <= 3; n++) {
      const part = await uploadPart(c, 'm/ok', id, n, data.subarray((n - 1) * PART, n * PART), meta);
      parts.push({ number: n, etag: part.etag });
    }
    await c.completeMultipartUpload('m/ok', id, parts);
    expect(Buffer.from((await c.get('m/ok')).content).equals(data)).toBe(true);
    expect((await c.head('m/ok')).meta).toEqual(meta);
  });

  it('refuses an Initiate without -key, -start, -data-size, -part-size, with a non-integer size, or of over 10,000 parts', async () => {
    const c = t.client();
    const without = (name: string): Record<string, string> => {
      const meta = layout(1000);
      delete meta[`client-side-encryption-${name}`];
      return meta;
    };
    const cases: [Record<string, string>, string][] = [
      [without('key'), '0005-00000401'],
      [without('start'), '0005-00000402'],
      [without('data-size'), '0005-00000406'],
      [without('part-size'), '0005-00000407'],
      [{ ...layout(1000), 'client-side-encryption-data-size': '9x5.2' }, '0005-00000408'],
      [{ ...layout(1000), 'client-side-encryption-part-size': '1.5' }, '0005-00000409'],
      [layout(200_000, 10), '0005-00000410'],
    ];
    for (const [meta, ec] of cases) {
      expect([ec, await refused(initiate(c, 'm/bad', meta))]).toEqual([ec, { status: 400, code: 'InvalidArgument', ec }]);
    }
    expect((await c.listUploads({ prefix: 'm/bad' } as never)).uploads ?? []).toEqual([]);
  });

  it('refuses an UploadPart without the headers or whose -start, -data-size or -part-size differ from the Initiate', async () => {
    const c = t.client();
    const meta = layout(2 * PART);
    const id = await initiate(c, 'm/headers', meta);
    const body = randomBytes(PART);
    const cases: [Record<string, string>, string][] = [
      [{}, '0005-00000401'],
      [{ ...meta, 'client-side-encryption-key': undefined as never }, '0005-00000401'],
      [{ ...meta, 'client-side-encryption-start': 'b3RoZXI=' }, '0005-00000413'],
      [{ ...meta, 'client-side-encryption-data-size': String(3 * PART) }, '0005-00000417'],
      [{ ...meta, 'client-side-encryption-part-size': String(PART + 16) }, '0005-00000418'],
      [{ ...meta, 'client-side-encryption-part-size': 'abc' }, '0005-00000409'],
    ];
    for (const [headers, ec] of cases) {
      const sent = Object.fromEntries(Object.entries(headers).filter(([, v]) => v !== undefined));
      expect([ec, await refused(uploadPart(c, 'm/headers', id, 1, body, sent))]).toEqual([ec, { status: 400, code: 'InvalidArgument', ec }]);
    }
    expect(await partCount(c, 'm/headers', id)).toBe(0);
    await uploadPart(c, 'm/headers', id, 1, body, meta);
    expect(await partCount(c, 'm/headers', id)).toBe(1);
  });

  it('refuses a part of the wrong size (0005-00000419), a last part that does not end the data (-420) and a part past the last', async () => {
    const c = t.client();
    const meta = layout(2 * PART + 100);
    const id = await initiate(c, 'm/sizes', meta);
    expect(await refused(uploadPart(c, 'm/sizes', id, 1, randomBytes(PART - 16), meta))).toMatchObject({ ec: '0005-00000419' });
    expect(await refused(uploadPart(c, 'm/sizes', id, 2, randomBytes(PART + 100), meta))).toMatchObject({ ec: '0005-00000419' });
    expect(await refused(uploadPart(c, 'm/sizes', id, 3, randomBytes(99), meta))).toMatchObject({ ec: '0005-00000420' });
    expect(await refused(uploadPart(c, 'm/sizes', id, 4, randomBytes(1), meta))).toMatchObject({ ec: '0005-00000420' });
    // Without a Content-Length the size is checked once the body is in, and nothing is kept.
    const chunked = await rawRequest(t.server, {
      method: 'PUT', path: `/bkt/m/sizes?partNumber=3&uploadId=${id}`, chunks: [randomBytes(60), randomBytes(41)],
      headers: Object.fromEntries(Object.entries(partHeaders(meta))), sign: { credentials: CREDENTIALS },
    });
    expect([chunked.status, chunked.headers['x-oss-ec']]).toEqual([400, '0005-00000420']);
    expect(await partCount(c, 'm/sizes', id)).toBe(0);
    expect(await readdir(join(t.dir, 'tmp'))).toEqual([]);
    await uploadPart(c, 'm/sizes', id, 3, randomBytes(100), meta);
  });

  it('completes a CSE upload only with exactly parts 1..N', async () => {
    const c = t.client();
    const data = randomBytes(2 * PART);
    const meta = layout(data.length);
    const id = await initiate(c, 'm/complete', meta);
    const one = await uploadPart(c, 'm/complete', id, 1, data.subarray(0, PART), meta);
    expect(await refused(c.completeMultipartUpload('m/complete', id, [{ number: 1, etag: one.etag }]))).toMatchObject({ status: 400, ec: '0005-00000420' });
    const two = await uploadPart(c, 'm/complete', id, 2, data.subarray(PART), meta);
    await c.completeMultipartUpload('m/complete', id, [{ number: 1, etag: one.etag }, { number: 2, etag: two.etag }]);
    expect(Buffer.from((await c.get('m/complete')).content).equals(data)).toBe(true);
  });

  it('refuses CSE headers on a part of a plaintext upload, and keeps plaintext multipart as it was', async () => {
    const c = t.client();
    const id = await initiate(c, 'm/plain', { origin: 'plain' });
    expect(await refused(uploadPart(c, 'm/plain', id, 1, randomBytes(10), layout(10)))).toMatchObject({ ec: '0005-00000413' });
    const a = await c.uploadPart('m/plain', id, 1, randomBytes(PART + 7), 0, PART + 7);
    const b = await c.uploadPart('m/plain', id, 2, randomBytes(5), 0, 5);
    await c.completeMultipartUpload('m/plain', id, [{ number: 1, etag: a.etag }, { number: 2, etag: b.etag }]);
    expect(headersOf(await c.head('m/plain'))['content-length']).toBe(String(PART + 12));
  });
});

describe('client-side encryption: copies', () => {
  it('copies a CSE object with COPY, and refuses REPLACE or any x-oss-meta-* (0005-00000421)', async () => {
    const c = t.client();
    await c.put('c/enc', Buffer.from('ciphertext'), { meta: { ...ENVELOPE, mode: '33188' } } as never);
    await c.copy('c/renamed', 'c/enc');
    expect((await c.head('c/renamed')).meta).toEqual({ ...ENVELOPE, mode: '33188' });
    // ali-oss sends REPLACE when meta is given: the attribute change mode 33188 -> 33261.
    expect(await refused(c.copy('c/enc', 'c/enc', 'bkt', { meta: { ...ENVELOPE, mode: '33261' } } as never))).toEqual({ status: 400, code: 'InvalidArgument', ec: '0005-00000421' });
    const copyWithMeta = await rawRequest(t.server, {
      method: 'PUT', path: '/bkt/c/enc2',
      headers: { 'x-oss-copy-source': '/bkt/c/enc', 'x-oss-metadata-directive': 'COPY', 'x-oss-meta-mode': '33261' },
      sign: { credentials: CREDENTIALS },
    });
    expect([copyWithMeta.status, copyWithMeta.headers['x-oss-ec']]).toEqual([400, '0005-00000421']);
    expect((await c.head('c/enc')).meta).toEqual({ ...ENVELOPE, mode: '33188' });
    await expect(c.head('c/enc2')).rejects.toMatchObject({ status: 404 });
  });

  it('refuses UploadPartCopy from a CSE source (0042-00000309) and into a CSE upload', async () => {
    const c = t.client();
    await c.put('c/src-enc', randomBytes(PART), { meta: ENVELOPE } as never);
    await c.put('c/src-plain', randomBytes(PART));
    const plainUpload = await initiate(c, 'c/dst-plain', {});
    expect(await refused(c.uploadPartCopy('c/dst-plain', plainUpload, 1, `0-${PART - 1}`, { sourceKey: 'c/src-enc', sourceBucketName: 'bkt' }))).toEqual({ status: 400, code: 'InvalidArgument', ec: '0042-00000309' });
    await c.uploadPartCopy('c/dst-plain', plainUpload, 1, `0-${PART - 1}`, { sourceKey: 'c/src-plain', sourceBucketName: 'bkt' });
    const encUpload = await initiate(c, 'c/dst-enc', layout(PART));
    expect(await refused(c.uploadPartCopy('c/dst-enc', encUpload, 1, `0-${PART - 1}`, { sourceKey: 'c/src-plain', sourceBucketName: 'bkt' }))).toMatchObject({ status: 400, code: 'InvalidArgument' });
    expect(await partCount(c, 'c/dst-enc', encUpload)).toBe(0);
  });
});
