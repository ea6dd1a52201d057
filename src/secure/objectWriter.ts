import { createHash } from 'node:crypto';
import { ctrAtInPlace, envelopeMeta, type DataKey, type Envelope, type Keyring } from '../crypto/index.js';
import { FsError } from '../errors.js';
import type { ObjectMeta, ObjectStore } from '../store/ObjectStore.js';
import { MultipartUpload } from './multipartUpload.js';
import type { PieceBuffers } from './objectReader.js';

export interface ObjectWriter {
  readonly written: number;
  /** Appends; resolves once buffered, and waits while the window of parts in flight is full. */
  write(chunk: Buffer): Promise<void>;
  /**
   * Writes over bytes written already, if none of them has been sent (see WriterSettings.patchable);
   * resolves to false, changing nothing, otherwise. Runs in turn with write().
   */
  patch(position: number, data: Buffer): Promise<boolean>;
  /** Resolves once the object is durable in the bucket. */
  finish(): Promise<{ etag: string; size: number }>;
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
  /** Known up front (a file, a sized body): written as data-size and checked at the end. */
  size?: number;
  /** Base64 MD5 of the whole plaintext, known up front: written on a multipart upload too. */
  md5?: string;
  /**
   * Where part-sized buffers come from and go back to once their part is up (the mount's block
   * cache lends them from its budget). Without it they are fresh memory, left to the collector.
   */
  buffers?: PieceBuffers;
  /**
   * Keeps part 1 back until finish(), so that patch() can still reach it: programs that write a
   * header last (sizes in a WAV or MP4 header, an archive's index) patch the first bytes after
   * writing the rest, and a patch of a part sent already can only be made by completing the upload.
   */
  patchable?: boolean;
}

/** Part buffers start small and double, so the many small files never allocate a whole part. */
const FIRST_BUFFER = 64 * 1024;

/**
 * Streams plaintext into an encrypted object. Bytes collect in part-sized buffers; while the
 * total stays within the threshold nothing is sent and finish() does one PutObject (with the
 * plaintext length and MD5, which are known by then). Past it, a multipart upload starts and every
 * full part is encrypted at its own counter offset and sent while the caller keeps writing.
 *
 * Every buffer of exactly partSize bytes is lent by `buffers`; a sent part's buffer is refilled
 * by the next part, and all go back once the object is complete, put whole, or the writer fails.
 * The smaller ones a small file grows through are the writer's own.
 */
export class EncryptedObjectWriter implements ObjectWriter {
  written = 0;
  private readonly full: Buffer[] = [];
  private current: Buffer = Buffer.alloc(0);
  private fill = 0;
  private nextPart = 1;
  private sealed: Promise<{ dataKey: DataKey; envelope: Envelope }> | undefined;
  private upload: MultipartUpload | undefined;
  private state: 'open' | 'closing' | 'done' | 'failed' = 'open';
  private failure: unknown;
  private queue: Promise<void> = Promise.resolve();
  /**
   * A sent part's buffer, kept for the next part to fill. Given back and taken again, it would
   * not come back: a cache smaller than the window of parts drops it as soon as it is given back
   * and lends fresh memory instead, and the dropped parts stay resident until V8 collects them.
   */
  private sentBuffer: Buffer | undefined;
  /** Part 1 in plaintext, kept back until finish() (see WriterSettings.patchable). */
  private heldFirst: Buffer | undefined;

  constructor(
    private readonly store: ObjectStore,
    private readonly keyring: Keyring,
    readonly key: string,
    private readonly s: WriterSettings,
  ) {}

  write(chunk: Buffer): Promise<void> {
    return this.inTurn(() => this.append(chunk));
  }

  patch(position: number, data: Buffer): Promise<boolean> {
    return this.inTurn(() => {
      this.assertOpen();
      const pieces = this.unsentPieces(position, data.length);
      if (!pieces) return false;
      for (const { buffer, offset, from, length } of pieces) data.copy(buffer, offset, from, from + length);
      return true;
    });
  }

  /** Writes and patches run one after the other even when a caller does not await each one. */
  private inTurn<T>(task: () => T | Promise<T>): Promise<T> {
    const next = this.queue.then(task);
    this.queue = next.then(
      () => undefined,
      () => undefined,
    );
    return next;
  }

