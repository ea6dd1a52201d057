import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The compiled module, in a process of its own: the thresholds are process-wide and one-way.
const MODULE = fileURLToPath(new URL('../../dist/util/allocator.js', import.meta.url));

/**
 * Page faults taken by ten rounds of what the data path does: a batch of 256 KiB buffers filled,
 * dropped and freed together by a collection. With glibc's starting thresholds (128 KiB; held
 * there, since its sliding defaults depend on what the process freed before) every round's memory
 * goes back to the kernel and is faulted in again; tuned, it stays and is reused.
 */
const CHILD = `
const { tuneAllocator, memoryInUse } = await import(${JSON.stringify(MODULE)});
if (process.argv[1] === 'tuned') {
  const t = tuneAllocator();
  if (!t.applied) throw new Error(t.reason);
}
const { readFileSync } = await import('node:fs');
const faults = () => Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[7]);
const round = async () => {
  let held = Array.from({ length: 32 }, () => Buffer.allocUnsafeSlow(256 * 1024).fill(1));
  const full = memoryInUse();
  held = null;
  globalThis.gc();
  // V8 may free the buffers on a background thread after the collection returns; a round that
  // started before then would find nothing to reuse (a CI run once saw one round's worth of faults).
  for (let i = 0; i < 40 && full - memoryInUse() < 7 * 1024 * 1024; i++) await new Promise((r) => setTimeout(r, 50));
};
await round();
const before = faults();
for (let i = 0; i < 10; i++) await round();
process.stdout.write(String(faults() - before));
`;

const GLIBC_START = 'glibc.malloc.mmap_threshold=131072:glibc.malloc.trim_threshold=131072';

function faultsWith(mode: 'default' | 'tuned'): number {
  const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', CHILD, mode], {
    encoding: 'utf8',
    timeout: 60_000,
    env: { ...process.env, GLIBC_TUNABLES: GLIBC_START },
  });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return Number(r.stdout);
}

describe('allocator tuning (native/malloc-tuning, applied by every CLI command)', () => {
  it('freed buffer memory is reused rather than faulted in again (set at run time, over the start-up settings)', () => {
    const untuned = faultsWith('default');
    const tuned = faultsWith('tuned');
    // 10 rounds × 8 MiB is 20,480 pages: the defaults fault nearly all of them in again.
    expect(untuned).toBeGreaterThan(15_000);
    expect(tuned).toBeLessThan(untuned / 10);
  });
});

/**
 * memoryInUse() after 64 MiB of buffers were filled and freed (kept from the top of the heap by a
 * buffer allocated after them, so no trim returns them): RSS keeps them, malloc holds them free.
 */
const IN_USE_CHILD = `
const { tuneAllocator, memoryInUse } = await import(${JSON.stringify(MODULE)});
const t = tuneAllocator();
if (!t.applied) throw new Error(t.reason);
const MiB = 1024 * 1024;
let held = Array.from({ length: 16 }, () => Buffer.allocUnsafeSlow(4 * MiB).fill(1));
const pin = Buffer.allocUnsafeSlow(64 * 1024).fill(1);
const before = { rss: process.memoryUsage.rss(), inUse: memoryInUse() };
held = null;
globalThis.gc();
// V8 may free the buffers' memory on a background thread after the collection returns (under
// load, later): wait up to 2 s for the fall before measuring it.
for (let i = 0; i < 40 && before.inUse - memoryInUse() < 56 * MiB; i++) await new Promise((r) => setTimeout(r, 50));
const after = { rss: process.memoryUsage.rss(), inUse: memoryInUse() };
process.stdout.write(JSON.stringify({ before, after, pinned: pin.length }));
`;

describe('memoryInUse (what the block cache keeps the mount under its memory target with)', () => {
  it('falls by what was freed while RSS keeps it, and never exceeds RSS', () => {
    const r = spawnSync(process.execPath, ['--expose-gc', '--input-type=module', '-e', IN_USE_CHILD], { encoding: 'utf8', timeout: 60_000 });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    const { before, after } = JSON.parse(r.stdout) as Record<'before' | 'after', { rss: number; inUse: number }>;
    const MiB = 1024 * 1024;
    expect(after.rss).toBeGreaterThan(before.rss - 8 * MiB); // freed, yet resident
    expect(before.inUse - after.inUse).toBeGreaterThan(56 * MiB);
    expect(after.inUse).toBeLessThanOrEqual(after.rss);
    expect(after.inUse).toBeGreaterThan(0);
  });
});

/**
 * Page faults taken filling 64 buffers of 1 MiB, allocated as the block cache does (shared memory,
 * on huge pages when the child is told to), and whether the
 * process then has huge pages at all.
 */
const HUGE_CHILD = `
const { tuneAllocator, allocateOnHugePages } = await import(${JSON.stringify(MODULE)});
const t = tuneAllocator();
if (!t.applied) throw new Error(t.reason);
const { readFileSync } = await import('node:fs');
const faults = () => Number(readFileSync('/proc/self/stat', 'utf8').split(') ')[1].split(' ')[7]);
const before = faults();
const held = [];
for (let i = 0; i < 64; i++) {
  const allocate = () => new SharedArrayBuffer(1024 * 1024);
  held.push(Buffer.from(process.argv[1] === 'advised' ? allocateOnHugePages(allocate) : allocate()).fill(1));
}
const huge = Number(/AnonHugePages:\\s+(\\d+) kB/.exec(readFileSync('/proc/self/smaps_rollup', 'utf8'))[1]);
process.stdout.write(JSON.stringify({ faults: faults() - before, hugeKiB: huge, held: held.length }));
`;

function fill(mode: 'plain' | 'advised'): { faults: number; hugeKiB: number } {
  const r = spawnSync(process.execPath, ['--input-type=module', '-e', HUGE_CHILD, mode], { encoding: 'utf8', timeout: 60_000 });
  expect(r.stderr).toBe('');
  expect(r.status).toBe(0);
  return JSON.parse(r.stdout) as { faults: number; hugeKiB: number };
}

describe('allocateOnHugePages (how the block cache allocates its memory)', () => {
  const thp = /\[(\w+)\]/.exec(readFileSync('/sys/kernel/mm/transparent_hugepage/enabled', 'utf8'))?.[1];

  it('fills fresh buffers with a fraction of the faults small pages take (where the kernel has huge pages on)', () => {
    const plain = fill('plain');
    const advised = fill('advised');
    // 64 MiB is 16,384 small pages; in 2 MiB pages, 32 faults (plus the edges of each heap step).
    expect(plain.faults).toBeGreaterThan(15_000);
    if (thp === 'never') {
      expect(advised.hugeKiB).toBe(0);
    } else {
      expect(advised.faults).toBeLessThan(plain.faults / 3);
      expect(advised.hugeKiB).toBeGreaterThan(32 * 1024);
    }
  });
});
