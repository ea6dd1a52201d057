import { allocateOnHugePages } from '../util/allocator.js';
import { Collector } from '../util/collector.js';
import { BufferPool } from './bufferPool.js';
import type { PieceBuffers } from './pieceBuffers.js';
import { COLLECT_AFTER, RSS_TARGET_MARGIN, SPARE_BYTES } from '../tuning.js';

/**
 * What memory under the budget is for: blocks held by the block cache; blocks being fetched for
 * readers (a read-ahead run, or the one block of a random read); parts of uploads being filled and
 * sent; new content open files hold in memory until they close or move it to a staging file. Only
 * `cache` can be reclaimed: the others are data on its way somewhere.
 */
export type Account = 'cache' | 'readAhead' | 'writeParts' | 'staging';

const ACCOUNTS: readonly Account[] = ['cache', 'readAhead', 'writeParts', 'staging'];

/**
 * The part of the allowance an account may ask room for (MemoryBudget.room): read-ahead gets a
 * quarter, so that in a small budget blocks fetched ahead do not push out the blocks being read,
 * to be fetched again.
 */
const SHARE: Record<Account, number> = { cache: 1, readAhead: 1 / 4, writeParts: 1, staging: 1 };

/** RSS the process should stay under, and its memory in use now (util/allocator.ts memoryInUse). */
export interface ProcessTarget {
  rss: number;
  inUse: () => number;
  /** Told who holds the budget's memory each time the process's memory in use goes past its target (less the margin): a diagnosis for the log. */
  exceeded?: (holders: Holding[]) => void;
}

/** Where the budget's memory is, in bytes. */
export type MemoryUsage = Record<Account, number> & {
  /** Buffers given back and kept for reuse. */
  spare: number;
  /** Every account and the spares. Above `allowance` only when what cannot be reclaimed is. */
  total: number;
  /** What total may reach now: the budget's size, or less for the process's memory target. */
  allowance: number;
};

/** A lease's bytes, by account and owner. */
export interface Holding {
  account: Account;
  owner: string;
  bytes: number;
}

/** What a Lease asks of its budget. */
interface Books {
  take(size: number): Buffer;
  give(buffer: Buffer): void;
  count(account: Account, bytes: number): void;
  fit(): void;
  forget(lease: Lease): void;
}

/**
 * Memory lent from a budget to one owner, counted in one account: the buffers it takes, less
 * those it gives back or reports lost. end() writes off whatever is still out, for an owner whose
 * job failed before it could give everything back; a buffer given back after that is dropped.
 */
export class Lease implements PieceBuffers {
  private held = 0;
  private ended = false;

  constructor(
    private readonly books: Books,
    readonly account: Account,
    /** Who holds it, for a reader of usage figures: "block cache", "upload of docs/a.bin". */
    readonly owner: string,
  ) {}

  /** Bytes lent and not yet back. */
  get bytes(): number {
    return this.held;
  }

  /** A buffer of exactly `size` bytes: a spare when one fits, else fresh memory. Never refused: the budget reclaims cached blocks to make room. */
  take(size: number): Buffer {
    if (this.ended) throw new Error(`${this.owner}: memory taken after its lease ended`);
    const buffer = this.books.take(size);
    this.counted(size);
    this.books.fit();
    return buffer;
  }

  /**
   * `bytes` more of the owner's own memory (allocated by it, not by take()) count in this lease
   * until it ends; room is made for them as for a buffer taken.
   */
  own(bytes: number): void {
    if (this.ended) throw new Error(`${this.owner}: memory counted after its lease ended`);
    this.counted(bytes);
    this.books.fit();
  }

  /** A buffer from take() back, for reuse by any lease. */
  give(buffer: Buffer): void {
    if (this.ended) return;
    this.counted(-buffer.length);
    this.books.give(buffer);
    this.books.fit();
  }

  /** `size` bytes from take() whose memory went elsewhere (detached by a worker job, kept by a socket). */
  lost(size: number): void {
    if (!this.ended) this.counted(-size);
  }

  /** Moves `bytes` from this lease to another one: a fetched block becomes a cached one. */
  pass(bytes: number, to: Lease): void {
    this.counted(-bytes);
    to.counted(bytes);
  }

  /** Writes off what is still lent and closes the lease; a lease with nothing out just closes. */
  end(): void {
    if (this.ended) return;
    this.counted(-this.held);
    this.ended = true;
    this.books.forget(this);
  }

  private counted(bytes: number): void {
    this.held += bytes;
    this.books.count(this.account, bytes);
  }
}

/**
 * The mount's one memory budget: every block, spare and part buffer the data path holds, and the
 * new content open files keep in memory, counts in one of its accounts, through a lease that names
 * its owner. A lease's take() is never refused: when the budget is full, spares are let go of,
 * then the reclaimers (the block cache) give back their least recently used blocks. Only what
 * cannot be reclaimed (fetches in flight, parts of uploads, open files' content) takes the total
 * past the allowance: a writer's window of parts in a budget smaller than it.
 *
 * The process as a whole has a memory target too (`target.rss`; the mount's is --cache-size +
 * 150 MiB): Node's own memory beside the budget (code, heap, buffers in flight and awaiting
 * collection) comes to 150-180 MiB under load, and varies with it. Whenever a lease needs fresh
 * memory, the budget looks at the process's memory in use (RSS less what malloc holds free for
 * reuse: RSS alone hardly ever falls) and its allowance becomes what it holds plus what the
 * process can still grow by, never less than half its size. Near the target it stops growing and
 * recycles blocks instead, and lets go of idle spares of another size (a writer's parts) so that
 * their memory serves the next blocks; with room again, it grows back.
 *
 * A buffer given back is handed out again once the event loop turns (memory/bufferPool.ts): a
 * block (or a view of it) is good until then, never across an await on I/O.
 */
