import { endianness } from 'node:os';
import type { Stat } from '@ossencfs/fuse-native';
import type { Logger } from '../log.js';
import { type FuseAddon, fuseAddon } from './addon.js';

/** The functions native/fuse-native/attr_cache.c adds to fuse-native's addon. */
type AttrCacheBinding = Pick<FuseAddon, 'ossencfs_attr_cache_put' | 'ossencfs_attr_cache_forget' | 'ossencfs_attr_cache_clear' | 'ossencfs_attr_cache_stats'>;

/** fuse-native's stat array (its getStatArray; read by populate_stat in C): 18 u32, 64-bit values low word first, times in ms. */
const STAT_INTS = 18;
const TWO_32 = 2 ** 32;
const littleEndian = endianness() === 'LE';

const ms = (t: Date | number): number => (typeof t === 'number' ? t : t.getTime());

/** An entry waiting for the next batch into C. */
interface Pending {
  stat: Stat;
  holdMs: number;
}

/** Bytes of `path`'s record as attrCachePut reads it: [u32 path length][path, zero-padded to 4 bytes][u32 hold, ms][stat array]. */
function recordBytes(path: string): number {
  return 4 + ((Buffer.byteLength(path) + 3) & ~3) + 4 + STAT_INTS * 4;
}

/** Writes `path`'s record into `out` at `at`; where the next one starts. */
function writeRecord(out: Buffer, at: number, path: string, { stat, holdMs }: Pending): number {
  const write = (value: number, offset: number) => (littleEndian ? out.writeUInt32LE(value, offset) : out.writeUInt32BE(value, offset));
  const length = out.write(path, at + 4);
  write(length, at);
  let next = at + 4 + ((length + 3) & ~3);
  const ints = [
    Math.min(Math.ceil(holdMs), TWO_32 - 1),
    stat.mode, stat.uid, stat.gid, ...split64(stat.size), stat.dev ?? 0, stat.nlink, stat.ino ?? 0, stat.rdev ?? 0,
    stat.blksize ?? 0, ...split64(stat.blocks ?? 0), ...split64(ms(stat.atime)), ...split64(ms(stat.mtime)), ...split64(ms(stat.ctime)),
  ];
  for (const value of ints) {
    write(value, next);
    next += 4;
  }
  return next;
}

function split64(value: number): [number, number] {
  return [value % TWO_32, Math.floor(value / TWO_32)];
}

/**
 * The attributes of a listing's names, handed to fuse-native's C side (native/fuse-native/attr_cache.c)
 * so the kernel's LOOKUP of each name (`ls -l`, `find`, rsync's lstat) is answered without waking
 * the JavaScript thread. An entry waits there for its first use, as it would in the filesystem's
 * own cache (which then keeps its copy for the TTL only), and lives for the TTL after it.
 * It is the attribute cache's mirror (src/fuse/attrMirror.ts): `forget(path)` when the path changes
 * or JavaScript answered a getattr of it itself (that was the first use; see attr_cache.c), and
 * `clear()` when a whole subtree changes. So the C side never answers what JavaScript would not
 * have at that moment.
 *
 * Puts are batched per turn of the event loop: one call into C per batch of HEAD answers.
 */
export class NativeAttrCache {
  private batch = new Map<string, Pending>();
  private flushScheduled = false;
  /** Whether C may hold anything: false from a clear() to the next batch, when forget() need not call into C. */
  private nativeHolds = false;

  private constructor(
    private readonly binding: AttrCacheBinding,
    private readonly lifetime: { ttlMs: number },
    private readonly log: Logger,
  ) {}

  /** The table of `addon` (by default the one fuse-native's mount uses); undefined when it was built without one. */
  static load(lifetime: { ttlMs: number }, log: Logger, addon: Partial<FuseAddon> = fuseAddon()): NativeAttrCache | undefined {
    const { ossencfs_attr_cache_put, ossencfs_attr_cache_forget, ossencfs_attr_cache_clear, ossencfs_attr_cache_stats } = addon;
    if (!ossencfs_attr_cache_put || !ossencfs_attr_cache_forget || !ossencfs_attr_cache_clear || !ossencfs_attr_cache_stats) return undefined;
    return new NativeAttrCache({ ossencfs_attr_cache_put, ossencfs_attr_cache_forget, ossencfs_attr_cache_clear, ossencfs_attr_cache_stats }, lifetime, log);
  }

  /** Whether it took the entry, to hold at most `holdMs` before its first use (with a TTL of 0 nothing is cached anywhere). */
  put(path: string, stat: Stat, holdMs: number): boolean {
    if (this.lifetime.ttlMs <= 0) return false;
    this.batch.set(path, { stat, holdMs });
    if (!this.flushScheduled) {
      this.flushScheduled = true;
      setImmediate(() => this.flush());
    }
    return true;
  }

  /** Forgets everything, including puts not yet handed over (they were read before whatever is changing now). */
  clear(): void {
    this.batch.clear();
    if (!this.nativeHolds) return;
    this.binding.ossencfs_attr_cache_clear();
    this.nativeHolds = false;
  }

  forget(path: string): void {
    this.batch.delete(path);
    if (this.nativeHolds) this.binding.ossencfs_attr_cache_forget(path);
  }

  /** Entries held in C, and getattrs answered there since the process started. */
  private stats(): { entries: number; hits: number } {
    const [entries, hits] = this.binding.ossencfs_attr_cache_stats();
    return { entries, hits };
  }

  private flush(): void {
    this.flushScheduled = false;
    if (this.batch.size === 0) return;
    // One buffer for the whole batch: a listing's page is a thousand records.
    let bytes = 0;
    for (const path of this.batch.keys()) bytes += recordBytes(path);
    const records = Buffer.alloc(bytes);
    let at = 0;
    for (const [path, pending] of this.batch) at = writeRecord(records, at, path, pending);
    const put = this.batch.size;
    this.batch.clear();
    this.binding.ossencfs_attr_cache_put(records, this.lifetime.ttlMs);
    this.nativeHolds = true;
    const { entries, hits } = this.stats();
    this.log.debug(`native attribute cache: ${put} put, ${entries} held, ${hits} lookups answered there so far`);
  }
}
