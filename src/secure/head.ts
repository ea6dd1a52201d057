import { isEncryptionMetaName, readEnvelope, type Envelope } from '../crypto/index.js';
import type { ObjectHead, ObjectMeta } from '../store/ObjectStore.js';
import { decodePosixMeta, type PosixMeta } from './posixMeta.js';

export interface EncryptedHead {
  key: string;
  /** Plaintext size, which AES-CTR makes equal to the stored size. */
  size: number;
  etag: string;
  lastModified: Date;
  /** User metadata without the encryption entries. */
  meta: ObjectMeta;
  posix: PosixMeta;
  /** undefined: a plaintext object. */
  envelope: Envelope | undefined;
  contentType: string | undefined;
}

/** An object's metadata cut in two: what the user set, and the encryption entries to carry along verbatim. */
export function splitMeta(meta: ObjectMeta): { user: ObjectMeta; encryption: ObjectMeta } {
  const user: ObjectMeta = {};
  const encryption: ObjectMeta = {};
  for (const [name, value] of Object.entries(meta)) {
    if (isEncryptionMetaName(name)) encryption[name] = value;
    else user[name] = value;
  }
  return { user, encryption };
}

export function toEncryptedHead(head: ObjectHead): EncryptedHead {
  const { user } = splitMeta(head.meta);
  return {
    key: head.key,
    size: head.size,
    etag: head.etag,
    lastModified: head.lastModified,
    meta: user,
    posix: decodePosixMeta(user),
    envelope: readEnvelope(head.meta, head.key),
    contentType: head.contentType,
  };
}
