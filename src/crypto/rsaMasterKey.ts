import {
  constants,
  createHash,
  createHmac,
  createPrivateKey,
  createPublicKey,
  hkdfSync,
  privateDecrypt,
  publicEncrypt,
  type KeyObject,
} from 'node:crypto';
import { FsError } from '../errors.js';
import { WRAP_ALG_RSA_OAEP, WRAP_ALG_RSA_PKCS1 } from './algorithms.js';
import { checkedDataKey, IV_BYTES, ivFromStart, KEY_BYTES, unwrapFailed } from './dataKey.js';
import { CryptoError, describeObject } from './errors.js';
import { describeMatdesc, normalizeMatdesc } from './matdesc.js';
import { equalBit, scanPkcs1v15, type Unpadded } from './pkcs1.js';
import type { DataKey, Envelope, Matdesc, MasterKey, WrappedDataKey } from './types.js';

/** HKDF inputs of the attribute key: fixed, so one private key always derives the same one. */
const ATTRIBUTE_KEY_SALT = 'ossencfs';
const ATTRIBUTE_KEY_INFO = 'ossencfs attribute authentication v1';

export interface RsaMasterKeyOptions {
  /** PKCS#1 or PKCS#8 PEM, optionally passphrase-protected. */
  privateKeyPem?: string | Buffer;
  /** SubjectPublicKeyInfo or PKCS#1 PEM; implied by the private key when that is given. */
  publicKeyPem?: string | Buffer;
  passphrase?: string;
  matdesc?: Matdesc;
}

/**
 * An RSA key pair as the SDKs' RsaProvider uses it: wraps with PKCS#1 v1.5; unwraps PKCS#1 v1.5
 * and also OAEP-SHA1 (oss2 LocalRsaProvider and V1 objects), which are the same key pair.
 */
export function rsaMasterKey(o: RsaMasterKeyOptions): MasterKey {
  const privateKey = o.privateKeyPem === undefined ? undefined : loadPrivateKey(o.privateKeyPem, o.passphrase);
  const publicKey = publicKeyOf(privateKey, o.publicKeyPem);
  return new RsaMasterKey(publicKey, privateKey, normalizeMatdesc(o.matdesc));
}

function loadPrivateKey(pem: string | Buffer, passphrase: string | undefined): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(passphrase === undefined ? { key: pem, format: 'pem' } : { key: pem, format: 'pem', passphrase });
  } catch (cause) {
    throw new FsError('EINVAL', `cannot load the RSA private key (wrong passphrase or not a PEM key): ${reason(cause)}`);
  }
  return requireRsa(key, 'private');
}

function publicKeyOf(privateKey: KeyObject | undefined, pem: string | Buffer | undefined): KeyObject {
  const derived = privateKey && createPublicKey(privateKey);
  if (pem === undefined) {
    if (derived === undefined) throw new FsError('EINVAL', 'an RSA master key needs a private or a public key');
    return derived;
  }
  let given: KeyObject;
  try {
    given = requireRsa(createPublicKey({ key: pem, format: 'pem' }), 'public');
  } catch (cause) {
    if (cause instanceof FsError) throw cause;
    throw new FsError('EINVAL', `cannot load the RSA public key (not a PEM key): ${reason(cause)}`);
  }
  if (derived && !derived.equals(given)) {
    throw new FsError('EINVAL', 'the RSA public key does not belong to the private key');
  }
  return given;
}

function requireRsa(key: KeyObject, which: string): KeyObject {
  if (key.asymmetricKeyType !== 'rsa') {
    throw new FsError('EINVAL', `the ${which} key is ${key.asymmetricKeyType ?? 'not asymmetric'}, not RSA`);
  }
  return key;
}

/** Node's OpenSSL messages describe the failure, never the key bytes. */
function reason(cause: unknown): string {
  return cause instanceof Error ? cause.message : String(cause);
}

class RsaMasterKey implements MasterKey {
  readonly wrapAlg = WRAP_ALG_RSA_PKCS1;
  readonly id: string;
  readonly attributeMac: ((input: Buffer) => Buffer) | undefined;
  private readonly modulusBytes: number;

