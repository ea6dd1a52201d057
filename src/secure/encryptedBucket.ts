import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { stat } from 'node:fs/promises';
import { Readable } from 'node:stream';
import { CryptoError, envelopeMeta, readEnvelope, sameMatdesc, type Envelope, type Keyring } from '../crypto/index.js';
import { FsError } from '../errors.js';
import type { ListOptions, ListPage, ObjectHead, ObjectMeta, ObjectStore } from '../store/ObjectStore.js';
import { ATTR_MAC, AttrMac } from './attrMac.js';
import { copyObject, type CopyTuning } from './copy.js';
import { splitMeta, toEncryptedHead, type EncryptedHead } from './head.js';
import type { PieceBuffers } from '../memory/pieceBuffers.js';
import { alignDown, decryptChunks, EncryptedObjectReader, type ObjectReader } from './objectReader.js';
import { EncryptedObjectWriter, type Finished as PutResult, type ObjectWriter, type WriterSettings } from './objectWriter.js';
import { resendObject } from './resend.js';
import { checkMetaSize, openXattrs, type StoredXattrs, withoutSealedXattrs, withSealedXattrs, XATTR_META, type Xattrs } from './xattrs.js';
import { checkPartSize, partSizeFor } from './parts.js';
import { DEFAULT_PART_SIZE } from '../tuning.js';

export interface EncryptedBucketOptions {
  /** Plaintext bytes per part: a multiple of 16, at least 100 KiB (oss2's minimum); default 8 MiB. */
  partSize?: number;
  /** Objects up to this size go up as one PutObject; default = partSize. */
  multipartThreshold?: number;
  /** Parts (and part copies) in flight per upload; default 4. */
  concurrency?: number;
  /** Serve objects without an envelope as they are, instead of failing with 'not-encrypted'. */
  allowPlaintext?: boolean;
  /** Objects from this size on are copied through the client; default 1 GiB (OSS: CopyObject is for objects under 1 GB). */
  copyLimit?: number;
}

export type { PutResult };

const MIB = 1024 * 1024;

/**
 * A bucket whose objects are encrypted on the client in the OSS SDKs' V2 format: what this writes
 * the official SDKs read, and the other way round. Everything above it (the mount, the CLI, other
 * programs) goes through this class; it holds no state beyond its two collaborators, so one
 * instance serves any number of concurrent calls.
 */
export class EncryptedBucket {
  private readonly partSize: number;
  private readonly multipartThreshold: number;
  private readonly concurrency: number;
  private readonly allowPlaintext: boolean;
  private readonly copyTuning: CopyTuning;
  /** Vouches for the owner and mode this writes, and tells whether stored ones were vouched for. */
  readonly attrMac: AttrMac;

  constructor(
    readonly store: ObjectStore,
    readonly keyring: Keyring,
    options: EncryptedBucketOptions = {},
  ) {
    this.partSize = options.partSize ?? DEFAULT_PART_SIZE;
    checkPartSize(this.partSize);
    this.multipartThreshold = options.multipartThreshold ?? this.partSize;
    this.concurrency = Math.max(1, options.concurrency ?? 4);
    this.allowPlaintext = options.allowPlaintext ?? false;
    this.attrMac = new AttrMac(keyring);
    this.copyTuning = {
      copyLimit: options.copyLimit ?? 1024 * MIB,
      multipartThreshold: this.multipartThreshold,
      partSize: this.partSize,
      concurrency: this.concurrency,
    };
  }

  async head(key: string): Promise<EncryptedHead> {
    return toEncryptedHead(await this.store.head(key));
  }

  /** A reader pinned to one version of the object; pass `head` when you have it to save a HEAD. */
  async openReader(key: string, head?: EncryptedHead): Promise<ObjectReader> {
    const h = head ?? (await this.head(key));
    const envelope = this.requireEnvelope(h.key, h.envelope);
    // As get() does: a body that is not the length its envelope says is not what was written.
    this.checkLength(key, envelope, h.size);
    const dataKey = envelope ? await this.keyring.open(envelope, key) : undefined;
    return new EncryptedObjectReader(this.store, h, dataKey);
  }

