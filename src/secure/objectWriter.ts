import { createHash } from 'node:crypto';
import { ctrAtInPlace, envelopeMeta, type DataKey, type Envelope, type Keyring } from '../crypto/index.js';
import { FsError } from '../errors.js';
import type { ObjectHead, ObjectMeta, ObjectStore } from '../store/ObjectStore.js';
import { MultipartUpload } from './multipartUpload.js';
import type { PieceBuffers } from '../memory/pieceBuffers.js';
import { checkMetaSize, withSealedXattrs, type Xattrs } from './xattrs.js';
import { FIRST_BODY_BUFFER } from '../tuning.js';

export interface Finished {
  etag: string;
  size: number;
  /** The object as a HEAD would show it, when the server said when it made it (a PutObject's answer). */
  made?: ObjectHead;
}

export interface ObjectWriter {
  readonly written: number;
  /** Appends; resolves once buffered, and waits while the window of parts in flight is full. */
  write(chunk: Buffer): Promise<void>;
  /** Resolves once the object is durable in the bucket. */
  finish(): Promise<Finished>;
  /** Aborts any multipart upload; the previous version of the object stays as it was. */
  abort(): Promise<void>;
}

export interface WriterSettings {
  /** Plaintext bytes per part: a multiple of 16, so every part starts on a counter block. */
  partSize: number;
  /** Up to this many bytes the object goes up as one PutObject. */
  multipartThreshold: number;
  concurrency: number;
  meta: ObjectMeta;
  contentType?: string;
  /**
   * The body's exact length, written as data-size and checked at the end. A body larger than
   * the threshold must say it: OSS wants an encrypted multipart upload's size at Initiate.
   */
  size?: number;
  /** Base64 MD5 of the whole plaintext, known up front: written on a multipart upload too. */
  md5?: string;
  /**
   * Where a multipart upload's part buffers come from and go back to once their part is up (the
   * mount lends them from its memory budget's write-parts account). Without it they are fresh memory.
   */
  buffers?: PieceBuffers;
  /** The metadata as written, envelope included: where the attributes get their MAC (see AttrMac). */
  withAttrMac?: (meta: ObjectMeta) => ObjectMeta;
  /** Extended attributes, sealed under the new data key into the object's metadata. */
  xattrs?: Xattrs;
}


/**
 * Streams plaintext into an encrypted object. A body within the threshold collects in memory and
 * finish() sends it as one PutObject, with its plaintext length and MD5. A larger one (its size
 * known from the start) is a multipart upload: every full part is encrypted at its own counter
 * offset and sent while the caller keeps writing, each part but the last exactly partSize bytes.
 */
export class EncryptedObjectWriter implements ObjectWriter {
  written = 0;
  private readonly multipart: boolean;
  private current: Buffer = Buffer.alloc(0);
  private fill = 0;
  private nextPart = 1;
  private sealed: Promise<{ dataKey: DataKey; envelope: Envelope }> | undefined;
  private upload: MultipartUpload | undefined;
  private state: 'open' | 'closing' | 'done' | 'failed' = 'open';
  private failure: unknown;
  /**
   * A sent part's buffer, kept for the next part to fill. Given back and taken again, it would
   * not come back: a cache smaller than the window of parts drops it as soon as it is given back
   * and lends fresh memory instead, and the dropped parts stay resident until V8 collects them.
   */
  private spare: Buffer | undefined;

  constructor(
    private readonly store: ObjectStore,
    private readonly keyring: Keyring,
    readonly key: string,
    private readonly s: WriterSettings,
  ) {
    this.multipart = s.size !== undefined && s.size > s.multipartThreshold;
  }