  constructor(
    private readonly publicKey: KeyObject,
    private readonly privateKey: KeyObject | undefined,
    readonly matdesc: Matdesc | undefined,
  ) {
    const der = publicKey.export({ type: 'spki', format: 'der' });
    this.id = `rsa:${createHash('sha256').update(der).digest('hex')}`;
    this.modulusBytes = Math.ceil((publicKey.asymmetricKeyDetails?.modulusLength ?? 0) / 8);
    if (privateKey !== undefined) {
      // Derived from the private key, so the public key (all an encrypt-only writer has) makes none.
      const key = Buffer.from(hkdfSync('sha256', privateKey.export({ type: 'pkcs8', format: 'der' }), ATTRIBUTE_KEY_SALT, ATTRIBUTE_KEY_INFO, 32));
      this.attributeMac = (input) => createHmac('sha256', key).update(input).digest();
    }
  }

  get canUnwrap(): boolean {
    return this.privateKey !== undefined;
  }

  unwraps(wrapAlg: string): boolean {
    return wrapAlg === WRAP_ALG_RSA_PKCS1 || wrapAlg === WRAP_ALG_RSA_OAEP;
  }

  async wrap(dataKey: DataKey): Promise<WrappedDataKey> {
    const encrypt = (data: Buffer) =>
      publicEncrypt({ key: this.publicKey, padding: constants.RSA_PKCS1_PADDING }, data).toString('base64');
    return { wrappedKey: encrypt(dataKey.key), wrappedIv: encrypt(dataKey.iv) };
  }

  async unwrap(envelope: Envelope, objectKey: string): Promise<DataKey> {
    const privateKey = this.privateKey;
    if (privateKey === undefined) {
      throw new CryptoError(
        'encrypt-only',
        objectKey,
        `cannot decrypt ${describeObject(objectKey)}: the key for matdesc ${describeMatdesc(this.matdesc)} is a public key only (encrypt-only mode) — pass its private key`,
      );
    }
    if (!this.unwraps(envelope.wrapAlg)) {
      throw new CryptoError(
        'unsupported-algorithm',
        objectKey,
        `${describeObject(objectKey)} is wrapped with ${envelope.wrapAlg}, which an RSA key cannot unwrap`,
      );
    }
    // Both blocks are always decrypted and the outcome decided once, so a bad key block costs as
    // much as a good one: how long a failure takes must not say which padding was wrong (§13).
    const oaep = envelope.wrapAlg === WRAP_ALG_RSA_OAEP;
    const key = this.decryptBlock(privateKey, envelope.wrappedKey, oaep);
    const start = this.decryptBlock(privateKey, envelope.wrappedIv, oaep);
    const ivLengthGood = envelope.format === 'v2' ? equalBit(start.message.length, IV_BYTES) : 1;
    const good = key.good & start.good & equalBit(key.message.length, KEY_BYTES) & ivLengthGood;
    if (good !== 1) throw unwrapFailed(objectKey);
    return checkedDataKey(key.message, ivFromStart(envelope, start.message, objectKey), objectKey);
  }

  /**
   * One RSA private operation whatever the block holds. A block of the wrong size (a wrong key, as
   * oss2's length check says) is public knowledge, yet still costs its operation, on zeros.
   */
  private decryptBlock(privateKey: KeyObject, wrapped: string, oaep: boolean): Unpadded {
    const given = Buffer.from(wrapped, 'base64');
    const sized = equalBit(given.length, this.modulusBytes);
    const ciphertext = sized === 1 ? given : Buffer.alloc(this.modulusBytes);
    let block: Unpadded;
    try {
      block = oaep
        ? { good: 1, message: privateDecrypt({ key: privateKey, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: 'sha1' }, ciphertext) }
        : scanPkcs1v15(privateDecrypt({ key: privateKey, padding: constants.RSA_NO_PADDING }, ciphertext));
    } catch {
      // OpenSSL refuses a bad OAEP block, or a block not below the modulus (public data).
      block = { good: 0, message: Buffer.alloc(0) };
    }
    return { good: block.good & sized, message: block.message };
  }
}
