import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CryptoError, ctrAt, Keyring, readEnvelope, rsaMasterKey } from '../../src/crypto/index.js';
import { EncryptedBucket, type EncryptedBucketOptions } from '../../src/secure/index.js';
import { readAll, startHarness, type Harness } from '../store/harness.js';
import type { ObjectHead } from '../../src/store/ObjectStore.js';

const KEYS = fileURLToPath(new URL('../../../shared/vectors/oss2-rsa/keys', import.meta.url));
const keyA = () => rsaMasterKey({ privateKeyPem: readFileSync(join(KEYS, 'rsa-key-a.private.pem'), 'utf8') });
const keyB = () => rsaMasterKey({ privateKeyPem: readFileSync(join(KEYS, 'rsa-key-b.private.pem'), 'utf8') });

const PART = 100 * 1024;
const ENC = 'client-side-encryption-';
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('base64');

let h: Harness;
let tmp: string;
beforeAll(async () => {
  h = await startHarness('secure');
  tmp = mkdtempSync(join(tmpdir(), 'ossencfs-secure-'));
});
afterAll(async () => {
  await h?.close();
  rmSync(tmp, { recursive: true, force: true });
});

const bucketA = (o: EncryptedBucketOptions = {}) => new EncryptedBucket(h.store, new Keyring({ writer: keyA() }), o);
const small = (o: EncryptedBucketOptions = {}) => bucketA({ partSize: PART, concurrency: 3, ...o });

async function getAll(bucket: EncryptedBucket, key: string, range?: { start?: number; end?: number }): Promise<Buffer> {
  return readAll(await bucket.get(key, range));
}

/** `data` in uneven chunks, as a pipe would hand them over. */
function unevenly(data: Buffer): Readable {
  const chunks: Buffer[] = [];
  for (let at = 0, i = 0; at < data.length; i++) {
    const n = [1, 4096, 70_000, 131_072, 17][i % 5]!;
    chunks.push(data.subarray(at, at + n));
    at += n;
  }
  return Readable.from(chunks);
}

