/**
 * Buffers whose memory has been touched already, kept for reuse. On this kind of machine the
 * first touch of freshly allocated memory costs ~1.8 ms per MiB in page faults — more than
 * decrypting it — and the C allocator hands large buffers back to the kernel when they are freed,
 * so a read path that allocates a megabyte per block pays that on every block. Recycling the
 * blocks a cache evicts into the next blocks fetched pays it once.
 *
 * Only give a buffer nobody will read or write again: whoever takes it overwrites it.
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
  if (buffer.length === 0 || freeBytes + buffer.length > MAX_BYTES) return;
  const list = free.get(buffer.length) ?? [];
  list.push(ab);
  free.set(buffer.length, list);
  freeBytes += buffer.length;
}
