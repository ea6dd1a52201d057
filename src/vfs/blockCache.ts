import { LRUCache } from 'lru-cache';
import type { PieceBuffers } from '../secure/index.js';
import { allocateOnHugePages } from '../util/allocator.js';
import { BufferPool } from '../util/bufferPool.js';
import { Collector } from '../util/collector.js';

/** A block's number within one object: byte offset / block size. Never a byte offset. */
export type BlockIndex = number & { readonly __unit: 'block' };

export function blockOf(offset: number, blockSize: number): BlockIndex {
  return Math.floor(offset / blockSize) as BlockIndex;
}

/** Spare buffers kept ready for the next fetches: a read-ahead run's worth, at most 1/8 of the cache. */
const SPARE_BLOCKS = 16;

/**
 * Buffers let go of, in bytes, before a full collection frees them (util/collector.ts). Left to V8,
 * the cache's churn (a writer's parts and the blocks they displace, two sizes that cannot reuse
 * each other's memory) would stay resident ~64 MiB past --cache-size.
 */
const COLLECT_AFTER = 32 * 1024 * 1024;

/**
 * How far under its memory target the cache keeps the process's memory in use, as it sees it when
 * it allocates: the process grows between two looks (buffers awaiting collection, V8's heap), and
 * of what malloc holds free, a new buffer may not be able to reuse all (other threads' arenas,
 * fragments). Measured with scripts/bench-rss.mjs: RSS ran 20-40 MiB above memory in use.
 */
const TARGET_MARGIN = 48 * 1024 * 1024;

/** What a buffer lent from the budget is for: a block being fetched, or a writer's part. */
type Lending = 'loading' | 'writing';

/**
 * Where the budget's memory is, in bytes. `total` never exceeds `budget` unless what is lent
 * alone does (a writer's window of parts in a cache smaller than it): see BlockCache.
 */
export interface BlockMemory {
  cached: number;
  loading: number;
  /** Part buffers lent to writers (see BlockCache.partBuffers). */
  writing: number;
  spare: number;
  total: number;
  /** What total may reach now: the cache size, or less for the process's memory target. */
  budget: number;
}

/**
 * Decrypted blocks of object versions, bounded by bytes. A block is named by (key, ETag, index),
 * so a new version of an object can never be served from an older one's blocks; those just age out.
 * Concurrent misses on one block share one fetch.
 *
 * The cache size bounds every block buffer the read path holds, not just the cached ones: the
 * buffers being filled by fetches in flight (handed out by take()) and the spare buffers kept for
 * reuse count too. Taking one past the limit lets go of spares, then of the least recently used
 * blocks.
 *
 * Writers borrow their part buffers from the same budget (partBuffers): while a file uploads,
 * the cache shrinks by the parts being filled and sent, so --cache-size bounds the data the mount
 * holds, read or written, and a copy within the mount does not hold a full cache plus a window
 * of parts (8 MiB each, up to --jobs in flight, + the one filling).
 *
 * The process as a whole has a memory target too (`target.rss`; the mount's is --cache-size +
 * 150 MiB): Node's own memory beside the cache (code, heap, buffers in flight and awaiting
 * collection) comes to 150-180 MiB under load, and varies with it. Whenever the cache needs fresh
 * memory, it looks at the process's memory in use (RSS less what malloc holds free for reuse:
 * RSS alone hardly ever falls) and its budget becomes what it holds plus what the process can
 * still grow by, never less than half the cache size. Near the target the cache stops growing
 * and recycles its blocks instead, and lets go of idle spares of another size (a writer's parts)
 * so that their memory serves the next blocks; with room again, it grows back.
 *
 * An evicted block's memory is reused for blocks fetched later (util/bufferPool.ts), so a block
 * (or a view of it) is only good until the event loop turns: copy what you need out of it in the
 * task that got it, never keep it across an await on I/O.
 */
export class BlockCache implements PieceBuffers {
  private readonly blocks: LRUCache<string, Buffer, () => Promise<Buffer>>;
  private readonly spares = new BufferPool();
  /** Bytes handed out and not yet back (as a cached block, given back or lost): by take() for
   *  fetches (loading), by partBuffers.take() for writers (writing). */
  private readonly lent: Record<Lending, number> = { loading: 0, writing: 0 };
  private readonly spareTarget: number;
  private readonly collector = new Collector(COLLECT_AFTER, 'major');
  /** Bytes the cache may hold now: maxBytes, less what the process's memory target takes. */
  private budget: number;

