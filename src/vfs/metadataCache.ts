import { LRUCache } from 'lru-cache';
import { describes, indexed, type IndexedHead, type ObjectIdentity } from '../secure/index.js';
import type { ObjectHead, ObjectInfo } from '../store/ObjectStore.js';
import type { Attr } from './attributes.js';
import { baseName, parentOf } from './namespace.js';

/** What a lookup found: attributes, or a remembered absence. */
export type Lookup = Attr | 'missing';

/**
 * Longest a prefetched attribute waits for its first use; see setPrefetched. Long enough for `ls -l`
 * to get through tens of thousands of names; it also bounds how much staler than the TTL a listed
 * name's attributes can be before their first use.
 */
const PREFETCH_HOLD_MS = 10_000;

/** How long an attribute fetched ahead for a listing waits for its first use (see setPrefetched). */
export const prefetchHoldMs = (ttlMs: number): number => Math.max(ttlMs, PREFETCH_HOLD_MS);

/**
 * Objects whose HEAD is remembered past the TTL, with the object's identity, so that a later listing
 * showing the same object can reuse its attributes instead of asking again (see unchanged()).
 */
const CONFIRMED_ENTRIES = 50_000;

/**
 * What a HEAD found for a path, and which version of the object it described: the whole
 * IndexedHead, metadata included, when that is news to the directory's index
 * (src/secure/directoryIndex.ts); what came from the index is not kept twice, it is in the bucket.
 */
interface Confirmed {
  of: ObjectIdentity | IndexedHead;
  attr: Attr;
}

/** Paths whose attributes are kept; the cache sets aside memory for all of them when it is made. */
const DEFAULT_ENTRIES = 500_000;

export interface MetadataCacheOptions {
  /** Paths whose attributes are kept (default 500,000). */
  entries?: number;
  /** What the TTLs are measured on (default performance.now): a test's fake clock. */
  clock?: { now(): number };
}

/** What a listing says a name is: an object (file or symlink) or a directory (marker or prefix). */
export type EntryKind = 'object' | 'dir';
/** A directory's entries by name. */
export type Listing = Map<string, EntryKind>;

/**
 * Attributes and directory listings, each kept for the attribute TTL (rclone's --dir-cache-time,
 * s3fs's stat cache). The mount's own changes update it at once, so only other writers to the
 * bucket are seen late, by at most the TTL. A TTL of 0 caches nothing.
 *
 * Past the TTL, a listing that shows an object with the ETag, size and Last-Modified second its last
 * HEAD saw reuses that HEAD's attributes (so `ls -l` of a big directory a second time costs a LIST,
 * not a HEAD per file). What that can miss: another client changing only an object's metadata
 * (chmod, touch: a copy onto itself, which keeps the ETag) within the same second as its previous
 * change; the mount's own changes drop what was confirmed.
 */
export class MetadataCache {
  private readonly attrs: LRUCache<string, Lookup> | undefined;
  private readonly listings: LRUCache<string, Listing> | undefined;
  private readonly confirmed: LRUCache<string, Confirmed> | undefined;
  private readonly clock: { now(): number };

  constructor(
    private readonly ttlMs: number,
    o: MetadataCacheOptions = {},
  ) {
    this.clock = o.clock ?? performance;
    if (ttlMs <= 0) return;
    const clock = o.clock ? { perf: o.clock } : {};
    this.attrs = new LRUCache<string, Lookup>({ max: o.entries ?? DEFAULT_ENTRIES, ttl: ttlMs, ...clock });
    // Expired listings stay (until evicted) so staleListing() can tell a directory the mount
    // listed lately; get() still returns only fresh ones.
    this.listings = new LRUCache<string, Listing>({ max: 2_000, ttl: ttlMs, noDeleteOnStaleGet: true, ...clock });
    this.confirmed = new LRUCache<string, Confirmed>({ max: CONFIRMED_ENTRIES });
  }

  /**
   * A HEAD of the object at `path` found `attr`; `slackS`: its date may be that many seconds late.
   * `fromIndex`: it was the directory's index that said so (its metadata is not kept).
   */
  confirm(path: string, head: ObjectHead, attr: Attr, slackS = 0, fromIndex = false): void {
    const entry = indexed(baseName(path), head, slackS);
    const { etag, size, lastModifiedS } = entry;
    this.confirmed?.set(path, { of: fromIndex ? { etag, size, lastModifiedS, slackS } : entry, attr });
  }

