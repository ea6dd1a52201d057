import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get } from 'node:http';
import { CREDENTIALS, errorCode, rawRequest, startTestServer, type TestServer } from './helpers.js';

const STS = { accessKeyId: 'STS.tmp', accessKeySecret: 'sts-secret', securityToken: 'token-123' };
// V1 stays available (`signatures: 'any'`) for old private deployments; the default is tested below.
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer([CREDENTIALS, STS], { signatures: 'any' });
  await t.client().putBucket('bkt');
});
afterAll(async () => t.close());

const v1 = { authorizationV4: false };

function fetchUrl(url: string): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body }));
    }).on('error', reject);
  });
}

const hostClient = (options: Record<string, unknown> = {}) =>
  t.client({ endpoint: `http://localhost:${t.server.port}`, sldEnable: true, ...options } as never);

describe('signature V1', () => {
  it('accepts ali-oss requests with sub-resources and odd keys', async () => {
    const c = t.client(v1);
    const key = 'dir/ü ñ+%2F?&=#~!*()\'.txt';
    await c.put(key, Buffer.from('v1'));
    expect(Buffer.from((await c.get(key)).content).toString()).toBe('v1');
    const init = await c.initMultipartUpload(key);
    await c.abortMultipartUpload(key, init.uploadId);
  });

  it('refuses bad signatures, unknown keys and anonymous requests', async () => {
    const wrong = t.client({ ...v1, accessKeySecret: 'not-the-secret' });
    await expect(wrong.get('x')).rejects.toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
    const unknown = t.client({ ...v1, accessKeyId: 'nobody' });
    await expect(unknown.get('x')).rejects.toMatchObject({ status: 403, code: 'InvalidAccessKeyId' });
    const anonymous = await rawRequest(t.server, { method: 'GET', path: '/bkt/x' });
    expect([anonymous.status, errorCode(anonymous.body)]).toEqual([403, 'AccessDenied']);
    const tampered = await rawRequest(t.server, { method: 'GET', path: '/bkt/x', headers: { Authorization: `OSS ${CREDENTIALS.accessKeyId}:AAAAAAAAAAAAAAAAAAAAAAAAAAA=` } });
    expect([tampered.status, errorCode(tampered.body)]).toEqual([403, 'SignatureDoesNotMatch']);
  });
});

describe('signature V4', () => {
  it('accepts ali-oss authorizationV4 requests across operations', async () => {
    const c = t.client({ authorizationV4: true, region: 'oss-cn-hangzhou' });
    const key = 'v4/ü key+(1)';
    await c.put(key, Buffer.from('v4 body'), { meta: { a: 'b' } as never });
    expect(Buffer.from((await c.get(key)).content).toString()).toBe('v4 body');
    expect((await c.list({ prefix: 'v4/', delimiter: '/', 'max-keys': 10 }, {})).objects.map((o: { name: string }) => o.name)).toEqual([key]);
    const v2 = await c.listV2({ prefix: 'v4/', 'max-keys': 1 } as never, {});
    expect(v2.objects.length).toBe(1);
    const init = await c.initMultipartUpload('v4/mp');
    const part = await c.uploadPart('v4/mp', init.uploadId, 1, Buffer.from('part'), 0, 4);
    await c.completeMultipartUpload('v4/mp', init.uploadId, [{ number: 1, etag: part.etag }]);
    await c.copy('v4/copy', key, 'bkt', { meta: { a: 'c' } as never });
    await c.deleteMulti(['v4/copy', 'v4/mp']);
    expect((await c.listBuckets({})).buckets).toHaveLength(1);
  });

  it('refuses a V4 request signed with the wrong secret', async () => {
    const c = t.client({ authorizationV4: true, region: 'oss-cn-hangzhou', accessKeySecret: 'wrong' });
    await expect(c.get('anything')).rejects.toMatchObject({ status: 403, code: 'SignatureDoesNotMatch' });
  });
});