  /** Part buffers for writers (secure/objectWriter.ts), lent from this cache's budget. */
  readonly partBuffers: PieceBuffers = {
    take: (size) => this.lend('writing', size),
    give: (buffer) => this.giveBack('writing', buffer),
    lost: (size) => void (this.lent.writing -= size),
  };

  constructor(
    readonly blockSize: number,
    readonly maxBytes: number,
    /** RSS the process should stay under, and its memory in use now (util/allocator.ts memoryInUse):
     *  the cache holds less, down to half its size, to keep the process under the target. */
    private readonly target?: { rss: number; inUse: () => number },
  ) {
    this.budget = maxBytes;
    if (blockSize % 16 !== 0) throw new Error(`block size must be a multiple of 16, got ${blockSize}`);
    this.spareTarget = Math.min(SPARE_BLOCKS * blockSize, Math.floor(maxBytes / 8));
    this.blocks = new LRUCache<string, Buffer, () => Promise<Buffer>>({
      maxSize: Math.max(maxBytes, blockSize),
      sizeCalculation: (block) => Math.max(block.length, 1),
      fetchMethod: async (_name, _stale, { context }) => {
        const block = await context();
        this.lent.loading -= block.length;
        return block;
      },
      // 'delete': evictOldest(); 'evict': the LRU's own limit (reached only by fetches in flight).
      dispose: (block, _name, reason) => {
        if (reason === 'evict' || reason === 'delete') this.spares.give(block);
      },
    });
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
    return this.lend('loading', size);
  }

  /** A buffer from take() that will not be cached after all (a failed or unused fetch). */
  give(buffer: Buffer): void {
    this.giveBack('loading', buffer);
  }

  /** A buffer from take() whose memory went elsewhere (detached by a failed worker job). */
  lost(size: number): void {
    this.lent.loading -= size;
  }

  get memory(): BlockMemory {
    return { cached: this.blocks.calculatedSize, ...this.lent, spare: this.spares.bytes, total: this.used, budget: this.budget };
  }

  /** Every byte counted against the cache size: cached, lent and spare. */
  private get used(): number {
    return this.blocks.calculatedSize + this.lent.loading + this.lent.writing + this.spares.bytes;
  }

  private lend(account: Lending, size: number): Buffer {
    const buffer = this.spares.take(size) ?? this.fresh(size);
    this.lent[account] += size;
    this.fit();
    return buffer;
  }

  /** Fresh memory, after fitting the budget to what the process can still grow by. */
  private fresh(size: number): Buffer {
    if (this.target) {
      const headroom = this.target.rss - TARGET_MARGIN - this.target.inUse() - size;
      // Idle buffers of other sizes (a writer's parts, when blocks are wanted): garbage that a
      // collection turns into memory this allocation can reuse.
      if (headroom < 0) this.collector.dropped(this.spares.dropFree());
      this.budget = Math.min(this.maxBytes, Math.max(Math.floor(this.maxBytes / 2), this.used + headroom));
    }
    // Shared with the decrypt worker rather than transferred to it and back (crypto/ctrWorker.ts).
    return Buffer.from(allocateOnHugePages(() => new SharedArrayBuffer(size)));
  }

  private giveBack(account: Lending, buffer: Buffer): void {
    this.lent[account] -= buffer.length;
    this.spares.give(buffer);
    this.fit();
  }

  /** Cached bytes. */
  get bytes(): number {
    return this.blocks.calculatedSize;
  }

  /**
   * Back within the budget: spares go first, then the least recently used blocks (evicted into
   * the spares, which the next turn drops). What is dropped is garbage that V8 would keep resident
   * until its next full collection; the collector asks for one once it adds up. Then, if the
   * headroom plus the spares is less than a read-ahead run, more old blocks become spares, so the
   * next fetches reuse memory rather than allocate it while dropping blocks for the garbage
   * collector to free some time later.
   */
  private fit(): void {
    while (this.used > this.budget) {
      const dropped = this.spares.dropOne();
      if (dropped > 0) {
        this.collector.dropped(dropped);
        continue;
      }
      if (!this.evictOldest()) return; // only lent buffers: nothing to let go of
    }
    while (this.spares.bytes + this.budget - this.used < this.spareTarget && this.evictOldest());
  }

  /** Moves the least recently used block (never a fetch in flight) to the spares; false if none. */
  private evictOldest(): boolean {
    const oldest = this.blocks.rkeys().next();
    if (oldest.done) return false;
    return this.blocks.delete(oldest.value);
  }
}