describe('put and get', () => {
  it('a small put is one PutObject with unencrypted length and MD5, and reads back', async () => {
    const bucket = bucketA();
    const data = randomBytes(5000);
    const r = await bucket.put('small/one', data, { meta: { note: 'x' }, contentType: 'text/plain' });
    expect(r.size).toBe(5000);
    const raw = await h.store.head('small/one');
    expect(raw.meta[`${ENC}unencrypted-content-length`]).toBe('5000');
    expect(raw.meta[`${ENC}unencrypted-content-md5`]).toBe(md5(data));
    expect(raw.meta[`${ENC}part-size`]).toBeUndefined();
    expect(raw.meta.note).toBe('x');
    expect(raw.contentType).toBe('text/plain');
    expect((await getAll(bucket, 'small/one')).equals(data)).toBe(true);
    // What is stored is ciphertext, not the plaintext.
    expect((await readAll((await h.store.get('small/one')).body)).equals(data)).toBe(false);
  });

  it('every put seals a fresh data key and IV, even for the same content', async () => {
    const bucket = bucketA();
    const data = Buffer.alloc(64, 7);
    await bucket.put('fresh/1', data);
    await bucket.put('fresh/2', data);
    const [m1, m2] = [(await h.store.head('fresh/1')).meta, (await h.store.head('fresh/2')).meta];
    const [k1, k2] = [await bucket.keyring.open(readEnvelope(m1, 'fresh/1')!, 'fresh/1'), await bucket.keyring.open(readEnvelope(m2, 'fresh/2')!, 'fresh/2')];
    expect(k1.key.equals(k2.key)).toBe(false);
    expect(k1.iv.equals(k2.iv)).toBe(false);
    expect(k1.iv.subarray(8, 12).equals(Buffer.alloc(4))).toBe(true);
  });

  it('the empty object round-trips with its headers', async () => {
    const bucket = bucketA();
    await bucket.put('empty', Buffer.alloc(0));
    expect((await getAll(bucket, 'empty')).length).toBe(0);
    const head = await bucket.head('empty');
    expect(head.size).toBe(0);
    expect(head.envelope?.unencryptedContentLength).toBe(0);
    expect((await (await bucket.openReader('empty')).read(0, 10)).length).toBe(0);
  });

  it('a multipart put has part-size and data-size, parts at their counter offsets, and decrypts', async () => {
    const bucket = small();
    const data = randomBytes(3 * PART + 12_345);
    await bucket.put('mp/three', Readable.from([data.subarray(0, 50_000), data.subarray(50_000)]), { size: data.length });
    const raw = await h.store.head('mp/three');
    expect(raw.meta[`${ENC}part-size`]).toBe(String(PART));
    expect(raw.meta[`${ENC}data-size`]).toBe(String(data.length));
    expect(raw.meta[`${ENC}unencrypted-content-length`]).toBe(String(data.length));
    // Parts encrypted each from its own offset join into one single-stream CTR ciphertext.
    const dataKey = await bucket.keyring.open(readEnvelope(raw.meta, 'mp/three')!, 'mp/three');
    const stored = await readAll((await h.store.get('mp/three')).body);
    expect(stored.equals(ctrAt(dataKey, 0, data))).toBe(true);
    expect((await getAll(bucket, 'mp/three')).equals(data)).toBe(true);
    expect((await getAll(bucket, 'mp/three', { start: PART - 7, end: 2 * PART + 9 })).equals(data.subarray(PART - 7, 2 * PART + 10))).toBe(true);
  });

  it('a stream of unknown length: small goes up whole with length+MD5; past the threshold it is refused (OSS wants the size at Initiate), leaving no upload', async () => {
    const bucket = small();
    const little = randomBytes(PART - 3);
    await bucket.put('w/small', unevenly(little));
    const rawSmall = await h.store.head('w/small');
    expect(rawSmall.meta[`${ENC}unencrypted-content-md5`]).toBe(md5(little));
    expect(rawSmall.meta[`${ENC}unencrypted-content-length`]).toBe(String(little.length));
    expect(rawSmall.meta[`${ENC}part-size`]).toBeUndefined();
    expect((await getAll(bucket, 'w/small')).equals(little)).toBe(true);

    await expect(bucket.put('w/big', unevenly(randomBytes(5 * PART + 333)))).rejects.toMatchObject({ errno: 'EINVAL' });
    await expect(h.store.head('w/big')).rejects.toMatchObject({ errno: 'ENOENT' });
    expect(await h.store.listMultipartUploads('w/')).toEqual([]);

    const sized = randomBytes(5 * PART + 333);
    expect(await bucket.put('w/sized', unevenly(sized), { size: sized.length, meta: { mode: '33188' } })).toMatchObject({ size: sized.length });
    const rawSized = await h.store.head('w/sized');
    expect(rawSized.meta[`${ENC}data-size`]).toBe(String(sized.length));
    expect(rawSized.meta.mode).toBe('33188');
    expect((await getAll(bucket, 'w/sized')).equals(sized)).toBe(true);
  });

  it('putFile writes length and MD5 on both paths, multipart with data-size', async () => {
    const bucket = small();
    for (const [name, size] of [['f/small', 1000], ['f/large', 4 * PART + 1]] as const) {
      const data = randomBytes(size);
      const path = join(tmp, name.replace('/', '-'));
      writeFileSync(path, data);
      expect(await bucket.putFile(name, path)).toMatchObject({ size });
      const raw = await h.store.head(name);
      expect(raw.meta[`${ENC}unencrypted-content-md5`]).toBe(md5(data));
      expect(raw.meta[`${ENC}unencrypted-content-length`]).toBe(String(size));
      expect(raw.meta[`${ENC}data-size`]).toBe(size > PART ? String(size) : undefined);
      expect((await getAll(bucket, name)).equals(data)).toBe(true);
    }
  });

  it('a stream that is shorter than its announced size fails and leaves no upload', async () => {
    const bucket = small();
    const data = randomBytes(2 * PART);
    await expect(bucket.put('short/one', Readable.from([data]), { size: 3 * PART })).rejects.toMatchObject({ errno: 'EINVAL' });
    expect(await h.store.listMultipartUploads('short/')).toEqual([]);
    await expect(h.store.head('short/one')).rejects.toMatchObject({ errno: 'ENOENT' });
  });

  it('a source that fails mid-way aborts the multipart upload: no upload is left and the previous version stays', async () => {
    const bucket = small();
    const before = randomBytes(777);
    await bucket.put('ab/file', before);
    async function* failing(): AsyncGenerator<Buffer> {
      yield randomBytes(3 * PART);
      throw new Error('the source broke');
    }
    await expect(bucket.put('ab/file', Readable.from(failing()), { size: 5 * PART })).rejects.toThrow('the source broke');
    expect(await h.store.listMultipartUploads('ab/')).toEqual([]);
    expect((await getAll(bucket, 'ab/file')).equals(before)).toBe(true);
  });
});

