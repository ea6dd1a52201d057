import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHash } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { CREDENTIALS, signV4, startTestServer, type TestServer } from './helpers.js';

// Small limits so each cut happens within a second or two; the defaults are tens of seconds.
const LIMITS = {
  headersTimeoutMs: 1_000,
  idleTimeoutMs: 2_000,
  keepAliveTimeoutMs: 1_000,
  minBodyBytes: 100,
  bodyWindowMs: 500,
  maxConnections: 3,
  checkIntervalMs: 100,
};

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer([CREDENTIALS], { limits: LIMITS });
  await t.client().putBucket('bkt');
});
afterAll(async () => t.close());

interface Conn {
  socket: Socket;
  /** Everything the server sent so far. */
  received(): string;
  closed: Promise<void>;
}

async function open(): Promise<Conn> {
  const socket = connect(t.server.port, t.server.host);
  let text = '';
  socket.on('data', (c: Buffer) => (text += c.toString('latin1')));
  socket.on('error', () => undefined);
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
  await new Promise<void>((resolve, reject) => {
    socket.once('connect', resolve);
    socket.once('error', reject);
  });
  return { socket, received: () => text, closed };
}

function requestHead(method: string, path: string, headers: Record<string, string>): string {
  const signed = signV4(method, path, headers, CREDENTIALS);
  return `${method} ${path} HTTP/1.1\r\nHost: ${t.server.host}\r\n${Object.entries(signed).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
}

/** Writes a whole PUT and waits for its complete answer (status line, headers, no body). */
async function put(conn: Conn, key: string, body: string): Promise<string> {
  const before = conn.received().length;
  conn.socket.write(requestHead('PUT', `/bkt/${key}`, { 'Content-Length': String(body.length) }) + body);
  while (!/\r\n\r\n/.test(conn.received().slice(before))) await sleep(10);
  return conn.received().slice(before).split('\r\n')[0]!;
}

/** Writes `pieces` one per `everyMs` until the server closes; returns how many it took. */
async function trickle(conn: Conn, pieces: string[], everyMs: number): Promise<number> {
  let sent = 0;
  let closed = false;
  void conn.closed.then(() => (closed = true));
  for (const piece of pieces) {
    if (closed) break;
    conn.socket.write(piece);
    sent++;
    await sleep(everyMs);
  }
  await conn.closed;
  return sent;
}

describe('server timeouts', () => {
  it('closes a body that comes a byte at a time, and keeps no object', async () => {
    const conn = await open();
    conn.socket.write(requestHead('PUT', '/bkt/slow-body', { 'Content-Length': '60' }));
    const sent = await trickle(conn, Array.from({ length: 60 }, () => 'x'), 100);
    expect(sent).toBeLessThan(60);
    await expect(t.client().head('slow-body')).rejects.toMatchObject({ status: 404 });
  });

  it('closes a connection that sends a header every few hundred ms without ever finishing them', async () => {
    const conn = await open();
    conn.socket.write('GET /bkt/ HTTP/1.1\r\n');
    const lines = Array.from({ length: 40 }, (_, i) => `x-slow-${i}: ${i}\r\n`);
    expect(await trickle(conn, lines, 300)).toBeLessThan(lines.length);
    expect(conn.received()).not.toMatch(/^HTTP\/1\.1 200/);
  });

  it('closes a socket that never sends a byte, and one that sent half a request line', async () => {
    const idle = await open();
    const half = await open();
    half.socket.write('GET /bkt/some-ke');
    await Promise.all([idle.closed, half.closed]);
    expect(idle.received()).not.toMatch(/^HTTP\/1\.1 200/);
    expect(half.received()).not.toMatch(/^HTTP\/1\.1 200/);
  });

  it('closes an idle keep-alive connection after a request', async () => {
    const conn = await open();
    expect(await put(conn, 'kept', 'hello')).toBe('HTTP/1.1 200 OK');
    await conn.closed;
    expect(Buffer.from((await t.client().get('kept')).content).toString()).toBe('hello');
  });
});

describe('connection limit', () => {
  it('closes connections beyond the limit, while a PUT on an existing connection and on a later one still works', async () => {
    const working = await open();
    const idle = [await open(), await open()];
    const beyond = await open();
    await beyond.closed; // the fourth: closed at once, without an answer
    expect(beyond.received()).toBe('');
    expect(await put(working, 'limit-1', 'one')).toBe('HTTP/1.1 200 OK');
    expect(await put(working, 'limit-2', 'two')).toBe('HTTP/1.1 200 OK');
    for (const conn of idle) conn.socket.destroy();
    await Promise.all(idle.map((c) => c.closed));
    await t.client().put('limit-3', Buffer.from('three'));
    expect(Buffer.from((await t.client().get('limit-2')).content).toString()).toBe('two');
    working.socket.destroy();
  });
});

describe('answers a client that stops early', () => {
  it('answers a PUT whose client half-closes its socket right after the body', async () => {
    const conn = await open();
    conn.socket.end(requestHead('PUT', '/bkt/half-closed', { 'Content-Length': '5' }) + 'hello');
    await conn.closed;
    expect(conn.received().split('\r\n')[0]).toBe('HTTP/1.1 200 OK');
    expect(Buffer.from((await t.client().get('half-closed')).content).toString()).toBe('hello');
  });

  it('answers an authenticated XML body over 2 MiB with 413, and the connection stays usable', async () => {
    const xml = `<?xml version="1.0" encoding="UTF-8"?><Delete><Quiet>true</Quiet>${'<Object><Key>k</Key></Object>'.repeat(80_000)}</Delete>`;
    expect(xml.length).toBeGreaterThan(2 * 1024 * 1024);
    const md5 = createHash('md5').update(xml).digest('base64');
    const conn = await open();
    conn.socket.write(requestHead('POST', '/bkt/?delete', { 'Content-Length': String(xml.length), 'Content-MD5': md5 }) + xml);
    while (!/\r\n\r\n[\s\S]*<\/Error>/.test(conn.received())) await sleep(10);
    expect(conn.received().split('\r\n')[0]).toBe('HTTP/1.1 413 Payload Too Large');
    expect(conn.received()).toContain('<Code>EntityTooLarge</Code>');
    expect(await put(conn, 'after-413', 'still here')).toBe('HTTP/1.1 200 OK');
    conn.socket.destroy();
  });
});
