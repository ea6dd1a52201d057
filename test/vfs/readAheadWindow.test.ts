import { describe, expect, it } from 'vitest';
import { ReadAheadWindow } from '../../src/vfs/readAheadWindow.js';

const MiB = 1024 * 1024;

/** Feeds `window` one GET of `blocks` blocks: its first block `latencyMs` after it was sent, the rest `msPerBlock` apart. */
function get(window: ReadAheadWindow, blocks: number, latencyMs: number, msPerBlock: number, at = 1000): void {
  window.firstBlock(at, at + latencyMs);
  for (let k = 1; k < blocks; k++) window.streamed(MiB, msPerBlock);
}

describe('ReadAheadWindow: read-ahead sized by the measured bandwidth-delay product', () => {
  it('doubles with each sequential read up to the ramp, and a random read takes it back to one block', () => {
    const w = new ReadAheadWindow(MiB, 16);
    const seen = [];
    for (let i = 0; i < 6; i++) {
      w.sequential();
      seen.push(w.blocks(64));
    }
    expect(seen).toEqual([2, 4, 8, 16, 16, 16]);
    w.random();
    expect(w.blocks(64)).toBe(1);
  });

  it('past the ramp, keeps twice the product of the latency and the rate measured', () => {
    const w = new ReadAheadWindow(MiB, 16);
    for (let i = 0; i < 4; i++) w.sequential();
    // 30 ms to the first block, then a block every 2 ms (~524 MB/s): 2 × 524 kB/ms × 30 ms = 30 MiB.
    get(w, 9, 30, 2);
    expect(w.measuredBlocks).toBe(30);
    expect(w.blocks(64)).toBe(30);
    // Never more than the cache's room, never less than the ramp.
    expect(w.blocks(20)).toBe(20);
    const near = new ReadAheadWindow(MiB, 16);
    for (let i = 0; i < 4; i++) near.sequential();
    get(near, 9, 1, 2);
    expect(near.measuredBlocks).toBe(1);
    expect(near.blocks(64)).toBe(16);
  });

  it('sizes nothing from measurements until the ramp is full: a reader that stops early fetches little', () => {
    const w = new ReadAheadWindow(MiB, 16);
    get(w, 9, 30, 2);
    w.sequential();
    expect(w.blocks(64)).toBe(2);
    w.random();
    expect(w.blocks(64)).toBe(1);
  });

  it('takes the rate over spans of blocks and time, so blocks that come in a burst do not make it look endless', () => {
    const w = new ReadAheadWindow(MiB, 16);
    for (let i = 0; i < 4; i++) w.sequential();
    w.firstBlock(0, 20);
    // A burst: four blocks in 1 ms is no sample yet, the span goes on until it covers 10 ms.
    for (const ms of [1, 0, 0, 0]) w.streamed(MiB, ms);
    expect(w.measuredBlocks).toBe(0);
    for (const ms of [0, 0, 0, 15]) w.streamed(MiB, ms);
    expect(w.measuredBlocks).toBe(20); // 2 × (8 MiB / 16 ms) × 20 ms = 20 MiB
  });

  it('follows a path that changes: the least of the last 8 latencies, a running average of the rate', () => {
    const w = new ReadAheadWindow(MiB, 4);
    for (let i = 0; i < 2; i++) w.sequential();
    get(w, 5, 10, 4);
    const before = w.measuredBlocks; // 2 × 256 KiB/ms × 10 ms = 5 MiB
    expect(before).toBe(5);
    for (let i = 0; i < 20; i++) get(w, 5, 40, 4);
    expect(w.measuredBlocks).toBeGreaterThan(before);
    expect(w.measuredBlocks).toBe(20); // converged on 40 ms
  });

  it('a GET that waited behind others does not make the latency, and so the window, grow', () => {
    const w = new ReadAheadWindow(MiB, 4);
    for (let i = 0; i < 2; i++) w.sequential();
    get(w, 5, 10, 4);
    for (let i = 0; i < 5; i++) get(w, 5, 60, 4);
    expect(w.measuredBlocks).toBe(5); // still 10 ms: 2 × 256 KiB/ms × 10 ms
  });

  it('past the ramp, splits a window into GETs of a quarter of it, at least four blocks each; within it, one GET', () => {
    const w = new ReadAheadWindow(MiB, 16);
    expect(w.runBlocks(64)).toBe(16);
    expect(w.runBlocks(30)).toBe(8);
    expect(w.runBlocks(17)).toBe(5);
    expect(w.runBlocks(16)).toBe(16);
    expect(w.runBlocks(1)).toBe(1);
  });
});
