import type { ObjectMeta } from '../store/ObjectStore.js';
import {
  CEK_ALG_AES_CTR,
  KNOWN_WRAP_ALGS,
  WRAP_ALG_KMS,
  WRAP_ALG_RSA_OAEP,
} from './algorithms.js';
import { CryptoError, describeObject } from './errors.js';
import { formatMatdesc, parseMatdesc } from './matdesc.js';
import type { Envelope } from './types.js';

/** Header names after `x-oss-meta-`, current format (all SDKs write these). */
const V2 = {
  key: 'client-side-encryption-key',
  start: 'client-side-encryption-start',
  cekAlg: 'client-side-encryption-cek-alg',
  wrapAlg: 'client-side-encryption-wrap-alg',
  matdesc: 'client-side-encryption-matdesc',
  unencryptedContentMd5: 'client-side-encryption-unencrypted-content-md5',
  unencryptedContentLength: 'client-side-encryption-unencrypted-content-length',
  dataSize: 'client-side-encryption-data-size',
  partSize: 'client-side-encryption-part-size',
} as const;

/** The old oss2 format (FORMAT.md §10). */
const V1 = {
  key: 'oss-crypto-key',
  start: 'oss-crypto-start',
  cekAlg: 'oss-cek-alg',
  wrapAlg: 'oss-wrap-alg',
  unencryptedContentMd5: 'unencrypted-content-md5',
  unencryptedContentLength: 'unencrypted-content-length',
} as const;

/** Names later oss2 versions reserved for the V1 informational headers; nobody reads them. */
const V1_RESERVED = ['oss-crypto-unencrypted-content-md5', 'oss-crypto-unencrypted-content-length'];

const V1_CEK_ALG = 'AES/GCM/NoPadding';
const V1_WRAP_ALGS: Record<string, string> = { rsa: WRAP_ALG_RSA_OAEP, kms: WRAP_ALG_KMS };

const ENCRYPTION_META_NAMES = new Set<string>([...Object.values(V2), ...Object.values(V1), ...V1_RESERVED]);

/** The names whose presence marks an object as encrypted (oss2's `is_unencrypted` test). */
const V2_MARKERS = [V2.key, V2.start, V2.cekAlg, V2.wrapAlg];
const V1_MARKERS = [V1.key, V1.start, V1.cekAlg, V1.wrapAlg];

export function isEncryptionMetaName(name: string): boolean {
  return ENCRYPTION_META_NAMES.has(name.toLowerCase());
}

/** The wrapped data key header exactly as stored (V2, else V1), without reading the rest of the envelope. */
export function wrappedKeyHeader(meta: ObjectMeta): string | undefined {
  return meta[V2.key] ?? meta[V1.key];
}

export function readEnvelope(meta: ObjectMeta, objectKey: string): Envelope | undefined {
  const lower = new Map<string, string>();
  for (const [name, value] of Object.entries(meta)) lower.set(name.toLowerCase(), value);
  const reader = new HeaderReader(lower, objectKey);
  if (V2_MARKERS.some((n) => lower.has(n))) return readV2(reader);
  if (V1_MARKERS.some((n) => lower.has(n))) return readV1(reader);
  return undefined;
}

function readV2(h: HeaderReader): Envelope {
  const cekAlg = h.optional(V2.cekAlg) ?? CEK_ALG_AES_CTR;
  if (cekAlg !== CEK_ALG_AES_CTR) throw h.unsupported('content', cekAlg);
  const wrapAlg = h.required(V2.wrapAlg);
  if (!KNOWN_WRAP_ALGS.includes(wrapAlg)) throw h.unsupported('key wrap', wrapAlg);
  const envelope: Envelope = {
    format: 'v2',
    wrapAlg,
    cekAlg,
    wrappedKey: h.base64(V2.key),
    wrappedIv: h.base64(V2.start),
  };
  const matdescText = h.optional(V2.matdesc);
  if (matdescText !== undefined) {
    const matdesc = parseMatdesc(matdescText);
    if (matdesc === 'invalid') throw h.malformed(`${V2.matdesc} is not a JSON object of strings`);
    if (matdesc) envelope.matdesc = matdesc;
  }
  assignInformational(envelope, h, V2);
  const dataSize = h.count(V2.dataSize);
  if (dataSize !== undefined) envelope.dataSize = dataSize;
  const partSize = h.count(V2.partSize);
  if (partSize !== undefined) envelope.partSize = partSize;
  return envelope;
}

function readV1(h: HeaderReader): Envelope {
  const storedCek = h.optional(V1.cekAlg) ?? CEK_ALG_AES_CTR;
  // V1 wrote GCM in the header but always encrypted with CTR.
  if (storedCek !== V1_CEK_ALG && storedCek !== CEK_ALG_AES_CTR) throw h.unsupported('content', storedCek);
  const storedWrap = h.required(V1.wrapAlg);
  const wrapAlg = V1_WRAP_ALGS[storedWrap];
  if (wrapAlg === undefined) throw h.unsupported('key wrap', storedWrap);
  // A V1 KMS header holds the CiphertextBlob string itself; only RSA ones are base64 of bytes.
  const wrapped = wrapAlg === WRAP_ALG_KMS ? (n: string) => h.required(n) : (n: string) => h.base64(n);
  const envelope: Envelope = {
    format: 'v1',
    wrapAlg,
    cekAlg: CEK_ALG_AES_CTR,
    wrappedKey: wrapped(V1.key),
    wrappedIv: wrapped(V1.start),
  };
  assignInformational(envelope, h, V1);
  return envelope;
}

