import { randomBytes } from 'node:crypto';
import { createServer as createHttpServer } from 'node:http';
import { connect, createServer, type AddressInfo } from 'node:net';
import { Readable } from 'node:stream';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import OSS from 'ali-oss';
import { FsError } from '../../src/errors.js';
import { createOssStore } from '../../src/store/index.js';
import type { ObjectStore, UploadedPart } from '../../src/store/ObjectStore.js';
import { FAST_RETRY, LOCAL_REGION, readAll, requestRecorder, startHarness, type Harness } from './harness.js';

let h: Harness;
let recorder: Awaited<ReturnType<typeof requestRecorder>>;
/** The store seen through the recorder, so tests can count the requests it really sent. */
let store: ObjectStore;

beforeAll(async () => {
  h = await startHarness('store-test');
  recorder = await requestRecorder(h.server);
  store = h.storeWith({ endpoint: recorder.url });
});
afterAll(async () => {
  await recorder?.close();
  await h?.close();
});
afterEach(() => {
  h.server.faults.clear();
  recorder.lines.length = 0;
});

const sent = (pattern: RegExp): string[] => recorder.lines.filter((l) => pattern.test(l));

describe('objects', () => {
  it('put, head, get (whole and ranged), copy, delete', async () => {
    const data = randomBytes(10_000);
    const { etag } = await store.put('obj/a', data, { meta: { 'my-note': 'hi' }, contentType: 'text/x-test' });
    const head = await store.head('obj/a');
    expect(head).toMatchObject({ key: 'obj/a', size: 10_000, etag, meta: { 'my-note': 'hi' }, contentType: 'text/x-test' });

    const whole = await store.get('obj/a');
    expect(whole.start).toBe(0);
    expect((await readAll(whole.body)).equals(data)).toBe(true);
    const part = await store.get('obj/a', { range: { start: 100, end: 199 } });
    expect(part.start).toBe(100);
    expect(part.head.size).toBe(10_000);
    expect((await readAll(part.body)).equals(data.subarray(100, 200))).toBe(true);
    const tail = await store.get('obj/a', { range: { start: 9_990 } });
    expect((await readAll(tail.body)).equals(data.subarray(9_990))).toBe(true);

    await store.copy('obj/a', 'obj/b');
    expect((await store.head('obj/b')).meta).toEqual({ 'my-note': 'hi' });
    expect((await readAll((await store.get('obj/b')).body)).equals(data)).toBe(true);

    await store.delete('obj/a');
    await expect(store.head('obj/a')).rejects.toMatchObject({ errno: 'ENOENT' });
  });

  it('a stream body with a content length', async () => {
    const data = randomBytes(300_000);
    await store.put('obj/stream', Readable.from([data.subarray(0, 1000), data.subarray(1000)]), { meta: {}, contentLength: data.length });
    expect((await readAll((await store.get('obj/stream')).body)).equals(data)).toBe(true);
  });

  it('errors map to errnos with a message naming bucket, key and OSS code', async () => {
    const err = await store.get('obj/missing').catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FsError);
    expect(err).toMatchObject({ errno: 'ENOENT' });
    expect((err as Error).message).toContain('store-test/obj/missing');
    expect((err as Error).message).toContain('NoSuchKey');

    await store.put('obj/etag', Buffer.from('x'), { meta: {} });
    await expect(store.get('obj/etag', { ifMatch: '"0000"' })).rejects.toMatchObject({ errno: 'ESTALE' });
    // Like OSS, a range past the end is ignored and the whole object served: `start` says so.
    expect((await store.get('obj/etag', { range: { start: 50 } })).start).toBe(0);

    const wrongSecret = createOssStore({ region: LOCAL_REGION, endpoint: h.server.url, bucket: h.bucket, accessKeyId: h.credentials.accessKeyId, accessKeySecret: 'nope', retry: FAST_RETRY });
    await expect(wrongSecret.head('obj/etag')).rejects.toMatchObject({ errno: 'EACCES' });
  });

  it('list pages with `after` and splits on the delimiter', async () => {
    const keys = ['ls/a', 'ls/b', 'ls/c', 'ls/d/1', 'ls/d/2', 'ls/e'];
    await Promise.all(keys.map((k) => store.put(k, Buffer.from(k), { meta: {} })));
    const flat: string[] = [];
    let after: string | undefined;
    do {
      const page = await store.list('ls/', { maxKeys: 2, ...(after ? { after } : {}) });
      expect(page.objects.length).toBeLessThanOrEqual(2);
      flat.push(...page.objects.map((o) => o.key));
      after = page.next;
    } while (after);
    expect(flat).toEqual(keys);

    const seen: string[] = [];
    after = undefined;
    do {
      const page = await store.list('ls/', { delimiter: '/', maxKeys: 2, ...(after ? { after } : {}) });
      seen.push(...page.objects.map((o) => o.key), ...page.prefixes);
      after = page.next;
    } while (after);
    expect(seen.sort()).toEqual(['ls/a', 'ls/b', 'ls/c', 'ls/d/', 'ls/e']);

    await store.deleteMany(keys);
    expect((await store.list('ls/')).objects).toEqual([]);
  });
});