  /** Where `length` bytes from `position` sit in buffers not sent yet, part by part; undefined if any does not. */
  private unsentPieces(position: number, length: number): { buffer: Buffer; offset: number; from: number; length: number }[] | undefined {
    if (position + length > this.written) return undefined;
    const { partSize } = this.s;
    const pieces = [];
    for (let at = position; at < position + length; ) {
      const part = Math.floor(at / partSize); // 0-based
      const buffer = this.unsentPart(part);
      if (!buffer) return undefined;
      const offset = at - part * partSize;
      const n = Math.min(position + length - at, partSize - offset);
      pieces.push({ buffer, offset, from: at - position, length: n });
      at += n;
    }
    return pieces;
  }

  /** The plaintext buffer of part `index` (0-based), if it is not sent yet. */
  private unsentPart(index: number): Buffer | undefined {
    if (index === 0 && this.heldFirst) return this.heldFirst;
    const queued = index - (this.nextPart - 1); // `full` holds the parts after the last one sent or held
    if (queued < 0) return undefined;
    return queued < this.full.length ? this.full[queued] : queued === this.full.length ? this.current : undefined;
  }

  private async append(chunk: Buffer): Promise<void> {
    this.assertOpen();
    if (this.s.size !== undefined && this.written + chunk.length > this.s.size) {
      await this.fail(this.lengthError(this.written + chunk.length));
    }
    try {
      for (let at = 0; at < chunk.length; ) {
        this.makeRoom();
        const n = Math.min(chunk.length - at, this.current.length - this.fill);
        chunk.copy(this.current, this.fill, at, at + n);
        this.fill += n;
        at += n;
        this.written += n;
        if (this.fill === this.s.partSize) {
          this.full.push(this.current);
          this.current = Buffer.alloc(0);
          this.fill = 0;
          if (this.upload || this.heldFirst || this.buffered() > this.s.multipartThreshold) await this.sendFullParts();
        }
      }
    } catch (err) {
      await this.fail(err);
    }
  }

  async finish(): Promise<{ etag: string; size: number }> {
    await this.queue;
    this.assertOpen();
    this.state = 'closing';
    try {
      if (this.s.size !== undefined && this.written !== this.s.size) throw this.lengthError(this.written);
      const { etag } = !this.upload && this.written <= this.s.multipartThreshold ? await this.putWhole() : await this.completeMultipart();
      this.state = 'done';
      return { etag, size: this.written };
    } catch (err) {
      return this.fail(err);
    }
  }

  async abort(): Promise<void> {
    if (this.state === 'done') return;
    const upload = this.upload;
    this.upload = undefined;
    this.state = 'failed';
    this.releaseHeld();
    this.failure ??= new FsError('ECANCELED', `upload of ${JSON.stringify(this.key)} was aborted`);
    await upload?.abort();
  }

  private async putWhole(): Promise<{ etag: string }> {
    const plaintext = Buffer.concat([...this.full, this.current.subarray(0, this.fill)], this.written);
    this.releaseHeld();
    const md5 = createHash('md5').update(plaintext).digest('base64');
    if (this.s.md5 !== undefined && md5 !== this.s.md5) {
      throw new FsError('EIO', `put ${JSON.stringify(this.key)}: content changed while it was read (MD5 differs)`);
    }
    const { dataKey, envelope } = await this.seal();
    const meta = { ...this.s.meta, ...envelopeMeta({ ...envelope, unencryptedContentLength: this.written, unencryptedContentMd5: md5 }) };
    return this.store.put(this.key, ctrAtInPlace(dataKey, 0, plaintext), {
      meta,
      contentLength: this.written,
      ...(this.s.contentType ? { contentType: this.s.contentType } : {}),
    });
  }

  private async completeMultipart(): Promise<{ etag: string }> {
    await this.sendFullParts();
    const first = this.heldFirst;
    this.heldFirst = undefined;
    if (first) await this.sendPart(first, first.length, 1);
    if (this.fill > 0 || this.nextPart === 1) {
      const last = this.current;
      const length = this.fill;
      this.current = Buffer.alloc(0);
      this.fill = 0;
      await this.sendPart(last, length, this.nextPart++);
    }
    const upload = this.upload;
    if (!upload) throw new FsError('ECANCELED', `upload of ${JSON.stringify(this.key)} was aborted`);
    const completed = await upload.complete();
    this.releaseHeld(); // every part is up: nothing fills the buffer kept for the next one
    return completed;
  }