  async write(chunk: Buffer): Promise<void> {
    this.assertOpen();
    try {
      if (this.s.size !== undefined && this.written + chunk.length > this.s.size) throw this.lengthError(this.written + chunk.length);
      if (!this.multipart && this.written + chunk.length > this.s.multipartThreshold) {
        throw new FsError('EINVAL', `put ${JSON.stringify(this.key)}: a body over ${this.s.multipartThreshold} bytes needs its size up front (OSS wants an encrypted multipart upload's size when it starts)`);
      }
      for (let at = 0; at < chunk.length; ) {
        this.makeRoom();
        const n = Math.min(chunk.length - at, this.current.length - this.fill);
        chunk.copy(this.current, this.fill, at, at + n);
        this.fill += n;
        at += n;
        this.written += n;
        if (this.multipart && this.fill === this.s.partSize) await this.sendCurrent();
      }
    } catch (err) {
      await this.fail(err);
    }
  }

  async finish(): Promise<Finished> {
    this.assertOpen();
    this.state = 'closing';
    try {
      if (this.s.size !== undefined && this.written !== this.s.size) throw this.lengthError(this.written);
      const { etag, made } = this.multipart ? await this.completeMultipart() : await this.putWhole();
      this.state = 'done';
      return { etag, size: this.written, ...(made ? { made } : {}) };
    } catch (err) {
      return this.fail(err);
    }
  }

  async abort(): Promise<void> {
    if (this.state === 'done') return;
    const upload = this.upload;
    this.upload = undefined;
    this.state = 'failed';
    this.releaseBuffers();
    this.failure ??= new FsError('ECANCELED', `upload of ${JSON.stringify(this.key)} was aborted`);
    await upload?.abort();
  }

  private async putWhole(): Promise<{ etag: string; made?: ObjectHead }> {
    const plaintext = this.current.subarray(0, this.fill);
    this.current = Buffer.alloc(0);
    const md5 = createHash('md5').update(plaintext).digest('base64');
    if (this.s.md5 !== undefined && md5 !== this.s.md5) {
      throw new FsError('EIO', `put ${JSON.stringify(this.key)}: content changed while it was read (MD5 differs)`);
    }
    const { dataKey, envelope } = await this.seal();
    const meta = this.objectMeta(dataKey, { ...envelope, unencryptedContentLength: this.written, unencryptedContentMd5: md5 });
    const { etag, lastModified } = await this.store.put(this.key, ctrAtInPlace(dataKey, 0, plaintext), {
      meta,
      contentLength: this.written,
      ...(this.s.contentType ? { contentType: this.s.contentType } : {}),
    });
    const made = lastModified && { key: this.key, size: this.written, etag, lastModified, meta, contentType: this.s.contentType };
    return { etag, ...(made ? { made } : {}) };
  }

  private async completeMultipart(): Promise<{ etag: string; made?: ObjectHead }> {
    if (this.fill > 0) await this.sendCurrent();
    const upload = this.upload;
    if (!upload) throw new FsError('ECANCELED', `upload of ${JSON.stringify(this.key)} was aborted`);
    const completed = await upload.complete();
    this.releaseBuffers(); // every part is up: nothing fills the one kept for the next
    return completed;
  }

  /**
   * Encrypts the part being filled in place (a part in flight holds one copy, not two) and sends
   * it; its buffer is kept for the next part, or goes back once the part is up.
   */
  private async sendCurrent(): Promise<void> {
    const [buffer, length, partNumber] = [this.current, this.fill, this.nextPart++];
    this.current = Buffer.alloc(0);
    this.fill = 0;
    let sending = false;
    try {
      const upload = this.upload ?? (await this.initiate());
      const { dataKey } = await this.seal();
      await upload.add(() => {
        const ciphertext = ctrAtInPlace(dataKey, (partNumber - 1) * this.s.partSize, buffer.subarray(0, length));
        sending = true;
        return upload.sendPart(partNumber, ciphertext).then(
          (part) => {
            if (this.state === 'open' && this.spare === undefined) this.spare = buffer;
            else this.giveBack(buffer);
            return part;
          },
          (err: unknown) => {
            // The request may still hold it (a socket being torn down): its memory is not ours to reuse.
            if (this.s.buffers) this.s.buffers.lost(buffer.length);
            throw err;
          },
        );
      });
    } finally {
      if (!sending) this.giveBack(buffer);
    }
  }