describe('deleteMany', () => {
  it('takes any number of keys and sends them 1,000 a request, as DeleteMultipleObjects allows', async () => {
    const keys = Array.from({ length: 1001 }, (_, i) => `dm/${String(i).padStart(4, '0')}`);
    await Promise.all(keys.map((k) => store.put(k, Buffer.from('d'), { meta: {} })));
    recorder.lines.length = 0;
    await store.deleteMany(keys);
    expect(sent(/^POST .*delete/)).toHaveLength(2);
    expect((await store.list('dm/')).objects).toEqual([]);
  });
});

describe('LIST pages that fail are asked for again', () => {
  it('a 503, and a page reset half-way through its body, are retried; the page comes back whole', async () => {
    const keys = Array.from({ length: 300 }, (_, i) => `lr/${String(i).padStart(4, '0')}`);
    await Promise.all(keys.map((k) => store.put(k, Buffer.from('r'), { meta: {} })));
    recorder.lines.length = 0;
    h.server.faults.failNext(1, { status: 503, method: 'GET' }); // the only GET here is the LIST
    expect((await store.list('lr/')).objects.map((o) => o.key)).toEqual(keys);
    expect(sent(/^GET .*prefix=lr/)).toHaveLength(2);
    recorder.lines.length = 0;
    h.server.faults.resetResponseAfter(5_000, { method: 'GET' });
    expect((await store.list('lr/')).objects.map((o) => o.key)).toEqual(keys);
    expect(sent(/^GET .*prefix=lr/)).toHaveLength(2);
    await store.deleteMany(keys);
  });
});

describe('listing keys XML must carry exactly', () => {
  it('numbers stay strings, spaces, entities, control characters and % survive, in byte order', async () => {
    const keys = ['lx/007', 'lx/ lead', 'lx/trail ', 'lx/a&b<c>"q\'', 'lx/new\nline', 'lx/ctl\x01char', 'lx/pct%41+plus', 'lx/1e3', 'lx/dir/x'];
    for (const key of keys) await store.put(key, Buffer.from(key), { meta: {} });
    const page = await store.list('lx/', { delimiter: '/' });
    expect(page.objects.map((o) => o.key)).toEqual(keys.filter((k) => k !== 'lx/dir/x').sort());
    expect(page.objects.map((o) => o.size)).toEqual(page.objects.map((o) => Buffer.byteLength(o.key)));
    expect(page.prefixes).toEqual(['lx/dir/']);
    // The prefix travels in the query string: a space, '+', '&' and '#' in it are sent escaped.
    for (const key of ['lq/a b+c&d#e=f/1', 'lq/a b+c&d#e=f/2', 'lq/a b c&d#e=f/x']) await store.put(key, Buffer.from('q'), { meta: {} });
    expect((await store.list('lq/a b+c&d#e=f/')).objects.map((o) => o.key)).toEqual(['lq/a b+c&d#e=f/1', 'lq/a b+c&d#e=f/2']);
    const uploadId = await store.initiateMultipart('lx/ up&load', { meta: {} });
    expect(await store.listMultipartUploads('lx/')).toMatchObject([{ key: 'lx/ up&load', uploadId }]);
    await store.abortMultipart('lx/ up&load', uploadId);
    // DeleteMultipleObjects names the keys in an XML body: each is deleted, and nothing else.
    await store.deleteMany(keys.filter((k) => k !== 'lx/007'));
    expect((await store.list('lx/')).objects.map((o) => o.key)).toEqual(['lx/007']);
  });
});

