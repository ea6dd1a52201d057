import * as realCrypto from 'node:crypto';
import { beforeAll, describe, expect, it, vi } from 'vitest';

// Every RSA private operation the master key makes, counted where it calls Node.
const rsaOps = vi.hoisted(() => ({ count: 0 }));
vi.mock('node:crypto', async (importOriginal) => {
  const original = await importOriginal<typeof import('node:crypto')>();
  return {
    ...original,
    privateDecrypt: (...args: Parameters<typeof original.privateDecrypt>) => {
      rsaOps.count++;
      return original.privateDecrypt(...args);
    },
  };
});

const { CryptoError, rsaMasterKey, WRAP_ALG_RSA_OAEP } = await import('../../src/crypto/index.js');
type Envelope = import('../../src/crypto/index.js').Envelope;
type MasterKey = import('../../src/crypto/index.js').MasterKey;

/**
 * A Bleichenbacher-style oracle needs the unwrap to behave differently for good and bad padding.
 * Counting the RSA operations (rather than timing them) shows the path taken: always both blocks.
 */
describe('RSA unwrap takes one path for good and bad padding', () => {
  const pair = realCrypto.generateKeyPairSync('rsa', { modulusLength: 2048 });
  let key: MasterKey;
  let good: Envelope;
  const bytes = 256;

  /** A block encrypted raw, so its padding is whatever we say. */
  const raw = (em: Buffer): string => realCrypto.publicEncrypt({ key: pair.publicKey, padding: realCrypto.constants.RSA_NO_PADDING }, em).toString('base64');
  const pkcs1Block = (message: Buffer, head = [0, 2], psLength = bytes - 3 - message.length): Buffer => {
    const ps = Array.from({ length: psLength }, (_, i) => (i % 255) + 1);
    return Buffer.concat([Buffer.from(head), Buffer.from(ps), Buffer.from([0]), message, Buffer.alloc(bytes - 3 - psLength - message.length, 1)]);
  };

  beforeAll(async () => {
    key = rsaMasterKey({ privateKeyPem: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) });
    const wrapped = await key.wrap({ key: realCrypto.randomBytes(32), iv: realCrypto.randomBytes(16) });
    good = { format: 'v2', wrapAlg: key.wrapAlg, cekAlg: 'AES/CTR/NoPadding', ...wrapped };
  });

  async function outcome(envelope: Envelope): Promise<{ ops: number; error: string | undefined }> {
    rsaOps.count = 0;
    let error: string | undefined;
    try {
      await key.unwrap(envelope, 'k');
    } catch (err) {
      expect(err).toBeInstanceOf(CryptoError);
      expect((err as InstanceType<typeof CryptoError>).kind).toBe('unwrap-failed');
      error = (err as Error).message;
    }
    return { ops: rsaOps.count, error };
  }

  it('two RSA operations and one error, whatever is wrong with which block', async () => {
    const ok = await outcome(good);
    expect(ok).toEqual({ ops: 2, error: undefined });

    const badKeyBlocks = {
      'wrong block type': raw(pkcs1Block(realCrypto.randomBytes(32), [0, 1])),
      'nonzero first byte': raw(pkcs1Block(realCrypto.randomBytes(32), [1, 2])),
      'no separator': raw(Buffer.concat([Buffer.from([0, 2]), Buffer.alloc(bytes - 2, 7)])),
      'padding shorter than 8': raw(Buffer.concat([Buffer.from([0, 2, 5, 5, 0]), Buffer.alloc(bytes - 5, 9)])),
      'message of the wrong length': raw(pkcs1Block(realCrypto.randomBytes(31))),
      'random bytes': realCrypto.randomBytes(bytes).toString('base64'),
      'block of another key size': realCrypto.randomBytes(128).toString('base64'),
    };
    const errors = new Set<string | undefined>();
    for (const [name, wrappedKey] of Object.entries(badKeyBlocks)) {
      for (const envelope of [{ ...good, wrappedKey }, { ...good, wrappedIv: wrappedKey }]) {
        const bad = await outcome(envelope);
        expect(bad.ops, name).toBe(2);
        errors.add(bad.error);
      }
    }
    // A well-padded key block of the right length behind a bad IV block still fails, the same way.
    const goodPaddingBadIv = await outcome({ ...good, wrappedKey: raw(pkcs1Block(realCrypto.randomBytes(32))), wrappedIv: raw(pkcs1Block(realCrypto.randomBytes(16), [0, 1])) });
    expect(goodPaddingBadIv.ops).toBe(2);
    errors.add(goodPaddingBadIv.error);
    expect([...errors]).toEqual(['cannot unwrap the data key of "k": wrong key or altered encryption headers']);
  });

  it('a hand-padded good block unwraps to its bytes; OAEP takes both operations too', async () => {
    const dataKey = realCrypto.randomBytes(32);
    const iv = realCrypto.randomBytes(16);
    const opened = await key.unwrap({ ...good, wrappedKey: raw(pkcs1Block(dataKey)), wrappedIv: raw(pkcs1Block(iv)) }, 'k');
    expect(opened.key.equals(dataKey)).toBe(true);
    expect(opened.iv.equals(iv)).toBe(true);

    const oaep = (b: Buffer) => realCrypto.publicEncrypt({ key: pair.publicKey, padding: realCrypto.constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, b).toString('base64');
    const oaepGood = { ...good, wrapAlg: WRAP_ALG_RSA_OAEP, wrappedKey: oaep(dataKey), wrappedIv: oaep(iv) };
    expect((await outcome(oaepGood)).ops).toBe(2);
    expect(await outcome({ ...oaepGood, wrappedKey: realCrypto.randomBytes(bytes).toString('base64') })).toMatchObject({ ops: 2, error: expect.any(String) });
  });
});
