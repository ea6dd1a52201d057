import { createCipheriv, createDecipheriv, hkdfSync, randomBytes } from 'node:crypto';
import type { DataKey } from '../crypto/index.js';
import { FsError } from '../errors.js';
import type { ObjectMeta } from '../store/ObjectStore.js';

/** Extended attribute name (with its namespace, e.g. "user.mime") → value. */
export type Xattrs = ReadonlyMap<string, Buffer>;

/** The user-metadata entry (x-oss-meta-…) that holds an object's extended attributes, sealed. */
export const XATTR_META = 'ossencfs-xattrs';

/** OSS's limit on an object's user metadata: names (after x-oss-meta-) and values together. */
export const MAX_META_BYTES = 8 * 1024;

/** Linux's limit on a name (XATTR_NAME_MAX), which also makes one length byte enough. */
export const XATTR_NAME_MAX = 255;

const FORMAT_VERSION = 1;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
/** HKDF info and GCM additional data: a key and a blob made for this use and no other. */
const CONTEXT = Buffer.from('ossencfs extended attributes v1');

/**
 * name length (1 byte) ‖ name ‖ value length (2 bytes, big-endian) ‖ value, per attribute, after a
 * version byte. Values fit in 2 bytes with room to spare: all metadata together is at most 8 KiB.
 */
export function encodeXattrs(set: Xattrs): Buffer {
  const parts: Buffer[] = [Buffer.of(FORMAT_VERSION)];
  for (const [name, value] of set) {
    const n = Buffer.from(name);
    if (n.length === 0 || n.length > XATTR_NAME_MAX) throw new FsError('ERANGE', `extended attribute name of ${n.length} bytes`);
    if (value.length > 0xffff) throw new FsError('E2BIG', `extended attribute ${name}: a value of ${value.length} bytes`);
    const lengths = Buffer.alloc(3);
    lengths.writeUInt8(n.length, 0);
    lengths.writeUInt16BE(value.length, 1);
    parts.push(lengths.subarray(0, 1), n, lengths.subarray(1), value);
  }
  return Buffer.concat(parts);
}

export function decodeXattrs(encoded: Buffer): Map<string, Buffer> {
  const bad = (why: string) => new FsError('EIO', `extended attributes: ${why}`);
  if (encoded[0] !== FORMAT_VERSION) throw bad(`unknown format ${encoded[0]}`);
  const set = new Map<string, Buffer>();
  for (let at = 1; at < encoded.length; ) {
    const nameLength = encoded.readUInt8(at);
    if (at + 1 + nameLength + 2 > encoded.length) throw bad('truncated');
    const name = encoded.subarray(at + 1, at + 1 + nameLength).toString();
    at += 1 + nameLength;
    const valueLength = encoded.readUInt16BE(at);
    at += 2;
    if (at + valueLength > encoded.length) throw bad('truncated');
    set.set(name, Buffer.from(encoded.subarray(at, at + valueLength)));
    at += valueLength;
  }
  return set;
}

/**
 * The key that seals an object's extended attributes: HKDF-SHA256 of the object's own data key.
 * Only who can unwrap that (the master key's holder, RSA or KMS alike) reads them, and a blob
 * belongs to the ciphertext it came with: content written anew (a new data key) seals them anew.
 */
function xattrKey(dataKey: DataKey): Buffer {
  return Buffer.from(hkdfSync('sha256', dataKey.key, dataKey.iv, CONTEXT, 32));
}

/** base64(nonce ‖ AES-256-GCM ciphertext ‖ tag) of the encoded set. */
export function sealXattrs(dataKey: DataKey, set: Xattrs): string {
  const nonce = randomBytes(NONCE_BYTES);
  const cipher = createCipheriv('aes-256-gcm', xattrKey(dataKey), nonce).setAAD(CONTEXT);
  const body = Buffer.concat([cipher.update(encodeXattrs(set)), cipher.final()]);
  return Buffer.concat([nonce, body, cipher.getAuthTag()]).toString('base64');
}

/** The set a sealed value holds; EIO when it was not sealed under this data key or was altered. */
export function openXattrs(dataKey: DataKey, sealed: string, objectKey: string): Map<string, Buffer> {
  const raw = Buffer.from(sealed, 'base64');
  const fail = (cause?: unknown) =>
    new FsError('EIO', `${JSON.stringify(objectKey)}: its extended attributes do not open with its data key (altered or foreign metadata)`, { cause });
  if (raw.length < NONCE_BYTES + 1 + TAG_BYTES) throw fail();
  const decipher = createDecipheriv('aes-256-gcm', xattrKey(dataKey), raw.subarray(0, NONCE_BYTES)).setAAD(CONTEXT);
  decipher.setAuthTag(raw.subarray(raw.length - TAG_BYTES));
  let encoded: Buffer;
  try {
    encoded = Buffer.concat([decipher.update(raw.subarray(NONCE_BYTES, raw.length - TAG_BYTES)), decipher.final()]);
  } catch (err) {
    throw fail(err);
  }
  return decodeXattrs(encoded);
}

/** Metadata of an object whose sealed set is opened only when asked for (its envelope opens it). */
export interface StoredXattrs {
  key: string;
  /** All of the object's metadata: the sealed set and the envelope whose data key it is sealed under. */
  meta: ObjectMeta;
}

/** The object's sealed set, when its metadata holds one. */
export function storedXattrs(key: string, meta: ObjectMeta): StoredXattrs | undefined {
  return meta[XATTR_META] === undefined ? undefined : { key, meta };
}

/** How many bytes of user metadata the set takes once sealed (its entry's name included); 0 when empty. */
export function sealedXattrsBytes(set: Xattrs): number {
  if (set.size === 0) return 0;
  return XATTR_META.length + 4 * Math.ceil((NONCE_BYTES + encodeXattrs(set).length + TAG_BYTES) / 3);
}

/** User metadata as OSS sizes it: every name (after x-oss-meta-) and value. */
export function metaBytes(meta: ObjectMeta): number {
  let bytes = 0;
  for (const [name, value] of Object.entries(meta)) bytes += Buffer.byteLength(name) + Buffer.byteLength(value);
  return bytes;
}

/** `meta` with `set` sealed under `dataKey` in place of the set it held (none when `set` is empty). */
export function withSealedXattrs(meta: ObjectMeta, dataKey: DataKey, set: Xattrs): ObjectMeta {
  const rest = withoutSealedXattrs(meta);
  return set.size === 0 ? rest : { ...rest, [XATTR_META]: sealXattrs(dataKey, set) };
}

/** E2BIG, before anything is sent, for metadata OSS would refuse. */
export function checkMetaSize(meta: ObjectMeta, objectKey: string): void {
  const bytes = metaBytes(meta);
  if (bytes > MAX_META_BYTES) {
    throw new FsError('E2BIG', `${JSON.stringify(objectKey)}: ${bytes} bytes of metadata with its extended attributes; OSS keeps at most ${MAX_META_BYTES}`);
  }
}

/** `meta` without a sealed set: for content written under a new data key, which the old set does not open with. */
export function withoutSealedXattrs(meta: ObjectMeta): ObjectMeta {
  const { [XATTR_META]: _old, ...rest } = meta;
  return rest;
}