describe('HEAD, GET, PUT of a buffer and DELETE: addressing, the STS token, Content-MD5, timeouts', () => {
  const keys = ['hd/sp ace+plus', 'hd/ü/%25#?&=x', 'hd/new\nline', "hd/~!@$*()';,"];

  it('addresses any key, path-style on an IP endpoint and on localhost alike', async () => {
    for (const [i, key] of keys.entries()) await store.put(key, Buffer.alloc(i + 1, i), { meta: { n: String(i) } });
    const byPath = createOssStore({ region: LOCAL_REGION, endpoint: h.server.url.replace('127.0.0.1', 'localhost'), bucket: h.bucket, ...h.credentials, retry: FAST_RETRY });
    for (const [i, key] of keys.entries()) {
      for (const s of [h.store, byPath]) {
        const head = await s.head(key);
        expect(head).toMatchObject({ key, size: i + 1, meta: { n: String(i) } });
        expect(head.etag).toMatch(/^"[0-9A-F]{32}"$/);
        const got = await s.get(key, { range: { start: i, end: i } });
        expect([got.start, (await readAll(got.body)).length, got.head.meta]).toEqual([i, 1, { n: String(i) }]);
      }
    }
    await expect(byPath.head('hd/sp ace')).rejects.toMatchObject({ errno: 'ENOENT' });
    const missing = await byPath.get('hd/sp ace').catch((e: unknown) => e);
    expect(missing).toMatchObject({ errno: 'ENOENT' });
    expect((missing as Error).message).toContain('NoSuchKey');
  });

  it('carries the STS token, which the signature covers', async () => {
    const sts = await startHarness('sts-test', { securityToken: 'session-token-1' });
    try {
      await new OSS({ ...sts.credentials, stsToken: 'session-token-1', endpoint: sts.server.url, bucket: sts.bucket, region: `oss-${LOCAL_REGION}`, authorizationV4: true } as OSS.Options).put('k', Buffer.from('abc'));
      const withToken = (securityToken: string): ObjectStore =>
        createOssStore({ region: LOCAL_REGION, endpoint: sts.server.url, bucket: sts.bucket, ...sts.credentials, securityToken, retry: FAST_RETRY });
      expect((await withToken('session-token-1').head('k')).size).toBe(3);
      await expect(withToken('another-token').head('k')).rejects.toMatchObject({ errno: 'EACCES' });
      await withToken('session-token-1').put('k2', Buffer.from('abcd'), { meta: {} });
      expect((await withToken('session-token-1').head('k2')).size).toBe(4);
      await expect(withToken('another-token').put('k3', Buffer.from('x'), { meta: {} })).rejects.toMatchObject({ errno: 'EACCES' });
      await expect(withToken('another-token').delete('k2')).rejects.toMatchObject({ errno: 'EACCES' });
      await withToken('session-token-1').delete('k2');
      await expect(withToken('session-token-1').head('k2')).rejects.toMatchObject({ errno: 'ENOENT' });
    } finally {
      await sts.close();
    }
  });

  it('a PUT carries the body\'s Content-MD5: a byte changed on the way is refused (InvalidDigest), not stored', async () => {
    // A relay that flips the first byte after the headers of every PUT that passes through it.
    const sockets = new Set<import('node:net').Socket>();
    const relay = createServer((client) => {
      const upstream = connect(h.server.port, '127.0.0.1');
      sockets.add(client).add(upstream);
      let pending = Buffer.alloc(0);
      let flipped = false;
      client.on('data', (chunk: Buffer) => {
        if (flipped) return void upstream.write(chunk);
        pending = Buffer.concat([pending, chunk]);
        const end = pending.indexOf('\r\n\r\n');
        if (end < 0 || pending.length <= end + 4) return;
        pending[end + 4]! ^= 0xff;
        flipped = true;
        upstream.write(pending);
      });
      upstream.pipe(client);
      client.on('error', () => upstream.destroy()).on('close', () => upstream.destroy());
      upstream.on('error', () => client.destroy());
    });
    await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
    try {
      const through = createOssStore({ region: LOCAL_REGION, endpoint: `http://127.0.0.1:${(relay.address() as AddressInfo).port}`, bucket: h.bucket, ...h.credentials, retry: FAST_RETRY });
      const err = await through.put('hd/garbled', randomBytes(4096), { meta: {} }).catch((e: unknown) => e);
      expect(err).toBeInstanceOf(FsError);
      expect((err as Error).message).toContain('InvalidDigest');
      await expect(store.head('hd/garbled')).rejects.toMatchObject({ errno: 'ENOENT' });
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => relay.close(() => resolve()));
    }
  });

  it('a server silent past the quick timeout: ETIMEDOUT after the retries, each a fresh request', async () => {
    await store.put('hd/slow', Buffer.from('x'), { meta: {} });
    recorder.lines.length = 0;
    h.server.faults.addLatency(5_000, { method: 'HEAD', path: 'hd/slow' });
    const impatient = createOssStore({ region: LOCAL_REGION, endpoint: recorder.url, bucket: h.bucket, ...h.credentials, quickTimeoutMs: 200, retry: { ...FAST_RETRY, attempts: 2 } });
    const err = await impatient.head('hd/slow').catch((e: unknown) => e);
    expect(err).toMatchObject({ errno: 'ETIMEDOUT' });
    expect((err as Error).message).toContain('hd/slow');
    expect(sent(/^HEAD .*hd\/slow/)).toHaveLength(2);
  });
});

