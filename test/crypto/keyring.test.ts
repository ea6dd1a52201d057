import { generateKeyPairSync } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { FsError } from '../../src/errors.js';
import { Keyring, ctrAt, envelopeMeta, readEnvelope, rsaMasterKey, type Envelope, type MasterKey } from '../../src/crypto/index.js';
import { unpadPkcs1v15 } from '../../src/crypto/pkcs1.js';
import { fixtureKey, oss2Case, oss2Key, sdkFixtures, toMeta, expectCryptoError as failure } from './vectors.js';

const privateKey = (pair: string) => rsaMasterKey({ privateKeyPem: oss2Key(pair, 'private') });
const vectorEnvelope = (name = 'put-1000-bytes') => readEnvelope(toMeta(oss2Case(name).headers), name)!;


/** Flip one base64 character of a header, keeping it valid base64. */
function flipped(value: string, at: number): string {
  const c = value[at]!;
  return `${value.slice(0, at)}${c === 'A' ? 'B' : 'A'}${value.slice(at + 1)}`;
}

describe('Keyring with RSA keys', () => {
  it('the wrong RSA key gives unwrap-failed (EIO) naming the object', async () => {
    const err = await failure(new Keyring({ readers: [privateKey('rsa-key-b')] }).open(vectorEnvelope(), 'put-1000-bytes'));
    expect(err.kind).toBe('unwrap-failed');
    expect(err.errno).toBe('EIO');
    expect(err.message).toContain('"put-1000-bytes"');
  });

  it('a flipped base64 character in the key or start gives unwrap-failed', async () => {
    const keyring = new Keyring({ readers: [privateKey('rsa-key-a')] });
    const e = vectorEnvelope();
    for (const altered of [
      { ...e, wrappedKey: flipped(e.wrappedKey, 10) },
      { ...e, wrappedIv: flipped(e.wrappedIv, 100) },
      { ...e, wrappedKey: flipped(e.wrappedKey, 0) },
    ]) {
      expect((await failure(keyring.open(altered, 'x'))).kind).toBe('unwrap-failed');
    }
  });

  it('a wrapped key of the wrong size (another modulus) gives unwrap-failed', async () => {
    const e = vectorEnvelope();
    const short = { ...e, wrappedKey: Buffer.from(e.wrappedKey, 'base64').subarray(1).toString('base64') };
    expect((await failure(new Keyring({ readers: [privateKey('rsa-key-a')] }).open(short, 'x'))).kind).toBe('unwrap-failed');
  });

  it('of several keys without matdesc, the one that unwraps is used', async () => {
    const keyring = new Keyring({ writer: privateKey('rsa-key-b'), readers: [privateKey('rsa-key-a')] });
    const dataKey = await keyring.open(vectorEnvelope(), 'x');
    expect(dataKey.key.toString('hex')).toBe(oss2Case('put-1000-bytes').cek_hex);
  });

  it('a public-key-only keyring seals but cannot open: encrypt-only, EACCES', async () => {
    const keyring = new Keyring({ writer: rsaMasterKey({ publicKeyPem: oss2Key('rsa-key-a', 'public') }) });
    expect(keyring.canWrite).toBe(true);
    const { envelope } = await keyring.seal();
    expect(envelope.wrapAlg).toBe('RSA/NONE/PKCS1Padding');
    const err = await failure(keyring.open(vectorEnvelope(), 'scan.pdf'));
    expect(err.kind).toBe('encrypt-only');
    expect(err.errno).toBe('EACCES');
    expect(err.message).toContain('"scan.pdf"');
  });

  it('a KMS-wrapped object with only RSA keys is no-key-for-matdesc, saying which kind is missing', async () => {
    const err = await failure(new Keyring({ readers: [privateKey('rsa-key-a')] }).open({ ...vectorEnvelope(), wrapAlg: 'KMS/ALICLOUD' }, 'x'));
    expect(err.kind).toBe('no-key-for-matdesc');
    expect(err.message).toContain('KMS/ALICLOUD');
  });

  it('a keyring without writer cannot seal: no-writer, EROFS', async () => {
    const keyring = new Keyring({ readers: [privateKey('rsa-key-a')] });
    expect(keyring.canWrite).toBe(false);
    const err = await failure(keyring.seal());
    expect(err.kind).toBe('no-writer');
    expect(err.errno).toBe('EROFS');
  });

  it('seal gives fresh SDK-shaped keys; the envelope carries the extras and the matdesc', async () => {
    const keyring = new Keyring({ writer: rsaMasterKey({ privateKeyPem: oss2Key('rsa-key-a', 'private'), matdesc: { k: 'v' } }) });
    const a = await keyring.seal({ unencryptedContentLength: 10, unencryptedContentMd5: 'md5==', dataSize: 100, partSize: 16 });
    const b = await keyring.seal();
    expect(a.dataKey.key.equals(b.dataKey.key)).toBe(false);
    expect(a.dataKey.iv.equals(b.dataKey.iv)).toBe(false);
    expect(a.envelope).toMatchObject({ format: 'v2', matdesc: { k: 'v' }, unencryptedContentLength: 10, unencryptedContentMd5: 'md5==', dataSize: 100, partSize: 16 });
    expect(b.envelope.unencryptedContentLength).toBeUndefined();
    const reread = await new Keyring({ readers: [rsaMasterKey({ privateKeyPem: oss2Key('rsa-key-a', 'private'), matdesc: { k: 'v' } })] })
      .open(readEnvelope(envelopeMeta(a.envelope), 'x')!, 'x');
    expect(reread.key.equals(a.dataKey.key)).toBe(true);
  });

  it('rewrap moves a vector object to another key: same data key, new wrapping and matdesc, extras kept', async () => {
    const source = vectorEnvelope('put-64-bytes-user-md5-length');
    const writer = rsaMasterKey({ privateKeyPem: oss2Key('rsa-key-b', 'private'), matdesc: { gen: '2' } });
    const keyring = new Keyring({ writer, readers: [privateKey('rsa-key-a')] });
    const rewrapped: Envelope = await keyring.rewrap(source, 'x');
    expect(rewrapped.matdesc).toEqual({ gen: '2' });
    expect(rewrapped.unencryptedContentMd5).toBe(source.unencryptedContentMd5);
    expect(rewrapped.unencryptedContentLength).toBe(64);
    const onlyB = new Keyring({ readers: [rsaMasterKey({ privateKeyPem: oss2Key('rsa-key-b', 'private'), matdesc: { gen: '2' } })] });
    const dataKey = await onlyB.open(readEnvelope(envelopeMeta(rewrapped), 'x')!, 'x');
    expect(dataKey.key.toString('hex')).toBe(oss2Case('put-64-bytes-user-md5-length').cek_hex);
  });
});

