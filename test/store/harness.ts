import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OSS from 'ali-oss';
import { startServer } from '../../src/server/index.js';
import { createOssStore } from '../../src/store/index.js';
import type { ObjectStore } from '../../src/store/ObjectStore.js';
import type { RetryPolicy } from '../../src/store/retry.js';

/** The region the local server's stores sign for: it takes any, as a bucket made there has none. */
export const LOCAL_REGION = 'cn-hangzhou';

/** Short backoff so fault tests run quickly; the attempt bound is the production default. */
export const FAST_RETRY: RetryPolicy = { attempts: 6, baseDelayMs: 5, maxDelayMs: 50, totalMs: 10_000 };

export type Server = Awaited<ReturnType<typeof startServer>>;

export interface Harness {
  server: Server;
  bucket: string;
  credentials: { accessKeyId: string; accessKeySecret: string };
  store: ObjectStore;
  /** Another store on the same bucket, with its own retry policy. */
  storeWith(o: { retry?: Partial<RetryPolicy>; timeoutMs?: number; endpoint?: string }): ObjectStore;
  close(): Promise<void>;
}

/** The real local OSS server on a temp dir with one bucket, and our store on it through ali-oss over HTTP.
 *  With `securityToken`, the server's key takes requests only with that STS token (`store` has none);
 *  `signatures: 'any'` lets the server take V1 signatures too (it takes V4 only by default). */
export async function startHarness(bucket = 'test-bucket', o: { securityToken?: string; signatures?: 'v4' | 'any' } = {}): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'ossencfs-store-'));
  const credentials = { accessKeyId: 'STOREKEY', accessKeySecret: randomBytes(16).toString('hex') };
  const { signatures, ...token } = o;
  const server = await startServer({ dir, port: 0, credentials: [{ ...credentials, ...token }], ...(signatures ? { signatures } : {}) });
  await new OSS({ ...credentials, ...(o.securityToken ? { stsToken: o.securityToken } : {}), endpoint: server.url, bucket, region: `oss-${LOCAL_REGION}`, authorizationV4: true } as OSS.Options).putBucket(bucket);
  const storeWith = (o: { retry?: Partial<RetryPolicy>; timeoutMs?: number; endpoint?: string }): ObjectStore =>
    createOssStore({ endpoint: o.endpoint ?? server.url, bucket, region: LOCAL_REGION, ...credentials, retry: { ...FAST_RETRY, ...o.retry }, ...(o.timeoutMs ? { timeoutMs: o.timeoutMs } : {}) });
  return {
    server,
    bucket,
    credentials,
    store: storeWith({}),
    storeWith,
    close: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function readAll(body: AsyncIterable<unknown>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

/**
 * A TCP relay in front of the server that records every HTTP request line passing through, and
 * counts connections, so a test can count what the client really sent (retries included) without
 * touching either side. With `piece`, the server's bytes go on in writes of at most that many.
 */
export async function requestRecorder(
  target: Server,
  o: { piece?: number } = {},
): Promise<{ url: string; lines: string[]; connections(): number; close(): Promise<void> }> {
  const lines: string[] = [];
  let connections = 0;
  const sockets = new Set<import('node:net').Socket>();
  const { createServer, connect } = await import('node:net');
  const relay = createServer((client) => {
    connections++;
    const upstream = connect(target.port, target.host);
    sockets.add(client).add(upstream);
    client.on('data', (chunk: Buffer) => {
      for (const m of chunk.toString('latin1').matchAll(/(?:^|\r\n)((?:GET|HEAD|PUT|POST|DELETE) \S+) HTTP\/1\.1\r\n/g)) lines.push(m[1]!);
    });
    client.pipe(upstream);
    const { piece } = o;
    if (piece === undefined) upstream.pipe(client);
    else {
      client.setNoDelay(true);
      upstream.on('data', (chunk: Buffer) => {
        for (let at = 0; at < chunk.length; at += piece) client.write(chunk.subarray(at, at + piece));
      });
    }
    const drop = () => {
      client.destroy();
      upstream.destroy();
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  const { port } = relay.address() as import('node:net').AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    lines,
    connections: () => connections,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        relay.close(() => resolve());
      }),
  };
}
