import { createHash, type Hash } from 'node:crypto';
import { CryptoError } from '../crypto/index.js';
import type { ObjectReader } from '../secure/index.js';
import { type BlockCache, type BlockIndex, blockOf } from './blockCache.js';
import { ReadAheadWindow } from './readAheadWindow.js';

/**
 * Reads one object version through the block cache. Sequential access opens a read-ahead window
 * (see ReadAheadWindow: it doubles up to `maxReadAhead` blocks, then covers what the reader's
 * GETs measured of the round trip and the rate) fetched by several GETs at once; a random read
 * costs one block.
 *
 * The kernel sends a sequential reader's requests several at a time and not always in order, so a
 * read counts as sequential when it lands within a block past the furthest point read so far, or
 * behind it by no more than the window (a request the kernel sent earlier, arriving late).
 *
 * A sequential reader keeps at most half the cache of what it has read: past that, the oldest
 * blocks it read are recycled into the blocks it fetches next. Without this, one big sequential
 * copy would push everything else out of the cache (and fill all of it, at the cost of fresh
 * memory, whose first touch of each page costs, and of the mount's RSS) with blocks nobody reads
 * again: the kernel's page cache serves a re-read while it can, and a file bigger than the cache
 * would miss on every block anyway. A file up to half the cache stays whole for a second reader.
 *
 * What read() returns may be a view of a cache block, whose memory is reused once it is evicted
 * (see BlockCache): it is good until the event loop turns — copy it out in the task that got it.
 *
 * When the object carries a plaintext MD5, the blocks are hashed in order as they arrive; once the
 * last one is in, a mismatch makes every read of this version fail with EIO (and the error names
 * the object): corruption is never silently returned as data.
 */
export class CachedReader {
  private frontier = 0;
  private window = 1;
  private readonly ahead: ReadAheadWindow;
  /** When the last block this reader fetched came in (performance.now()). */
  private lastArrivalMs = 0;
  private md5: Hash | undefined;
  private nextToHash = 0 as BlockIndex;
  private corrupt: CryptoError | undefined;
  /** The first block this reader's sequential run has read and not yet recycled. */
  private keptFrom = 0 as BlockIndex;
  /** Blocks being fetched now (the cache cannot tell an in-flight fetch from a miss). */
  private readonly inFlight = new Set<number>();

  constructor(
    private readonly source: ObjectReader,
    private readonly cache: BlockCache,
    maxReadAhead: number,
    private readonly onPrefetchError: (err: unknown) => void,
    /** The most blocks the measured window may reach (besides the cache's room). */
    private readonly measuredMax = Infinity,
  ) {
    if (source.head.envelope?.unencryptedContentMd5 !== undefined && source.head.size > 0) this.md5 = createHash('md5');
    this.ahead = new ReadAheadWindow(cache.blockSize, maxReadAhead);
  }

  get size(): number {
    return this.source.head.size;
  }

  /**
   * Read-ahead gets at most a quarter of the cache: in a smaller one, blocks fetched ahead would
   * push out the blocks being read, to be fetched again (and the budget would be spent on churn).
   */
  private get readAheadRoom(): number {
    return Math.max(1, Math.min(this.measuredMax, Math.floor(this.cache.maxBytes / this.cache.blockSize / 4)));
  }

  /** Blocks a sequential reader keeps behind it: half the cache. */
  private get keepBehind(): number {
    return Math.max(1, Math.floor(this.cache.maxBytes / this.cache.blockSize / 2));
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
    const sequential = position <= this.frontier + bs && position >= this.frontier - Math.max(this.window, 1) * bs;
    this.frontier = sequential ? Math.max(this.frontier, end) : end;
    if (sequential) this.ahead.sequential();
    else this.ahead.random();
    this.window = this.ahead.blocks(this.readAheadRoom);
    if (sequential) this.recycleBehind(first);
    else this.keptFrom = first;

    if (first === last) {
      const block = this.block(first);
      if (sequential) this.prefetch((last + 1) as BlockIndex, this.window);
      const data = (await block).subarray(position - first * bs, end - first * bs);
      if (this.corrupt) throw this.corrupt;
      return data;
    }
    // A block that arrived early may be evicted, and its memory reused, while a later one is
    // awaited: copy each out as soon as it is there.
    const out = Buffer.allocUnsafe(end - position);
    const copies: Promise<void>[] = [];
    for (let i = first; i <= last; i++) {
      const from = Math.max(position - i * bs, 0);
      const to = Math.min(end - i * bs, bs);
      const at = i * bs + from - position;
      copies.push(this.block(i as BlockIndex).then((block) => void block.copy(out, at, from, to)));
    }
    if (sequential) this.prefetch((last + 1) as BlockIndex, this.window);
    await Promise.all(copies);
    if (this.corrupt) throw this.corrupt;
    return out;
  }

  /** Recycles the blocks of this sequential run more than keepBehind blocks behind `reading`. */
  private recycleBehind(reading: BlockIndex): void {
    const { key, etag } = this.source.head;
    for (; this.keptFrom < reading - this.keepBehind; this.keptFrom++) this.cache.discard(key, etag, this.keptFrom);
  }

  private block(index: BlockIndex): Promise<Buffer> {
    const { size } = this.source.head;
    const start = index * this.cache.blockSize;
    return this.load(index, () => this.measured(this.source.pieces(start, Math.min(start + this.cache.blockSize, size), this.cache.blockSize, this.cache))[0]!);
  }

  /** Feeds the window the latency and rate of one GET's pieces as they come in. */
  private measured(pieces: Promise<Buffer>[]): Promise<Buffer>[] {
    const sentMs = performance.now();
    pieces.forEach((piece, k) =>
      piece.then(
        (block) => {
          const now = performance.now();
          if (k === 0) this.ahead.firstBlock(sentMs, now);
          else this.ahead.streamed(block.length, now - this.lastArrivalMs);
          this.lastArrivalMs = now;
        },
        () => undefined,
      ),
    );
    return pieces;
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
   * with ranged GETs of up to the window's run length, each block cached as soon as it has arrived
   * and been decrypted: a request costs far more than its bytes on this path, so read-ahead should
   * not pay it per block.
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
    const runBlocks = this.ahead.runBlocks(count);
    let i = ahead;
    while (i <= stop) {
      if (!this.missing(i)) {
        i++;
        continue;
      }
      let last = i;
      while (last + 1 <= stop && last + 1 < i + runBlocks && this.missing(last + 1)) last++;
      const first = i;
      let run: Promise<Buffer>[] | undefined;
      const claimed = new Set<number>();
      for (let b = first; b <= last; b++) {
        this.load(b as BlockIndex, () => {
          run ??= this.measured(this.source.pieces(first * bs, Math.min((last + 1) * bs, size), bs, this.cache));
          claimed.add(b);
          return run[b - first]!;
        }).catch(this.onPrefetchError);
      }
      // The cache calls a load at once, or not at all when another reader is fetching that block
      // already: a piece no load returned goes back to the cache's budget when it arrives.
      run?.forEach((piece, k) => {
        if (!claimed.has(first + k)) piece.then((buffer) => this.cache.give(buffer), () => undefined);
      });
      i = last + 1;
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