describe('reading', () => {
  it('a reader is pinned to its version: ESTALE once the object is rewritten', async () => {
    const bucket = bucketA();
    await bucket.put('pin/x', randomBytes(100));
    const reader = await bucket.openReader('pin/x');
    expect((await reader.read(10, 5)).length).toBe(5);
    await bucket.put('pin/x', randomBytes(100));
    await expect(reader.read(10, 5)).rejects.toMatchObject({ errno: 'ESTALE' });
  });

  it('a plaintext object is refused unless allowPlaintext', async () => {
    await h.store.put('plain/x', Buffer.from('not secret'), { meta: {} });
    await expect(bucketA().openReader('plain/x')).rejects.toMatchObject({ kind: 'not-encrypted' });
    await expect(bucketA().get('plain/x')).rejects.toMatchObject({ kind: 'not-encrypted' });
    const lax = bucketA({ allowPlaintext: true });
    expect((await getAll(lax, 'plain/x')).toString()).toBe('not secret');
    expect((await (await lax.openReader('plain/x')).read(4, 6)).toString()).toBe('secret');
  });

  it('a body altered on the server under the same headers fails a whole-object get with md5-mismatch', async () => {
    const bucket = bucketA();
    await bucket.put('tamper/x', randomBytes(4000));
    const raw = await h.store.head('tamper/x');
    await h.store.put('tamper/x', randomBytes(4000), { meta: raw.meta });
    const err = await bucket.get('tamper/x').then(readAll).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CryptoError);
    expect(err).toMatchObject({ kind: 'md5-mismatch' });
    // A ranged read cannot check the MD5 and returns (garbage) bytes.
    expect((await getAll(bucket, 'tamper/x', { start: 16, end: 31 })).length).toBe(16);
  });

  it('random sizes (0–5 MiB) and random ranges read back byte-exact', async () => {
    const bucket = small({ multipartThreshold: 2 * PART });
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: 5 * 1024 * 1024 }),
        fc.array(fc.tuple(fc.nat(), fc.nat()), { minLength: 1, maxLength: 6 }),
        fc.boolean(),
        async (size, ranges, asStream) => {
          const data = randomBytes(size);
          if (asStream) await bucket.put('prop/x', unevenly(data), { size });
          else await bucket.put('prop/x', data);
          const reader = await bucket.openReader('prop/x');
          expect(reader.head.size).toBe(size);
          for (const [a, b] of ranges) {
            const start = size === 0 ? 0 : a % size;
            const length = b % (size - start + 20);
            expect((await reader.read(start, length)).equals(data.subarray(start, start + length))).toBe(true);
            if (size > 0) {
              const end = Math.min(size - 1, start + length);
              expect((await getAll(bucket, 'prop/x', { start, end })).equals(data.subarray(start, end + 1))).toBe(true);
            }
          }
          expect((await getAll(bucket, 'prop/x')).equals(data)).toBe(true);
        },
      ),
      { numRuns: 12 },
    );
  });
});

