import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { ObjectHead } from '../../src/store/ObjectStore.js';
import type { OssStoreOptions } from '../../src/store/ossStore.js';
import { shAsync } from '../reliability/support.js';
import { FAST_RETRY, LOCAL_REGION, startHarness, type Harness } from './harness.js';

// A worker thread runs compiled code, not the TypeScript sources vitest loads: the classes under
// test here come from dist/ (built by setup.sh, as the mount that uses them is).
const DIST = (path: string): string => new URL(`../../dist/store/${path}`, import.meta.url).href;
const { HeadWorker } = (await import(DIST('headWorker.js'))) as typeof import('../../src/store/headWorker.js');
const { createOssStore } = (await import(DIST('ossStore.js'))) as typeof import('../../src/store/ossStore.js');
const { RefreshingCredentials } = (await import(DIST('credentials.js'))) as typeof import('../../src/store/credentials.js');

type Settled = { head: ObjectHead } | { errno: string; message: string };
const settle = (p: Promise<ObjectHead>): Promise<Settled> =>
  p.then(
    (head) => ({ head }),
    (err: { errno: string; message: string }) => ({ errno: err.errno, message: err.message }),
  );

/** For a HeadWorker whose every answer must come from the worker. */
const notHere = (): Promise<ObjectHead> => Promise.reject(new Error('asked on the calling thread'));

let h: Harness;
let options: OssStoreOptions;
const KEYS = Array.from({ length: 24 }, (_, i) => `hw/k${i}`);

beforeAll(async () => {
  h = await startHarness('head-worker');
  options = { endpoint: h.server.url, bucket: h.bucket, region: LOCAL_REGION, ...h.credentials, retry: FAST_RETRY };
  for (const [i, key] of KEYS.entries()) {
    await h.store.put(key, Buffer.alloc(i * 100, i), { meta: { mode: String(0o100600 + i), note: `ü ${i}` }, ...(i % 2 ? { contentType: 'text/plain' } : {}) });
  }
});
afterAll(async () => {
  await h?.close();
});
afterEach(() => {
  h.server.faults.clear();
});

describe('HEADs on a worker thread (the mount store: OssStoreOptions.headsOnWorker)', () => {
  it('the worker answers as the calling thread does: each head, and each error with its errno and message', async () => {
    const asked = [...KEYS, 'hw/missing', 'hw/denied'];
    h.server.faults.failNext(1, { status: 403, method: 'HEAD', path: 'hw/denied' });
    const here = await Promise.all(asked.map((key) => settle(h.store.head(key))));
    expect(here.filter((r) => 'head' in r)).toHaveLength(KEYS.length);
    expect(here.at(-2)).toMatchObject({ errno: 'ENOENT' });
    expect(here.at(-1)).toMatchObject({ errno: 'EACCES' });

    const worker = new HeadWorker(options, notHere);
    h.server.faults.failNext(1, { status: 403, method: 'HEAD', path: 'hw/denied' });
    // Retried in the worker as they are here: the answer is the object's, not the 503.
    h.server.faults.failNext(2, { status: 503, method: 'HEAD', path: 'hw/k3' });
    const before = h.server.faults.requests({ method: 'HEAD' }).length;
    const there = await Promise.all(asked.map((key) => settle(worker.head(key))));
    expect(there).toEqual(here);
    expect(h.server.faults.requests({ method: 'HEAD' }).length - before).toBe(asked.length + 2);
  });

  it('a burst goes to the worker, a lone HEAD stays on the calling thread', async () => {
    const worker = new HeadWorker(options, notHere);
    expect(worker.takes(0)).toBe(false);
    expect(worker.takes(7)).toBe(false);
    expect(worker.takes(8)).toBe(true);
    const pending = worker.head(KEYS[0]!);
    expect(worker.takes(0)).toBe(true); // until the worker's batch is done
    await pending;
    expect(worker.takes(0)).toBe(false);

    const store = createOssStore({ ...options, headsOnWorker: true });
    const inline = createOssStore(options);
    expect(await Promise.all(KEYS.map((key) => store.head(key)))).toEqual(await Promise.all(KEYS.map((key) => inline.head(key))));
  });

  it('with credentials from a source of @alicloud/credentials, the worker gets its own from the same source', async () => {
    const sts = await startHarness('head-worker-sts', { securityToken: 'worker-token' });
    let asked = 0;
    const uri = createServer((_req, res) => {
      asked++;
      const expiration = new Date(Date.now() + 3600_000).toISOString().replace(/\.\d{3}Z$/, 'Z');
      res.end(JSON.stringify({ Code: 'Success', AccessKeyId: sts.credentials.accessKeyId, AccessKeySecret: sts.credentials.accessKeySecret, SecurityToken: 'worker-token', Expiration: expiration }));
    });
    await new Promise<void>((resolve) => uri.listen(0, '127.0.0.1', resolve));
    const before = process.env.ALIBABA_CLOUD_CREDENTIALS_URI;
    // Read by the library when a provider is made, here and (the environment is copied) in the worker.
    process.env.ALIBABA_CLOUD_CREDENTIALS_URI = `http://127.0.0.1:${(uri.address() as AddressInfo).port}/`;
    try {
      const stsOptions = { endpoint: sts.server.url, bucket: sts.bucket, region: LOCAL_REGION, credentials: RefreshingCredentials.from('uri'), retry: FAST_RETRY };
      const store = createOssStore(stsOptions);
      for (const key of KEYS.slice(0, 4)) await store.put(key, Buffer.from(key), { meta: {} });
      expect(asked).toBe(1);
      const worker = new HeadWorker(stsOptions, notHere);
      expect((await Promise.all(KEYS.slice(0, 4).map((key) => worker.head(key)))).map((head) => head.size)).toEqual(KEYS.slice(0, 4).map((k) => k.length));
      expect(asked).toBe(2); // the worker's own provider asked once
    } finally {
      if (before === undefined) delete process.env.ALIBABA_CLOUD_CREDENTIALS_URI;
      else process.env.ALIBABA_CLOUD_CREDENTIALS_URI = before;
      await new Promise<void>((resolve) => uri.close(() => resolve()));
      await sts.close();
    }
  });

  it('a worker that dies costs only speed: its HEADs are asked again on the calling thread, as are the next ones', async () => {
    // A bucket name the store refuses: the worker throws while it loads, as a missing file would.
    const here: string[] = [];
    const worker = new HeadWorker({ ...options, bucket: 'Not A Bucket' }, (key) => {
      here.push(key);
      return h.store.head(key);
    });
    const answers = await Promise.all(KEYS.map((key) => worker.head(key)));
    expect(answers).toEqual(await Promise.all(KEYS.map((key) => h.store.head(key))));
    expect(here).toEqual(KEYS);
    expect(worker.takes(100)).toBe(false); // resting: the calling thread does every HEAD for now
  });

  it('an idle worker neither keeps the process alive nor stays: its thread exits after a few seconds', async () => {
    // In a process of its own, which must end on its own once its work is done.
    const child = fileURLToPath(new URL('./headBurstThenIdle.mjs', import.meta.url));
    const { status, stdout, stderr } = await shAsync(`${process.execPath} ${child} '${JSON.stringify(options)}' '${JSON.stringify(KEYS)}'`);
    expect(stderr).toBe('');
    expect(status).toBe(0);
    const r = JSON.parse(stdout) as { heads: number; start: number; busy: number; idle: number };
    expect(r.heads).toBe(KEYS.length);
    expect(r.busy).toBeGreaterThan(r.start); // the burst started a thread
    expect(r.idle).toBeLessThan(r.busy); // and it went when idle
  });
});
