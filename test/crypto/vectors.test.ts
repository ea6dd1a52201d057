import { describe, expect, it } from 'vitest';
import {
  CryptoError,
  Keyring,
  ctrAt,
  envelopeMeta,
  readEnvelope,
  rsaMasterKey,
  type DataKey,
  type Envelope,
} from '../../src/crypto/index.js';
import {
  fixtureKey,
  oss2Case,
  oss2CaseNames,
  oss2File,
  oss2Key,
  sdkFixtures,
  sha256,
  toMeta,
  type Oss2Case,
} from './vectors.js';

const keyPair = (pair: string, matdesc?: Record<string, string> | null) =>
  rsaMasterKey({ privateKeyPem: oss2Key(pair, 'private'), ...(matdesc ? { matdesc } : {}) });

/** The keyring oss2 read the case with: its key pair, plus the reader's registered materials. */
function readerKeyring(c: Oss2Case): Keyring {
  if (c.reader) {
    return new Keyring({
      writer: keyPair(c.reader.default_key_pair, c.reader.default_mat_desc),
      readers: c.reader.registered_materials.map((m) => keyPair(m.key_pair, m.mat_desc)),
    });
  }
  return new Keyring({ readers: [keyPair(c.key_pair, c.provider_mat_desc)] });
}

/** A ranged read the way the SDKs do it: fetch from the 16-aligned start, decrypt there, drop the lead. */
function readRange(dataKey: DataKey, ciphertext: Buffer, start: number, end: number | null): Buffer {
  const aligned = start - (start % 16);
  const fetched = ciphertext.subarray(aligned, end === null ? undefined : end + 1);
  return ctrAt(dataKey, aligned, fetched).subarray(start - aligned);
}

/** Every start offset mod 16 near the beginning, the middle and the end, with a few lengths. */
function rangesAtEveryPhase(length: number): [number, number][] {
  const ranges: [number, number][] = [];
  for (const base of new Set([0, Math.max(0, Math.floor(length / 2) - 16), Math.max(0, length - 48)])) {
    for (let phase = 0; phase < 16; phase++) {
      const start = base + phase;
      if (start >= length) continue;
      for (const len of [1, 15, 16, 17, 33]) ranges.push([start, Math.min(length - 1, start + len - 1)]);
    }
  }
  return ranges;
}

async function openAndCheck(keyring: Keyring, meta: Record<string, string>, name: string, ciphertext: Buffer, plaintext: Buffer) {
  const envelope = readEnvelope(meta, name);
  expect(envelope).toBeDefined();
  const dataKey = await keyring.open(envelope as Envelope, name);
  expect(ctrAt(dataKey, 0, ciphertext).equals(plaintext)).toBe(true);
  for (const [start, end] of rangesAtEveryPhase(plaintext.length)) {
    expect(readRange(dataKey, ciphertext, start, end).equals(plaintext.subarray(start, end + 1)), `${name} ${start}-${end}`).toBe(true);
  }
  return { envelope: envelope as Envelope, dataKey };
}

describe('oss2 RSA vectors: reading what the SDK wrote', () => {
  for (const name of oss2CaseNames()) {
    it(`${name}: decrypts whole, every listed range and every start phase`, async () => {
      const c = oss2Case(name);
      const plaintext = oss2File(c.plaintext_file);
      const ciphertext = oss2File(c.ciphertext_file);
      const { envelope, dataKey } = await openAndCheck(readerKeyring(c), toMeta(c.headers), name, ciphertext, plaintext);
      expect(dataKey.key.toString('hex')).toBe(c.cek_hex);
      expect(dataKey.iv.toString('hex')).toBe(c.iv_hex);
      expect(envelope.format).toBe('v2');
      for (const r of c.range_gets ?? []) {
        const [start, end] = r.requested;
        expect(`bytes=${start - (start % 16)}-${end ?? ''}`).toBe(r.sent_range_header);
        const got = readRange(dataKey, ciphertext, start, end);
        expect(got.length).toBe(r.plaintext_length);
        expect(sha256(got)).toBe(r.plaintext_sha256);
      }
    });
  }

  it('put-64-bytes-user-md5-length: the informational headers parse', () => {
    const c = oss2Case('put-64-bytes-user-md5-length');
    const envelope = readEnvelope(toMeta(c.headers), c.name);
    expect(envelope?.unencryptedContentLength).toBe(64);
    expect(envelope?.unencryptedContentMd5).toBe('yvEpvFqzTs0pa2R1f06VIg==');
  });

  it('multipart-3-parts: data and part size parse', () => {
    const c = oss2Case('multipart-3-parts');
    const envelope = readEnvelope(toMeta(c.headers), c.name);
    expect(envelope?.dataSize).toBe(c.data_size);
    expect(envelope?.partSize).toBe(c.part_size);
  });

  it('multi-key-select: without the registered key it fails naming the matdesc', async () => {
    const c = oss2Case('multi-key-select');
    const reader = c.reader!;
    const keyring = new Keyring({ writer: keyPair(reader.default_key_pair, reader.default_mat_desc) });
    const envelope = readEnvelope(toMeta(c.headers), c.name)!;
    const error = await keyring.open(envelope, c.name).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CryptoError);
    expect((error as CryptoError).kind).toBe('no-key-for-matdesc');
    expect((error as CryptoError).errno).toBe('EIO');
    expect((error as CryptoError).message).toContain('{"owner":"vectors","purpose":"multi-key"}');
    expect((error as CryptoError).message).toContain('multi-key-select');
  });

  it('multi-key-select: the same key under another matdesc is not used', async () => {
    const c = oss2Case('multi-key-select');
    const keyring = new Keyring({ readers: [keyPair(c.key_pair, { owner: 'vectors' })] });
    const error = await keyring.open(readEnvelope(toMeta(c.headers), c.name)!, c.name).catch((e: unknown) => e);
    expect((error as CryptoError).kind).toBe('no-key-for-matdesc');
  });
});

