import { createHash, type Hash } from 'node:crypto';
import { CryptoError } from '../crypto/index.js';
import { FsError } from '../errors.js';
import type { ObjectReader } from '../secure/index.js';
import { type BlockCache, type BlockIndex, blockOf } from './blockCache.js';

interface Deferred<T> {
  promise: Promise<T>;
  resolve(value: T): void;
  reject(reason: unknown): void;
}

/** Promise.withResolvers, which Node 20 lacks. */
function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (reason: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/**
 * Reads one object version through the block cache. Sequential access doubles a read-ahead
 * window (up to `maxReadAhead` blocks) fetched concurrently; a random read costs one block.
 *
 * The kernel sends a sequential reader's requests several at a time and not always in order, so a
 * read counts as sequential when it lands within a block of the furthest point read so far.
 *
 * When the object carries a plaintext MD5, the blocks are hashed in order as they arrive; once the
 * last one is in, a mismatch makes every read of this version fail with EIO (and the error names
 * the object): corruption is never silently returned as data.
 */
export class CachedReader {
  private frontier = 0;
  private window = 1;
  private md5: Hash | undefined;
  private nextToHash = 0 as BlockIndex;
  private corrupt: CryptoError | undefined;
  /** Blocks being fetched now (the cache cannot tell an in-flight fetch from a miss). */
  private readonly inFlight = new Set<number>();

  constructor(
    private readonly source: ObjectReader,
    private readonly cache: BlockCache,
    private readonly maxReadAhead: number,
    private readonly onPrefetchError: (err: unknown) => void,
  ) {
    if (source.head.envelope?.unencryptedContentMd5 !== undefined && source.head.size > 0) this.md5 = createHash('md5');
  }

  get size(): number {
    return this.source.head.size;
  }

  private get lastBlock(): BlockIndex {
    return blockOf(Math.max(this.size - 1, 0), this.cache.blockSize);
  }

  async read(position: number, length: number): Promise<Buffer> {
    if (this.corrupt) throw this.corrupt;
    const end = Math.min(position + length, this.size);
    if (position >= end) return Buffer.alloc(0);
    const bs = this.cache.blockSize;
    const first = blockOf(position, bs);
    const last = blockOf(end - 1, bs);
    const sequential = Math.abs(position - this.frontier) <= bs;
    this.frontier = sequential ? Math.max(this.frontier, end) : end;
    this.window = sequential ? Math.min(this.window * 2, this.maxReadAhead) : 1;

    const wanted: Promise<Buffer>[] = [];
    for (let i = first; i <= last; i++) wanted.push(this.block(i as BlockIndex));
    if (sequential) this.prefetch((last + 1) as BlockIndex, this.window);
    const blocks = await Promise.all(wanted);
    if (this.corrupt) throw this.corrupt;

    return blocks.length === 1
      ? blocks[0]!.subarray(position - first * bs, end - first * bs)
      : Buffer.concat(blocks).subarray(position - first * bs, end - first * bs);
  }

  private block(index: BlockIndex): Promise<Buffer> {
    const { size } = this.source.head;
    const start = index * this.cache.blockSize;
    return this.load(index, () => this.source.read(start, Math.min(this.cache.blockSize, size - start)));
  }

  private load(index: BlockIndex, fetch: () => Promise<Buffer>): Promise<Buffer> {
    const { key, etag } = this.source.head;
    this.inFlight.add(index);
    return this.cache.get(key, etag, index, fetch).then(
      (block) => {
        this.inFlight.delete(index);
        this.hashInOrder();
        return block;
      },
      (err: unknown) => {
        this.inFlight.delete(index);
        throw err;
      },
    );
  }

  private missing(index: number): boolean {
    const { key, etag } = this.source.head;
    return !this.inFlight.has(index) && !this.cache.has(key, etag, index as BlockIndex);
  }

  /**
   * Fetches the missing blocks of [from, from + count) — each run of consecutive missing blocks
   * with one ranged GET, split into cache blocks without copying: a request costs far more than
   * its bytes on this path, so read-ahead should not pay it per block.
   */
  private prefetch(from: BlockIndex, count: number): void {
    const { size } = this.source.head;
    const bs = this.cache.blockSize;
    const stop = Math.min(from + count - 1, this.lastBlock);
    // Refill only once less than half the window is ahead, so each refill is one long run
    // rather than a GET per block as the window slides (the kernel reads 128 KiB at a time).
    let ahead = from as number;
    while (ahead <= stop && !this.missing(ahead)) ahead++;
    if (ahead - from >= count / 2 && ahead <= stop) return;
    let i = ahead;
    while (i <= stop) {
      if (!this.missing(i)) {
        i++;
        continue;
      }
      let runEnd = i;
      while (runEnd + 1 <= stop && this.missing(runEnd + 1)) runEnd++;
      const runStart = i * bs;
      const blocks = Array.from({ length: runEnd - i + 1 }, () => deferred<Buffer>());
      let started = false;
      const startRun = (): void => {
        if (started) return;
        started = true;
        void this.streamRun(runStart, Math.min((runEnd + 1) * bs, size) - runStart, blocks);
      };
      for (let b = i; b <= runEnd; b++) {
        this.load(b as BlockIndex, () => {
          startRun();
          return blocks[b - i]!.promise;
        }).catch(this.onPrefetchError);
      }
      i = runEnd + 1;
    }
  }

  /** One ranged GET for a run of blocks, each handed over as soon as its bytes have arrived. */
  private async streamRun(start: number, length: number, blocks: Deferred<Buffer>[]): Promise<void> {
    const bs = this.cache.blockSize;
    let pending: Buffer[] = [];
    let have = 0;
    let next = 0;
    try {
      for await (const chunk of this.source.stream(start, start + length)) {
        pending.push(chunk as Buffer);
        have += (chunk as Buffer).length;
        while (next < blocks.length) {
          const want = Math.min(bs, length - next * bs);
          if (have < want) break;
          const joined = pending.length === 1 ? pending[0]! : Buffer.concat(pending, have);
          blocks[next++]!.resolve(joined.subarray(0, want));
          const rest = joined.subarray(want);
          pending = rest.length > 0 ? [rest] : [];
          have = rest.length;
        }
      }
      if (next < blocks.length) throw new FsError('EIO', `${JSON.stringify(this.source.head.key)}: ranged GET ended early`);
    } catch (err) {
      for (const block of blocks.slice(next)) block.reject(err);
    }
  }

  /** Feeds the MD5 every block that is now available in order; at the end, compares. */
  private hashInOrder(): void {
    const { key, etag } = this.source.head;
    while (this.md5 && this.nextToHash <= this.lastBlock) {
      const block = this.cache.peek(key, etag, this.nextToHash);
      if (!block) return;
      this.md5.update(block);
      this.nextToHash++;
    }
    if (!this.md5) return;
    const actual = this.md5.digest('base64');
    this.md5 = undefined;
    if (actual !== this.source.head.envelope?.unencryptedContentMd5) {
      this.corrupt = new CryptoError('md5-mismatch', key, `${JSON.stringify(key)}: plaintext MD5 does not match the object's header — the object was altered or damaged`);
    }
  }
}
