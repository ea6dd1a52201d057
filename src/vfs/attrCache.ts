import { LRUCache } from 'lru-cache';
import { describes, indexed, type IndexedHead, type ObjectIdentity } from '../secure/index.js';
import type { ObjectHead, ObjectInfo } from '../store/ObjectStore.js';
import type { Attr } from './attributes.js';
import { baseName, parentOf } from './namespace.js';
import { ATTR_CACHE_ENTRIES, CONFIRMED_HEAD_BYTES, CONFIRMED_HEADS_BYTES, PREFETCH_HOLD_MS, PREFETCH_HOLD_PER_NAME_MS } from '../tuning.js';

/** What a lookup found: attributes, or a remembered absence. */
export type Lookup = Attr | 'missing';

/**
 * What a HEAD found for a path, and which version of the object it described: the whole
 * IndexedHead, metadata included, when that is news to the directory's index
 * (src/secure/directoryIndex.ts); what came from the index is not kept twice, it is in the bucket.
 */
interface Confirmed {
  of: ObjectIdentity | IndexedHead;
  attr: Attr;
}

/** What a remembered HEAD costs in memory, about: its metadata's text, when it keeps it, and the rest (CONFIRMED_HEAD_BYTES). */
function confirmedBytes(c: Confirmed): number {
  let bytes = CONFIRMED_HEAD_BYTES;
  if ('meta' in c.of) for (const [name, value] of Object.entries(c.of.meta)) bytes += name.length + value.length;
  return bytes;
}

export interface AttrCacheOptions {
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
 * What the mount itself knows of paths ahead of the bucket — its open files and the attribute
 * changes it has not written yet — laid over the cache: what it says wins.
 */
export interface AttrOverlay {
  attr(path: string): Attr | undefined;
  isOpen(path: string): boolean;
  /** Names of the files open in the directory `dir` (new ones may not be in the bucket yet). */
  openNames(dir: string): Iterable<string>;
}

/**
 * A copy of held attributes kept outside this cache (fuse-native's C table, src/fuse/attrMirror.ts),
 * which answers the kernel without asking here. It holds what `hold` takes until its first use
 * (at most `holdMs`), then for the TTL, and drops whatever it is told to: the cache tells it of
 * every change, so it never answers what the cache would not.
 */
export interface AttrMirror {
  /** Offered an attribute fetched ahead for a listing's name, to hold at most `holdMs`; true if it holds it. */
  hold(path: string, attr: Attr, holdMs: number): boolean;
  /** `path`'s attributes changed, or were used here (its first use is then over). */
  drop(path: string): void;
  /** Everything at or below `dir` changed (a directory rename). */
  dropTree(dir: string): void;
}

/** A fetch of a path's attributes under way: stale once the path is invalidated, and then never cached. */
export interface Fetch {
  readonly stale: boolean;
}

/**
 * Every attribute and listing the mount believes, and for how long: the one place that decides
 * what a path is without asking the bucket. Attributes and listings are kept for the attribute TTL
 * (rclone's --dir-cache-time, s3fs's stat cache); a fresh listing that lacks a name is a negative
 * entry; attributes fetched ahead for a listing are held until their first use; open files and
 * changes not yet written (the AttrOverlay) win over all of it. The mount's own changes update it
 * at once (added, removed, retime, invalidate, invalidateTree), and each tells the mirror, if any,
 * and makes stale the fetches of those paths under way, so only other writers to the bucket are
 * seen late, by at most the TTL. A TTL of 0 caches nothing.
 *
 * Past the TTL, a listing that shows an object with the ETag, size and Last-Modified second its last
 * HEAD saw reuses that HEAD's attributes (so `ls -l` of a big directory a second time costs a LIST,
 * not a HEAD per file). What that can miss: another client changing only an object's metadata
 * (chmod, touch: a copy onto itself, which keeps the ETag) within the same second as its previous
 * change; the mount's own changes drop what was confirmed.
 */
export class AttrCache {
  private readonly attrs: LRUCache<string, Lookup> | undefined;
  private readonly listings: LRUCache<string, Listing> | undefined;
  private readonly confirmed: LRUCache<string, Confirmed> | undefined;
  private readonly fetches = new Map<string, Set<{ stale: boolean }>>();
  private mirror: AttrMirror | undefined;
  private readonly clock: { now(): number };

