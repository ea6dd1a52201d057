import { createHash } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CryptoError, Keyring, rsaMasterKey, type Matdesc } from '../../src/crypto/index.js';
import { EncryptedBucket } from '../../src/secure/index.js';
import type { ObjectMeta } from '../../src/store/ObjectStore.js';
import { readAll, startHarness, type Harness } from '../store/harness.js';
import { splitMeta } from '../../src/secure/head.js';

/**
 * The contract with the official SDKs: every object they wrote, stored with its exact bytes and
 * headers on the local server, reads back byte-exact through EncryptedBucket — whole, every range
 * the SDK itself read, and ranges starting at every offset mod 16.
 */
const VECTORS = fileURLToPath(new URL('../../../shared/vectors', import.meta.url));
const OSS2 = join(VECTORS, 'oss2-rsa');
const FIXTURES = join(VECTORS, 'sdk-fixtures');

interface RangeGet {
  requested: [number, number | null];
  plaintext_offset: number;
  plaintext_length: number;
  plaintext_sha256: string;
}
interface Oss2Case {
  name: string;
  operation: 'PutObject' | 'MultipartUpload';
  key_pair: string;
  provider_mat_desc: Matdesc | null;
  plaintext_file: string;
  ciphertext_file: string;
  headers: Record<string, string>;
  other_request_headers: Record<string, string>;
  range_gets: RangeGet[];
  parts?: { part_number: number; ciphertext_file: string }[];
  reader?: { default_key_pair: string; default_mat_desc: Matdesc; registered_materials: { mat_desc: Matdesc; key_pair: string }[] };
}

const pem = (dir: string, name: string): string => readFileSync(join(dir, 'keys', name), 'utf8');
const rsaKey = (pair: string, matdesc?: Matdesc | null) =>
  rsaMasterKey({ privateKeyPem: pem(OSS2, `${pair}.private.pem`), ...(matdesc ? { matdesc } : {}) });
const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const stripPrefix = (headers: Record<string, string>): ObjectMeta =>
  Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.replace(/^x-oss-meta-/, ''), v]));

const index = JSON.parse(readFileSync(join(OSS2, 'index.json'), 'utf8')) as { cases: string[] };
const cases = index.cases.map((name) => JSON.parse(readFileSync(join(OSS2, 'cases', `${name}.json`), 'utf8')) as Oss2Case);

let h: Harness;
beforeAll(async () => {
  h = await startHarness('vectors');
  for (const c of cases) {
    const meta = stripPrefix(c.headers);
    const contentType = c.other_request_headers['content-type'];
    const options = { meta, ...(contentType ? { contentType } : {}) };
    if (c.operation === 'MultipartUpload') {
      const uploadId = await h.store.initiateMultipart(c.name, options);
      const parts = [];
      for (const p of c.parts ?? []) {
        parts.push(await h.store.uploadPart(c.name, uploadId, p.part_number, readFileSync(join(OSS2, 'cases', p.ciphertext_file)), splitMeta(meta).encryption));
      }
      await h.store.completeMultipart(c.name, uploadId, parts);
    } else {
      await h.store.put(c.name, readFileSync(join(OSS2, 'cases', c.ciphertext_file)), options);
    }
  }
  for (const name of ['go-sdk-example', 'cpp-sdk-example', 'v1-rsa-1MiB-a']) {
    const headers = JSON.parse(readFileSync(join(FIXTURES, 'cases', `${name}.headers.json`), 'utf8')) as Record<string, string>;
    await h.store.put(name, readFileSync(join(FIXTURES, 'cases', `${name}.ciphertext.bin`)), { meta: stripPrefix(headers) });
  }
});
afterAll(async () => h?.close());

/** The reader each case needs: its own key pair with the provider's matdesc. */
function bucketFor(c: Oss2Case): EncryptedBucket {
  return new EncryptedBucket(h.store, new Keyring({ readers: [rsaKey(c.key_pair, c.provider_mat_desc)] }));
}

async function expectEveryRange(bucket: EncryptedBucket, key: string, plaintext: Buffer): Promise<void> {
  const reader = await bucket.openReader(key);
  expect(reader.head.size).toBe(plaintext.length);
  expect((await reader.read(0, plaintext.length)).equals(plaintext)).toBe(true);
  const starts = new Set<number>();
  for (let s = 0; s < Math.min(plaintext.length, 48); s++) starts.add(s);
  for (let s = Math.max(0, plaintext.length - 20); s < plaintext.length; s++) starts.add(s);
  for (let s = 16; s < plaintext.length; s += Math.max(17, Math.floor(plaintext.length / 23))) starts.add(s);
  for (const start of starts) {
    for (const length of [1, 15, 17, 1000, plaintext.length]) {
      const want = plaintext.subarray(start, start + length);
      const got = await reader.read(start, length);
      expect(got.equals(want), `${key} read(${start}, ${length})`).toBe(true);
    }
  }
  // The streaming path, at every offset mod 16 once.
  for (let s = 0; s < Math.min(plaintext.length, 16); s++) {
    const end = Math.min(plaintext.length, s + 100);
    expect((await readAll(reader.stream(s, end))).equals(plaintext.subarray(s, end)), `${key} stream(${s}, ${end})`).toBe(true);
  }
}