  private async initiate(): Promise<MultipartUpload> {
    const size = this.s.size as number; // multipart only with a known size
    const { dataKey, envelope } = await this.seal();
    const multipartEnvelope: Envelope = { ...envelope, partSize: this.s.partSize, dataSize: size, unencryptedContentLength: size };
    if (this.s.md5 !== undefined) multipartEnvelope.unencryptedContentMd5 = this.s.md5;
    const options = {
      meta: this.objectMeta(dataKey, multipartEnvelope),
      ...(this.s.contentType ? { contentType: this.s.contentType } : {}),
    };
    this.upload = await MultipartUpload.initiate(this.store, this.key, options, this.s.concurrency);
    if (this.state === 'failed') {
      // abort() ran while Initiate was on the wire: the upload it could not see must go too.
      await this.upload.abort();
      throw this.failure;
    }
    return this.upload;
  }

  /** The object's metadata: the caller's, its extended attributes, the envelope; E2BIG past OSS's limit. */
  /** The metadata as written: the caller's, the sealed extended attributes, the envelope, and the attributes' MAC. */
  private objectMeta(dataKey: DataKey, envelope: Envelope): ObjectMeta {
    const own = this.s.xattrs ? withSealedXattrs(this.s.meta, dataKey, this.s.xattrs) : this.s.meta;
    const unsigned = { ...own, ...envelopeMeta(envelope) };
    const meta = this.s.withAttrMac ? this.s.withAttrMac(unsigned) : unsigned;
    checkMetaSize(meta, this.key);
    return meta;
  }

  private seal(): Promise<{ dataKey: DataKey; envelope: Envelope }> {
    this.sealed ??= this.keyring.seal();
    return this.sealed;
  }

  private makeRoom(): void {
    if (this.fill < this.current.length) return;
    if (this.multipart) {
      // Parts start empty: a multipart writer's buffer is replaced only once its part is sent.
      this.current = this.spare ?? this.s.buffers?.take(this.s.partSize) ?? Buffer.allocUnsafe(this.s.partSize);
      this.spare = undefined;
      return;
    }
    const grown = Buffer.allocUnsafe(Math.min(this.s.multipartThreshold, Math.max(FIRST_BODY_BUFFER, this.current.length * 2)));
    this.current.copy(grown, 0, 0, this.fill);
    this.current = grown;
  }

  /** A multipart part buffer goes back to whoever lent it (a single PutObject's buffer is the writer's own). */
  private giveBack(buffer: Buffer): void {
    if (this.multipart && buffer.length === this.s.partSize) this.s.buffers?.give(buffer);
  }

  /** Gives back the buffers the writer holds: it is done with them. */
  private releaseBuffers(): void {
    for (const buffer of [this.current, this.spare]) if (buffer) this.giveBack(buffer);
    this.current = Buffer.alloc(0);
    this.spare = undefined;
    this.fill = 0;
  }

  private lengthError(actual: number): FsError {
    return new FsError('EINVAL', `put ${JSON.stringify(this.key)}: body announced as ${this.s.size} bytes, got ${actual}`);
  }

  private assertOpen(): void {
    if (this.state === 'failed') throw this.failure;
    if (this.state !== 'open') throw new FsError('EINVAL', `upload of ${JSON.stringify(this.key)} is already finished`);
  }

  /** Aborts whatever was started and rethrows, so a failed writer never leaves an upload behind. */
  private async fail(err: unknown): Promise<never> {
    if (this.state !== 'failed') {
      this.failure = err;
      const upload = this.upload;
      this.upload = undefined;
      this.state = 'failed';
      this.releaseBuffers();
      await upload?.abort().catch(() => undefined);
    }
    throw this.failure;
  }
}
