import { timingSafeEqual } from 'node:crypto';
import { type Keyring, wrappedKeyHeader } from '../crypto/index.js';
import type { ObjectMeta } from '../store/ObjectStore.js';
import { decodePosixMeta } from './posixMeta.js';

/** The metadata entry (x-oss-meta-ossencfs-attr-mac) that authenticates an object's owner and mode. */
export const ATTR_MAC = 'ossencfs-attr-mac';

/** What the MAC vouches for: what decides who may do what with the object on a mount. */
const VOUCHED = ['mode', 'uid', 'gid', 'rdev'] as const;

const DOMAIN = 'ossencfs attributes v1';

/**
 * The bytes a MAC covers, each item length-prefixed (a netstring): the object key, the envelope's wrapped data
 * key exactly as stored (so the attributes belong to this one ciphertext: a bucket writer cannot
 * graft them onto other content or another name), and the decoded mode, uid, gid and rdev
 * (decimal; empty when absent). undefined for an object without an envelope.
 */
export function attrMacInput(objectKey: string, meta: ObjectMeta): Buffer | undefined {
  const wrappedKey = wrappedKeyHeader(meta);
  if (wrappedKey === undefined || wrappedKey === '') return undefined;
  const posix = decodePosixMeta(meta);
  const items = [DOMAIN, objectKey, wrappedKey, ...VOUCHED.map((f) => (posix[f] === undefined ? '' : String(posix[f])))];
  // Netstrings: each item's UTF-8 byte length, a colon, the item, a comma.
  return Buffer.from(items.map((item) => `${Buffer.byteLength(item)}:${item},`).join(''));
}

/**
 * Stored owner and mode decide who may read a file on a multi-user mount, and anyone who may write
 * to the bucket can set them (a metadata copy needs no key). So the mount trusts them only with a
 * MAC under a key derived from the RSA private key (MasterKey.attributeMac): only a holder of the
 * master key makes one. Every write of attributes carries a new one for its key and envelope.
 */
export class AttrMac {
  constructor(private readonly keyring: Keyring) {}

  /** Whether this process can vouch for what it writes (not with a public key only, nor with KMS). */
  get canSign(): boolean {
    return this.keyring.attributeSigner !== undefined;
  }

  /** `meta` vouched for at `objectKey`: with a MAC when this process can make one and there is something to vouch for. */
  sign(objectKey: string, meta: ObjectMeta): ObjectMeta {
    const signer = this.keyring.attributeSigner;
    const input = attrMacInput(objectKey, meta);
    const posix = decodePosixMeta(meta);
    if (signer === undefined || input === undefined || VOUCHED.every((f) => posix[f] === undefined)) return AttrMac.strip(meta);
    return { ...meta, [ATTR_MAC]: signer(input).toString('base64') };
  }

  /** Whether the stored mode, uid, gid and rdev of the object at `objectKey` were written by a master-key holder. */
  verified(objectKey: string, meta: ObjectMeta): boolean {
    const stored = meta[ATTR_MAC];
    if (stored === undefined) return false;
    const mac = Buffer.from(stored, 'base64');
    const input = attrMacInput(objectKey, meta);
    if (input === undefined || mac.length !== 32) return false;
    return this.keyring.attributeVerifiers.some((verifier) => timingSafeEqual(verifier(input), mac));
  }

  /** `meta` with no MAC: what is written without anyone vouching for it. */
  static strip(meta: ObjectMeta): ObjectMeta {
    if (!(ATTR_MAC in meta)) return meta;
    const { [ATTR_MAC]: _dropped, ...rest } = meta;
    return rest;
  }

  /** Whether `meta` sets every vouched-for entry that `result` holds, so the caller states them all. */
  static statesAll(meta: ObjectMeta, result: ObjectMeta): boolean {
    return VOUCHED.every((f) => result[f] === undefined || meta[f] !== undefined);
  }
}