describe('oss2 RSA vectors: what we write matches', () => {
  for (const name of oss2CaseNames()) {
    it(`${name}: ctrAt with the vector's key and IV gives the ciphertext byte for byte`, () => {
      const c = oss2Case(name);
      const dataKey = { key: Buffer.from(c.cek_hex, 'hex'), iv: Buffer.from(c.iv_hex, 'hex') };
      expect(ctrAt(dataKey, 0, oss2File(c.plaintext_file)).equals(oss2File(c.ciphertext_file))).toBe(true);
    });
  }

  it('multipart-3-parts: each part encrypted at its offset equals the part file', () => {
    const c = oss2Case('multipart-3-parts');
    const dataKey = { key: Buffer.from(c.cek_hex, 'hex'), iv: Buffer.from(c.iv_hex, 'hex') };
    const plaintext = oss2File(c.plaintext_file);
    expect(c.parts).toHaveLength(3);
    for (const part of c.parts!) {
      expect(part.counter_block_offset * 16).toBe(part.plaintext_offset);
      const body = plaintext.subarray(part.plaintext_offset, part.plaintext_offset + part.plaintext_length);
      expect(ctrAt(dataKey, part.plaintext_offset, body).equals(oss2File(part.ciphertext_file))).toBe(true);
    }
  });

  for (const name of ['put-1000-bytes', 'put-1234-bytes-matdesc', 'put-64-bytes-user-md5-length', 'multipart-3-parts']) {
    it(`${name}: our sealed headers have the vector's names, algorithms and encodings and unwrap with its private key`, async () => {
      const c = oss2Case(name);
      const matdesc = c.provider_mat_desc ?? undefined;
      const writer = rsaMasterKey({ publicKeyPem: oss2Key(c.key_pair, 'public'), ...(matdesc ? { matdesc } : {}) });
      const theirs = readEnvelope(toMeta(c.headers), name)!;
      const { dataKey, envelope } = await new Keyring({ writer }).seal({
        ...(theirs.unencryptedContentLength === undefined ? {} : { unencryptedContentLength: theirs.unencryptedContentLength }),
        ...(theirs.unencryptedContentMd5 === undefined ? {} : { unencryptedContentMd5: theirs.unencryptedContentMd5 }),
        ...(theirs.dataSize === undefined ? {} : { dataSize: theirs.dataSize, partSize: theirs.partSize! }),
      });
      const ours = envelopeMeta(envelope);
      const vectorMeta = toMeta(c.headers);
      const cryptoNames = Object.keys(vectorMeta).filter((n) => n.startsWith('client-side-encryption-'));
      expect(Object.keys(ours).sort()).toEqual(cryptoNames.sort());
      for (const n of cryptoNames) {
        if (n.endsWith('-key') || n.endsWith('-start')) {
          expect(ours[n]).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
          expect(ours[n]!.length).toBe(vectorMeta[n]!.length);
        } else if (n.endsWith('-matdesc')) {
          expect(JSON.parse(ours[n]!)).toEqual(JSON.parse(vectorMeta[n]!));
        } else {
          expect(ours[n]).toBe(vectorMeta[n]);
        }
      }
      // The vector's own private key (what oss2 would use) unwraps our headers.
      const reader = new Keyring({ readers: [keyPair(c.key_pair, c.provider_mat_desc)] });
      const opened = await reader.open(readEnvelope(ours, 'ours')!, 'ours');
      expect(opened.key.equals(dataKey.key)).toBe(true);
      expect(opened.iv.equals(dataKey.iv)).toBe(true);
      expect(dataKey.iv.subarray(8, 12).equals(Buffer.alloc(4))).toBe(true);
    });
  }
});

describe('objects written by the Go and C++ SDKs and the old V1 format', () => {
  for (const f of sdkFixtures()) {
    it(`${f.name}: decrypts whole and at every start phase`, async () => {
      const keyring = new Keyring({ readers: [rsaMasterKey({ privateKeyPem: fixtureKey('private') })] });
      const { envelope } = await openAndCheck(keyring, f.meta, f.name, f.ciphertext, f.plaintext);
      expect(envelope.format).toBe(f.name.startsWith('v1') ? 'v1' : 'v2');
    });
  }

  it('v1-rsa-1MiB-a: maps the V1 algorithms and starts the counter at the decimal start', async () => {
    const f = sdkFixtures().find((x) => x.name === 'v1-rsa-1MiB-a')!;
    const envelope = readEnvelope(f.meta, f.name)!;
    expect(envelope.wrapAlg).toBe('RSA/NONE/OAEPWithSHA-1AndMGF1Padding');
    expect(envelope.cekAlg).toBe('AES/CTR/NoPadding');
    const keyring = new Keyring({ readers: [rsaMasterKey({ privateKeyPem: fixtureKey('private') })] });
    const dataKey = await keyring.open(envelope, f.name);
    expect(dataKey.iv.toString('hex')).toBe('00000000000000000000000000000008');
  });

  it('the RSA public key in PKCS#1 form loads and has the same identity as the private key', () => {
    const fromPrivate = rsaMasterKey({ privateKeyPem: fixtureKey('private') });
    const fromPublic = rsaMasterKey({ publicKeyPem: fixtureKey('public') });
    expect(fromPublic.id).toBe(fromPrivate.id);
    expect(fromPublic.canUnwrap).toBe(false);
  });
});