  private async sendFullParts(): Promise<void> {
    while (this.full.length > 0) {
      const buffer = this.full.shift() as Buffer;
      const partNumber = this.nextPart++;
      if (partNumber === 1 && this.s.patchable) this.heldFirst = buffer;
      else await this.sendPart(buffer, buffer.length, partNumber);
    }
  }

  /** Sends the first `length` bytes of `buffer` as part `partNumber`; the buffer goes back once it is up. */
  private async sendPart(buffer: Buffer, length: number, partNumber: number): Promise<void> {
    let sending = false;
    try {
      const upload = this.upload ?? (await this.initiate());
      const { dataKey } = await this.seal();
      const offset = (partNumber - 1) * this.s.partSize;
      await upload.add(() => {
        // In place: the part's buffer is ours alone, and a part in flight then holds one copy, not two.
        const ciphertext = ctrAtInPlace(dataKey, offset, buffer.subarray(0, length));
        sending = true;
        return upload.sendPart(partNumber, ciphertext).then(
          (part) => {
            if (this.state === 'open' && this.sentBuffer === undefined && buffer.length === this.s.partSize) this.sentBuffer = buffer;
            else this.giveBack(buffer);
            return part;
          },
          (err: unknown) => {
            // The request may still hold it (a socket being torn down): its memory is not ours to reuse.
            if (this.isLent(buffer)) this.s.buffers?.lost(buffer.length);
            throw err;
          },
        );
      });
    } finally {
      if (!sending) this.giveBack(buffer);
    }
  }

  private async initiate(): Promise<MultipartUpload> {
    const { envelope } = await this.seal();
    const multipartEnvelope: Envelope = { ...envelope, partSize: this.s.partSize };
    if (this.s.size !== undefined) {
      multipartEnvelope.dataSize = this.s.size;
      multipartEnvelope.unencryptedContentLength = this.s.size;
    }
    if (this.s.md5 !== undefined) multipartEnvelope.unencryptedContentMd5 = this.s.md5;
    const options = {
      meta: { ...this.s.meta, ...envelopeMeta(multipartEnvelope) },
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

  /** One fresh data key and IV per object version, sealed on first need. */
  private seal(): Promise<{ dataKey: DataKey; envelope: Envelope }> {
    this.sealed ??= this.keyring.seal();
    return this.sealed;
  }

  private makeRoom(): void {
    if (this.fill < this.current.length) return;
    const size = this.nextPart > 1 || this.full.length > 0 ? this.s.partSize : Math.min(this.s.partSize, Math.max(FIRST_BUFFER, this.current.length * 2));
    const grown = size === this.s.partSize ? this.partBuffer() : Buffer.allocUnsafe(size);
    this.current.copy(grown, 0, 0, this.fill);
    this.current = grown;
  }

  private partBuffer(): Buffer {
    const kept = this.sentBuffer;
    this.sentBuffer = undefined;
    return kept ?? this.s.buffers?.take(this.s.partSize) ?? Buffer.allocUnsafe(this.s.partSize);
  }

  private isLent(buffer: Buffer): boolean {
    return this.s.buffers !== undefined && buffer.length === this.s.partSize;
  }

  private giveBack(buffer: Buffer): void {
    if (this.isLent(buffer)) this.s.buffers?.give(buffer);
  }

  /** Gives back the parts not sent (filling or waiting): the writer is done with them. */
  private releaseHeld(): void {
    for (const buffer of this.full.splice(0)) this.giveBack(buffer);
    for (const buffer of [this.sentBuffer, this.heldFirst]) if (buffer) this.giveBack(buffer);
    this.sentBuffer = this.heldFirst = undefined;
    this.giveBack(this.current);
    this.current = Buffer.alloc(0);
    this.fill = 0;
  }

  private buffered(): number {
    return this.full.length * this.s.partSize + this.fill;
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
      this.releaseHeld();
      await upload?.abort().catch(() => undefined);
    }
    throw this.failure;
  }
}