  /**
   * Plaintext of the object or of the inclusive `range`, with one GET (the envelope comes with the
   * body). A whole-object read checks the plaintext MD5 when the object carries one and fails the
   * stream with 'md5-mismatch' at its end.
   */
  async get(key: string, range?: { start?: number; end?: number }): Promise<Readable> {
    const start = range?.start ?? 0;
    if (range?.end !== undefined && range.end < start) {
      throw new FsError('EINVAL', `get ${JSON.stringify(key)}: range ${start}-${range.end} is empty`);
    }
    const aligned = alignDown(start);
    const ranged = range !== undefined && (start > 0 || range.end !== undefined);
    const r = await this.store.get(key, ranged ? { range: { start: aligned, ...(range.end !== undefined ? { end: range.end } : {}) } } : {});
    try {
      const envelope = this.requireEnvelope(key, readEnvelope(r.head.meta, key));
      const dataKey = envelope ? await this.keyring.open(envelope, key) : undefined;
      const whole = r.start === 0 && (range?.end === undefined || range.end >= r.head.size - 1);
      if (whole) this.checkLength(key, envelope, r.head.size);
      const md5 = whole ? envelope?.unencryptedContentMd5 : undefined;
      const chunks = decryptChunks(r.body, {
        dataKey,
        offset: r.start,
        skip: start - r.start,
        objectKey: key,
        ...(md5 !== undefined ? { md5 } : {}),
      });
      return Readable.from(chunks, { objectMode: false });
    } catch (err) {
      r.body.destroy();
      throw err;
    }
  }

  /**
   * Buffer or stream; a stream's `size`, when given, is written as data-size and checked.
   * `xattrs` are sealed under the new object's data key (a set in `meta` is not: it belonged to
   * another key). The owner and mode in `meta` are vouched for (AttrMac) unless `vouched` is
   * false: a copy of what no key holder vouched for stays unvouched.
   */
  async put(
    key: string,
    body: Buffer | Readable,
    options: { size?: number; meta?: ObjectMeta; contentType?: string; xattrs?: Xattrs; vouched?: boolean } = {},
  ): Promise<PutResult> {
    const size = Buffer.isBuffer(body) ? body.length : options.size;
    const writer = this.writer(key, { meta: options.meta, contentType: options.contentType, size, xattrs: options.xattrs, vouched: options.vouched ?? true });
    return pump(Buffer.isBuffer(body) ? [body] : body, writer);
  }

  /**
   * Uploads a local file whose size is known up front, as OSS wants it for a multipart upload.
   * The unencrypted length and MD5 headers go on the upload (multipart included); the MD5 is read
   * from the file first unless the caller already has it (`md5`, base64, of exactly these bytes).
   * `buffers` lends the part buffers (see WriterSettings).
   */
  async putFile(
    key: string,
    path: string,
    options: { meta?: ObjectMeta; contentType?: string; md5?: string; buffers?: PieceBuffers; xattrs?: Xattrs } = {},
  ): Promise<PutResult> {
    const { size } = await stat(path);
    const md5 = options.md5 ?? (await fileMd5(path));
    const writer = this.writer(key, { meta: options.meta, contentType: options.contentType, size, md5, xattrs: options.xattrs, ...(options.buffers ? { buffers: options.buffers } : {}) });
    return pump(createReadStream(path, { highWaterMark: 1 * MIB }), writer);
  }