describe('Keyring sealAhead: the next data key is made while the caller goes on', () => {
  const turn = (): Promise<void> => new Promise((resolve) => setImmediate(resolve));
  /** The vectors' key A, counting its wraps; `failNext` makes the next wrap throw. */
  function countingKey() {
    const inner = rsaMasterKey({ privateKeyPem: oss2Key('rsa-key-a', 'private') });
    const counter = { wraps: 0, failNext: false };
    const key: MasterKey = {
      wrapAlg: inner.wrapAlg,
      matdesc: inner.matdesc,
      canUnwrap: inner.canUnwrap,
      id: inner.id,
      attributeMac: undefined,
      unwrap: (envelope, objectKey) => inner.unwrap(envelope, objectKey),
      wrap: async (dataKey) => {
        counter.wraps++;
        if (counter.failNext) {
          counter.failNext = false;
          throw new Error('key service unreachable');
        }
        return inner.wrap(dataKey);
      },
    };
    return { key, counter };
  }
  const opens = async (sealed: { dataKey: { key: Buffer }; envelope: Envelope }): Promise<boolean> => {
    const reader = new Keyring({ readers: [rsaMasterKey({ privateKeyPem: oss2Key('rsa-key-a', 'private') })] });
    return (await reader.open(readEnvelope(envelopeMeta(sealed.envelope), 'x')!, 'x')).key.equals(sealed.dataKey.key);
  };

  it('a seal takes the key made ahead (no wrap of its own), each key once, and each envelope opens to its key', async () => {
    const { key, counter } = countingKey();
    const keyring = new Keyring({ writer: key, sealAhead: true });
    const first = await keyring.seal();
    expect(counter.wraps).toBe(1);
    await turn();
    expect(counter.wraps).toBe(2);
    const second = await keyring.seal();
    expect(counter.wraps).toBe(2);
    const third = await keyring.seal(); // taken at once, before the next is made: one of its own
    expect(counter.wraps).toBe(3);
    const keys = [first, second, third].map((s) => s.dataKey.key.toString('hex'));
    expect(new Set(keys).size).toBe(3);
    for (const sealed of [first, second, third]) expect(await opens(sealed)).toBe(true);
  });

  it('a key made ahead that failed is not used: the seal makes one', async () => {
    const { key, counter } = countingKey();
    const keyring = new Keyring({ writer: key, sealAhead: true });
    await keyring.seal();
    counter.failNext = true;
    await turn();
    const sealed = await keyring.seal();
    expect(counter.wraps).toBe(3);
    expect(await opens(sealed)).toBe(true);
  });

  it('without sealAhead nothing is made beyond what is sealed', async () => {
    const { key, counter } = countingKey();
    const keyring = new Keyring({ writer: key });
    await keyring.seal();
    await turn();
    await keyring.seal();
    await turn();
    expect(counter.wraps).toBe(2);
  });
});

