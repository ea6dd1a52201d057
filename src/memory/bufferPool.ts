/**
 * Buffers whose memory has been touched already, kept for reuse. On this kind of machine the
 * first touch of freshly allocated memory costs ~1.8 ms per MiB in page faults — more than
 * decrypting it — so a read path that allocates a megabyte per block pays that on every block;
 * recycling the blocks a cache evicts into the next blocks fetched pays it once. Freed megabytes
 * are no bargain for the process's size either: glibc keeps them in its arenas, resident.
 *
 * A buffer given back is not handed out again before the event loop turns (setImmediate): code
 * that got it, or a view of it, in the current task can still finish copying out of it. Dropping
 * one (forgetting it, for the garbage collector) is always safe.
 *
 * The pool only counts what it holds; its owner (a MemoryBudget, or a single download) decides how
 * much that may be.
 */
type Memory = ArrayBuffer | SharedArrayBuffer;

export class BufferPool {
  private readonly free = new Map<number, Memory[]>();
  /** Buffers given back in the current task, reusable once it is over. */
  private quarantine: Memory[] = [];
  private freeBytes = 0;
  private quarantinedBytes = 0;

  /** Bytes held, free or in quarantine. */
  get bytes(): number {
    return this.freeBytes + this.quarantinedBytes;
  }

  /** A recycled Buffer of exactly `size` bytes (owning its whole ArrayBuffer), or undefined. */
  take(size: number): Buffer | undefined {
    const spare = this.free.get(size)?.pop();
    if (!spare) return undefined;
    this.freeBytes -= size;
    return Buffer.from(spare);
  }

  /** Keeps a buffer for reuse; false (and nothing kept) unless it owns its whole (Shared)ArrayBuffer. */
  give(buffer: Buffer): boolean {
    const ab = buffer.buffer;
    if (buffer.byteOffset !== 0 || ab.byteLength !== buffer.length || buffer.length === 0) return false;
    this.quarantine.push(ab);
    this.quarantinedBytes += ab.byteLength;
    if (this.quarantine.length === 1) setImmediate(() => this.release());
    return true;
  }

  /** Lets go of one buffer (a free one first); returns its size, 0 when the pool is empty. */
  dropOne(): number {
    for (const [size, list] of this.free) {
      if (list.pop() === undefined) continue;
      if (list.length === 0) this.free.delete(size);
      this.freeBytes -= size;
      return size;
    }
    const ab = this.quarantine.pop();
    if (!ab) return 0;
    this.quarantinedBytes -= ab.byteLength;
    return ab.byteLength;
  }

  /** Lets go of every free buffer (none in quarantine); returns their bytes. */
  dropFree(): number {
    const bytes = this.freeBytes;
    this.free.clear();
    this.freeBytes = 0;
    return bytes;
  }

  private release(): void {
    for (const ab of this.quarantine) {
      const list = this.free.get(ab.byteLength) ?? [];
      list.push(ab);
      this.free.set(ab.byteLength, list);
    }
    this.freeBytes += this.quarantinedBytes;
    this.quarantine = [];
    this.quarantinedBytes = 0;
  }
}
