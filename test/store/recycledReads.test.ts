import { createHash, randomBytes } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { createServer, Socket, type AddressInfo, type Server } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOssStore } from '../../src/store/index.js';
import type { BodySink } from '../../src/store/ObjectStore.js';
import { Pool } from 'undici';
import { ReadBuffers, recycledReadsConnector, undiciHoldsViews } from '../../src/store/recycledReads.js';
import { FAST_RETRY, LOCAL_REGION, startHarness, type Harness } from './harness.js';

// Plain-HTTP connections read into two buffers of their own, in turn (src/store/recycledReads.ts).
// What must hold: no byte a reader gets is one of a later read, whether the reader takes each
// chunk at once, leaves chunks unread in the stream, or puts part of one back.

/** A server that sends `data` to each connection in writes of `piece` bytes, a turn of the event loop apart, then ends it. */
async function sender(data: Buffer, piece: number): Promise<{ port: number; close(): Promise<void> }> {
  const server: Server = createServer(async (socket) => {
    socket.on('error', () => undefined);
    for (let at = 0; at < data.length; at += piece) {
      if (!socket.write(data.subarray(at, at + piece))) await new Promise((resolve) => socket.once('drain', resolve));
      await new Promise((resolve) => setImmediate(resolve));
    }
    socket.end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return { port: (server.address() as AddressInfo).port, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A socket reading through `buffers` (by default ones told that only the stream holds views), connected to `port`. */
async function recycledSocket(port: number, highWaterMark: number, buffers = new ReadBuffers(() => false)): Promise<Socket> {
  const socket = new Socket({ onread: buffers.onread(), highWaterMark } as ConstructorParameters<typeof Socket>[0]);
  await new Promise<void>((resolve, reject) => socket.connect(port, '127.0.0.1', resolve).once('error', reject));
  return socket;
}

const ended = (socket: Socket): Promise<void> => new Promise((resolve) => (socket.readableEnded ? resolve() : socket.once('end', resolve)));

describe('a socket reading into recycled buffers', () => {
  const data = randomBytes(3 * 1024 * 1024);
  let s: Awaited<ReturnType<typeof sender>>;
  beforeAll(async () => {
    s = await sender(data, 200_000);
  });
  afterAll(async () => {
    await s.close();
  });

  it('a reader that takes each chunk as it comes gets every byte in order', async () => {
    const socket = await recycledSocket(s.port, 64 * 1024);
    const got: Buffer[] = [];
    socket.on('readable', () => {
      for (let c: Buffer | null; (c = socket.read() as Buffer | null) !== null; ) got.push(Buffer.from(c));
    });
    await ended(socket);
    expect(Buffer.concat(got).equals(data)).toBe(true);
  });

  it('chunks left unread while more reads come in are not overwritten by them', async () => {
    const socket = await recycledSocket(s.port, 8 * 1024 * 1024); // room for all of it unread
    await new Promise<void>((resolve) => {
      const poll = (): void => void (socket.readableLength >= data.length ? resolve() : setTimeout(poll, 5));
      poll();
    });
    const all = socket.read() as Buffer;
    expect(all.equals(data)).toBe(true);
    socket.destroy();
  });

  it('part of a chunk put back (as a paused parser does) survives the reads that follow', async () => {
    const socket = await recycledSocket(s.port, 64 * 1024);
    const got: Buffer[] = [];
    let done = false;
    socket.once('end', () => (done = true));
    while (!done) {
      const c = socket.read() as Buffer | null;
      if (c === null) {
        await new Promise((resolve) => setImmediate(resolve));
        continue;
      }
      const keep = Math.ceil(c.length / 2);
      got.push(Buffer.from(c.subarray(0, keep)));
      if (keep < c.length) socket.unshift(c.subarray(keep));
      await new Promise((resolve) => setTimeout(resolve, 1)); // more reads land while the rest waits
    }
    expect(Buffer.concat(got).equals(data)).toBe(true);
  });

  it('where undici’s parser cannot be found (a plain socket), every read goes to fresh memory, intact', async () => {
    const buffers = new ReadBuffers(undiciHoldsViews);
    const socket = await recycledSocket(s.port, 64 * 1024, buffers);
    const got: Buffer[] = [];
    let reads = 0;
    socket.on('readable', () => {
      for (let c: Buffer | null; (c = socket.read() as Buffer | null) !== null; reads++) got.push(c); // kept without a copy
    });
    await ended(socket);
    expect(Buffer.concat(got).equals(data)).toBe(true);
    expect(buffers.freshReads).toBeGreaterThanOrEqual(reads - 2);
  });

  it('on the installed undici the parser is found: a long GET reuses its two buffers', async () => {
    const server = createHttpServer((_req, res) => res.writeHead(200, { 'content-length': data.length }).end(data));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const seen: ReadBuffers[] = [];
    const pool = new Pool(`http://127.0.0.1:${(server.address() as AddressInfo).port}`, { connect: recycledReadsConnector({}, (b) => seen.push(b)) });
    try {
      const answer = await new Promise<Buffer>((resolve, reject) => {
        const chunks: Buffer[] = [];
        pool.dispatch({ path: '/', method: 'GET' }, {
          onRequestStart: () => undefined,
          onResponseStart: () => undefined,
          onResponseData: (_c, chunk) => void chunks.push(Buffer.from(chunk)),
          onResponseEnd: () => resolve(Buffer.concat(chunks)),
          onResponseError: (_c, err) => reject(err),
        });
      });
      expect(answer.equals(data)).toBe(true);
      expect(seen).toHaveLength(1);
      expect(seen[0]!.freshReads).toBeLessThan(4); // of some 50 reads
    } finally {
      await pool.destroy();
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});

/** A sink over one buffer, `0xEE` until written, in rooms of at most `piece` bytes. */
function sinkOver(size: number, piece = 100_000): { sink: BodySink; bytes: Buffer; filled: () => number } {
  const bytes = Buffer.alloc(size, 0xee);
  let at = 0;
  return { bytes, filled: () => at, sink: { room: (max) => bytes.subarray(at, at + Math.min(max, piece)), filled: (n) => void (at += n) } };
}

describe('ranged GETs on recycled reads, through the store', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness('recycled');
  });
  afterAll(async () => {
    await h?.close();
  });

  it('many ranges at once on two connections, listings and HEADs between them: every range lands intact', async () => {
    const data = randomBytes(4 * 1024 * 1024);
    await h.store.put('big', data, { meta: {} });
    for (let i = 0; i < 30; i++) await h.store.put(`names/${'n'.repeat(100)}${i}`, Buffer.alloc(1), { meta: {} });
    const store = createOssStore({ endpoint: h.server.url, bucket: h.bucket, region: LOCAL_REGION, ...h.credentials, retry: FAST_RETRY, maxSockets: 2 });
    const ranges = Array.from({ length: 24 }, (_, i) => {
      const start = (i * 397_123) % (data.length - 1_000_000);
      return { start, end: start + 300_000 + ((i * 65_537) % 700_000) };
    });
    const sinks = ranges.map((r) => sinkOver(r.end - r.start + 1, 1 + (ranges.indexOf(r) % 3) * 50_000));
    const listings = Array.from({ length: 6 }, () => store.list('names/'));
    await Promise.all([...ranges.map((r, i) => store.readInto('big', r, undefined, sinks[i]!.sink)), ...listings, store.head('big')]);
    for (const [i, r] of ranges.entries()) {
      expect(sinks[i]!.filled()).toBe(r.end - r.start + 1);
      expect(sinks[i]!.bytes.equals(data.subarray(r.start, r.end + 1))).toBe(true);
    }
    for (const page of await Promise.all(listings)) expect(page.objects.map((o) => o.key)).toEqual([...Array(30).keys()].map((i) => `names/${'n'.repeat(100)}${i}`).sort());
  });

  it('a streamed GET whose reader keeps every chunk and reads slowly gets the object intact (its chunks are not borrowed)', async () => {
    const data = randomBytes(2 * 1024 * 1024);
    await h.store.put('streamed', data, { meta: {} });
    const { body } = await h.store.get('streamed');
    const kept: Buffer[] = [];
    for await (const chunk of body) {
      kept.push(chunk as Buffer);
      await new Promise((resolve) => setTimeout(resolve, 1));
    }
    expect(Buffer.concat(kept).equals(data)).toBe(true);
  });

  /** A scripted server: each request's head goes to `answer`. */
  async function scripted(answer: (socket: Socket, request: number, head: string) => void): Promise<{ url: string; requests: () => number; close(): Promise<void> }> {
    let requests = 0;
    const sockets = new Set<Socket>();
    const server = createServer((socket) => {
      sockets.add(socket);
      let received = '';
      socket.on('error', () => undefined);
      socket.on('data', (chunk: Buffer) => {
        received += chunk.toString('latin1');
        while (received.includes('\r\n\r\n')) {
          const head = received.slice(0, received.indexOf('\r\n\r\n'));
          received = received.slice(head.length + 4);
          answer(socket, ++requests, head);
        }
      });
    });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    return {
      url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      requests: () => requests,
      close: () =>
        new Promise<void>((resolve) => {
          for (const s of sockets) s.destroy();
          server.close(() => resolve());
        }),
    };
  }
  const storeAt = (endpoint: string) => createOssStore({ endpoint, bucket: h.bucket, region: LOCAL_REGION, ...h.credentials, retry: FAST_RETRY });
  const head = (start: number, end: number, total: number) =>
    `HTTP/1.1 206 Partial Content\r\nContent-Range: bytes ${start}-${end}/${total}\r\nContent-Length: ${end - start + 1}\r\nETag: "E"\r\n\r\n`;
  const body = Buffer.from('abcdefghijklmnopqrstuvwxyz');

  it('an answer collected whole (a listing page of many reads, sent in pieces): every entry as sent', async () => {
    const keys = Array.from({ length: 3000 }, (_, i) => `dir/${String(i).padStart(5, '0')}-${'x'.repeat(80)}`);
    const xml = Buffer.from(
      `<?xml version="1.0" encoding="UTF-8"?><ListBucketResult><Name>b</Name><Prefix>dir%2F</Prefix><EncodingType>url</EncodingType><IsTruncated>false</IsTruncated>` +
        keys.map((k) => `<Contents><Key>${encodeURIComponent(k)}</Key><LastModified>2026-12-02T10:00:00.000Z</LastModified><ETag>"E"</ETag><Size>1</Size></Contents>`).join('') +
        '</ListBucketResult>',
    );
    const s = await scripted(async (socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Type: application/xml\r\nContent-Length: ${xml.length}\r\n\r\n`);
      for (let at = 0; at < xml.length; at += 50_000) {
        socket.write(xml.subarray(at, at + 50_000));
        await new Promise((resolve) => setTimeout(resolve, 2));
      }
    });
    try {
      expect(xml.length).toBeGreaterThan(4 * 64 * 1024); // more reads than a connection has buffers
      const page = await storeAt(s.url).list('dir/');
      expect(page.objects.map((o) => o.key)).toEqual(keys);
    } finally {
      await s.close();
    }
  });

  // undici's parser keeps views of a header block's names and values until the block ends: a
  // block that comes in over more reads than a connection has buffers must not be overwritten.
  const slowly = new WeakMap<Socket, Promise<void>>();
  /** Writes `pieces` a few ms apart, after whatever this socket was sending (answers stay in order). */
  const inPieces = (socket: Socket, pieces: string[]): void => {
    socket.setNoDelay(true);
    const sent = (slowly.get(socket) ?? Promise.resolve()).then(async () => {
      for (const piece of pieces) {
        socket.write(piece);
        await new Promise((resolve) => setTimeout(resolve, 5));
      }
    });
    slowly.set(socket, sent);
  };
  const etagOf = (name: string) => `"${createHash('md5').update(name).digest('hex').toUpperCase()}"`;
  const headBlock = (name: string, more: string[]): string[] => [
    `HTTP/1.1 200 OK\r\nETag: ${etagOf(name)}\r\nx-oss-meta-first: ${name}-first-${'f'.repeat(40)}\r\n`,
    `x-oss-meta-second: ${name}-second-${'s'.repeat(40)}\r\n`,
    `Last-Modified: Thu, 03 Dec 2026 12:00:00 GMT\r\nx-oss-meta-third: ${name}-third\r\n`,
    ...more,
  ];
  const keyOf = (head: string): string => decodeURIComponent(/^\w+ \/[^/]+\/([^? ]+)/.exec(head)![1]!);

  it('HEADs whose header blocks come in many reads, one at a time and pipelined: every value intact', async () => {
    const s = await scripted((socket, _request, head) => {
      const name = keyOf(head);
      inPieces(socket, headBlock(name, ['Content-Length: 5\r\n', '\r\n']));
    });
    try {
      const store = createOssStore({ endpoint: s.url, bucket: h.bucket, region: LOCAL_REGION, ...h.credentials, retry: FAST_RETRY, maxSockets: 2 });
      const expected = (name: string) => ({ size: 5, etag: etagOf(name), meta: { first: `${name}-first-${'f'.repeat(40)}`, second: `${name}-second-${'s'.repeat(40)}`, third: `${name}-third` } });
      expect(await store.head('one')).toMatchObject(expected('one'));
      const names = Array.from({ length: 12 }, (_, i) => `k${i}`);
      const heads = await Promise.all(names.map((n) => store.head(n)));
      for (const [i, n] of names.entries()) expect(heads[i]).toMatchObject(expected(n));
    } finally {
      await s.close();
    }
  });

  it('a GET after a long body, its header block in many reads: the range is taken as sent and its bytes land', async () => {
    const big = randomBytes(300_000);
    const s = await scripted((socket, request, head) => {
      if (request === 1) return void socket.write(Buffer.concat([Buffer.from(`HTTP/1.1 206 Partial Content\r\nContent-Range: bytes 0-${big.length - 1}/${big.length}\r\nContent-Length: ${big.length}\r\nETag: "E"\r\n\r\n`), big]));
      inPieces(socket, [...headBlock(keyOf(head), [`Content-Range: bytes 0-25/26\r\n`, `Content-Length: 26\r\n`, '\r\n']), body.toString()]);
    });
    try {
      const store = createOssStore({ endpoint: s.url, bucket: h.bucket, region: LOCAL_REGION, ...h.credentials, retry: FAST_RETRY, maxSockets: 1 });
      const a = sinkOver(big.length);
      await store.readInto('x', { start: 0, end: big.length - 1 }, undefined, a.sink);
      expect(a.bytes.equals(big)).toBe(true);
      const b = sinkOver(26);
      await store.readInto('x', { start: 0, end: 25 }, undefined, b.sink);
      expect(b.bytes.equals(body)).toBe(true);
      expect(s.requests()).toBe(2);
    } finally {
      await s.close();
    }
  });

  it('a body longer than its Content-Length: the asked bytes land, nothing past them, and the next GET is answered right', async () => {
    const s = await scripted((socket, request) => socket.write(Buffer.concat([Buffer.from(head(0, 25, 26)), request === 1 ? Buffer.concat([body, Buffer.from('EXTRA')]) : body])));
    try {
      const store = storeAt(s.url);
      const a = sinkOver(40);
      await store.readInto('x', { start: 0, end: 25 }, undefined, { room: (max) => a.sink.room(Math.min(max, 26 - a.filled())), filled: a.sink.filled });
      expect(a.bytes.subarray(0, 26).equals(body)).toBe(true);
      expect(a.bytes.subarray(26).every((b) => b === 0xee)).toBe(true);
      await new Promise((resolve) => setTimeout(resolve, 20));
      const b = sinkOver(26);
      await store.readInto('x', { start: 0, end: 25 }, undefined, b.sink);
      expect(b.bytes.equals(body)).toBe(true);
    } finally {
      await s.close();
    }
  });

  it('a connection reset mid-body, and every try after it: EIO, and only the bytes that came are in the sink, each right', async () => {
    const s = await scripted((socket, request) => {
      if (request === 1) socket.write(Buffer.concat([Buffer.from(head(0, 25, 26)), body.subarray(0, 10)]), () => setTimeout(() => socket.resetAndDestroy(), 10));
      else socket.resetAndDestroy();
    });
    try {
      const a = sinkOver(26);
      await expect(storeAt(s.url).readInto('x', { start: 0, end: 25 }, undefined, a.sink)).rejects.toMatchObject({ errno: 'EIO' });
      expect(a.filled()).toBe(10);
      expect(a.bytes.subarray(0, 10).equals(body.subarray(0, 10))).toBe(true);
      expect(a.bytes.subarray(10).every((b) => b === 0xee)).toBe(true);
      expect(s.requests()).toBe(FAST_RETRY.attempts);
    } finally {
      await s.close();
    }
  });
});