function assignInformational(
  envelope: Envelope,
  h: HeaderReader,
  names: { unencryptedContentMd5: string; unencryptedContentLength: string },
): void {
  const md5 = h.optional(names.unencryptedContentMd5);
  if (md5 !== undefined) envelope.unencryptedContentMd5 = md5;
  const length = h.count(names.unencryptedContentLength);
  if (length !== undefined) envelope.unencryptedContentLength = length;
}

/**
 * `meta` as an upload of it must carry it: a multipart upload (`sizes`) with the V2 data-size and
 * part-size entries of this upload, a single PutObject (undefined) without them. Every other entry
 * stays byte for byte — a re-sent object keeps its envelope exactly as written (Go compares the
 * matdesc string). Metadata without a V2 envelope (plaintext, V1) is returned as it is: OSS's
 * client-side-encryption rules concern V2 headers only.
 */
export function withUploadSizes(meta: ObjectMeta, sizes: { dataSize: number; partSize: number } | undefined): ObjectMeta {
  if (!V2_MARKERS.some((name) => name in meta)) return meta;
  const { [V2.dataSize]: _dataSize, [V2.partSize]: _partSize, ...rest } = meta;
  return sizes ? { ...rest, [V2.dataSize]: String(sizes.dataSize), [V2.partSize]: String(sizes.partSize) } : rest;
}

export function envelopeMeta(envelope: Envelope): ObjectMeta {
  return envelope.format === 'v1' ? v1Meta(envelope) : v2Meta(envelope);
}

function v2Meta(e: Envelope): ObjectMeta {
  const meta: ObjectMeta = {
    [V2.key]: e.wrappedKey,
    [V2.start]: e.wrappedIv,
    [V2.cekAlg]: e.cekAlg,
    [V2.wrapAlg]: e.wrapAlg,
  };
  if (e.matdesc && Object.keys(e.matdesc).length > 0) meta[V2.matdesc] = formatMatdesc(e.matdesc);
  if (e.unencryptedContentMd5 !== undefined) meta[V2.unencryptedContentMd5] = e.unencryptedContentMd5;
  if (e.unencryptedContentLength !== undefined) meta[V2.unencryptedContentLength] = String(e.unencryptedContentLength);
  if (e.dataSize !== undefined) meta[V2.dataSize] = String(e.dataSize);
  if (e.partSize !== undefined) meta[V2.partSize] = String(e.partSize);
  return meta;
}

/**
 * A V1 envelope keeps its V1 names: its "start" holds a decimal counter, not an IV, so writing
 * it under V2 names would make the object undecryptable. `Keyring.rewrap` converts to V2.
 */
function v1Meta(e: Envelope): ObjectMeta {
  const storedWrap = Object.keys(V1_WRAP_ALGS).find((k) => V1_WRAP_ALGS[k] === e.wrapAlg);
  if (storedWrap === undefined) {
    throw new CryptoError('unsupported-algorithm', '', `a V1 envelope cannot carry wrap algorithm ${e.wrapAlg}`);
  }
  const meta: ObjectMeta = {
    [V1.key]: e.wrappedKey,
    [V1.start]: e.wrappedIv,
    [V1.cekAlg]: V1_CEK_ALG,
    [V1.wrapAlg]: storedWrap,
  };
  if (e.unencryptedContentMd5 !== undefined) meta[V1.unencryptedContentMd5] = e.unencryptedContentMd5;
  if (e.unencryptedContentLength !== undefined) meta[V1.unencryptedContentLength] = String(e.unencryptedContentLength);
  return meta;
}

const BASE64 = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;
const DECIMAL = /^\d{1,15}$/;

/** Reads one object's lower-cased metadata, with errors that name the object and the header. */
class HeaderReader {
  constructor(
    private readonly meta: Map<string, string>,
    private readonly objectKey: string,
  ) {}

  optional(name: string): string | undefined {
    return this.meta.get(name);
  }

  required(name: string): string {
    const value = this.meta.get(name);
    if (value === undefined || value === '') throw this.malformed(`x-oss-meta-${name} is missing`);
    return value;
  }

  base64(name: string): string {
    const value = this.required(name);
    if (!BASE64.test(value)) throw this.malformed(`x-oss-meta-${name} is not base64`);
    return value;
  }

  /**
   * The size headers are informational (no SDK reads them back), so a value we cannot parse —
   * say a negative "unknown" from some writer — is dropped rather than making the object unreadable.
   */
  count(name: string): number | undefined {
    const value = this.meta.get(name);
    return value !== undefined && DECIMAL.test(value) ? Number(value) : undefined;
  }

  malformed(reason: string): CryptoError {
    return new CryptoError(
      'malformed-header',
      this.objectKey,
      `malformed encryption header on ${describeObject(this.objectKey)}: ${reason}`,
    );
  }

  unsupported(what: 'content' | 'key wrap', alg: string): CryptoError {
    return new CryptoError(
      'unsupported-algorithm',
      this.objectKey,
      `unsupported ${what} algorithm ${JSON.stringify(alg)} on ${describeObject(this.objectKey)}`,
    );
  }
}
