import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { get } from 'node:http';
import { URICredentialsProvider } from '@alicloud/credentials';
import { CREDENTIALS, adminFault, errorCode, rawRequest, signV4, startTestServer, type TestServer } from './helpers.js';

const LIFETIME_S = 900;
let t: TestServer;
beforeAll(async () => {
  t = await startTestServer([CREDENTIALS], { stsLifetimeSeconds: LIFETIME_S });
  await t.client().putBucket('bkt');
});
afterAll(async () => t.close());

function fetchJson(url: string): Promise<{ status: number; body: Record<string, string> }> {
  return new Promise((resolve, reject) => {
    get(url, (res) => {
      let body = '';
      res.on('data', (c: Buffer) => (body += c.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(body) as Record<string, string> }));
    }).on('error', reject);
  });
}

/** What ALIBABA_CLOUD_CREDENTIALS_URI would give a client: @alicloud/credentials reading the URL. */
async function fromUri(url: string): Promise<{ accessKeyId: string; accessKeySecret: string; stsToken: string }> {
  const c = await URICredentialsProvider.builder().withCredentialsURI(url).build().getCredentials();
  return { accessKeyId: c.accessKeyId, accessKeySecret: c.accessKeySecret, stsToken: c.securityToken };
}

describe('temporary credentials (--sts-lifetime)', () => {
  it('hands out a fresh key, secret and token each time, in the credentials-URI format', async () => {
    expect(t.server.stsUrl).toBe(`${t.server.url}/.sts/credentials`);
    const before = Date.now();
    const a = await fetchJson(t.server.stsUrl!);
    const b = await fetchJson(t.server.stsUrl!);
    expect(a.status).toBe(200);
    expect(Object.keys(a.body).sort()).toEqual(['AccessKeyId', 'AccessKeySecret', 'Code', 'Expiration', 'SecurityToken']);
    expect(a.body.Code).toBe('Success');
    expect(a.body.Expiration).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    const expires = Date.parse(a.body.Expiration!);
    expect(expires).toBeGreaterThanOrEqual(Math.floor(before / 1000) * 1000 + LIFETIME_S * 1000);
    expect(expires).toBeLessThanOrEqual(Date.now() + LIFETIME_S * 1000);
    for (const field of ['AccessKeyId', 'AccessKeySecret', 'SecurityToken']) expect(a.body[field]).not.toBe(b.body[field]);
  });

  it('serves requests signed with them (read by @alicloud/credentials), then refuses them as SecurityTokenExpired', async () => {
    const keys = await fromUri(t.server.stsUrl!);
    const c = t.client(keys);
    await c.put('sts/obj', Buffer.from('temporary'));
    expect(Buffer.from((await c.get('sts/obj')).content).toString()).toBe('temporary');
    await expect(t.client({ ...keys, stsToken: 'not-the-token' }).get('sts/obj')).rejects.toMatchObject({ status: 403, code: 'InvalidSecurityToken' });
    t.server.clock.offsetMs = LIFETIME_S * 1000 + 1000;
    try {
      // Signed with the server's time, so only the token's expiry is wrong.
      const expired = await rawRequest(t.server, {
        method: 'GET', path: '/bkt/sts/obj',
        headers: signV4('GET', '/bkt/sts/obj', {}, { accessKeyId: keys.accessKeyId, accessKeySecret: keys.accessKeySecret, securityToken: keys.stsToken }, new Date(t.server.clock.now())),
      });
      expect([expired.status, errorCode(expired.body), expired.headers['x-oss-ec']]).toEqual([403, 'SecurityTokenExpired', '0002-00000007']);
      // A key issued now is good for its own lifetime.
      const fresh = await fetchJson(t.server.stsUrl!);
      const ok = await rawRequest(t.server, {
        method: 'GET', path: '/bkt/sts/obj',
        headers: signV4('GET', '/bkt/sts/obj', {}, { accessKeyId: fresh.body.AccessKeyId!, accessKeySecret: fresh.body.AccessKeySecret!, securityToken: fresh.body.SecurityToken! }, new Date(t.server.clock.now())),
      });
      expect([ok.status, ok.body.toString()]).toEqual([200, 'temporary']);
    } finally {
      t.server.clock.offsetMs = 0;
    }
  });

  it('forgets keys long expired (bounded memory): they are then unknown', async () => {
    const keys = await fromUri(t.server.stsUrl!);
    t.server.clock.offsetMs = LIFETIME_S * 1000 + 11 * 60_000;
    try {
      await fetchJson(t.server.stsUrl!); // issuing is when old keys are swept
      const r = await rawRequest(t.server, {
        method: 'GET', path: '/bkt/sts/obj',
        headers: signV4('GET', '/bkt/sts/obj', {}, { accessKeyId: keys.accessKeyId, accessKeySecret: keys.accessKeySecret, securityToken: keys.stsToken }, new Date(t.server.clock.now())),
      });
      expect([r.status, errorCode(r.body)]).toEqual([403, 'InvalidAccessKeyId']);
    } finally {
      t.server.clock.offsetMs = 0;
    }
  });

  it('is not there unless asked for', async () => {
    const plain = await startTestServer();
    try {
      expect(plain.server.stsUrl).toBeUndefined();
      const r = await rawRequest(plain.server, { method: 'GET', path: '/.sts/credentials' });
      expect(r.status).toBe(403);
    } finally {
      await plain.close();
    }
  });
});

