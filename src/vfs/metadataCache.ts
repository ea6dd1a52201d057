import { LRUCache } from 'lru-cache';
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

/** What a listing says a name is: an object (file or symlink) or a directory (marker or prefix). */
export type EntryKind = 'object' | 'dir';
/** A directory's entries by name. */
export type Listing = Map<string, EntryKind>;

/**
 * Attributes and directory listings, each kept for the attribute TTL (rclone's --dir-cache-time,
 * s3fs's stat cache). The mount's own changes update it at once, so only other writers to the
 * bucket are seen late, by at most the TTL. A TTL of 0 caches nothing.
 */
export class MetadataCache {
  private readonly attrs: LRUCache<string, Lookup> | undefined;
  private readonly listings: LRUCache<string, Listing> | undefined;

  constructor(private readonly ttlMs: number) {
    if (ttlMs <= 0) return;
    this.attrs = new LRUCache<string, Lookup>({ max: 500_000, ttl: ttlMs });
    // Expired listings stay (until evicted) so staleListing() can tell a directory the mount
    // listed lately; get() still returns only fresh ones.
    this.listings = new LRUCache<string, Listing>({ max: 2_000, ttl: ttlMs, noDeleteOnStaleGet: true });
  }

  attr(path: string): Lookup | undefined {
    const hit = this.attrs?.get(path);
    if (hit !== undefined) {
      // A prefetched entry's first use: from now on it lives for the TTL like any other.
      if (this.attrs!.getRemainingTTL(path) > this.ttlMs) this.attrs!.set(path, hit);
      return hit;
    }
    // A fresh listing of the parent that lacks the name proves absence without a request.
    const siblings = this.listings?.get(parentOf(path));
    return siblings && !siblings.has(baseName(path)) ? 'missing' : undefined;
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
    this.attrs?.set(path, lookup, { ttl: Math.max(this.ttlMs, PREFETCH_HOLD_MS) });
  }

  listing(dir: string): Listing | undefined {
    return this.listings?.get(dir);
  }

  /** The last listing of `dir` even when it has expired: how big the directory was, and that the mount uses it. */
  staleListing(dir: string): Listing | undefined {
    return this.listings?.get(dir, { allowStale: true });
  }

  setListing(dir: string, names: Listing): void {
    this.listings?.set(dir, names);
  }

  /** The mount created or replaced `path`. */
  added(path: string, attr: Attr): void {
    this.attrs?.set(path, attr);
    this.listings?.get(parentOf(path))?.set(baseName(path), attr.kind === 'dir' ? 'dir' : 'object');
  }

  /** The mount removed `path`. */
  removed(path: string): void {
    this.attrs?.set(path, 'missing');
    this.listings?.get(parentOf(path))?.delete(baseName(path));
  }

  /** Forget everything at or below `path` (a directory rename moves a whole subtree). */
  forgetTree(path: string): void {
    const below = path === '/' ? '/' : `${path}/`;
    for (const cache of [this.attrs, this.listings]) {
      if (!cache) continue;
      for (const key of [...cache.keys()]) if (key === path || key.startsWith(below)) cache.delete(key);
    }
    this.listings?.delete(parentOf(path));
  }
}