  /**
   * Ciphertext and envelope are carried over byte for byte, so nothing is re-encrypted: one
   * server-side CopyObject where OSS allows it (see copyObject), the bytes through the client
   * otherwise. `meta` replaces the user metadata; `patch` sets its entries over the source's.
   * Resolves with the destination as a HEAD would find it when the write said when it made it (a
   * CopyObject does; a PutObject or a multipart upload does not), so a caller can know the object
   * again in a listing without asking. `xattrs` replaces the extended attributes, sealed under the
   * data key the copy keeps; metadata past OSS's limit fails with E2BIG before anything is sent.
   *
   * The destination's attributes are vouched for (AttrMac) when the source's were, or when the
   * caller states them all: a copy never launders what a bucket writer set into trusted
   * attributes. A MAC names its object, so a vouched-for object moves through the client.
   */
  async copy(source: string, dest: string, options: { meta?: ObjectMeta; patch?: ObjectMeta; xattrs?: Xattrs } = {}): Promise<ObjectHead | undefined> {
    const head = await this.store.head(source);
    const { user, encryption } = splitMeta(head.meta);
    const replaced = options.meta ?? (options.patch || options.xattrs ? { ...user, ...options.patch } : undefined);
    let meta = replaced ? { ...stripEncryption(replaced), ...encryption } : undefined;
    if (meta && options.xattrs) meta = withSealedXattrs(meta, await this.dataKeyOf(head), options.xattrs);
    const stated = options.meta ?? options.patch;
    const vouched = this.attrMac.verified(source, head.meta) || (meta !== undefined && stated !== undefined && AttrMac.statesAll(stated, meta));
    if (vouched && this.attrMac.canSign) {
      const signed = this.attrMac.sign(dest, meta ?? head.meta);
      if (meta !== undefined || signed[ATTR_MAC] !== head.meta[ATTR_MAC]) meta = signed;
    } else if (meta !== undefined) {
      meta = AttrMac.strip(meta);
    }
    if (meta) checkMetaSize(meta, dest);
    const { etag, lastModified } = await copyObject(this.store, head, dest, meta, this.copyTuning);
    return lastModified && { key: dest, size: head.size, etag, lastModified, meta: meta ?? head.meta, contentType: head.contentType };
  }

  /** Sets the given user metadata entries (and extended attributes) over the object's current ones; resolves as `copy`. */
  patchMeta(key: string, changes: ObjectMeta, xattrs?: Xattrs): Promise<ObjectHead | undefined> {
    return this.copy(key, key, { patch: changes, ...(xattrs ? { xattrs } : {}) });
  }

  /** The extended attributes an object's metadata holds, opened with its data key. */
  async openXattrs(stored: StoredXattrs): Promise<Map<string, Buffer>> {
    const sealed = stored.meta[XATTR_META];
    if (sealed === undefined) return new Map();
    const envelope = readEnvelope(stored.meta, stored.key);
    if (!envelope) throw new FsError('EIO', `${JSON.stringify(stored.key)}: extended attributes on an object that is not encrypted`);
    return openXattrs(await this.keyring.open(envelope, stored.key), sealed, stored.key);
  }

  private dataKeyOf(head: ObjectHead) {
    const envelope = readEnvelope(head.meta, head.key);
    if (!envelope) throw notEncrypted(head.key);
    return this.keyring.open(envelope, head.key);
  }

  /**
   * Re-keys one object: the data key is wrapped anew by the keyring's writer and the same
   * ciphertext is written again under the new envelope — through the client, as OSS copies no
   * client-side-encrypted object onto a new envelope, but never decrypted. The object is replaced
   * only when the upload completes. `onProgress` hears of the bytes sent.
   */
  async rewrap(key: string, onProgress?: (bytes: number) => void): Promise<'rewrapped' | 'already'> {
    const head = await this.store.head(key);
    const envelope = readEnvelope(head.meta, key);
    if (!envelope) throw notEncrypted(key);
    if (await this.wrappedByWriter(envelope, key)) return 'already';
    const rewrapped = await this.keyring.rewrap(envelope, key);
    const vouched = this.attrMac.verified(key, head.meta);
    const rewritten = { ...splitMeta(head.meta).user, ...envelopeMeta(rewrapped) };
    // The MAC names the envelope: attributes vouched for before are vouched for anew.
    const meta = vouched ? this.attrMac.sign(key, rewritten) : AttrMac.strip(rewritten);
    await resendObject(this.store, head, key, meta, this.copyTuning, onProgress);
    return 'rewrapped';
  }

