import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { request } from 'node:http';
import { readdir } from 'node:fs/promises';
import { join } from 'node:path';
import { CREDENTIALS, adminFault, errorCode, rawRequest, signV4, startTestServer, headersOf, type TestServer } from './helpers.js';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
  await t.client().putBucket('bkt');
  await t.client().put('big', Buffer.alloc(4 << 20, 7));
});
afterEach(() => t.server.faults.clear());
afterAll(async () => t.close());

describe('fault injection in-process', () => {
  it('fails the next N matching requests, then succeeds', async () => {
    t.server.faults.failNext(2, { status: 503, method: 'GET', path: '/bkt/big' });
    const c = t.client();
    await expect(c.head('big')).resolves.toBeTruthy(); // HEAD does not match
    await expect(c.get('big')).rejects.toMatchObject({ status: 503, code: 'ServiceUnavailable' });
    await expect(c.get('big')).rejects.toMatchObject({ status: 503 });
    expect((await c.get('big')).content.length).toBe(4 << 20);
  });

  it('resets a GET mid-body, which the client sees as an error', async () => {
    t.server.faults.resetResponseAfter(1 << 20, { method: 'GET', path: 'big' });
    await expect(t.client().get('big')).rejects.toThrow();
    expect((await t.client().get('big')).content.length).toBe(4 << 20);
  });

  it('resets while reading a request body and leaves no object and no temp file', async () => {
    t.server.faults.resetRequestAfter(100_000, { method: 'PUT' });
    await expect(t.client().put('cut', Buffer.alloc(1 << 20, 1))).rejects.toThrow();
    await expect(t.client().head('cut')).rejects.toMatchObject({ status: 404 });
    // The client sees the reset before the server has cleaned up: the temp file must go, soon.
    while ((await readdir(join(t.dir, 'tmp'))).length > 0) await new Promise((r) => setTimeout(r, 10));
  });

  it('adds latency to matching requests', async () => {
    t.server.faults.addLatency(300, { count: 1 });
    const start = Date.now();
    await t.client().head('big');
    expect(Date.now() - start).toBeGreaterThanOrEqual(290); // a lower bound only: sleeps never end early
  });
});

describe('fault injection over the admin endpoint', () => {
  it('arms failures with a signed request and clears them', async () => {
    expect((await adminFault(t.server, { action: 'fail', count: 1, status: 500, path: 'big' })).status).toBe(204);
    await expect(t.client().get('big')).rejects.toMatchObject({ status: 500, code: 'InternalError' });
    expect((await t.client().get('big')).res.status).toBe(200);
    await adminFault(t.server, { action: 'fail', count: 5, status: 429 });
    await adminFault(t.server, { action: 'clear' });
    expect((await t.client().get('big')).res.status).toBe(200);
  });

  it('refuses unsigned or wrongly signed admin requests', async () => {
    const unsigned = await rawRequest(t.server, { method: 'POST', path: '/?x-ossencfs-faults', body: '{"action":"clear"}' });
    expect([unsigned.status, errorCode(unsigned.body)]).toEqual([403, 'AccessDenied']);
    const wrong = await adminFault(t.server, { action: 'fail', count: 1 }, { ...CREDENTIALS, accessKeySecret: 'guess' });
    expect([wrong.status, errorCode(wrong.body)]).toEqual([403, 'SignatureDoesNotMatch']);
    expect((await t.client().get('big')).res.status).toBe(200);
  });
});

describe('durability', () => {
  it('leaves no partial object and no temp file when the client drops mid-upload', async () => {
    await t.client().put('dropped', Buffer.from('old version'));
    const headers = signV4('PUT', '/bkt/dropped', { 'Content-Length': String(10 << 20) }, CREDENTIALS);
    const req = request({ host: t.server.host, port: t.server.port, method: 'PUT', path: '/bkt/dropped', headers });
    const failed = new Promise<void>((resolve) => req.on('error', () => resolve()));
    await new Promise<void>((resolve) => req.write(Buffer.alloc(2 << 20, 3), () => resolve()));
    // The server has begun receiving into a temp file; wait until it exists, then hang up.
    while ((await readdir(join(t.dir, 'tmp'))).length === 0) await new Promise((r) => setTimeout(r, 10));
    req.destroy();
    await failed;
    while ((await readdir(join(t.dir, 'tmp'))).length > 0) await new Promise((r) => setTimeout(r, 10));
    expect(Buffer.from((await t.client().get('dropped')).content).toString()).toBe('old version');
  });

  it('leaves the old version and no temp file when a big PUT is cut after background flushes began', async () => {
    await t.client().put('flushed', Buffer.from('old version'));
    t.server.faults.resetRequestAfter(100 << 20, { method: 'PUT', path: 'flushed' }); // past the 64 MiB flush interval
    const body = Buffer.alloc(160 << 20, 9);
    await expect(t.client().put('flushed', body)).rejects.toThrow();
    while ((await readdir(join(t.dir, 'tmp'))).length > 0) await new Promise((r) => setTimeout(r, 10));
    expect(Buffer.from((await t.client().get('flushed')).content).toString()).toBe('old version');
    await t.client().put('flushed', body);
    expect(headersOf(await t.client().head('flushed'))['content-length']).toBe(String(body.length));
  });

  it('lets one of two concurrent PUTs to the same key win whole', async () => {
    const a = Buffer.alloc(3 << 20, 0xaa);
    const b = Buffer.alloc(3 << 20, 0xbb);
    await Promise.all([t.client().put('race', a), t.client().put('race', b)]);
    const got = Buffer.from((await t.client().get('race')).content);
    expect(got.equals(a) || got.equals(b)).toBe(true);
    expect(await readdir(join(t.dir, 'buckets', 'bkt', 'data'))).toBeTruthy();
  });
});
