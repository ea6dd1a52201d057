import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { startTestServer, type TestServer } from './helpers.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
  await t.client().putBucket('bkt');
});
afterAll(async () => t.close());

describe('objects', () => {
  it('puts and gets an object with metadata', async () => {
    const c = t.client();
    const body = Buffer.from('hello world');
    const put = await c.put('dir/hello.txt', body, { meta: { Color: 'Blue', mtime: '1.5' } as never, headers: { 'Content-Type': 'text/plain' } });
    const md5 = createHash('md5').update(body).digest('hex').toUpperCase();
    expect(put.res.headers['etag']).toBe(`"${md5}"`);
    const got = await c.get('dir/hello.txt');
    expect(Buffer.from(got.content).toString()).toBe('hello world');
    expect(got.res.headers['content-type']).toBe('text/plain');
    expect(got.res.headers['x-oss-meta-color']).toBe('Blue');
    const head = await c.head('dir/hello.txt');
    expect(head.meta).toEqual({ color: 'Blue', mtime: '1.5' });
  });
});