describe('copy, patchMeta, rewrap', () => {
  const encryptionEntries = (meta: Record<string, string>) =>
    Object.fromEntries(Object.entries(meta).filter(([k]) => k.startsWith(ENC)));

  it('copy keeps the envelope byte for byte and decrypts; copy with meta replaces only the user meta', async () => {
    const bucket = bucketA();
    const data = randomBytes(3000);
    await bucket.put('cp/src', data, { meta: { a: '1' } });
    const copied = await bucket.copy('cp/src', 'cp/dst');
    const [src, dst] = [await h.store.head('cp/src'), await h.store.head('cp/dst')];
    expect(dst.meta).toEqual(src.meta);
    // It answers with the destination as a HEAD finds it (whose Last-Modified has whole seconds only).
    const inSeconds = (head: ObjectHead | undefined) => head && { ...head, lastModified: Math.floor(head.lastModified.getTime() / 1000) };
    expect(inSeconds(copied)).toEqual(inSeconds(dst));
    expect((await getAll(bucket, 'cp/dst')).equals(data)).toBe(true);

    // A new metadata set cannot be copied (OSS refuses it for an encrypted object): the bytes go
    // through the client, unchanged; the PutObject's answer dates the object to the second or just after.
    h.server.faults.resetRequests();
    const copied2 = await bucket.copy('cp/src', 'cp/dst2', { meta: { b: '2' } });
    expect(h.server.faults.requests({ path: `/${h.bucket}/cp/dst2` }).map((r) => r.method)).toEqual(['PUT']);
    const dst2 = await h.store.head('cp/dst2');
    expect(dst2.etag).toBe(src.etag); // the same ciphertext
    expect(copied2?.etag).toBe(dst2.etag);
    expect(copied2!.lastModified.getTime() - dst2.lastModified.getTime()).toBeGreaterThanOrEqual(0);
    expect(copied2!.lastModified.getTime() - dst2.lastModified.getTime()).toBeLessThanOrEqual(1000);
    expect(encryptionEntries(dst2.meta)).toEqual(encryptionEntries(src.meta));
    expect((await bucket.head('cp/dst2')).meta).toEqual({ b: '2' });
    expect((await getAll(bucket, 'cp/dst2')).equals(data)).toBe(true);
  });

  it('copy at or above the copy limit goes through the client part by part, with the CSE headers, and keeps the envelope', async () => {
    const bucket = small({ copyLimit: 150 * 1024 });
    const data = randomBytes(3 * PART + 100);
    await bucket.put('bigcp/src', data, { meta: { keep: 'me' }, contentType: 'application/x-test' });
    h.server.faults.resetRequests();
    // Completing a multipart upload does not say when: nothing to know the object by.
    expect(await bucket.copy('bigcp/src', 'bigcp/dst')).toBeUndefined();
    const seen = h.server.faults.requests();
    expect(seen.filter((r) => r.path === `/${h.bucket}/bigcp/src` && r.method === 'GET').length).toBe(4); // ranged GETs, one a part
    expect(seen.filter((r) => r.path === `/${h.bucket}/bigcp/dst` && /partNumber=/.test(r.query)).length).toBe(4);
    const [src, dst] = [await h.store.head('bigcp/src'), await h.store.head('bigcp/dst')];
    expect(encryptionEntries(dst.meta)).toEqual(encryptionEntries(src.meta));
    expect(dst.meta.keep).toBe('me');
    expect(dst.contentType).toBe('application/x-test');
    expect((await getAll(bucket, 'bigcp/dst')).equals(data)).toBe(true);
    expect(await h.store.listMultipartUploads('bigcp/')).toEqual([]);
  });

  it('patchMeta sets user entries over the old ones, re-sends the same ciphertext and every encryption entry exactly, and ignores forged ones', async () => {
    for (const [key, size] of [['um/x', 100], ['um/big', 2 * PART + 7]] as const) {
      const bucket = small();
      const data = randomBytes(size);
      await bucket.put(key, data, { meta: { mode: '33188', other: 'kept' } });
      const before = await h.store.head(key);
      const ciphertext = await readAll((await h.store.get(key)).body);
      await bucket.patchMeta(key, { mode: '33261', mtime: '1700000000.5', [`${ENC}key`]: 'forged' });
      const after = await h.store.head(key);
      expect(encryptionEntries(after.meta)).toEqual(encryptionEntries(before.meta));
      const head = await bucket.head(key);
      // The MAC that vouches for the new mode (src/secure/attrMac.ts).
      expect(head.meta).toEqual({ mode: '33261', mtime: '1700000000.5', other: 'kept', 'ossencfs-attr-mac': expect.any(String) });
      expect(bucket.attrMac.verified(key, after.meta)).toBe(true);
      expect(head.posix).toEqual({ mode: 0o100755, mtime: 1700000000.5 });
      expect((await readAll((await h.store.get(key)).body)).equals(ciphertext)).toBe(true);
      expect((await getAll(bucket, key)).equals(data)).toBe(true);
    }
  });

  it('a metadata update loses to a new version written between its HEAD and its read of the bytes: ESTALE, and the new data stays readable', async () => {
    // The re-sent bytes must not pair the new ciphertext with the old version's envelope (from the
    // HEAD): the new data's key would be gone for good. The GET's If-Match makes it a clean ESTALE.
    const bucket = bucketA();
    await bucket.put('race/x', randomBytes(3000), { meta: { mode: '33188' } });
    const newer = randomBytes(4000);
    // The GET of the bytes waits in the server while the new version lands.
    h.server.faults.addLatency(400, { method: 'GET', path: 'race/x', count: 1 });
    const patching = bucket.patchMeta('race/x', { mode: '33261' });
    const outcome = patching.then(() => 'patched', (err: { errno?: string }) => err.errno);
    await new Promise((r) => setTimeout(r, 150));
    await bucket.put('race/x', newer, { meta: { mode: '33188' } });
    expect(await outcome).toBe('ESTALE');
    expect((await getAll(bucket, 'race/x')).equals(newer)).toBe(true);
    expect((await bucket.head('race/x')).meta).toEqual({ mode: '33188', 'ossencfs-attr-mac': expect.any(String) });
  });

  it('rewrap from key A to key B: readable with only B, not with only A; a second rewrap is a no-op', async () => {
    const data = randomBytes(3 * PART + 5);
    await small().put('rw/x', data, { meta: { u: 'v' } });
    const before = await h.store.head('rw/x');
    const toB = new EncryptedBucket(h.store, new Keyring({ writer: keyB(), readers: [keyA()] }), { partSize: PART });
    expect(await toB.rewrap('rw/x')).toBe('rewrapped');
    const after = await h.store.head('rw/x');
    expect(after.meta[`${ENC}key`]).not.toBe(before.meta[`${ENC}key`]);
    expect(after.meta.u).toBe('v');
    expect(after.meta[`${ENC}part-size`]).toBe(before.meta[`${ENC}part-size`]);
    expect(await h.store.listMultipartUploads('rw/')).toEqual([]);

    const onlyB = new EncryptedBucket(h.store, new Keyring({ readers: [keyB()] }));
    expect((await getAll(onlyB, 'rw/x')).equals(data)).toBe(true);
    const onlyA = new EncryptedBucket(h.store, new Keyring({ readers: [keyA()] }));
    await expect(onlyA.get('rw/x')).rejects.toBeInstanceOf(CryptoError);
    expect(await toB.rewrap('rw/x')).toBe('already');
  });

  it('rewrap of an empty object and of a plaintext object', async () => {
    await bucketA().put('rw/empty', Buffer.alloc(0));
    const toB = new EncryptedBucket(h.store, new Keyring({ writer: keyB(), readers: [keyA()] }));
    expect(await toB.rewrap('rw/empty')).toBe('rewrapped');
    expect((await getAll(new EncryptedBucket(h.store, new Keyring({ readers: [keyB()] })), 'rw/empty')).length).toBe(0);
    await h.store.put('rw/plain', Buffer.from('p'), { meta: {} });
    await expect(toB.rewrap('rw/plain')).rejects.toMatchObject({ kind: 'not-encrypted' });
  });
});

