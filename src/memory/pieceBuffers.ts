import { BufferPool } from './bufferPool.js';

/**
 * Where the buffers of a read's pieces or an upload's parts come from and go back to. A piece
 * that resolves is the caller's; for one that fails, the reader gives its buffer back, or reports
 * it lost when a worker job took it. A Lease (memory/budget.ts) is one, counted in the mount's
 * memory budget.
 */
export interface PieceBuffers {
  /** A buffer of exactly `size` bytes that owns its whole ArrayBuffer (it may go to the worker). */
  take(size: number): Buffer;
  give(buffer: Buffer): void;
  lost(size: number): void;
}

/** Fresh memory for each piece, for readers outside a budget. */
export const freshBuffers: PieceBuffers = {
  take: (size) => Buffer.allocUnsafeSlow(size),
  give: () => undefined,
  lost: () => undefined,
};

/**
 * Piece memory handed from each piece given back to the next ones taken, for one job outside a
 * budget (a download): a first touch of fresh memory costs more in page faults than decrypting it
 * (see BufferPool). Shared, so the worker thread decrypts it in place.
 */
export function recycledBuffers(): PieceBuffers {
  const pool = new BufferPool();
  return {
    take: (size) => pool.take(size) ?? Buffer.from(new SharedArrayBuffer(size)),
    give: (buffer) => void pool.give(buffer),
    lost: () => undefined,
  };
}