describe('oss2 2.19.1 vectors', () => {
  for (const c of cases.filter((x) => x.name !== 'multi-key-select')) {
    it(`${c.name}: whole object, the SDK's own ranges, and every offset mod 16`, async () => {
      const plaintext = readFileSync(join(OSS2, 'cases', c.plaintext_file));
      const bucket = bucketFor(c);
      expect((await readAll(await bucket.get(c.name))).equals(plaintext)).toBe(true);
      for (const r of c.range_gets) {
        const [start, end] = r.requested;
        const got = await readAll(await bucket.get(c.name, end === null ? { start } : { start, end }));
        expect(got.length, `${c.name} get(${start}, ${end})`).toBe(r.plaintext_length);
        expect(sha256(got), `${c.name} get(${start}, ${end})`).toBe(r.plaintext_sha256);
      }
      await expectEveryRange(bucket, c.name, plaintext);
    });
  }

  it('multi-key-select: the key registered for the matdesc is picked, not the default', async () => {
    const c = cases.find((x) => x.name === 'multi-key-select') as Oss2Case;
    const reader = c.reader!;
    const plaintext = readFileSync(join(OSS2, 'cases', c.plaintext_file));
    const defaultKey = rsaKey(reader.default_key_pair, reader.default_mat_desc);

    const unregistered = new EncryptedBucket(h.store, new Keyring({ writer: defaultKey }));
    await expect(unregistered.openReader(c.name)).rejects.toMatchObject({ kind: 'no-key-for-matdesc' });

    const registered = new EncryptedBucket(
      h.store,
      new Keyring({ writer: defaultKey, readers: reader.registered_materials.map((m) => rsaKey(m.key_pair, m.mat_desc)) }),
    );
    expect((await readAll(await registered.get(c.name))).equals(plaintext)).toBe(true);
    await expectEveryRange(registered, c.name, plaintext);
  });

  it('user metadata and the user-supplied MD5/length come through the head, without the encryption entries', async () => {
    const bucket = bucketFor(cases.find((x) => x.name === 'put-1234-bytes-matdesc')!);
    const head = await bucket.head('put-1234-bytes-matdesc');
    expect(head.meta).toEqual({ 'user-note': 'hello' });
    expect(head.contentType).toBe('text/plain');
    expect(head.envelope?.matdesc).toEqual({ owner: 'vectors', purpose: 'multi-key' });

    const md5Case = cases.find((x) => x.name === 'put-64-bytes-user-md5-length')!;
    const md5Head = await bucketFor(md5Case).head(md5Case.name);
    expect(md5Head.envelope?.unencryptedContentMd5).toBe('yvEpvFqzTs0pa2R1f06VIg==');
    expect(md5Head.envelope?.unencryptedContentLength).toBe(64);
  });

  it('reading an SDK object with the wrong key fails with a CryptoError, never garbage', async () => {
    const bucket = new EncryptedBucket(h.store, new Keyring({ readers: [rsaKey('rsa-key-b')] }));
    const err = await bucket.get('put-1000-bytes').then(readAll).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CryptoError);
  });
});

describe('objects written by the Go and C++ SDKs and the V1 format', () => {
  const compact = () => new Keyring({ readers: [rsaMasterKey({ privateKeyPem: pem(FIXTURES, 'compact.private.pem') })] });
  const jpg = () => readFileSync(join(FIXTURES, 'cases', 'example.plaintext.jpg'));

  for (const [name, plaintext] of [
    ['go-sdk-example', jpg],
    ['cpp-sdk-example', jpg],
    ['v1-rsa-1MiB-a', () => Buffer.alloc(1024 * 1024, 'a')],
  ] as const) {
    it(`${name}: whole and every offset mod 16`, async () => {
      const bucket = new EncryptedBucket(h.store, compact());
      const want = plaintext();
      expect((await readAll(await bucket.get(name))).equals(want)).toBe(true);
      await expectEveryRange(bucket, name, want);
    });
  }
});
