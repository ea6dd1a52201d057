import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { HUGE_PAGE_HEAP_PAD, MALLOC_MMAP_THRESHOLD, MALLOC_TRIM_THRESHOLD } from '../tuning.js';

/** glibc's own heap growth step, restored after an allocation on huge pages. */
const GLIBC_DEFAULT_PAD = 128 * 1024;

export type AllocatorTuning = { applied: true } | { applied: false; reason: string };

const ADDON = fileURLToPath(new URL('../../native/malloc-tuning/build/Release/malloc_tuning.node', import.meta.url));

interface Addon {
  tune(mmapThreshold: number, trimThreshold: number): boolean;
  /** Bytes malloc holds free for reuse below the top of its heap; -1 when the C library is not glibc. */
  freeBytes(): number;
  padHeap(bytes: number): boolean;
  adviseHugePages(): boolean;
}

let addon: Addon | string | undefined;

/** The addon, or why it cannot be loaded. */
function loaded(): Addon | string {
  if (addon === undefined) {
    try {
      addon = createRequire(import.meta.url)(ADDON) as Addon;
    } catch (err) {
      addon = `native/malloc-tuning is not built (scripts/setup.sh builds it): ${(err as Error).message.split('\n')[0]}`;
    }
  }
  return addon;
}

let outcome: AllocatorTuning | undefined;

/**
 * Sets glibc malloc's thresholds for this process, once at start-up (mallopt, through our one
 * native addon: Node cannot set them once it runs, and GLIBC_TUNABLES works only at exec); later
 * calls report the first outcome. Never throws: without them the process is only slower.
 *
 * Why: fresh memory costs more in page faults on the VMs this runs on than encrypting it. The data
 * path frees buffers in bulk — V8 frees a batch of cipher outputs and socket chunks at each
 * collection — and with glibc's defaults that freed run goes back to the kernel (a trim above
 * 128 KiB, and buffers over the sliding mmap threshold are unmapped on free) only to be faulted in
 * again by the next batch. The values are in src/tuning.ts, the figures in docs/architecture.md.
 */
export function tuneAllocator(): AllocatorTuning {
  if (outcome) return outcome;
  const a = loaded();
  if (typeof a === 'string') return (outcome = { applied: false, reason: a });
  outcome = a.tune(MALLOC_MMAP_THRESHOLD, MALLOC_TRIM_THRESHOLD) ? { applied: true } : { applied: false, reason: 'the C library is not glibc' };
  return outcome;
}

/**
 * The process's resident memory less what malloc holds free for reuse (not counting the free top
 * of the heap, which may never have been touched): what the next allocations would add to, and
 * so what a memory target is kept with (see BlockCache). RSS alone
 * hardly ever falls, since memory freed stays with malloc, and so it cannot tell a process that
 * is about to grow from one that will reuse what it freed. Plain RSS where malloc cannot say.
 */
export function memoryInUse(): number {
  const rss = process.memoryUsage.rss();
  const a = loaded();
  const free = typeof a === 'string' ? -1 : a.freeBytes();
  return free > 0 ? Math.max(0, rss - free) : rss;
}

/** One line for a log: what the allocator runs with. */
export function describeTuning(t: AllocatorTuning): string {
  return t.applied
    ? `allocator: glibc malloc with mmap threshold ${MALLOC_MMAP_THRESHOLD >> 20} MiB, trim threshold ${MALLOC_TRIM_THRESHOLD >> 20} MiB; block memory on huge pages`
    : `allocator: left at its defaults (${t.reason})`;
}

/**
 * Runs `allocate` (which must allocate memory and not touch it, like `new SharedArrayBuffer`) with
 * the heap growing in steps that can hold 2 MiB huge pages, which the kernel is then asked to back
 * it with (where its THP mode is `madvise`, Debian's default, or `always`): the first touch of a
 * huge page is one page fault where small pages take 512. For the block cache's memory, filled
 * once and then reused (the figures are in docs/architecture.md). Only around such allocations: glibc pads every arena's growth alike, and what a
 * worker thread's arena holds untouched would count as free in memoryInUse while not resident.
 * Just `allocate()` where the allocator is not tuned.
 */
export function allocateOnHugePages<T>(allocate: () => T): T {
  const a = loaded();
  if (typeof a === 'string' || !outcome?.applied) return allocate();
  a.padHeap(HUGE_PAGE_HEAP_PAD);
  try {
    return allocate();
  } finally {
    a.padHeap(GLIBC_DEFAULT_PAD);
    a.adviseHugePages();
  }
}
