import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { createServer, type Server as HttpServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import OSS from 'ali-oss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startServer } from '../../src/server/index.js';
import { RefreshingCredentials, staticCredentials, type CredentialSource } from '../../src/store/credentials.js';
import { createOssStore } from '../../src/store/index.js';
import { FAST_RETRY, LOCAL_REGION, type Server } from './harness.js';
import { httpRelay, ossErrorXml } from './httpRelay.js';

// Temporary credentials from a credentials URI (the format @alicloud/credentials reads, as ECS and
// the bundled server's /.sts/credentials give them), through the store's own provider. A relay in
// front of the local server refuses what real OSS refuses: a token past its expiry, and any key
// the test marks stale.

interface Issued {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken: string;
  /** ms since the epoch; 0 until handed out. */
  expiresAt: number;
}

const KEYS: Issued[] = Array.from({ length: 40 }, (_, i) => ({
  accessKeyId: `STS${String(i).padStart(3, '0')}`,
  accessKeySecret: randomBytes(12).toString('hex'),
  securityToken: `token-${i}-${randomBytes(6).toString('hex')}`,
  expiresAt: 0,
}));

let dir: string;
let server: Server;
const BUCKET = 'sts-bucket';

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ossencfs-sts-'));
  server = await startServer({ dir, port: 0, credentials: KEYS.map(({ accessKeyId, accessKeySecret, securityToken }) => ({ accessKeyId, accessKeySecret, securityToken })) });
  const first = KEYS[0]!;
  await new OSS({ accessKeyId: first.accessKeyId, accessKeySecret: first.accessKeySecret, stsToken: first.securityToken, endpoint: server.url, bucket: BUCKET, region: `oss-${LOCAL_REGION}`, authorizationV4: true } as OSS.Options).putBucket(BUCKET);
});
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