  constructor(
    private readonly ttlMs: number,
    readonly overlay: AttrOverlay,
    o: AttrCacheOptions = {},
  ) {
    this.clock = o.clock ?? performance;
    if (ttlMs <= 0) return;
    const clock = o.clock ? { perf: o.clock } : {};
    this.attrs = new LRUCache<string, Lookup>({ max: o.entries ?? ATTR_CACHE_ENTRIES, ttl: ttlMs, ...clock });
    // Expired listings stay (until evicted) so staleListing() can tell a directory the mount
    // listed lately; get() still returns only fresh ones.
    this.listings = new LRUCache<string, Listing>({ max: 2_000, ttl: ttlMs, noDeleteOnStaleGet: true, ...clock });
    this.confirmed = new LRUCache<string, Confirmed>({ maxSize: CONFIRMED_HEADS_BYTES, sizeCalculation: confirmedBytes });
  }

  /** How long the mirror keeps what it takes from its first use on (the hold before it comes with each). */
  get heldLifetime(): { ttlMs: number } {
    return { ttlMs: this.ttlMs };
  }

  /** From now on `mirror` is offered held attributes and told of every change. */
  mirrorTo(mirror: AttrMirror): void {
    this.mirror = mirror;
  }

  /** A HEAD of the object at `path` found `attr`; `slackS`: its date may be that many seconds late. */
  confirm(path: string, head: ObjectHead, attr: Attr, slackS = 0): void {
    this.confirmed?.set(path, { of: indexed(baseName(path), head, slackS), attr });
  }

