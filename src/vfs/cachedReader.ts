import { createHash, type Hash } from 'node:crypto';
import { CryptoError } from '../crypto/index.js';
import type { ObjectReader } from '../secure/index.js';
import { type BlockCache, type BlockIndex, blockOf } from './blockCache.js';

/**
 * Reads one object version through the block cache. Sequential access doubles a read-ahead
 * window (up to `maxReadAhead` blocks) fetched concurrently; a random read costs one block.
 * A read that goes from byte 0 to the end in order is checked against the plaintext MD5 when the
 * object carries one: corruption is then EIO on the last read, never silently wrong bytes.
 */
export class CachedReader {
  private nextSequential = 0;
  private window = 1;
  private md5: Hash | undefined;
  private hashed = 0;

  constructor(
    private readonly source: ObjectReader,
    private readonly cache: BlockCache,
    private readonly maxReadAhead: number,
    private readonly onPrefetchError: (err: unknown) => void,
  ) {}

  get size(): number {
    return this.source.head.size;
  }

  async read(position: number, length: number): Promise<Buffer> {
    const end = Math.min(position + length, this.size);
    if (position >= end) return Buffer.alloc(0);
    const bs = this.cache.blockSize;
    const first = blockOf(position, bs);
    const last = blockOf(end - 1, bs);
    const sequential = position === this.nextSequential;
    this.nextSequential = end;
    this.window = sequential ? Math.min(this.window * 2, this.maxReadAhead) : 1;

    const wanted: Promise<Buffer>[] = [];
    for (let i = first; i <= last; i++) wanted.push(this.block(i as BlockIndex));
    if (sequential) this.prefetch((last + 1) as BlockIndex, this.window);
    const blocks = await Promise.all(wanted);

    const out =
      blocks.length === 1
        ? blocks[0]!.subarray(position - first * bs, end - first * bs)
        : Buffer.concat(blocks).subarray(position - first * bs, end - first * bs);
    this.verify(position, out);
    return out;
  }

  private block(index: BlockIndex): Promise<Buffer> {
    const { key, etag, size } = this.source.head;
    const start = index * this.cache.blockSize;
    return this.cache.get(key, etag, index, () => this.source.read(start, Math.min(this.cache.blockSize, size - start)));
  }

  private prefetch(from: BlockIndex, count: number): void {
    const lastBlock = blockOf(Math.max(this.size - 1, 0), this.cache.blockSize);
    const { key, etag } = this.source.head;
    for (let i = from; i < from + count && i <= lastBlock; i++) {
      if (!this.cache.has(key, etag, i as BlockIndex)) this.block(i as BlockIndex).catch(this.onPrefetchError);
    }
  }

  private verify(position: number, data: Buffer): void {
    const expected = this.source.head.envelope?.unencryptedContentMd5;
    if (expected === undefined) return;
    if (position === 0) {
      this.md5 = createHash('md5');
      this.hashed = 0;
    }
    if (this.md5 === undefined || position !== this.hashed) {
      // Only an unbroken read from byte 0 can be checked against the whole-object MD5.
      this.md5 = undefined;
      return;
    }
    this.md5.update(data);
    this.hashed += data.length;
    if (this.hashed < this.size) return;
    const actual = this.md5.digest('base64');
    this.md5 = undefined;
    if (actual !== expected) {
      throw new CryptoError('md5-mismatch', this.source.head.key, `${JSON.stringify(this.source.head.key)}: plaintext MD5 does not match the object's header — the object was altered or damaged`);
    }
  }
}