/** A credentials URI handing out the next key on each GET, valid for `lifetimeMs` from then. */
async function credentialsUri(lifetimeMs: number, from: number): Promise<{ url: string; asked: () => number; leftAtRenewal: number[]; close(): Promise<void> }> {
  let next = from;
  let asked = 0;
  /** At each renewal, how long the key it replaces had left (ms). */
  const leftAtRenewal: number[] = [];
  const http: HttpServer = createServer((_req, res) => {
    asked++;
    if (next > from) leftAtRenewal.push(KEYS[next - 1]!.expiresAt - Date.now());
    const key = KEYS[next++]!;
    key.expiresAt = Date.now() + lifetimeMs;
    const expiration = new Date(key.expiresAt).toISOString().replace(/\.\d{3}Z$/, 'Z');
    res.setHeader('Content-Type', 'application/json');
    res.end(JSON.stringify({ Code: 'Success', AccessKeyId: key.accessKeyId, AccessKeySecret: key.accessKeySecret, SecurityToken: key.securityToken, Expiration: expiration }));
  });
  await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(http.address() as AddressInfo).port}/creds`,
    asked: () => asked,
    leftAtRenewal,
    close: () => new Promise<void>((resolve) => http.close(() => resolve())),
  };
}

/** A provider built while the environment says what the library reads; the environment is restored after. */
function providerWith(env: Record<string, string>, source: CredentialSource): RefreshingCredentials {
  const before = Object.fromEntries(Object.keys(env).map((k) => [k, process.env[k]]));
  Object.assign(process.env, env);
  try {
    return RefreshingCredentials.from(source);
  } finally {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

const expiredXml = ossErrorXml('SecurityTokenExpired', 'The security token you provided has expired.');

describe('temporary credentials from a credentials URI', () => {
  it('are renewed before they expire, for as long as the store works: three rotations, no request refused, none failed', async () => {
    const uri = await credentialsUri(4_000, 0);
    // Refuses, as OSS does, a token whose expiry has passed when the request arrives.
    let refused = 0;
    const relay = await httpRelay(server, (seen) => {
      const key = KEYS.find((k) => k.accessKeyId === seen.keyId);
      if (key && key.expiresAt > Date.now()) return undefined;
      refused++;
      return { status: 403, body: expiredXml };
    });
    try {
      // The default chain, as a mount on a host with only ALIBABA_CLOUD_CREDENTIALS_URI set finds it
      // (instance metadata off: the test has no network but loopback).
      const credentials = providerWith({ ALIBABA_CLOUD_CREDENTIALS_URI: uri.url, ALIBABA_CLOUD_ECS_METADATA_DISABLED: 'true', ALIBABA_CLOUD_CLI_PROFILE_DISABLED: 'true', ALIBABA_CLOUD_CREDENTIALS_FILE: join(dir, 'none.ini') }, 'default');
      const store = createOssStore({ endpoint: relay.url, bucket: BUCKET, region: LOCAL_REGION, credentials, retry: FAST_RETRY });
      const failures: unknown[] = [];
      let done = 0;
      const deadline = Date.now() + 60_000;
      const worker = async (w: number): Promise<void> => {
        for (let i = 0; new Set(relay.seen.map((s) => s.keyId)).size < 4 && Date.now() < deadline; i++) {
          const key = `rot/${w}/${i % 5}`;
          try {
            await store.put(key, Buffer.from(`${w}:${i}`), { meta: { i: String(i) } });
            expect((await store.head(key)).meta.i).toBe(String(i));
            await store.list('rot/');
            done++;
          } catch (err) {
            failures.push(err);
          }
        }
      };
      await Promise.all([0, 1, 2, 3].map(worker));
      expect(failures).toEqual([]);
      expect(refused).toBe(0);
      expect(new Set(relay.seen.map((s) => s.keyId)).size).toBeGreaterThanOrEqual(4);
      expect(uri.asked()).toBeGreaterThanOrEqual(4);
      // Renewed ahead of expiry, not when a request found the key dead.
      expect(uri.leftAtRenewal.filter((left) => left <= 0)).toEqual([]);
      // One renewal per rotation, not one per request: a burst of requests shares it.
      expect(uri.asked()).toBeLessThan(done);
    } finally {
      await relay.close();
      await uri.close();
    }
  });

  it('a request that meets an expired token is signed again with renewed credentials and sent once more', async () => {
    const uri = await credentialsUri(10 * 60_000, 20);
    const stale = new Set<string>();
    const relay = await httpRelay(server, (seen) => (stale.has(seen.keyId) ? { status: 403, body: expiredXml } : undefined));
    try {
      const store = createOssStore({ endpoint: relay.url, bucket: BUCKET, region: LOCAL_REGION, credentials: providerWith({ ALIBABA_CLOUD_CREDENTIALS_URI: uri.url }, 'uri'), retry: FAST_RETRY });
      await store.put('exp/a', Buffer.from('abc'), { meta: {} });
      const first = relay.seen.at(-1)!.keyId;
      stale.add(first); // the server has revoked it, though it has minutes left
      relay.seen.length = 0;
      expect((await store.head('exp/a')).size).toBe(3);
      expect(relay.seen.map((s) => s.keyId)).toEqual([first, KEYS[21]!.accessKeyId]);
      expect(uri.asked()).toBe(2);

      // Renewed credentials refused as well: that is the answer, after one more try only.
      stale.add(KEYS[21]!.accessKeyId);
      stale.add(KEYS[22]!.accessKeyId);
      relay.seen.length = 0;
      await expect(store.head('exp/a')).rejects.toMatchObject({ errno: 'EACCES', message: expect.stringContaining('SecurityTokenExpired') });
      expect(relay.seen.map((s) => s.keyId)).toEqual([KEYS[21]!.accessKeyId, KEYS[22]!.accessKeyId]);

      // A stream body cannot be sent twice: it fails, once.
      relay.seen.length = 0;
      await expect(store.put('exp/s', Readable.from([Buffer.from('xyz')]), { meta: {}, contentLength: 3 })).rejects.toMatchObject({ errno: 'EACCES' });
      expect(relay.seen).toHaveLength(1);
    } finally {
      await relay.close();
      await uri.close();
    }
  });

  it('static keys refused as unknown are not asked for again: one request, EACCES', async () => {
    const relay = await httpRelay(server, () => ({ status: 403, body: ossErrorXml('InvalidAccessKeyId', 'The OSS Access Key Id you provided does not exist in our records.') }));
    try {
      const store = createOssStore({ endpoint: relay.url, bucket: BUCKET, region: LOCAL_REGION, credentials: staticCredentials(KEYS[39]!), retry: FAST_RETRY });
      await expect(store.head('x')).rejects.toMatchObject({ errno: 'EACCES', message: expect.stringContaining('InvalidAccessKeyId') });
      expect(relay.seen).toHaveLength(1);
    } finally {
      await relay.close();
    }
  });

  it('a source that has nothing to give: EACCES naming the source and why', async () => {
    const credentials = providerWith({ ALIBABA_CLOUD_CREDENTIALS_URI: 'http://127.0.0.1:9/none' }, 'uri');
    const store = createOssStore({ endpoint: server.url, bucket: BUCKET, region: LOCAL_REGION, credentials, retry: FAST_RETRY });
    await expect(store.head('x')).rejects.toMatchObject({ errno: 'EACCES', message: expect.stringMatching(/^no credentials from credential source uri: /) });
    const before = process.env.ALIBABA_CLOUD_CREDENTIALS_URI;
    delete process.env.ALIBABA_CLOUD_CREDENTIALS_URI;
    try {
      expect(() => RefreshingCredentials.from('uri')).toThrow(/ALIBABA_CLOUD_CREDENTIALS_URI is not set/);
    } finally {
      if (before !== undefined) process.env.ALIBABA_CLOUD_CREDENTIALS_URI = before;
    }
  });
});
