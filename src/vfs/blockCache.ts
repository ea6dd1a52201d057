import { LRUCache } from 'lru-cache';
import type { Lease, MemoryBudget } from '../memory/budget.js';
import type { PieceBuffers } from '../memory/pieceBuffers.js';

/** A block's number within one object: byte offset / block size. Never a byte offset. */
export type BlockIndex = number & { readonly __unit: 'block' };

export function blockOf(offset: number, blockSize: number): BlockIndex {
  return Math.floor(offset / blockSize) as BlockIndex;
}

/**
 * Decrypted blocks of object versions, an LRU within a memory budget (memory/budget.ts). A block
 * is named by (key, ETag, index), so a new version of an object can never be served from an older
 * one's blocks; those just age out. Concurrent misses on one block share one fetch.
 *
 * Its memory is lent by the budget: blocks being fetched count in the `readAhead` account (take()
 * lends them), cached ones in `cache`. When the budget is full it reclaims the least recently used
 * blocks, whose buffers it hands to the next fetch or upload part: --cache-size bounds the data
 * the mount holds, read or written.
 *
 * An evicted block's memory is reused for blocks fetched later, so a block (or a view of it) is
 * only good until the event loop turns: copy what you need out of it in the task that got it,
 * never keep it across an await on I/O.
 */
export class BlockCache implements PieceBuffers {
  private readonly blocks: LRUCache<string, Buffer, () => Promise<Buffer>>;
  /** Buffers handed out by take() and not yet back (as a cached block, given back or lost). */
  private readonly fetching: Lease;
  private readonly cached: Lease;

  constructor(
    readonly blockSize: number,
    readonly budget: MemoryBudget,
  ) {
    if (blockSize % 16 !== 0) throw new Error(`block size must be a multiple of 16, got ${blockSize}`);
    this.fetching = budget.lease('readAhead', 'block cache: blocks being fetched');
    this.cached = budget.lease('cache', 'block cache');
    this.blocks = new LRUCache<string, Buffer, () => Promise<Buffer>>({
      maxSize: Math.max(budget.size, blockSize),
      sizeCalculation: (block) => Math.max(block.length, 1),
      fetchMethod: async (_name, _stale, { context, signal }) => {
        const block = await context();
        // Evicted while in flight: the LRU fails this fetch rather than cache the block.
        if (signal.aborted) this.fetching.give(block);
        else this.fetching.pass(block.length, this.cached);
        return block;
      },
      // 'delete': evictOldest(); 'evict': the LRU's own limit (reached only by fetches in flight).
      // After the LRU is whole again: giving a block back may make the budget reclaim more of them.
      disposeAfter: (block, _name, reason) => {
        if (reason === 'evict' || reason === 'delete') this.cached.give(block);
      },
    });
    budget.reclaimWith(() => this.evictOldest());
  }

  /** The budget's size: what the cache would hold with nothing else using the budget. */
  get maxBytes(): number {
    return this.budget.size;
  }

  /**
   * Looks a block up, or loads it. `load` must resolve to a buffer from take() (its bytes then
   * count as cached instead of loading) and, when it fails, must have given back or reported lost
   * whatever it took.
   */
  async get(key: string, etag: string, index: BlockIndex, load: () => Promise<Buffer>): Promise<Buffer> {
    const block = await this.blocks.fetch(`${etag}\0${index}\0${key}`, { context: load });
    if (block === undefined) throw new Error(`block ${index} of ${key} could not be cached`);
    return block;
  }

  /** A cached block without touching its recency (or undefined). */
  peek(key: string, etag: string, index: BlockIndex): Buffer | undefined {
    return this.blocks.peek(`${etag}\0${index}\0${key}`);
  }

  has(key: string, etag: string, index: BlockIndex): boolean {
    return this.blocks.has(`${etag}\0${index}\0${key}`);
  }

  /**
   * Lets go of a cached block no reader is expected to come back to (see CachedReader's
   * recycling): its memory becomes a spare for the next block fetched, ahead of the older blocks
   * the LRU would evict instead.
   */
  discard(key: string, etag: string, index: BlockIndex): void {
    const name = `${etag}\0${index}\0${key}`;
    if (this.blocks.has(name)) this.blocks.delete(name); // never a fetch in flight: its reader awaits it
  }

  /** A buffer for a block being fetched: a spare when one fits, else fresh memory within the budget. */
  take(size: number): Buffer {
    return this.fetching.take(size);
  }

  /** A buffer from take() that will not be cached after all (a failed or unused fetch). */
  give(buffer: Buffer): void {
    this.fetching.give(buffer);
  }

  /** A buffer from take() whose memory went elsewhere (detached by a failed worker job). */
  lost(size: number): void {
    this.fetching.lost(size);
  }

  /** Cached bytes. */
  get bytes(): number {
    return this.blocks.calculatedSize;
  }

  /** Moves the least recently used block (never a fetch in flight) to the spares; false if none. */
  private evictOldest(): boolean {
    const oldest = this.blocks.rkeys().next();
    if (oldest.done) return false;
    return this.blocks.delete(oldest.value);
  }
}
