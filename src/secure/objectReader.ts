import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { CryptoError, ctrAtInPlace, ctrAtInWorker, ctrFrom, type DataKey } from '../crypto/index.js';
import { freshBuffers, type PieceBuffers } from '../memory/pieceBuffers.js';
import { type Deferred, deferred } from '../util/deferred.js';
import { FsError } from '../errors.js';
import type { BodySink, ObjectStore } from '../store/ObjectStore.js';
import type { EncryptedHead } from './head.js';

export interface ObjectReader {
  readonly head: EncryptedHead;
  /** Plaintext of [start, start+length) clipped to the object; ESTALE if the object changed since `head`. */
  read(start: number, length: number): Promise<Buffer>;
  /** Plaintext of [start, endExclusive) as a stream, pinned to `head` like read(). */
  stream(start?: number, endExclusive?: number): Readable;
  /**
   * Plaintext of [start, endExclusive), clipped to the object, in consecutive pieces of
   * `pieceSize` bytes (the last may be shorter) with one GET: one promise per piece, each settled
   * as soon as its bytes have arrived and been decrypted (a run of them on a worker thread).
   * Pinned like read(). Each piece's memory comes from `buffers` (the block cache's, in the mount).
   */
  pieces(start: number, endExclusive: number, pieceSize: number, buffers?: PieceBuffers): Promise<Buffer>[];
}

const BLOCK = 16;

export const alignDown = (offset: number): number => offset - (offset % BLOCK);

export interface DecryptOptions {
  /** undefined: the object is plaintext and passes through as it is. */
  dataKey: DataKey | undefined;
  /** Object offset of the body's first byte (a multiple of 16 for an encrypted object). */
  offset: number;
  /** Leading plaintext bytes to drop (the request was aligned down to a block). */
  skip: number;
  /** Base64 MD5 the whole plaintext must have (whole-object reads only). */
  md5?: string;
  objectKey: string;
}

/**
 * Ciphertext chunks in, plaintext chunks out. Chunk boundaries fall anywhere; one cipher runs
 * over them all, since the store's body resumes transparently after a reset and so never skips
 * or repeats a byte.
 */
export async function* decryptChunks(body: AsyncIterable<Buffer>, o: DecryptOptions): AsyncGenerator<Buffer> {
  const decrypt = o.dataKey ? ctrFrom(o.dataKey, o.offset) : undefined;
  let skip = o.skip;
  const hash = o.md5 !== undefined ? createHash('md5') : undefined;
  for await (const chunk of body) {
    let plain = decrypt ? decrypt(chunk) : chunk;
    hash?.update(plain);
    if (skip > 0) {
      const dropped = Math.min(skip, plain.length);
      plain = plain.subarray(dropped);
      skip -= dropped;
      if (plain.length === 0) continue;
    }
    yield plain;
  }
  if (hash && hash.digest('base64') !== o.md5) throw md5Mismatch(o.objectKey);
}

/** The whole plaintext of `objectKey` hashed unlike its envelope's unencrypted-content-md5. */
export function md5Mismatch(objectKey: string): CryptoError {
  return new CryptoError(
    'md5-mismatch',
    objectKey,
    `${JSON.stringify(objectKey)}: decrypted content does not match its unencrypted-content-md5 (wrong key or altered object)`,
  );
}

export class EncryptedObjectReader implements ObjectReader {
  constructor(
    private readonly store: ObjectStore,
    readonly head: EncryptedHead,
    private readonly dataKey: DataKey | undefined,
  ) {}

  async read(start: number, length: number): Promise<Buffer> {
    const end = Math.min(start + length, this.head.size);
    if (end <= start) return Buffer.alloc(0);
    return this.pieces(start, end, end - start)[0]!;
  }

  pieces(start: number, endExclusive: number, pieceSize: number, buffers: PieceBuffers = freshBuffers): Promise<Buffer>[] {
    const end = Math.min(endExclusive, this.head.size);
    if (!(pieceSize > 0)) throw new RangeError(`bad piece size ${pieceSize}`);
    const pieces = Array.from({ length: Math.max(0, Math.ceil((end - start) / pieceSize)) }, () => deferred<Buffer>());
    if (pieces.length > 0) void this.fillPieces(start, end, pieceSize, pieces, buffers);
    return pieces.map((p) => p.promise);
  }

  /**
   * Reads the body into one buffer per piece (on a plain connection the kernel puts the bytes
   * straight there) and decrypts each full piece, reading on meanwhile. A run of pieces
   * (read-ahead: throughput) is decrypted by the worker thread, in place; a single piece (a random
   * read: latency) right here, in place — a hop to another thread and back costs milliseconds when
   * the cores are busy. A piece's buffer is taken only when its first byte is due, so a run holds
   * memory for the pieces it is filling, not for all it will fill.
   */
  private async fillPieces(start: number, end: number, pieceSize: number, pieces: Deferred<Buffer>[], buffers: PieceBuffers): Promise<void> {
    const dataKey = this.dataKey;
    const inWorker = dataKey !== undefined && pieces.length > 1;
    let next = 0;
    let piece: Buffer | undefined;
    let filled = 0;
    const complete = (full: Buffer): void => {
      const p = pieces[next]!;
      if (!dataKey) p.resolve(full);
      else if (inWorker) {
        const size = full.length;
        ctrAtInWorker(dataKey, start + next * pieceSize, full).then(p.resolve, (err: unknown) => {
          // Shared memory is still ours to give back; a transferred buffer went with the job.
          if (full.buffer instanceof SharedArrayBuffer) buffers.give(full);
          else buffers.lost(size);
          p.reject(err);
        });
      } else p.resolve(ctrAtInPlace(dataKey, start + next * pieceSize, full));
      next++;
    };
    const sink: BodySink = {
      room: (max) => {
        piece ??= buffers.take(Math.min(pieceSize, end - start - next * pieceSize));
        return piece.subarray(filled, filled + Math.min(max, piece.length - filled));
      },
      filled: (n) => {
        filled += n;
        if (filled < piece!.length) return;
        const full = piece!;
        piece = undefined;
        filled = 0;
        complete(full);
      },
    };
    try {
      await this.store.readInto(this.head.key, { start, end: end - 1 }, this.head.etag, sink);
    } catch (err) {
      if (piece) buffers.give(piece);
      for (const p of pieces.slice(next)) p.reject(err);
    }
  }

  stream(start = 0, endExclusive = this.head.size): Readable {
    const end = Math.min(endExclusive, this.head.size);
    if (end <= start) return Readable.from([]);
    const aligned = alignDown(start);
    const chunks = async function* (this: EncryptedObjectReader): AsyncGenerator<Buffer> {
      const body = await this.fetch(aligned, end);
      yield* decryptChunks(body, { dataKey: this.dataKey, offset: aligned, skip: start - aligned, objectKey: this.head.key });
    };
    return Readable.from(chunks.call(this), { objectMode: false });
  }

  private async fetch(aligned: number, end: number): Promise<Readable> {
    const r = await this.store.get(this.head.key, { range: { start: aligned, end: end - 1 }, ifMatch: this.head.etag });
    if (r.start !== aligned) {
      r.body.destroy();
      throw new FsError('EIO', `${JSON.stringify(this.head.key)}: server answered range ${aligned}- from byte ${r.start}`);
    }
    return r.body;
  }
}