describe('Keyring rekey of a V1 object', () => {
  it('rewrap turns a V1 envelope into a V2 one whose IV is the V1 counter block; the data still decrypts', async () => {
    const f = sdkFixtures().find((x) => x.name === 'v1-rsa-1MiB-a')!;
    const writer = rsaMasterKey({ publicKeyPem: oss2Key('rsa-key-a', 'public') });
    const keyring = new Keyring({ writer, readers: [rsaMasterKey({ privateKeyPem: fixtureKey('private') })] });
    const rewrapped = await keyring.rewrap(readEnvelope(f.meta, f.name)!, f.name);
    const meta = envelopeMeta(rewrapped);
    expect(Object.keys(meta).every((n) => n.startsWith('client-side-encryption-'))).toBe(true);
    const dataKey = await new Keyring({ readers: [privateKey('rsa-key-a')] }).open(readEnvelope(meta, 'x')!, 'x');
    expect(dataKey.iv.toString('hex')).toBe('00000000000000000000000000000008');
    expect(ctrAt(dataKey, 0, f.ciphertext).equals(f.plaintext)).toBe(true);
  });
});

describe('rsaMasterKey key loading', () => {
  const pair = generateKeyPairSync('rsa', { modulusLength: 1024 });

  it('loads passphrase-protected PKCS#8 and PKCS#1, and SPKI/PKCS#1 public keys, all with one identity', () => {
    const pkcs8 = pair.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' });
    const pkcs1 = pair.privateKey.export({ type: 'pkcs1', format: 'pem' });
    const ids = [
      rsaMasterKey({ privateKeyPem: pkcs8, passphrase: 'pw' }),
      rsaMasterKey({ privateKeyPem: pkcs1 }),
      rsaMasterKey({ publicKeyPem: pair.publicKey.export({ type: 'spki', format: 'pem' }) }),
      rsaMasterKey({ publicKeyPem: pair.publicKey.export({ type: 'pkcs1', format: 'pem' }) }),
    ].map((k) => k.id);
    expect(new Set(ids).size).toBe(1);
    expect(ids[0]).toMatch(/^rsa:[0-9a-f]{64}$/);
  });

  it('refuses a wrong passphrase, a mismatched public key and a non-RSA key with EINVAL', () => {
    const pkcs8 = pair.privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'pw' });
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    for (const bad of [
      () => rsaMasterKey({ privateKeyPem: pkcs8, passphrase: 'nope' }),
      () => rsaMasterKey({ privateKeyPem: oss2Key('rsa-key-a', 'private'), publicKeyPem: oss2Key('rsa-key-b', 'public') }),
      () => rsaMasterKey({ privateKeyPem: ec.privateKey.export({ type: 'pkcs8', format: 'pem' }) }),
      () => rsaMasterKey({}),
    ]) {
      let err: unknown;
      try {
        bad();
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(FsError);
      expect((err as FsError).errno).toBe('EINVAL');
      expect((err as FsError).message).not.toContain('PRIVATE KEY');
    }
  });
});

describe('PKCS#1 v1.5 unpadding', () => {
  const block = (ps: number[], message: number[], head = [0, 2]) => Buffer.from([...head, ...ps, 0, ...message]);

  it('accepts 00 02 PS(≥8 non-zero) 00 M and returns M', () => {
    expect(unpadPkcs1v15(block([1, 2, 3, 4, 5, 6, 7, 8], [9, 9]))).toEqual(Buffer.from([9, 9]));
    expect(unpadPkcs1v15(block(Array(20).fill(0xff), []))).toEqual(Buffer.alloc(0));
    expect(unpadPkcs1v15(block(Array(8).fill(7), [0, 0, 1]))).toEqual(Buffer.from([0, 0, 1]));
  });

  it('rejects every kind of bad block the same way', () => {
    for (const bad of [
      block(Array(8).fill(1), [5], [1, 2]),
      block(Array(8).fill(1), [5], [0, 1]),
      block(Array(7).fill(1), [5]),
      Buffer.from([0, 2, ...Array(20).fill(1)]),
      Buffer.from([0, 2]),
      Buffer.alloc(0),
      Buffer.alloc(128),
    ]) {
      expect(unpadPkcs1v15(bad)).toBeUndefined();
    }
  });
});