  /** The directory's index says the object `of` at `path` has `attr` (its metadata stays in the index). */
  confirmIndexed(path: string, of: ObjectIdentity, attr: Attr): void {
    this.confirmed?.set(path, { of, attr });
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

  /**
   * What `path` is, for use: the overlay's word, else a cached entry, else absent when a fresh
   * listing of the parent lacks the name (see used()). Undefined: only the bucket can say.
   */
  lookup(path: string): Lookup | undefined {
    const local = this.overlay.attr(path);
    if (local) return local;
    const known = this.known(path);
    if (known !== undefined) this.used(path);
    return known;
  }

  /** What lookup() would answer, without using it. */
  known(path: string): Lookup | undefined {
    const local = this.overlay.attr(path);
    if (local) return local;
    const hit = this.attrs?.get(path);
    if (hit !== undefined) return hit;
    const siblings = this.listings?.get(parentOf(path));
    return siblings && !siblings.has(baseName(path)) ? 'missing' : undefined;
  }

  /**
   * `path`'s attributes were used (a lookup answered them, here or by a fetch): a held entry's first
   * use, from which it lives for the TTL like any other; and the mirror drops its copy, whose first
   * use this was, or a later one there would start its TTL again.
   */
  used(path: string): void {
    const hit = this.attrs?.get(path);
    if (hit !== undefined && this.attrs!.getRemainingTTL(path) > this.ttlMs) this.attrs!.set(path, hit);
    this.mirror?.drop(path);
  }

  /**
   * A fetch of `path`'s attributes starts. What it finds is taken in by fetched(), unless `path`
   * changed meanwhile: then the fetch is stale (a lookup must not join it) and its answer is not kept.
   */
  fetching(path: string): Fetch {
    const fetch = { stale: false };
    let under = this.fetches.get(path);
    if (!under) this.fetches.set(path, (under = new Set()));
    under.add(fetch);
    return fetch;
  }

  /**
   * A fetch ended with `found` (undefined: it failed). `listedBefore`: it was fetched ahead for a
   * listing's name, after that many others, so it waits for its first use (see hold()).
   */
  fetched(path: string, fetch: Fetch, found: Lookup | undefined, listedBefore?: number): void {
    const under = this.fetches.get(path);
    under?.delete(fetch as { stale: boolean });
    if (under?.size === 0) this.fetches.delete(path);
    if (found === undefined || fetch.stale) return;
    if (listedBefore !== undefined) this.hold(path, found, listedBefore);
    else this.attrs?.set(path, found);
  }

  /**
   * Attributes fetched ahead of use, for the names of a listing (ls -l, a file manager): held until
   * their first use, then kept for the TTL. A listing of thousands of names takes longer than the
   * TTL to go through, and its first entries would otherwise expire before the program that asked
   * for the listing gets to them, costing each a second HEAD. The hold is PREFETCH_HOLD_MS, and
   * PREFETCH_HOLD_PER_NAME_MS more for each of the `listedBefore` names before it in its listing,
   * which the program goes through first: the 100,000th name of a directory is reached later
   * than the 100th. The mirror is offered them first (nothing the overlay knows better): one it
   * takes waits there for its first use, and the copy here lives for the TTL from now, as that
   * use is never seen here and must not restart a hold.
   */
  hold(path: string, found: Lookup, listedBefore = 0): void {
    const holdMs = Math.max(this.ttlMs, PREFETCH_HOLD_MS + listedBefore * PREFETCH_HOLD_PER_NAME_MS);
    const handedOn = found !== 'missing' && this.overlay.attr(path) === undefined && (this.mirror?.hold(path, found, holdMs) ?? false);
    this.attrs?.set(path, found, handedOn ? {} : { ttl: holdMs });
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
    this.changed(path);
    this.attrs?.set(path, attr);
    this.confirmed?.delete(path);
    this.listings?.get(parentOf(path))?.set(baseName(path), attr.kind === 'dir' ? 'dir' : 'object');
  }

  /** The mount changed `path`'s times in place (see LocalTimes): a cached entry changes and keeps its lifetime. */
  retime(path: string, change: (attr: Attr) => Attr): void {
    this.changed(path);
    const hit = this.attrs?.get(path);
    if (hit !== undefined && hit !== 'missing') this.attrs!.set(path, change(hit), { noUpdateTTL: true });
  }

  /** The mount removed `path`. */
  removed(path: string): void {
    this.changed(path);
    this.attrs?.set(path, 'missing');
    this.confirmed?.delete(path);
    this.listings?.get(parentOf(path))?.delete(baseName(path));
  }

  /** Forgets what is known of `path`'s attributes: the next lookup asks the bucket (or its parent's listing). */
  invalidate(path: string): void {
    this.changed(path);
    this.attrs?.delete(path);
    this.confirmed?.delete(path);
  }

  /** The overlay answers for `path` from now on (a file was opened): what the mirror holds of it goes. */
  overlaid(path: string): void {
    this.changed(path);
  }

  /** Forgets everything at or below `path`, and its parent's listing (a directory rename moves a whole subtree). */
  invalidateTree(path: string): void {
    const below = path === '/' ? '/' : `${path}/`;
    const within = (key: string): boolean => key === path || key.startsWith(below);
    for (const cache of [this.attrs, this.listings, this.confirmed]) {
      if (!cache) continue;
      for (const key of [...cache.keys()]) if (within(key)) cache.delete(key);
    }
    this.listings?.delete(parentOf(path));
    for (const [key, fetches] of this.fetches) if (within(key)) for (const fetch of fetches) fetch.stale = true;
    this.mirror?.dropTree(path);
  }

  /** `path`'s attributes change now: fetches of them under way are stale, and the mirror's copy goes. */
  private changed(path: string): void {
    for (const fetch of this.fetches.get(path) ?? []) fetch.stale = true;
    this.mirror?.drop(path);
  }
}
