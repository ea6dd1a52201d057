import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';

/**
 * glibc malloc's thresholds for this process, set once at start-up (mallopt, through our one
 * native addon: Node cannot set them once it runs, and GLIBC_TUNABLES works only at exec).
 *
 * Why: a megabyte of fresh memory costs ~4 ms in page faults on the VMs this runs on (~15 µs a
 * page), more than encrypting it. The data path frees buffers in bulk — V8 frees a batch of
 * cipher outputs and socket chunks at each collection — and with glibc's defaults that freed run
 * goes back to the kernel (a trim above 128 KiB, and buffers over the sliding mmap threshold are
 * unmapped on free) only to be faulted in again by the next batch. A 512 MiB `cp` into the mount
 * took up to 230,000 page faults in the mount (~1.8 per 4 KiB written) and ran at 54–88 MB/s; with
 * these values, 19,000–50,000 faults and 118–164 MB/s (README, Architecture). Peak RSS did not move
 * beyond its noise (bench-rss): the block cache recycles its own buffers, and 16 MiB bounds what a
 * trim leaves resident.
 */
export const MMAP_THRESHOLD = 32 * 1024 * 1024; // glibc's largest; also stops it sliding
export const TRIM_THRESHOLD = 16 * 1024 * 1024;
/** What the heap grows by at a time while block memory is allocated (see allocateOnHugePages); glibc's own is 128 KiB. */
const HUGE_PAD = 16 * 1024 * 1024;
const DEFAULT_PAD = 128 * 1024;

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

/** Applies the thresholds (once; later calls report the first outcome). Never throws: without them the process is only slower. */
export function tuneAllocator(): AllocatorTuning {
  if (outcome) return outcome;
  const a = loaded();
  if (typeof a === 'string') return (outcome = { applied: false, reason: a });
  outcome = a.tune(MMAP_THRESHOLD, TRIM_THRESHOLD) ? { applied: true } : { applied: false, reason: 'the C library is not glibc' };
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
    ? `allocator: glibc malloc with mmap threshold ${MMAP_THRESHOLD >> 20} MiB, trim threshold ${TRIM_THRESHOLD >> 20} MiB; block memory on huge pages`
    : `allocator: left at its defaults (${t.reason})`;
}

/**
 * Runs `allocate` (which must allocate memory and not touch it, like `new SharedArrayBuffer`) with
 * the heap growing in steps that can hold 2 MiB huge pages, which the kernel is then asked to back
 * it with (where its THP mode is `madvise`, Debian's default, or `always`): the first touch of a
 * huge page is one page fault where small pages take 512. For the block cache's memory, filled
 * once and then reused: a cold 512 MiB read through the mount, alternated ×2, took 51k-53k page
 * faults in the mount and ran at 200-204 MB/s; this way 13k-21k and 239-261 MB/s, peak RSS within
 * a few MiB. Only around such allocations: glibc pads every arena's growth alike, and what a
 * worker thread's arena holds untouched would count as free in memoryInUse while not resident.
 * Just `allocate()` where the allocator is not tuned.
 */
export function allocateOnHugePages<T>(allocate: () => T): T {
  const a = loaded();
  if (typeof a === 'string' || !outcome?.applied) return allocate();
  a.padHeap(HUGE_PAD);
  try {
    return allocate();
  } finally {
    a.padHeap(DEFAULT_PAD);
    a.adviseHugePages();
  }
}
