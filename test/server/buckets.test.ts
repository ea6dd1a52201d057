import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CREDENTIALS, errorCode, rawRequest, startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
});
afterAll(async () => t.close());

describe('buckets', () => {
  it('creates, lists, describes and deletes buckets', async () => {
    const c = t.client();
    await c.putBucket('alpha');
    await c.putBucket('beta');
    await expect(c.putBucket('alpha')).rejects.toMatchObject({ status: 409, code: 'BucketAlreadyExists' });
    const bad = await rawRequest(t.server, { method: 'PUT', path: '/Bad_Name', sign: { credentials: CREDENTIALS, resource: '/Bad_Name/' } });
    expect([bad.status, errorCode(bad.body)]).toEqual([400, 'InvalidBucketName']);
    const listed = await c.listBuckets({});
    expect((listed.buckets ?? []).map((b: { name: string }) => b.name)).toEqual(['alpha', 'beta']);
    const info = await c.getBucketInfo('alpha');
    expect(info.bucket.Name).toBe('alpha');
    const location = await c.getBucketLocation('alpha');
    expect(location.location).toBe('oss-cn-hangzhou');
    await expect(c.getBucketInfo('nope')).rejects.toMatchObject({ status: 404, code: 'NoSuchBucket' });
  });

  it('refuses to delete a bucket with objects or uploads (BucketNotEmpty)', async () => {
    const c = t.client({ bucket: 'gamma' });
    await c.putBucket('gamma');
    await c.put('obj', Buffer.from('x'));
    await expect(c.deleteBucket('gamma')).rejects.toMatchObject({ status: 409, code: 'BucketNotEmpty' });
    await c.delete('obj');
    const upload = await c.initMultipartUpload('pending');
    await expect(c.deleteBucket('gamma')).rejects.toMatchObject({ status: 409, code: 'BucketNotEmpty' });
    await c.abortMultipartUpload('pending', upload.uploadId);
    expect((await c.deleteBucket('gamma')).res.status).toBe(204);
    await expect(c.put('obj', Buffer.from('x'))).rejects.toMatchObject({ status: 404, code: 'NoSuchBucket' });
  });

  it('serves path-style requests (sldEnable with a host name endpoint)', async () => {
    const pathStyle = t.client({ endpoint: `http://localhost:${t.server.port}`, sldEnable: true, bucket: 'alpha' } as never);
    await pathStyle.put('dir/p', Buffer.from('path style'));
    const virtualHost = t.client({ bucket: 'alpha' });
    expect(Buffer.from((await virtualHost.get('dir/p')).content).toString()).toBe('path style');
    expect((await pathStyle.list({ prefix: 'dir/' }, {})).objects.map((o: { name: string }) => o.name)).toEqual(['dir/p']);
  });

  it('keeps buckets across a restart', async () => {
    await t.restart();
    const listed = await t.client().listBuckets({});
    expect((listed.buckets ?? []).map((b: { name: string }) => b.name)).toEqual(['alpha', 'beta']);
  });
});