describe('faults', () => {
  it('a multipart put whose part keeps failing is aborted: the error propagates, no upload is left, the old version stays', async () => {
    const bucket = small();
    const before = randomBytes(1000);
    await bucket.put('fail/x', before);
    h.server.faults.failNext(1000, { status: 500, method: 'PUT', path: 'fail/x' });
    try {
      await expect(bucket.put('fail/x', randomBytes(4 * PART))).rejects.toMatchObject({ errno: 'EIO' });
    } finally {
      h.server.faults.clear();
    }
    expect(await h.store.listMultipartUploads('fail/')).toEqual([]);
    expect((await getAll(bucket, 'fail/x')).equals(before)).toBe(true);
  });

  it('decryption carries on across a GET reset mid-body (the body resumes at the byte it stopped)', async () => {
    const bucket = bucketA();
    const data = randomBytes(1024 * 1024 + 5);
    await bucket.put('reset/x', data);
    const cut = () => h.server.faults.resetResponseAfter(100_003, { method: 'GET', path: 'reset/x', count: 2 });
    try {
      cut();
      expect((await getAll(bucket, 'reset/x')).equals(data)).toBe(true);
      const reader = await bucket.openReader('reset/x');
      cut();
      expect((await reader.read(99_999, 300_000)).equals(data.subarray(99_999, 399_999))).toBe(true);
      cut();
      expect((await readAll(reader.stream(7, 800_000))).equals(data.subarray(7, 800_000))).toBe(true);
    } finally {
      h.server.faults.clear();
    }
  });
});

describe('listing and deleting', () => {
  it('list passes through with delimiter and pages; deleteMany removes all', async () => {
    const bucket = bucketA();
    const keys = Array.from({ length: 7 }, (_, i) => `ls/k${i}`);
    for (const k of keys) await bucket.put(k, Buffer.from(k));
    await bucket.put('ls/sub/a', Buffer.from('a'));
    const top = await bucket.list('ls/', { delimiter: '/' });
    expect(top.objects.map((o) => o.key)).toEqual(keys);
    expect(top.prefixes).toEqual(['ls/sub/']);
    const seen: string[] = [];
    let after: string | undefined;
    do {
      const page = await bucket.list('ls/', { maxKeys: 3, ...(after ? { after } : {}) });
      seen.push(...page.objects.map((o) => o.key));
      after = page.next;
    } while (after);
    expect(seen).toEqual([...keys, 'ls/sub/a']);
    await bucket.deleteMany(seen);
    expect((await bucket.list('ls/')).objects).toEqual([]);
  });
});