  delete(key: string): Promise<void> {
    return this.store.delete(key);
  }

  deleteMany(keys: string[]): Promise<void> {
    return this.store.deleteMany(keys);
  }

  list(prefix: string, options?: ListOptions): Promise<ListPage> {
    return this.store.list(prefix, options);
  }

  private writer(
    key: string,
    o: {
      meta?: ObjectMeta | undefined;
      contentType?: string | undefined;
      size?: number | undefined;
      md5?: string;
      buffers?: PieceBuffers;
      xattrs?: Xattrs | undefined;
      vouched?: boolean;
    },
  ): EncryptedObjectWriter {
    const meta = withoutSealedXattrs(stripEncryption(o.meta ?? {}));
    const settings: WriterSettings = {
      partSize: this.partSizeFor(o.size),
      multipartThreshold: this.multipartThreshold,
      concurrency: this.concurrency,
      meta: o.vouched === false ? AttrMac.strip(meta) : meta,
      ...(o.vouched === false ? {} : { withAttrMac: (signed: ObjectMeta) => this.attrMac.sign(key, signed) }),
    };
    if (o.xattrs !== undefined && o.xattrs.size > 0) settings.xattrs = o.xattrs;
    if (o.contentType !== undefined) settings.contentType = o.contentType;
    if (o.size !== undefined) settings.size = o.size;
    if (o.md5 !== undefined) settings.md5 = o.md5;
    if (o.buffers !== undefined) settings.buffers = o.buffers;
    return new EncryptedObjectWriter(this.store, this.keyring, key, settings);
  }

  /** A known huge size gets bigger parts (partSizeFor). */
  private partSizeFor(size: number | undefined): number {
    return size === undefined ? this.partSize : partSizeFor(size, this.partSize);
  }

  /**
   * Whether the writer's own key unwraps this envelope to the object's real data key. Same
   * matdesc is not enough: two RSA keys without a matdesc look alike. A public-only writer cannot
   * tell, so its objects are always rewrapped.
   */
  private async wrappedByWriter(envelope: Envelope, key: string): Promise<boolean> {
    const writer = this.keyring.writer;
    if (!writer?.canUnwrap || writer.wrapAlg !== envelope.wrapAlg || !sameMatdesc(writer.matdesc, envelope.matdesc)) return false;
    const [actual, mine] = await Promise.all([
      this.keyring.open(envelope, key),
      writer.unwrap(envelope, key).catch(() => undefined),
    ]);
    return mine !== undefined && mine.key.equals(actual.key) && mine.iv.equals(actual.iv);
  }

  private requireEnvelope(key: string, envelope: Envelope | undefined): Envelope | undefined {
    if (!envelope && !this.allowPlaintext) throw notEncrypted(key);
    return envelope;
  }

  private checkLength(key: string, envelope: Envelope | undefined, size: number): void {
    const expected = envelope?.unencryptedContentLength;
    if (expected !== undefined && expected !== size) {
      throw new CryptoError('length-mismatch', key, `${JSON.stringify(key)}: object is ${size} bytes but its unencrypted-content-length says ${expected}`);
    }
  }
}

function notEncrypted(key: string): CryptoError {
  return new CryptoError('not-encrypted', key, `${JSON.stringify(key)} is not encrypted (no client-side-encryption headers)`);
}

/** Encryption entries come only from the keyring, never from a caller's metadata. */
function stripEncryption(meta: ObjectMeta): ObjectMeta {
  return splitMeta(meta).user;
}

async function fileMd5(path: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('base64');
}

/** Feeds a body into a writer; any failure on either side aborts the upload. */
async function pump(body: AsyncIterable<Buffer> | Iterable<Buffer>, writer: ObjectWriter): Promise<PutResult> {
  try {
    for await (const chunk of body) await writer.write(chunk);
    return await writer.finish();
  } catch (err) {
    await writer.abort().catch(() => undefined);
    throw err;
  }
}
