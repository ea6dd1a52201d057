/**
 * Buffers whose memory has been touched already, kept for reuse. On this kind of machine the
 * first touch of freshly allocated memory costs ~1.8 ms per MiB in page faults — more than
 * decrypting it — and the C allocator hands large buffers back to the kernel when they are freed,
 * so a read path that allocates a megabyte per block pays that on every block. Recycling the
 * blocks a cache evicts into the next blocks fetched pays it once.
 *
 * A buffer given back is not handed out again before the event loop turns (setImmediate): code
 * that got it, or a view of it, in the current task can still finish copying out of it.
 */
const MAX_BYTES = 32 * 1024 * 1024;

const free = new Map<number, ArrayBuffer[]>();
let freeBytes = 0;

/** A recycled Buffer of exactly `size` bytes (owning its whole ArrayBuffer), or undefined. */
export function takeSpareBuffer(size: number): Buffer | undefined {
  const spare = free.get(size)?.pop();
  if (!spare) return undefined;
  freeBytes -= size;
  return Buffer.from(spare);
}

/** A Buffer of `size` bytes owning its whole ArrayBuffer (so it can be transferred), recycled when one fits. */
export function takeBuffer(size: number): Buffer {
  return takeSpareBuffer(size) ?? Buffer.allocUnsafeSlow(size);
}

/** Hands a buffer back for reuse (ignored unless it owns its whole ArrayBuffer, or when the pool is full). */
export function giveBuffer(buffer: Buffer): void {
  const ab = buffer.buffer;
  if (buffer.byteOffset !== 0 || ab.byteLength !== buffer.length || !(ab instanceof ArrayBuffer)) return;
  if (buffer.length === 0 || freeBytes + quarantinedBytes + buffer.length > MAX_BYTES) return;
  quarantine.push(ab);
  quarantinedBytes += ab.byteLength;
  if (quarantine.length === 1) setImmediate(release);
}

/** Buffers given back in the current task, reusable once it is over. */
const quarantine: ArrayBuffer[] = [];
let quarantinedBytes = 0;

function release(): void {
  for (const ab of quarantine.splice(0)) {
    const list = free.get(ab.byteLength) ?? [];
    list.push(ab);
    free.set(ab.byteLength, list);
    freeBytes += ab.byteLength;
  }
  quarantinedBytes = 0;
}