describe('presigned URLs', () => {
  it('serves a V1 presigned GET and refuses it once tampered or expired', async () => {
    const c = hostClient(v1);
    await c.put('shared/file.txt', Buffer.from('shared body'));
    const url = c.signatureUrl('shared/file.txt', { expires: 600 });
    expect(await fetchUrl(url)).toEqual({ status: 200, body: 'shared body' });
    expect((await fetchUrl(url.replace('file.txt', 'file.txx'))).status).toBe(403);
    const expired = new URL(url);
    expired.searchParams.set('Expires', String(Math.floor(Date.now() / 1000) - 10));
    const r = await fetchUrl(expired.toString());
    expect([r.status, /<Code>(\w+)/.exec(r.body)?.[1]]).toEqual([403, 'AccessDenied']);
  });

  it('serves a V4 presigned GET', async () => {
    const c = hostClient({ authorizationV4: true, region: 'oss-cn-hangzhou' });
    await c.put('shared/v4.txt', Buffer.from('v4 shared'));
    const url = await c.signatureUrlV4('GET', 600, {}, 'shared/v4.txt');
    expect(await fetchUrl(url)).toEqual({ status: 200, body: 'v4 shared' });
    expect((await fetchUrl(url.replace(/x-oss-signature=[0-9a-f]/, 'x-oss-signature=z'))).status).toBe(403);
  });
});

describe('STS security tokens', () => {
  it('accepts the token of a temporary credential and refuses requests without it', async () => {
    const sts = t.client({ ...v1, accessKeyId: STS.accessKeyId, accessKeySecret: STS.accessKeySecret, stsToken: STS.securityToken });
    await sts.put('sts/obj', Buffer.from('sts'));
    expect(Buffer.from((await sts.get('sts/obj')).content).toString()).toBe('sts');
    const noToken = t.client({ ...v1, accessKeyId: STS.accessKeyId, accessKeySecret: STS.accessKeySecret });
    await expect(noToken.get('sts/obj')).rejects.toMatchObject({ status: 403 });
    const wrongToken = t.client({ ...v1, accessKeyId: STS.accessKeyId, accessKeySecret: STS.accessKeySecret, stsToken: 'other' });
    await expect(wrongToken.get('sts/obj')).rejects.toMatchObject({ status: 403 });
    const v4 = t.client({ accessKeyId: STS.accessKeyId, accessKeySecret: STS.accessKeySecret, stsToken: STS.securityToken, authorizationV4: true, region: 'oss-cn-hangzhou' });
    expect(Buffer.from((await v4.get('sts/obj')).content).toString()).toBe('sts');
  });
});

describe('signature policy v4 (the default, as a bucket made since September 2025)', () => {
  let strict: TestServer;
  beforeAll(async () => {
    strict = await startTestServer();
    await strict.client().putBucket('bkt');
    await strict.client().put('obj', Buffer.from('v4 only'));
  });
  afterAll(async () => strict.close());

  it('refuses V1 header and V1 presigned requests with AccessDenied (EC 0002-00000080), and unsigned ones', async () => {
    const c = strict.client(v1);
    await expect(c.get('obj')).rejects.toMatchObject({ status: 403, code: 'AccessDenied', ecCode: '0002-00000080' });
    await expect(c.put('new', Buffer.from('x'))).rejects.toMatchObject({ status: 403, code: 'AccessDenied' });
    const presigned = await fetchUrl(strict.client({ ...v1, endpoint: `http://localhost:${strict.server.port}`, sldEnable: true } as never).signatureUrl('obj', { expires: 600 }));
    expect([presigned.status, /<EC>([^<]*)/.exec(presigned.body)?.[1]]).toEqual([403, '0002-00000080']);
    const v1Raw = await rawRequest(strict.server, { method: 'GET', path: '/bkt/obj', sign: { credentials: CREDENTIALS, version: 1 } });
    expect([v1Raw.status, errorCode(v1Raw.body), v1Raw.headers['x-oss-ec']]).toEqual([403, 'AccessDenied', '0002-00000080']);
    const anonymous = await rawRequest(strict.server, { method: 'GET', path: '/bkt/obj' });
    expect([anonymous.status, errorCode(anonymous.body)]).toEqual([403, 'AccessDenied']);
    await expect(strict.client().head('new')).rejects.toMatchObject({ status: 404 });
  });

  it('serves V4 header and V4 presigned requests', async () => {
    const c = strict.client();
    expect(Buffer.from((await c.get('obj')).content).toString()).toBe('v4 only');
    const url = await strict.client({ endpoint: `http://localhost:${strict.server.port}`, sldEnable: true } as never).signatureUrlV4('GET', 600, {}, 'obj');
    expect(await fetchUrl(url)).toEqual({ status: 200, body: 'v4 only' });
  });
});
