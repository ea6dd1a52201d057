import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { CryptoError, ctrAt, type DataKey } from '../crypto/index.js';
import { FsError } from '../errors.js';
import type { ObjectStore } from '../store/ObjectStore.js';
import type { EncryptedHead } from './head.js';

export interface ObjectReader {
  readonly head: EncryptedHead;
  /** Plaintext of [start, start+length) clipped to the object; ESTALE if the object changed since `head`. */
  read(start: number, length: number): Promise<Buffer>;
  /** Plaintext of [start, endExclusive) as a stream, pinned to `head` like read(). */
  stream(start?: number, endExclusive?: number): Readable;
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
 * Ciphertext chunks in, plaintext chunks out. Chunk boundaries fall anywhere, so each chunk is
 * decrypted at its own byte offset; the store's body resumes transparently after a reset, so the
 * offsets just keep counting up.
 */
export async function* decryptChunks(body: AsyncIterable<Buffer>, o: DecryptOptions): AsyncGenerator<Buffer> {
  let offset = o.offset;
  let skip = o.skip;
  const hash = o.md5 !== undefined ? createHash('md5') : undefined;
  for await (const chunk of body) {
    let plain = o.dataKey ? ctrAt(o.dataKey, offset, chunk) : chunk;
    offset += chunk.length;
    hash?.update(plain);
    if (skip > 0) {
      const dropped = Math.min(skip, plain.length);
      plain = plain.subarray(dropped);
      skip -= dropped;
      if (plain.length === 0) continue;
    }
    yield plain;
  }
  if (hash && hash.digest('base64') !== o.md5) {
    throw new CryptoError(
      'md5-mismatch',
      o.objectKey,
      `${JSON.stringify(o.objectKey)}: decrypted content does not match its unencrypted-content-md5 (wrong key or altered object)`,
    );
  }
}

/** Reads into one buffer of the expected size; a body of any other length is an I/O error. */
async function collect(body: AsyncIterable<Buffer>, expected: number, objectKey: string): Promise<Buffer> {
  const out = Buffer.allocUnsafe(expected);
  let received = 0;
  for await (const chunk of body) {
    if (received + chunk.length > expected) {
      received += chunk.length;
      break;
    }
    chunk.copy(out, received);
    received += chunk.length;
  }
  if (received !== expected) {
    throw new FsError('EIO', `${JSON.stringify(objectKey)}: ranged GET returned ${received} bytes, expected ${expected}`);
  }
  return out;
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
    const aligned = alignDown(start);
    const body = await this.fetch(aligned, end);
    const ciphertext = await collect(body, end - aligned, this.head.key);
    const plain = this.dataKey ? ctrAt(this.dataKey, aligned, ciphertext) : ciphertext;
    return plain.subarray(start - aligned);
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