describe('retries', () => {
  it('N×503 then success: the request goes through after N+1 tries', async () => {
    await store.put('rt/x', Buffer.from('data'), { meta: {} });
    recorder.lines.length = 0;
    h.server.faults.failNext(3, { status: 503, method: 'HEAD', path: 'rt/x' });
    expect((await store.head('rt/x')).size).toBe(4);
    expect(sent(/^HEAD .*rt\/x/)).toHaveLength(4);
  });

  it('throttling (429) is retried too', async () => {
    h.server.faults.failNext(2, { status: 429, method: 'PUT', path: 'rt/throttled' });
    await store.put('rt/throttled', Buffer.from('x'), { meta: {} });
    expect(sent(/^PUT .*rt\/throttled/)).toHaveLength(3);
  });

  it('a DELETE answered 503 is retried; deleting an absent key succeeds', async () => {
    await store.put('rt/gone', Buffer.from('x'), { meta: {} });
    recorder.lines.length = 0;
    h.server.faults.failNext(2, { status: 503, method: 'DELETE', path: 'rt/gone' });
    await store.delete('rt/gone');
    expect(sent(/^DELETE .*rt\/gone/)).toHaveLength(3);
    await expect(store.head('rt/gone')).rejects.toMatchObject({ errno: 'ENOENT' });
    await store.delete('rt/gone');
  });

  it('a 404 is not retried', async () => {
    await expect(store.head('rt/none')).rejects.toMatchObject({ errno: 'ENOENT' });
    expect(sent(/^HEAD .*rt\/none/)).toHaveLength(1);
  });

  it('retries are bounded: a server that keeps failing gives EIO after `attempts` tries', async () => {
    h.server.faults.failNext(100, { status: 500, method: 'GET', path: 'rt/dead' });
    const err = await store.get('rt/dead').catch((e: unknown) => e);
    expect(err).toMatchObject({ errno: 'EIO' });
    expect((err as Error).message).toContain('InternalError');
    expect(sent(/^GET .*rt\/dead/)).toHaveLength(FAST_RETRY.attempts);
  });

  it('connection refused is retried, then EIO', async () => {
    const port = await new Promise<number>((resolve) => {
      const s = createServer().listen(0, '127.0.0.1', () => {
        const p = (s.address() as { port: number }).port;
        s.close(() => resolve(p));
      });
    });
    const dead = createOssStore({ region: LOCAL_REGION, endpoint: `http://127.0.0.1:${port}`, bucket: 'dead-bucket', accessKeyId: 'a', accessKeySecret: 'b', retry: { ...FAST_RETRY, attempts: 3 } });
    await expect(dead.head('k')).rejects.toMatchObject({ errno: 'EIO' });
  });

  it('a GET reset mid-body resumes from the byte where it stopped and returns exact bytes', async () => {
    const data = randomBytes(2 * 1024 * 1024 + 123);
    await store.put('rt/big', data, { meta: {} });
    recorder.lines.length = 0;
    h.server.faults.resetResponseAfter(700_001, { method: 'GET', path: 'rt/big', count: 2 });
    const got = await readAll((await store.get('rt/big')).body);
    expect(got.equals(data)).toBe(true);
    // One initial GET and two resumes (each resume was itself cut once more).
    expect(sent(/^GET .*rt\/big/)).toHaveLength(3);

    recorder.lines.length = 0;
    h.server.faults.resetResponseAfter(1000, { method: 'GET', path: 'rt/big' });
    const ranged = await store.get('rt/big', { range: { start: 5000, end: 1_500_000 } });
    expect((await readAll(ranged.body)).equals(data.subarray(5000, 1_500_001))).toBe(true);
    expect(sent(/^GET .*rt\/big/)).toHaveLength(2);
  });

  it('a resume finds the object changed: ESTALE on the body, never mixed versions', async () => {
    const data = randomBytes(1024 * 1024);
    await store.put('rt/changing', data, { meta: {} });
    h.server.faults.resetResponseAfter(100_000, { method: 'GET', path: 'rt/changing' });
    h.server.faults.addLatency(200, { method: 'GET', path: 'rt/changing', count: 2 });
    const r = await store.get('rt/changing');
    await store.put('rt/changing', randomBytes(1024 * 1024), { meta: {} });
    await expect(readAll(r.body)).rejects.toMatchObject({ errno: 'ESTALE' });
  });

  it('a multipart part failing once is retried alone', async () => {
    const uploadId = await store.initiateMultipart('rt/mp', { meta: { a: 'b' } });
    const bodies = [randomBytes(102_400), randomBytes(102_400), randomBytes(5)];
    recorder.lines.length = 0;
    h.server.faults.failNext(1, { status: 503, method: 'PUT', path: 'rt/mp' });
    const parts: UploadedPart[] = await Promise.all(bodies.map((b, i) => store.uploadPart('rt/mp', uploadId, i + 1, b, {})));
    const partRequests = sent(/^PUT .*rt\/mp\?/);
    expect(partRequests).toHaveLength(4);
    const numbers = partRequests.map((l) => /partNumber=(\d+)/.exec(l)![1]);
    expect(new Set(numbers).size).toBe(3);
    await store.completeMultipart('rt/mp', uploadId, parts);
    expect((await readAll((await store.get('rt/mp')).body)).equals(Buffer.concat(bodies))).toBe(true);
    expect(await store.listMultipartUploads('rt/')).toEqual([]);
  });

  it('abortMultipart removes the upload; a missing upload is ENOENT', async () => {
    const uploadId = await store.initiateMultipart('rt/gone', { meta: {} });
    await store.abortMultipart('rt/gone', uploadId);
    expect(await store.listMultipartUploads('rt/gone')).toEqual([]);
    await expect(store.uploadPart('rt/gone', uploadId, 1, Buffer.from('x'), {})).rejects.toMatchObject({ errno: 'ENOENT' });
  });

  it('an Initiate answer without an UploadId is EIO saying so, not an upload called "undefined"', async () => {
    // A peer that answers every request 200 with an empty InitiateMultipartUploadResult.
    const peer = createHttpServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'application/xml' });
      res.end('<?xml version="1.0" encoding="UTF-8"?>\n<InitiateMultipartUploadResult><Bucket>b</Bucket><Key>k</Key></InitiateMultipartUploadResult>');
    });
    await new Promise<void>((resolve) => peer.listen(0, '127.0.0.1', resolve));
    try {
      const url = `http://127.0.0.1:${(peer.address() as AddressInfo).port}`;
      const odd = createOssStore({ region: LOCAL_REGION, endpoint: url, bucket: 'odd-bucket', accessKeyId: 'a', accessKeySecret: 'b', retry: FAST_RETRY });
      await expect(odd.initiateMultipart('k', { meta: {} })).rejects.toMatchObject({ errno: 'EIO', message: expect.stringMatching(/names no UploadId/) });
    } finally {
      await new Promise((resolve) => peer.close(resolve));
    }
  });
});
