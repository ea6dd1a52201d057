import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOssStore } from '../../src/store/index.js';
import type { ObjectStore } from '../../src/store/ObjectStore.js';
import { FAST_RETRY, LOCAL_REGION, readAll, startHarness, type Harness } from './harness.js';
import { forwardProxy } from './forwardProxy.js';

// HTTP_PROXY/HTTPS_PROXY/NO_PROXY, as ossutil and rclone honour them: read when a store is made.

let h: Harness;
let proxy: Awaited<ReturnType<typeof forwardProxy>>;
beforeAll(async () => {
  h = await startHarness('proxied');
  proxy = await forwardProxy();
});
afterAll(async () => {
  await proxy?.close();
  await h?.close();
});

const PROXY_VARS = ['HTTP_PROXY', 'HTTPS_PROXY', 'NO_PROXY', 'http_proxy', 'https_proxy', 'no_proxy'];

/** A store made while the environment holds `env` (and no other proxy setting); restored after. */
function storeWith(env: Record<string, string>): ObjectStore {
  const before = Object.fromEntries(PROXY_VARS.map((k) => [k, process.env[k]]));
  for (const k of PROXY_VARS) delete process.env[k];
  Object.assign(process.env, env);
  try {
    return createOssStore({ endpoint: h.server.url, bucket: h.bucket, region: LOCAL_REGION, ...h.credentials, retry: FAST_RETRY });
  } finally {
    for (const [k, v] of Object.entries(before)) {
      if (v === undefined) delete process.env[k];
      else process.env[k] = v;
    }
  }
}

async function round(store: ObjectStore, key: string): Promise<string> {
  await store.put(key, Buffer.from('via proxy'), { meta: {} });
  const body = (await readAll((await store.get(key)).body)).toString();
  await store.head(key);
  await store.list('p/');
  await store.delete(key);
  return body;
}

describe('proxies from the environment', () => {
  it('HTTP_PROXY: every request goes through the proxy', async () => {
    const before = proxy.tunnels.length;
    expect(await round(storeWith({ HTTP_PROXY: proxy.url }), 'p/a')).toBe('via proxy');
    // undici tunnels through the proxy (CONNECT) for plain HTTP too; keep-alive tunnels carry the
    // five requests, a new one where a connection was still being checked for reuse.
    const tunnels = proxy.tunnels.slice(before);
    expect(tunnels.length).toBeGreaterThanOrEqual(1);
    expect(tunnels.length).toBeLessThanOrEqual(5);
    expect(new Set(tunnels)).toEqual(new Set([new URL(h.server.url).host]));
    expect(proxy.forwarded).toEqual([]);
  });

  it('NO_PROXY naming the endpoint\'s host: the proxy sees nothing', async () => {
    const before = proxy.forwarded.length + proxy.tunnels.length;
    expect(await round(storeWith({ HTTP_PROXY: proxy.url, NO_PROXY: 'localhost,127.0.0.1' }), 'p/b')).toBe('via proxy');
    expect(proxy.forwarded.length + proxy.tunnels.length).toBe(before);
  });

  it('no proxy variable: the proxy sees nothing', async () => {
    const before = proxy.forwarded.length + proxy.tunnels.length;
    expect(await round(storeWith({}), 'p/c')).toBe('via proxy');
    expect(proxy.forwarded.length + proxy.tunnels.length).toBe(before);
  });
});