describe('clock skew', () => {
  it('refuses a V4 or V1 request signed more than 15 minutes off with RequestTimeTooSkewed and the server time', async () => {
    const c = t.client();
    await c.put('skew', Buffer.from('x'));
    const off = new Date(Date.now() - 16 * 60_000);
    const v4 = await rawRequest(t.server, { method: 'GET', path: '/bkt/skew', headers: signV4('GET', '/bkt/skew', {}, CREDENTIALS, off) });
    const xml = v4.body.toString();
    expect([v4.status, errorCode(v4.body), v4.headers['x-oss-ec']]).toEqual([403, 'RequestTimeTooSkewed', '0002-00000504']);
    expect(xml).toContain('<Message>The difference between the request time and the current time is too large.</Message>');
    expect(xml).toContain(`<RequestTime>${off.toISOString().replace(/\.\d{3}Z$/, '.000Z')}</RequestTime>`);
    const serverTime = Date.parse(/<ServerTime>([^<]+)/.exec(xml)![1]!);
    expect(Math.abs(serverTime - Date.now())).toBeLessThan(60_000);
    expect(v4.headers.date).toBeDefined();
    const near = await rawRequest(t.server, { method: 'GET', path: '/bkt/skew', headers: signV4('GET', '/bkt/skew', {}, CREDENTIALS, new Date(Date.now() - 14 * 60_000)) });
    expect(near.status).toBe(200);
    const any = await startTestServer([CREDENTIALS], { signatures: 'any' });
    try {
      await any.client().putBucket('bkt');
      const v1 = await rawRequest(any.server, { method: 'GET', path: '/bkt/', headers: { 'x-oss-date': new Date(Date.now() + 20 * 60_000).toUTCString() }, sign: { credentials: CREDENTIALS, version: 1 } });
      expect([v1.status, errorCode(v1.body)]).toEqual([403, 'RequestTimeTooSkewed']);
    } finally {
      await any.close();
    }
  });

  it('lets the admin route shift the server clock, which the Date header and ServerTime then show', async () => {
    const c = t.client();
    expect((await adminFault(t.server, { action: 'clock', offsetMs: -20 * 60_000 })).status).toBe(204);
    try {
      const err = await c.get('skew').then(() => undefined, (e: { status: number; code: string; headers?: Record<string, string> }) => e);
      expect(err).toMatchObject({ status: 403, code: 'RequestTimeTooSkewed' });
      const raw = await rawRequest(t.server, { method: 'GET', path: '/bkt/skew', sign: { credentials: CREDENTIALS } });
      const date = Date.parse(String(raw.headers.date));
      expect(Math.abs(date - (Date.now() - 20 * 60_000))).toBeLessThan(60_000);
      expect(Math.abs(Date.parse(/<ServerTime>([^<]+)/.exec(raw.body.toString())![1]!) - date)).toBeLessThan(2_000);
    } finally {
      expect((await adminFault(t.server, { action: 'clock', offsetMs: 0 })).status).toBe(204);
    }
    expect(Buffer.from((await c.get('skew')).content).toString()).toBe('x');
  });
});
