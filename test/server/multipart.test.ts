import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { crc64 } from 'crc64-ecma182.js';
import { CREDENTIALS, errorCode, rawRequest, startTestServer, headersOf, type TestServer } from './helpers.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
  await t.client().putBucket('bkt');
});
afterAll(async () => t.close());

const KIB = 1024;
const filled = (size: number, seed: number): Buffer => Buffer.from(Array.from({ length: size }, (_, i) => (i * 31 + seed) & 0xff));
const md5 = (b: Buffer): Buffer => createHash('md5').update(b).digest();

describe('multipart upload', () => {
  it('assembles parts with the initiate headers, a multipart ETag and the CRC64 of the whole', async () => {
    const c = t.client();
    const init = await c.initMultipartUpload('mp/obj', { meta: { origin: 'init' } as never, headers: { 'Content-Type': 'application/x-test' } });
    const parts = [filled(100 * KIB, 1), filled(150 * KIB, 2), filled(10, 3)];
    const etags: string[] = [];
    for (const [i, p] of parts.entries()) etags.push((await c.uploadPart('mp/obj', init.uploadId, i + 1, p, 0, p.length)).etag);
    expect(etags[0]).toBe(`"${md5(parts[0]!).toString('hex').toUpperCase()}"`);
    const listed = await c.listParts('mp/obj', init.uploadId, {});
    expect(listed.parts.map((p: { PartNumber: string; Size: string }) => [p.PartNumber, p.Size])).toEqual([['1', String(100 * KIB)], ['2', String(150 * KIB)], ['3', '10']]);
    const done = await c.completeMultipartUpload('mp/obj', init.uploadId, etags.map((etag, i) => ({ number: i + 1, etag })));
    const whole = Buffer.concat(parts);
    const expectedEtag = `"${md5(Buffer.concat(parts.map(md5))).toString('hex').toUpperCase()}-3"`;
    expect(done.etag).toBe(expectedEtag);
    const got = await c.get('mp/obj');
    expect(Buffer.from(got.content)).toEqual(whole);
    expect(got.res.headers).toMatchObject({ etag: expectedEtag, 'x-oss-hash-crc64ecma': crc64(whole), 'content-type': 'application/x-test', 'x-oss-meta-origin': 'init', 'x-oss-object-type': 'Multipart' });
    await expect(c.listParts('mp/obj', init.uploadId, {})).rejects.toMatchObject({ status: 404, code: 'NoSuchUpload' });
  });

  it('refuses InvalidPart, InvalidPartOrder and EntityTooSmall', async () => {
    const c = t.client();
    const init = await c.initMultipartUpload('mp/bad');
    const small = await c.uploadPart('mp/bad', init.uploadId, 1, filled(10, 1), 0, 10);
    const big = await c.uploadPart('mp/bad', init.uploadId, 2, filled(100 * KIB, 2), 0, 100 * KIB);
    await expect(c.completeMultipartUpload('mp/bad', init.uploadId, [{ number: 1, etag: small.etag }, { number: 2, etag: big.etag }]))
      .rejects.toMatchObject({ status: 400, code: 'EntityTooSmall' });
    // ali-oss sorts the parts itself, so the unordered list goes out raw.
    const unordered = `<CompleteMultipartUpload><Part><PartNumber>2</PartNumber><ETag>${big.etag}</ETag></Part>`
      + `<Part><PartNumber>1</PartNumber><ETag>${small.etag}</ETag></Part></CompleteMultipartUpload>`;
    const order = await rawRequest(t.server, {
      method: 'POST', path: `/bkt/mp/bad?uploadId=${init.uploadId}`, body: unordered,
      sign: { credentials: CREDENTIALS, resource: `/bkt/mp/bad?uploadId=${init.uploadId}` },
    });
    expect([order.status, errorCode(order.body)]).toEqual([400, 'InvalidPartOrder']);
    await expect(c.completeMultipartUpload('mp/bad', init.uploadId, [{ number: 2, etag: '"00000000000000000000000000000000"' }]))
      .rejects.toMatchObject({ status: 400, code: 'InvalidPart' });
    await expect(c.completeMultipartUpload('mp/bad', init.uploadId, [{ number: 3, etag: big.etag }]))
      .rejects.toMatchObject({ status: 400, code: 'InvalidPart' });
    // A single small part is also the last one: allowed.
    await c.completeMultipartUpload('mp/bad', init.uploadId, [{ number: 1, etag: small.etag }]);
    expect(Buffer.from((await c.get('mp/bad')).content)).toEqual(filled(10, 1));
  });

  it('aborts, lists uploads by prefix and answers NoSuchUpload', async () => {
    const c = t.client();
    const a = await c.initMultipartUpload('up/a');
    const b = await c.initMultipartUpload('up/b');
    await c.initMultipartUpload('other/c');
    const listed = await c.listUploads({ prefix: 'up/' }, {});
    expect(listed.uploads.map((u: { name: string; uploadId: string }) => [u.name, u.uploadId])).toEqual([['up/a', a.uploadId], ['up/b', b.uploadId]]);
    await c.abortMultipartUpload('up/a', a.uploadId);
    await expect(c.uploadPart('up/a', a.uploadId, 1, Buffer.from('x'), 0, 1)).rejects.toMatchObject({ status: 404, code: 'NoSuchUpload' });
    await expect(c.abortMultipartUpload('up/b', 'F'.repeat(32))).rejects.toMatchObject({ status: 404, code: 'NoSuchUpload' });
    expect((await c.listUploads({ prefix: 'up/' }, {})).uploads.map((u: { name: string }) => u.name)).toEqual(['up/b']);
  });

  it('copies ranges of another object into parts (UploadPartCopy)', async () => {
    const c = t.client();
    const source = filled(300 * KIB, 7);
    await c.put('src/big', source);
    const init = await c.initMultipartUpload('mp/copied');
    const p1 = await c.uploadPartCopy('mp/copied', init.uploadId, 1, `0-${200 * KIB - 1}`, { sourceKey: 'src/big', sourceBucketName: 'bkt' });
    const p2 = await c.uploadPartCopy('mp/copied', init.uploadId, 2, `${200 * KIB}-${300 * KIB - 1}`, { sourceKey: 'src/big', sourceBucketName: 'bkt' });
    await c.completeMultipartUpload('mp/copied', init.uploadId, [{ number: 1, etag: p1.etag }, { number: 2, etag: p2.etag }]);
    const got = await c.get('mp/copied');
    expect(Buffer.from(got.content)).toEqual(source);
    expect(headersOf(got)['x-oss-hash-crc64ecma']).toBe(crc64(source));
  });

  it('uploads a file with ali-oss multipartUpload', async () => {
    const c = t.client();
    const body = filled(350 * KIB, 9);
    await c.multipartUpload('mp/managed', body, { partSize: 100 * KIB });
    expect(Buffer.from((await c.get('mp/managed')).content)).toEqual(body);
  });
});
