import { describe, expect, it } from 'vitest';
import { CryptoError, envelopeMeta, isEncryptionMetaName, readEnvelope } from '../../src/crypto/index.js';
import { oss2Case, sdkFixtures, toMeta } from './vectors.js';

const v2 = () => toMeta(oss2Case('put-1234-bytes-matdesc').headers);

function thrown(f: () => unknown): CryptoError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(CryptoError);
    return e as CryptoError;
  }
  throw new Error('did not throw');
}

describe('readEnvelope', () => {
  it('a plaintext object (no encryption headers) has no envelope', () => {
    expect(readEnvelope({ 'user-note': 'hello', mode: '33188' }, 'plain.txt')).toBeUndefined();
  });

  it('reads names case-insensitively and the matdesc as a map', () => {
    const upper = Object.fromEntries(Object.entries(v2()).map(([k, v]) => [k.toUpperCase(), v]));
    const envelope = readEnvelope(upper, 'x')!;
    expect(envelope.matdesc).toEqual({ owner: 'vectors', purpose: 'multi-key' });
    expect(envelope.wrapAlg).toBe('RSA/NONE/PKCS1Padding');
    expect(envelope.cekAlg).toBe('AES/CTR/NoPadding');
  });

  it('a missing cek-alg means AES/CTR/NoPadding, as oss2 accepts it', () => {
    const meta = v2();
    delete meta['client-side-encryption-cek-alg'];
    expect(readEnvelope(meta, 'x')!.cekAlg).toBe('AES/CTR/NoPadding');
  });

  it('a missing start is malformed-header naming the object and header', () => {
    const meta = v2();
    delete meta['client-side-encryption-start'];
    const err = thrown(() => readEnvelope(meta, 'docs/a.pdf'));
    expect(err.kind).toBe('malformed-header');
    expect(err.errno).toBe('EIO');
    expect(err.objectKey).toBe('docs/a.pdf');
    expect(err.message).toContain('"docs/a.pdf"');
    expect(err.message).toContain('client-side-encryption-start');
  });

  it('a missing key or wrap-alg is malformed-header', () => {
    for (const name of ['client-side-encryption-key', 'client-side-encryption-wrap-alg']) {
      const meta = v2();
      delete meta[name];
      expect(thrown(() => readEnvelope(meta, 'x')).kind).toBe('malformed-header');
    }
  });

  it('a wrapped key that is not base64 is malformed-header', () => {
    const meta = v2();
    meta['client-side-encryption-key'] = `${meta['client-side-encryption-key']!.slice(0, -4)}!!==`;
    expect(thrown(() => readEnvelope(meta, 'x')).kind).toBe('malformed-header');
  });

  it('a matdesc that is not a JSON object of strings is malformed-header', () => {
    for (const bad of ['{', '[]', '{"a":1}', 'null']) {
      const meta = { ...v2(), 'client-side-encryption-matdesc': bad };
      expect(thrown(() => readEnvelope(meta, 'x')).kind).toBe('malformed-header');
    }
  });

  it('unknown algorithms are unsupported-algorithm, case-sensitively as oss2', () => {
    for (const [name, value] of [
      ['client-side-encryption-wrap-alg', 'RSA/NONE/NoPadding'],
      ['client-side-encryption-wrap-alg', 'rsa/none/pkcs1padding'],
      ['client-side-encryption-cek-alg', 'AES/GCM/NoPadding'],
    ] as const) {
      const err = thrown(() => readEnvelope({ ...v2(), [name]: value }, 'x'));
      expect(err.kind).toBe('unsupported-algorithm');
      expect(err.message).toContain(value);
    }
  });

  it('V1: unknown wrap is unsupported, missing start is malformed', () => {
    const v1 = sdkFixtures().find((f) => f.name === 'v1-rsa-1MiB-a')!.meta;
    expect(thrown(() => readEnvelope({ ...v1, 'oss-wrap-alg': 'des' }, 'x')).kind).toBe('unsupported-algorithm');
    const noStart = { ...v1 };
    delete noStart['oss-crypto-start'];
    expect(thrown(() => readEnvelope(noStart, 'x')).kind).toBe('malformed-header');
  });

  it('size headers that are not decimal are dropped, not fatal (no SDK reads them)', () => {
    const envelope = readEnvelope({ ...v2(), 'client-side-encryption-unencrypted-content-length': '-1' }, 'x')!;
    expect(envelope.unencryptedContentLength).toBeUndefined();
  });
});

describe('envelopeMeta', () => {
  it('round-trips a V2 envelope, writing the matdesc as compact sorted JSON', () => {
    const envelope = readEnvelope(v2(), 'x')!;
    const meta = envelopeMeta(envelope);
    expect(meta['client-side-encryption-matdesc']).toBe('{"owner":"vectors","purpose":"multi-key"}');
    expect(readEnvelope(meta, 'x')).toEqual(envelope);
    for (const name of Object.keys(v2()).filter((n) => n !== 'user-note' && n !== 'client-side-encryption-matdesc')) {
      expect(meta[name]).toBe(v2()[name]);
    }
  });

  it('writes the matdesc exactly as Go json.Marshal does (sorted by bytes, HTML escaped)', () => {
    const envelope = { ...readEnvelope(v2(), 'x')!, matdesc: { z: 'a<b>&c', A: 'é', 'é': '\u2028' } };
    expect(envelopeMeta(envelope)['client-side-encryption-matdesc']).toBe('{"A":"é","z":"a\\u003cb\\u003e\\u0026c","é":"\\u2028"}');
  });

  it('keeps a V1 envelope under its V1 names so a metadata rewrite cannot break it', () => {
    const v1 = sdkFixtures().find((f) => f.name === 'v1-rsa-1MiB-a')!.meta;
    expect(envelopeMeta(readEnvelope(v1, 'x')!)).toEqual(v1);
  });
});

describe('isEncryptionMetaName', () => {
  it('knows the V2 and V1 names, in any case, and nothing else', () => {
    for (const name of [...Object.keys(toMeta(oss2Case('multipart-3-parts').headers)), 'client-side-encryption-matdesc',
      'CLIENT-SIDE-ENCRYPTION-UNENCRYPTED-CONTENT-MD5', 'oss-crypto-key', 'oss-wrap-alg', 'unencrypted-content-length']) {
      expect(isEncryptionMetaName(name), name).toBe(true);
    }
    for (const name of ['user-note', 'mode', 'mtime', 'client-side-encryption', 'x-oss-meta-client-side-encryption-key']) {
      expect(isEncryptionMetaName(name), name).toBe(false);
    }
  });
});
