import { LRUCache } from 'lru-cache';
import { giveBuffer } from '../util/bufferPool.js';

/** A block's number within one object: byte offset / block size. Never a byte offset. */
export type BlockIndex = number & { readonly __unit: 'block' };

export function blockOf(offset: number, blockSize: number): BlockIndex {
  return Math.floor(offset / blockSize) as BlockIndex;
}

/**
 * Decrypted blocks of object versions, bounded by bytes. A block is named by (key, ETag, index),
 * so a new version of an object can never be served from an older one's blocks; those just age out.
 * Concurrent misses on one block share one fetch.
 *
 * An evicted block's memory is reused for blocks fetched later (util/bufferPool.ts), so a block
 * (or a view of it) is only good until the event loop turns: copy what you need out of it in the
 * task that got it, never keep it across an await on I/O.
 */
export class BlockCache {
  private readonly blocks: LRUCache<string, Buffer, () => Promise<Buffer>>;

  constructor(
    readonly blockSize: number,
    maxBytes: number,
  ) {
    if (blockSize % 16 !== 0) throw new Error(`block size must be a multiple of 16, got ${blockSize}`);
    this.blocks = new LRUCache<string, Buffer, () => Promise<Buffer>>({
      maxSize: Math.max(maxBytes, blockSize),
      sizeCalculation: (block) => Math.max(block.length, 1),
      fetchMethod: (_name, _stale, { context }) => context(),
      dispose: (block, _name, reason) => {
        if (reason === 'evict') giveBuffer(block);
      },
    });
  }

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

  get bytes(): number {
    return this.blocks.calculatedSize;
  }
}
