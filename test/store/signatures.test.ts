import { Readable } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOssStore } from '../../src/store/index.js';
import type { ObjectStore } from '../../src/store/ObjectStore.js';
import { FAST_RETRY, LOCAL_REGION, readAll, startHarness, type Harness } from './harness.js';
import { httpRelay } from './httpRelay.js';

// Which signature each request carries, read off the wire by a relay in front of the local server
// (which checks both kinds): a full round of every request kind the store sends.

let h: Harness;
beforeAll(async () => {
  h = await startHarness('signatures');
});
afterAll(async () => {
  await h?.close();
});

/** Every kind of request ObjectStore makes, each at least once; returns what it read back. */
async function everyKind(store: ObjectStore): Promise<string[]> {
  const out: string[] = [];
  await store.put('sig/a', Buffer.from('0123456789abcdef'), { meta: { m: '1' } });
  await store.put('sig/s', Readable.from([Buffer.from('streamed')]), { meta: {}, contentLength: 8 });
  out.push(String((await store.head('sig/a')).meta.m));
  out.push((await readAll((await store.get('sig/a')).body)).toString());
  out.push((await readAll((await store.get('sig/a', { range: { start: 4, end: 7 } })).body)).toString());
  const block = Buffer.alloc(6);
  let at = 0;
  await store.readInto('sig/a', { start: 10, end: 15 }, undefined, { room: (max) => block.subarray(at, at + max), filled: (n) => void (at += n) });
  out.push(block.toString());
  await store.copy('sig/a', 'sig/b');
  const id = await store.initiateMultipart('sig/mp', { meta: { x: 'y' } });
  const p1 = await store.uploadPart('sig/mp', id, 1, Buffer.alloc(100 * 1024, 1), { x: 'y' });
  const p2 = await store.uploadPart('sig/mp', id, 2, Buffer.from('0123456789abcdef'), { x: 'y' });
  out.push(String((await store.listMultipartUploads('sig/')).length));
  await store.completeMultipart('sig/mp', id, [p1, p2]);
  const abandoned = await store.initiateMultipart('sig/gone', { meta: {} });
  await store.abortMultipart('sig/gone', abandoned);
  out.push((await store.list('sig/', { delimiter: '/' })).objects.map((o) => o.key).join(','));
  await store.delete('sig/s');
  await store.deleteMany(['sig/a', 'sig/b', 'sig/mp']);
  out.push(String((await store.list('sig/')).objects.length));
  return out;
}

const EXPECTED = ['1', '0123456789abcdef', '4567', 'abcdef', '1', 'sig/a,sig/b,sig/mp,sig/s', '0'];

describe('signatures on the wire', () => {
  it('V4 by default: every request of every kind carries OSS4-HMAC-SHA256 for the region, none V1', async () => {
    const relay = await httpRelay(h.server);
    try {
      const store = createOssStore({ endpoint: relay.url, bucket: h.bucket, region: LOCAL_REGION, ...h.credentials, retry: FAST_RETRY });
      expect(await everyKind(store)).toEqual(EXPECTED);
      const kinds = new Set(relay.seen.map((s) => `${s.method} ${s.url.replace(/^\/signatures\/?/, '').replace(/[^?]*/, (p) => (p ? 'key' : ''))}`.replace(/=[^&]*/g, '')));
      // HEAD, GET (whole, ranged, into the blocks), PUT (buffer, stream, copy, part), POST
      // (initiate, complete, delete many), DELETE (object, abort), bucket GETs (list, list uploads).
      expect([...kinds].sort()).toEqual([
        'DELETE key', 'DELETE key?uploadId', 'GET ?prefix&max-keys&encoding-type', 'GET ?prefix&max-keys&encoding-type&delimiter', 'GET ?uploads&prefix', 'GET key', 'HEAD key',
        'POST ?delete', 'POST key?uploadId', 'POST key?uploads', 'PUT key', 'PUT key?partNumber&uploadId',
      ]);
      expect(relay.seen.length).toBeGreaterThanOrEqual(18);
      for (const s of relay.seen) {
        expect(s.authorization).toMatch(new RegExp(`^OSS4-HMAC-SHA256 Credential=${h.credentials.accessKeyId}/\\d{8}/${LOCAL_REGION}/oss/aliyun_v4_request,Signature=[0-9a-f]{64}$`));
      }
      expect(relay.seen.filter((s) => s.authorization.startsWith('OSS '))).toEqual([]);
    } finally {
      await relay.close();
    }
  });

  it('signatureVersion 1: the same round, every request V1 and none V4 (a server that takes V1; one that does not refuses it)', async () => {
    const refusing = createOssStore({ endpoint: h.server.url, bucket: h.bucket, signatureVersion: 1, ...h.credentials, retry: FAST_RETRY });
    await expect(refusing.head('sig/none')).rejects.toMatchObject({ errno: 'EACCES' });
    const v1 = await startHarness('signatures-v1', { signatures: 'any' });
    const relay = await httpRelay(v1.server);
    try {
      const store = createOssStore({ endpoint: relay.url, bucket: v1.bucket, signatureVersion: 1, ...v1.credentials, retry: FAST_RETRY });
      expect(await everyKind(store)).toEqual(EXPECTED);
      expect(relay.seen.length).toBeGreaterThanOrEqual(18);
      for (const s of relay.seen) expect(s.authorization).toMatch(new RegExp(`^OSS ${v1.credentials.accessKeyId}:[A-Za-z0-9+/]{27}=$`));
    } finally {
      await relay.close();
      await v1.close();
    }
  });
});
