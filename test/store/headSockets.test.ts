import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOssStore } from '../../src/store/index.js';
import { shAsync } from '../reliability/support.js';
import { FAST_RETRY, requestRecorder, startHarness, type Harness } from './harness.js';

// HEADs go on keep-alive sockets of the store's own, written and read by hand (src/store/headSockets.ts).
// Against the real server for what a server does right, and against a scripted TCP server for what
// one may do wrong.

let h: Harness;
beforeAll(async () => {
  h = await startHarness('head-sockets');
  for (let i = 0; i < 20; i++) await h.store.put(`k${i}`, Buffer.alloc(i), { meta: { n: String(i) } });
});
afterAll(async () => {
  await h?.close();
});

/** A TCP server that counts connections and gives each request it receives to `answer`. */
async function scripted(answer: (socket: Socket, request: number, connection: number) => void): Promise<{ url: string; connections: () => number; requests: () => number; close(): Promise<void> }> {
  let connections = 0;
  let requests = 0;
  const sockets = new Set<Socket>();
  const server: Server = createServer((socket) => {
    const connection = ++connections;
    sockets.add(socket);
    let received = '';
    socket.on('data', (chunk: Buffer) => {
      received += chunk.toString('latin1');
      while (received.includes('\r\n\r\n')) {
        received = received.slice(received.indexOf('\r\n\r\n') + 4);
        answer(socket, ++requests, connection);
      }
    });
    socket.on('error', () => undefined);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connections: () => connections,
    requests: () => requests,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

const storeAt = (endpoint: string, o: { maxSockets?: number } = {}) =>
  createOssStore({ endpoint, bucket: h.bucket, ...h.credentials, retry: FAST_RETRY, ...o });

const ANSWER = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: "0123456789ABCDEF0123456789ABCDEF"\r\nLast-Modified: Thu, 03 Dec 2026 12:00:00 GMT\r\nx-oss-meta-n: 1\r\nX-OSS-Meta-N: 2\r\n';

describe('HEAD on keep-alive sockets of its own', () => {
  it('one connection carries HEADs one after another; HEADs at once open a socket each up to maxSockets, and reuse them', async () => {
    const r = await requestRecorder(h.server);
    try {
      const store = storeAt(r.url, { maxSockets: 8 });
      for (let i = 0; i < 20; i++) expect(await store.head(`k${i}`)).toMatchObject({ size: i, meta: { n: String(i) } });
      expect(r.connections()).toBe(1);
      const heads = await Promise.all(Array.from({ length: 20 }, (_, i) => store.head(`k${i}`)));
      expect(heads.map((x) => x.size)).toEqual(Array.from({ length: 20 }, (_, i) => i));
      expect(r.connections()).toBe(8);
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.head(`k${i}`)));
      expect(r.connections()).toBe(8);
      await expect(store.head('absent')).rejects.toMatchObject({ errno: 'ENOENT' });
      expect((await store.head('k3')).size).toBe(3); // a 404 leaves its connection fit for the next
      expect(r.connections()).toBe(8);
    } finally {
      await r.close();
    }
  });

  it('an answer that arrives a few bytes at a time is read whole', async () => {
    const r = await requestRecorder(h.server, { piece: 3 });
    try {
      const heads = await Promise.all([7, 8, 19].map((i) => storeAt(r.url).head(`k${i}`)));
      expect(heads.map((x) => [x.size, x.meta.n])).toEqual([[7, '7'], [8, '8'], [19, '19']]);
    } finally {
      await r.close();
    }
  });

  it('headers are read as Node reads them: names in any case, a repeated one joined by ", "', async () => {
    const s = await scripted((socket) => socket.write(`${ANSWER}\r\n`));
    try {
      expect(await storeAt(s.url).head('x')).toMatchObject({ size: 5, etag: '"0123456789ABCDEF0123456789ABCDEF"', meta: { n: '1, 2' } });
    } finally {
      await s.close();
    }
  });

  it('a connection the server closes, idle or mid-request, costs nothing but a new connection', async () => {
    // Connection 1 answers and is closed by the server; connection 2 is closed without an answer;
    // every later connection answers and stays.
    const s = await scripted((socket, _request, connection) => {
      if (connection === 2) return void socket.destroy();
      socket.write(`${ANSWER}\r\n`);
      if (connection === 1) socket.end();
    });
    try {
      const store = storeAt(s.url);
      expect((await store.head('a')).size).toBe(5);
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect((await store.head('b')).size).toBe(5);
      expect((await store.head('c')).size).toBe(5);
      expect([s.connections(), s.requests()]).toEqual([3, 4]);
    } finally {
      await s.close();
    }
  });

  it('"Connection: close" in an answer: its socket is not used again', async () => {
    const s = await scripted((socket) => socket.write(`${ANSWER}Connection: close\r\n\r\n`));
    try {
      const store = storeAt(s.url);
      for (let i = 0; i < 3; i++) expect((await store.head('a')).size).toBe(5);
      expect(s.connections()).toBe(3);
    } finally {
      await s.close();
    }
  });

  it('an answer that is not HTTP, or headers without end: EIO saying so, after the retries, each on a new connection', async () => {
    const notHttp = await scripted((socket) => socket.write('SSH-2.0-OpenSSH_9.2\r\n\r\n'));
    const endless = await scripted((socket) => socket.write(`HTTP/1.1 200 OK\r\nx-oss-meta-big: ${'x'.repeat(70_000)}`));
    try {
      const a = await storeAt(notHttp.url).head('x').catch((e: unknown) => e);
      expect(a).toMatchObject({ errno: 'EIO' });
      expect((a as Error).message).toContain('not an HTTP answer: "SSH-2.0-OpenSSH_9.2"');
      expect([notHttp.connections(), notHttp.requests()]).toEqual([FAST_RETRY.attempts, FAST_RETRY.attempts]);
      const b = await storeAt(endless.url).head('x').catch((e: unknown) => e);
      expect(b).toMatchObject({ errno: 'EIO' });
      expect((b as Error).message).toContain('headers ran past 65536 bytes');
      expect(endless.connections()).toBe(FAST_RETRY.attempts);
    } finally {
      await notHttp.close();
      await endless.close();
    }
  });

  it('idle sockets keep no process alive', async () => {
    // In a process of its own: once its HEADs are answered, nothing of them may hold the event loop.
    const child = fileURLToPath(new URL('./headThenActive.mjs', import.meta.url));
    const options = { endpoint: h.server.url, bucket: h.bucket, ...h.credentials };
    const { status, stdout, stderr } = await shAsync(`${process.execPath} ${child} '${JSON.stringify(options)}'`);
    expect(stderr).toBe('');
    expect(status).toBe(0);
    const r = JSON.parse(stdout) as { sizes: number[]; busy: string[]; idle: string[] };
    expect(r.sizes).toEqual([1, 2, 3]);
    expect(r.busy).toContain('TCPSocketWrap'); // HEADs in flight hold it
    expect(r.idle).not.toContain('TCPSocketWrap');
    expect(r.idle).not.toContain('Timeout');
  });
});