  /** Whether a HEAD of `path` is remembered (see confirm). */
  confirms(path: string): boolean {
    return this.confirmed?.has(path) ?? false;
  }

  /** The attributes a HEAD found for `path`, if `listed` (from a listing) is still that object. */
  unchanged(path: string, listed: ObjectInfo): Attr | undefined {
    return this.stillListed(path, listed)?.attr;
  }

  /** What a HEAD (not the index) found of `path`, if `listed` is still that object: its new entry in the directory's index. */
  indexEntry(path: string, listed: ObjectInfo): IndexedHead | undefined {
    const of = this.stillListed(path, listed)?.of;
    return of && 'meta' in of ? of : undefined;
  }

  private stillListed(path: string, listed: ObjectInfo): Confirmed | undefined {
    const known = this.confirmed?.get(path);
    return known && describes(known.of, listed) ? known : undefined;
  }

  attr(path: string): Lookup | undefined {
    const hit = this.attrs?.get(path);
    if (hit !== undefined) {
      this.keep(path, hit);
      return hit;
    }
    // A fresh listing of the parent that lacks the name proves absence without a request.
    const siblings = this.listings?.get(parentOf(path));
    return siblings && !siblings.has(baseName(path)) ? 'missing' : undefined;
  }

  /** A prefetched entry's first use: from now on it lives for the TTL like any other. */
  used(path: string): void {
    const hit = this.attrs?.get(path);
    if (hit !== undefined) this.keep(path, hit);
  }

  private keep(path: string, hit: Lookup): void {
    if (this.attrs!.getRemainingTTL(path) > this.ttlMs) this.attrs!.set(path, hit);
  }

  setAttr(path: string, lookup: Lookup): void {
    this.attrs?.set(path, lookup);
  }

  /**
   * Attributes fetched ahead of use, for the names of a listing (ls -l, a file manager): held until
   * their first use (at most PREFETCH_HOLD_MS), then kept for the TTL. A listing of thousands of
   * names takes longer than the TTL to go through, and its first entries would otherwise expire
   * before the program that asked for the listing gets to them, costing each a second HEAD.
   */
  setPrefetched(path: string, lookup: Lookup): void {
    this.attrs?.set(path, lookup, { ttl: prefetchHoldMs(this.ttlMs) });
  }

  listing(dir: string): Listing | undefined {
    return this.listings?.get(dir);
  }

  /** The last listing of `dir` even when it has expired: how big the directory was, and that the mount uses it. */
  staleListing(dir: string): Listing | undefined {
    return this.listings?.get(dir, { allowStale: true });
  }

  /** Now, on the clock the lifetimes are measured on (for setListing's `since`). */
  now(): number {
    return this.clock.now();
  }

  /**
   * `since`: when the listing began. Its lifetime counts from there, so it expires no later than
   * the attributes its pages handed on, which a reader may have used (starting their TTL) before
   * its last page was in: a listing still fresh has its names' attributes held.
   */
  setListing(dir: string, names: Listing, since?: number): void {
    this.listings?.set(dir, names, since === undefined ? {} : { start: since });
  }

  /** The mount created or replaced `path`. */
  added(path: string, attr: Attr): void {
    this.attrs?.set(path, attr);
    this.confirmed?.delete(path);
    this.listings?.get(parentOf(path))?.set(baseName(path), attr.kind === 'dir' ? 'dir' : 'object');
  }

  /** The mount changed `path`'s times in place (see LocalTimes): a cached entry changes and keeps its lifetime. */
  retime(path: string, change: (attr: Attr) => Attr): void {
    const hit = this.attrs?.get(path);
    if (hit !== undefined && hit !== 'missing') this.attrs!.set(path, change(hit), { noUpdateTTL: true });
  }

  /** The mount removed `path`. */
  removed(path: string): void {
    this.attrs?.set(path, 'missing');
    this.confirmed?.delete(path);
    this.listings?.get(parentOf(path))?.delete(baseName(path));
  }

  /** Forget everything at or below `path` (a directory rename moves a whole subtree). */
  forgetTree(path: string): void {
    const below = path === '/' ? '/' : `${path}/`;
    for (const cache of [this.attrs, this.listings, this.confirmed]) {
      if (!cache) continue;
      for (const key of [...cache.keys()]) if (key === path || key.startsWith(below)) cache.delete(key);
    }
    this.listings?.delete(parentOf(path));
  }
}
