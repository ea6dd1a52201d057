import { createHash } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOssStore } from '../../src/store/index.js';
import type { BodySink } from '../../src/store/ObjectStore.js';
import { shAsync } from '../reliability/support.js';
import { FAST_RETRY, LOCAL_REGION, requestRecorder, startHarness, type Harness } from './harness.js';

// Every request goes through undici (src/store/transport.ts) on keep-alive connections; a ranged
// GET's body is poured into the reader's memory. Against the real server for what a server does
// right, and against a scripted TCP server for what one may do wrong.
//
// Connection counts: undici checks an idle connection for bytes the server sent unasked before it
// reuses it (one turn of the event loop), so a request sent the moment the last one was answered
// may open one more connection. "At most 2" for a sequence of requests says the same as "1" did.

let h: Harness;
beforeAll(async () => {
  h = await startHarness('head-sockets');
  for (let i = 0; i < 20; i++) await h.store.put(`k${i}`, Buffer.alloc(i), { meta: { n: String(i) } });
});
afterAll(async () => {
  await h?.close();
});

/** A TCP server that counts connections and gives each request it receives to `answer`. */
async function scripted(answer: (socket: Socket, request: number, connection: number, head: string) => void): Promise<{ url: string; connections: () => number; requests: () => number; close(): Promise<void> }> {
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
        const head = received.slice(0, received.indexOf('\r\n\r\n'));
        received = received.slice(head.length + 4);
        answer(socket, ++requests, connection, head);
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
  createOssStore({ endpoint, bucket: h.bucket, region: LOCAL_REGION, ...h.credentials, retry: FAST_RETRY, ...o });

const ANSWER = 'HTTP/1.1 200 OK\r\nContent-Length: 5\r\nETag: "0123456789ABCDEF0123456789ABCDEF"\r\nLast-Modified: Thu, 03 Dec 2026 12:00:00 GMT\r\nx-oss-meta-n: 1\r\nX-OSS-Meta-N: 2\r\n';

describe('HEAD on keep-alive connections', () => {
  it('one connection carries HEADs one after another; HEADs at once are pipelined 4 to a connection, maxSockets in flight, each answered its own', async () => {
    const r = await requestRecorder(h.server);
    try {
      const store = storeAt(r.url, { maxSockets: 8 });
      for (let i = 0; i < 20; i++) expect(await store.head(`k${i}`)).toMatchObject({ size: i, meta: { n: String(i) } });
      expect(r.connections()).toBeLessThanOrEqual(2); // not one per HEAD, which is undici's default
      const heads = await Promise.all(Array.from({ length: 20 }, (_, i) => store.head(`k${i}`)));
      expect(heads.map((x) => [x.size, x.meta.n])).toEqual(Array.from({ length: 20 }, (_, i) => [i, String(i)]));
      expect(r.connections()).toBe(2); // 8 in flight, 4 on each connection
      await Promise.all(Array.from({ length: 20 }, (_, i) => store.head(`k${i}`)));
      expect(r.connections()).toBe(2);
      await expect(store.head('absent')).rejects.toMatchObject({ errno: 'ENOENT' });
      expect((await store.head('k3')).size).toBe(3); // a 404 leaves its connection fit for the next
      expect(r.connections()).toBe(2);
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
      expect(s.requests()).toBe(4);
      expect(s.connections()).toBeGreaterThanOrEqual(3);
      expect(s.connections()).toBeLessThanOrEqual(4);
    } finally {
      await s.close();
    }
  });

  it('pipelined HEADs on a connection dropped after its first answer: the others are asked again, each gets its own answer', async () => {
    // The size answered is the number in the key; connection 1 answers its first request only.
    const s = await scripted((socket, _request, connection, head) => {
      if (connection === 1 && socket.bytesWritten > 0) return void socket.destroy();
      const n = /^HEAD \S*\/k(\d+) /.exec(head)![1];
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${n}\r\nETag: "e${n}"\r\nx-oss-meta-n: ${n}\r\n\r\n`);
    });
    try {
      const store = storeAt(s.url, { maxSockets: 4 });
      const heads = await Promise.all(Array.from({ length: 4 }, (_, i) => store.head(`k${i}`)));
      expect(heads.map((x) => [x.size, x.etag, x.meta.n])).toEqual(Array.from({ length: 4 }, (_, i) => [i, `"e${i}"`, String(i)]));
      expect(s.connections()).toBe(2); // the 4 went on one connection, the 3 unanswered were sent again on another
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
      expect((a as Error).message).toContain('does not match the HTTP/1.1 protocol');
      expect([notHttp.connections(), notHttp.requests()]).toEqual([FAST_RETRY.attempts, FAST_RETRY.attempts]);
      const b = await storeAt(endless.url).head('x').catch((e: unknown) => e);
      expect(b).toMatchObject({ errno: 'EIO' });
      expect((b as Error).message).toMatch(/header.*(overflow|size)/i);
      expect(endless.connections()).toBe(FAST_RETRY.attempts);
    } finally {
      await notHttp.close();
      await endless.close();
    }
  });

  it('idle sockets keep no process alive', async () => {
    // In a process of its own: once its HEADs are answered, nothing of them may hold the event loop.
    const child = fileURLToPath(new URL('./headThenActive.mjs', import.meta.url));
    const options = { endpoint: h.server.url, bucket: h.bucket, region: LOCAL_REGION, ...h.credentials };
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

describe('PUT of a buffer and DELETE on the same sockets', () => {
  it('bodies land byte-exact, answers a few bytes at a time are read whole, one connection carries them all', async () => {
    for (const piece of [undefined, 3]) {
      const r = await requestRecorder(h.server, piece ? { piece } : {});
      try {
        const store = storeAt(r.url);
        const bodies = [0, 1, 4096, 300_000].map((n) => Buffer.from(Array.from({ length: n }, (_, i) => (i * 13 + n) % 256)));
        for (const [i, body] of bodies.entries()) {
          const { etag } = await store.put(`own-put-${i}`, body, { meta: { i: String(i) } });
          expect(etag).toBe(`"${createHash('md5').update(body).digest('hex').toUpperCase()}"`);
          expect(Buffer.concat(await (await h.store.get(`own-put-${i}`)).body.toArray()).equals(body)).toBe(true);
          await store.delete(`own-put-${i}`);
          await expect(h.store.head(`own-put-${i}`)).rejects.toMatchObject({ errno: 'ENOENT' });
        }
        expect(r.lines.filter((l) => /^(PUT|DELETE) /.test(l))).toHaveLength(2 * bodies.length);
        expect(r.connections()).toBe(1);
      } finally {
        await r.close();
      }
    }
  });

  it('a 204 without a Content-Length ends at its headers, and its connection carries the next request', async () => {
    const s = await scripted((socket) => socket.write('HTTP/1.1 204 No Content\r\nx-oss-request-id: R\r\n\r\n'));
    try {
      const store = storeAt(s.url);
      await store.delete('a');
      await new Promise((resolve) => setTimeout(resolve, 10));
      await store.delete('b');
      expect([s.connections(), s.requests()]).toEqual([1, 2]);
    } finally {
      await s.close();
    }
  });

  it('a refused PUT: the OSS error from its XML, on the CLI’s terms (errno and code)', async () => {
    const xml = '<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>no</Message><RequestId>R</RequestId></Error>';
    const s = await scripted((socket) => socket.write(`HTTP/1.1 403 Forbidden\r\nContent-Type: application/xml\r\nContent-Length: ${xml.length}\r\n\r\n${xml}`));
    try {
      const err = await storeAt(s.url).put('x', Buffer.from('body'), { meta: {} }).catch((e: unknown) => e);
      expect(err).toMatchObject({ errno: 'EACCES' });
      expect((err as Error).message).toContain('AccessDenied');
      expect(s.requests()).toBe(1); // a 403 is not retried
    } finally {
      await s.close();
    }
  });
});

/** A sink over one buffer that records the size of each room asked for. */
function bufferSink(size: number): { sink: BodySink; bytes: Buffer; rooms: number[]; filled: () => number } {
  const bytes = Buffer.alloc(size);
  const rooms: number[] = [];
  let at = 0;
  return {
    bytes,
    rooms,
    filled: () => at,
    sink: {
      room: (max) => (rooms.push(max), bytes.subarray(at, at + Math.min(max, 100_000))),
      filled: (n) => void (at += n),
    },
  };
}

describe('ranged GET read straight into the reader’s memory', () => {
  const range = (start: number, end: number, total: number, body: string, more = ''): string =>
    `HTTP/1.1 206 Partial Content\r\nContent-Range: bytes ${start}-${end}/${total}\r\nContent-Length: ${end - start + 1}\r\nETag: "E"\r\n${more}\r\n${body}`;

  it('puts exactly the asked bytes where the sink says, whole or a few bytes at a time, and reuses the connection', async () => {
    const data = Buffer.from(Array.from({ length: 300_000 }, (_, i) => (i * 7) % 251));
    await h.store.put('into', data, { meta: {} });
    for (const piece of [undefined, 7]) {
      const r = await requestRecorder(h.server, piece ? { piece } : {});
      try {
        const store = storeAt(r.url);
        for (const [start, end] of [[0, data.length - 1], [5, 250_004], [299_999, 299_999]] as const) {
          const s = bufferSink(end - start + 1);
          await store.readInto('into', { start, end }, undefined, s.sink);
          expect(s.filled()).toBe(end - start + 1);
          expect(s.bytes.equals(data.subarray(start, end + 1))).toBe(true);
          expect(Math.max(...s.rooms)).toBeLessThanOrEqual(end - start + 1); // never room past the body's end
        }
        expect(r.connections()).toBeLessThanOrEqual(2);
      } finally {
        await r.close();
      }
    }
  });

  it('an ETag that changed: ESTALE, from the XML error answer, no byte in the sink, the connection kept', async () => {
    await h.store.put('into-stale', Buffer.alloc(64, 1), { meta: {} });
    const r = await requestRecorder(h.server);
    try {
      const store = storeAt(r.url);
      const s = bufferSink(64);
      await expect(store.readInto('into-stale', { start: 0, end: 63 }, '"not-its-etag"', s.sink)).rejects.toMatchObject({ errno: 'ESTALE' });
      expect(s.filled()).toBe(0);
      await new Promise((resolve) => setTimeout(resolve, 10));
      await store.readInto('into-stale', { start: 0, end: 63 }, undefined, bufferSink(64).sink);
      expect(r.connections()).toBe(1);
    } finally {
      await r.close();
    }
  });

  it('a connection dropped mid-body is picked up at the byte where it stopped, pinned to the first answer’s ETag', async () => {
    const body = 'abcdefghijklmnopqrstuvwxyz';
    const heads: string[] = [];
    const s = await scripted((socket, request, _connection, head) => {
      heads.push(head);
      if (request === 1) return void socket.end(range(0, 25, 26, body.slice(0, 10))); // 10 of 26 bytes, then FIN
      socket.write(range(10, 25, 26, body.slice(10)));
    });
    try {
      const sink = bufferSink(26);
      await storeAt(s.url).readInto('x', { start: 0, end: 25 }, undefined, sink.sink);
      expect(sink.bytes.toString()).toBe(body);
      expect([s.connections(), s.requests()]).toEqual([2, 2]);
      expect(heads[0]).toMatch(/\r\nRange: bytes=0-25(\r\n|$)/i);
      expect(heads[0]).not.toMatch(/If-Match/i);
      expect(heads[1]).toMatch(/\r\nRange: bytes=10-25(\r\n|$)/i);
      expect(heads[1]).toMatch(/\r\nIf-Match: "E"(\r\n|$)/i);
    } finally {
      await s.close();
    }
  });

  it('drops that each bring bytes may outnumber the retry budget; drops that bring none may not (into a sink, and streamed)', async () => {
    // Each answer carries 2 bytes of what it promised, then the connection closes: 13 drops for 26 bytes.
    const body = 'abcdefghijklmnopqrstuvwxyz';
    const dribble = await scripted((socket, _request, _connection, head) => {
      const from = Number(/\r\nRange: bytes=(\d+)-/i.exec(head)?.[1]);
      socket.end(range(from, 25, 26, body.slice(from, from + 2)));
    });
    const mute = await scripted((socket) => socket.end(range(0, 25, 26, '')));
    const streamed = async (url: string): Promise<string> => {
      const { body: stream } = await storeAt(url).get('x', { range: { start: 0, end: 25 } });
      return Buffer.concat(await stream.toArray()).toString();
    };
    try {
      const a = bufferSink(26);
      await storeAt(dribble.url).readInto('x', { start: 0, end: 25 }, undefined, a.sink);
      expect(a.bytes.toString()).toBe(body);
      expect(dribble.requests()).toBe(13);
      expect(dribble.requests()).toBeGreaterThan(FAST_RETRY.attempts);
      expect(await streamed(dribble.url)).toBe(body);
      expect(dribble.requests()).toBe(26);

      const b = bufferSink(26);
      await expect(storeAt(mute.url).readInto('x', { start: 0, end: 25 }, undefined, b.sink)).rejects.toMatchObject({ errno: 'EIO' });
      expect([b.filled(), mute.requests()]).toEqual([0, FAST_RETRY.attempts]);
      await expect(streamed(mute.url)).rejects.toMatchObject({ errno: 'EIO' });
      expect(mute.requests()).toBe(2 * FAST_RETRY.attempts);
    } finally {
      await dribble.close();
      await mute.close();
    }
  });

  it('an answer for other bytes than asked, or without a length: EIO, and not a byte of it in the sink', async () => {
    const shifted = await scripted((socket) => socket.write(range(1, 26, 27, 'bcdefghijklmnopqrstuvwxyz!')));
    const unsized = await scripted((socket) => socket.write('HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-25/26\r\nTransfer-Encoding: chunked\r\n\r\n1a\r\nabcdefghijklmnopqrstuvwxyz\r\n0\r\n\r\n'));
    try {
      const a = bufferSink(26);
      const err = await storeAt(shifted.url).readInto('x', { start: 0, end: 25 }, undefined, a.sink).catch((e: unknown) => e);
      expect(err).toMatchObject({ errno: 'EIO' });
      expect((err as Error).message).toContain('asked for bytes 0-25, the server answered bytes 1-26/27');
      expect([a.filled(), shifted.requests()]).toEqual([0, 1]); // refused before its body, and not retried
      const b = bufferSink(26);
      const err2 = await storeAt(unsized.url).readInto('x', { start: 0, end: 25 }, undefined, b.sink).catch((e: unknown) => e);
      expect(err2).toMatchObject({ errno: 'EIO' });
      expect((err2 as Error).message).toContain('asked for bytes 0-25, the server answered bytes 0-25/26');
      expect(b.filled()).toBe(0);
    } finally {
      await shifted.close();
      await unsized.close();
    }
  });
});