export class MemoryBudget {
  private readonly held: Record<Account, number> = { cache: 0, readAhead: 0, writeParts: 0, staging: 0 };
  private readonly spares = new BufferPool();
  private readonly leases = new Set<Lease>();
  private readonly reclaimers: (() => boolean)[] = [];
  private readonly collector = new Collector(COLLECT_AFTER, 'major');
  private readonly spareTarget: number;
  private allowance: number;
  /** A reclaimer gives its buffers back through a lease, which fits again: once is enough. */
  private fitting = false;
  /** The process was past its memory target at the last look (see ProcessTarget.exceeded). */
  private overTarget = false;
  private readonly books: Books = {
    take: (size) => this.spares.take(size) ?? this.fresh(size),
    give: (buffer) => void this.spares.give(buffer),
    count: (account, bytes) => void (this.held[account] += bytes),
    fit: () => this.fit(),
    forget: (lease) => void this.leases.delete(lease),
  };

  constructor(
    /** Bytes the budget holds at most (--cache-size), unless what cannot be reclaimed is more. */
    readonly size: number,
    private readonly target?: ProcessTarget,
  ) {
    if (!(size > 0)) throw new RangeError(`a memory budget needs a positive size, got ${size}`);
    this.allowance = size;
    this.spareTarget = Math.min(SPARE_BYTES, Math.floor(size / 8));
  }

  /** Memory for `owner`, counted in `account`, until the lease ends. */
  lease(account: Account, owner: string): Lease {
    const lease = new Lease(this.books, account, owner);
    this.leases.add(lease);
    return lease;
  }

  /**
   * Registers what the budget can take memory back from when it is full: `reclaim` lets go of
   * some (giving its buffers back through a lease) and says whether it had anything to let go of.
   */
  reclaimWith(reclaim: () => boolean): void {
    this.reclaimers.push(reclaim);
  }

  get usage(): MemoryUsage {
    return { ...this.held, spare: this.spares.bytes, total: this.used, allowance: this.allowance };
  }

  /** The leases holding memory now. */
  holders(): Holding[] {
    return [...this.leases].filter((l) => l.bytes > 0).map((l) => ({ account: l.account, owner: l.owner, bytes: l.bytes }));
  }

  /**
   * Bytes `account` may take now without pushing another one's unreclaimable memory out: its share
   * of the allowance less what it holds, and never more than what the others' unreclaimable
   * memory leaves. For a reader sizing its read-ahead run.
   */
  room(account: Account): number {
    const pinned = ACCOUNTS.filter((a) => a !== 'cache').reduce((sum, a) => sum + this.held[a], 0);
    return Math.max(0, Math.min(Math.floor(this.allowance * SHARE[account]) - this.held[account], this.allowance - pinned));
  }

  private get used(): number {
    return this.held.cache + this.held.readAhead + this.held.writeParts + this.held.staging + this.spares.bytes;
  }

  /** Fresh memory, after fitting the allowance to what the process can still grow by. */
  private fresh(size: number): Buffer {
    if (this.target) {
      const headroom = this.target.rss - RSS_TARGET_MARGIN - this.target.inUse() - size;
      if (headroom < 0 && !this.overTarget) this.target.exceeded?.(this.holders());
      this.overTarget = headroom < 0;
      // Idle buffers of other sizes (a writer's parts, when blocks are wanted): garbage that a
      // collection turns into memory this allocation can reuse.
      if (headroom < 0) this.collector.dropped(this.spares.dropFree());
      this.allowance = Math.min(this.size, Math.max(Math.floor(this.size / 2), this.used + headroom));
    }
    // Shared with the decrypt worker rather than transferred to it and back (crypto/ctrWorker.ts).
    return Buffer.from(allocateOnHugePages(() => new SharedArrayBuffer(size)));
  }

  /**
   * Back within the allowance: spares go first, then what the reclaimers let go of (into the
   * spares, which the next round drops). What is dropped is garbage that V8 would keep resident
   * until its next full collection; the collector asks for one once it adds up. Then, if the
   * headroom plus the spares is less than a read-ahead run, more is reclaimed into spares, so the
   * next fetches reuse memory rather than allocate it while dropping blocks for the garbage
   * collector to free some time later.
   */
  private fit(): void {
    if (this.fitting) return;
    this.fitting = true;
    try {
      while (this.used > this.allowance) {
        const dropped = this.spares.dropOne();
        if (dropped > 0) {
          this.collector.dropped(dropped);
          continue;
        }
        if (!this.reclaim()) return; // only unreclaimable memory: nothing to let go of
      }
      while (this.spares.bytes + this.allowance - this.used < this.spareTarget && this.reclaim());
    } finally {
      this.fitting = false;
    }
  }

  private reclaim(): boolean {
    return this.reclaimers.some((reclaim) => reclaim());
  }
}
