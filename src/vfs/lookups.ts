import { FsError } from '../errors.js';
import type { Logger } from '../log.js';
import { ANSWER_SLACK_S, describes, DirectoryIndexes, headOf, type EncryptedBucket, type IndexedHead } from '../secure/index.js';
import type { ObjectHead, ObjectInfo } from '../store/ObjectStore.js';
import { listPages } from '../store/listPages.js';
import { Collector } from '../util/collector.js';
import { createLimiter } from '../util/limit.js';
import { askedAhead } from '../util/askedAhead.js';
import { type Attr, type AttrPolicy, dirAttr, fileAttr, rootAttr } from './attributes.js';
import { DirectoryWalks } from './directoryWalks.js';
import { type IndexSeed, IndexUpkeep } from './indexUpkeep.js';
import type { LocalTimes } from './localTimes.js';
import type { AttrCache, EntryKind, Fetch, Listing, Lookup } from './attrCache.js';
import { baseName, joinPath, type Namespace, parentOf } from './namespace.js';
import { ATTR_PREFETCH_CONCURRENCY, COLLECT_AFTER, LISTED_ENTRY_GARBAGE, LISTING_PAGES_AHEAD, LOOKUP_LISTING_MAX_ENTRIES } from '../tuning.js';

/**
 * Told after each page of a listing the names it added, in the order the listing gives them; the
 * attributes that page vouched for are held by then.
 */
export type ListingProgress = (added: readonly string[]) => void;

/**
 * What a path is (a file's attributes, a directory, or missing) and what a directory holds, from
 * the metadata cache or the bucket: a HEAD per file, a LIST per directory, with concurrent asks of
 * one path sharing one fetch and a listing's attributes fetched ahead, 64 at a time. The
 * filesystem's mutations keep the same AttrCache up to date; this only reads and fills it.
 */
export class Lookups {
  private readonly lookups = new Map<string, { pending: Promise<Lookup>; fetch: Fetch }>();
  private readonly lookupListings = new Map<string, Promise<Listing>>();
  private readonly prefetchLimit = createLimiter(ATTR_PREFETCH_CONCURRENCY);
  private readonly walks = new DirectoryWalks();
  private readonly walkListings = new Map<string, Promise<Listing>>();
  private readonly indexes: IndexUpkeep;
  /** Full collections through a big listing: what each entry left behind died old, and V8 would let it pile up. */
  private readonly collector = new Collector(COLLECT_AFTER, 'major');

  constructor(
    private readonly bucket: EncryptedBucket,
    private readonly ns: Namespace,
    private readonly meta: AttrCache,
    private readonly options: { policy: AttrPolicy; mountedAt: number; log: Logger; times: LocalTimes; writable: boolean },
  ) {
    this.indexes = new IndexUpkeep(
      new DirectoryIndexes(bucket),
      { take: (dir, entry) => this.indexSeed(dir, entry), seed: (dir, seeds) => this.seed(dir, seeds), current: (dir, previous) => this.indexEntries(dir, previous) },
      { writable: options.writable, log: options.log, dirKey: (dir) => ns.dirKey(dir) },
    );
  }

  /** Writes the directory indexes due (unmount). */
  flushIndexes(): Promise<void> {
    return this.indexes.flush();
  }

  /**
   * Names in a directory: its listing while fresh (for the TTL, as rclone's --dir-cache-time), else
   * listed page by page (1,000 keys a request) with attributes prefetched in parallel.
   */
  async names(dir: string, progress?: ListingProgress): Promise<string[]> {
    return [...(this.meta.listing(dir) ?? (await this.listNames(dir, { prefetchAttrs: true, progress }))).keys()];
  }

  /** What `path` is: the cache's word (with the mount's own laid over it), else the bucket's. */
  async lookup(path: string): Promise<Lookup> {
    if (path === '/') return this.options.times.apply(path, rootAttr(this.options.policy, this.options.mountedAt));
    const cached = this.meta.lookup(path);
    if (cached !== undefined) return cached;
    // One that joins a fetch under way (a listing's prefetch, as in `ls -l`) is no sign of a walk.
    if (!this.lookups.has(path)) this.walkAhead(path);
    const found = await this.fetchOnce(path, () => this.fetchLookup(path));
    this.meta.used(path);
    return found;
  }

  /**
   * A lookup the cache could not answer: if it is one of a walk's (see DirectoryWalks), the
   * attributes of the names after it are fetched ahead. A listing the lookups use anyway (of a
   * directory listed lately) comes first: it vouches for what earlier HEADs found
   * (reuseConfirmed), so only the rest costs a HEAD. A walk just noticed lists the directory for
   * its order alone: that listing never answers a lookup, so another client's new object there is
   * still found at once. This lookup waits for none of it.
   */
  private walkAhead(path: string): void {
    const dir = parentOf(path);
    const ahead = (): void => {
      for (const [name, kind] of this.walks.ahead(dir, baseName(path))) this.prefetchEntry(dir, name, kind, 0);
    };
    const failed = (err: Error): void => this.options.log.debug(`listing ${dir} for a walk failed: ${err.message}`);
    if (this.walks.walking(dir)) {
      const relisting = this.meta.listing(dir) ? undefined : this.listingForLookups(dir);
      if (relisting) relisting.then(ahead, failed);
      else ahead();
    } else if (!this.walkListings.has(dir) && this.walks.missed(dir)) {
      const vouched = new Set<string>();
      const listing = this.meta.listing(dir) ?? this.listNames(dir, { prefetchAttrs: false, remember: false, vouched });
      const pending = Promise.resolve(listing).finally(() => this.walkListings.delete(dir));
      this.walkListings.set(dir, pending);
      pending.then((names) => {
        this.walks.listed(dir, names, vouched);
        ahead();
      }, failed);
    }
  }

  /**
   * Concurrent lookups of one path (a listing's prefetch and the kernel's getattr) share one fetch,
   * unless the path changed since it started. A prefetch's result (`listedBefore`: the names
   * before it in its listing) is held until its first use (see AttrCache.hold).
   */
  private fetchOnce(path: string, fetcher: () => Promise<Lookup>, listedBefore?: number): Promise<Lookup> {
    const joined = this.lookups.get(path);
    if (joined && !joined.fetch.stale) return joined.pending;
    const fetch = this.meta.fetching(path);
    const entry = {
      fetch,
      pending: fetcher().then(
        (fetched) => {
          const found = fetched === 'missing' ? fetched : this.options.times.apply(path, fetched);
          this.meta.fetched(path, fetch, found, listedBefore);
          return found;
        },
        (err: unknown) => {
          this.meta.fetched(path, fetch, undefined, listedBefore);
          throw err;
        },
      ),
    };
    entry.pending.finally(() => this.lookups.get(path) === entry && this.lookups.delete(path)).catch(() => undefined);
    this.lookups.set(path, entry);
    return entry.pending;
  }

  /**
   * What the parent's listing says the name is, when there is one: then one request (a HEAD) gives
   * its attributes. Otherwise a file object, else a directory (marker or prefix), else absent: both
   * asked at once, since a miss — every new file's name — would otherwise wait for two round trips.
   */
  private async fetchLookup(path: string): Promise<Lookup> {
    const parent = parentOf(path);
    const siblings = this.meta.listing(parent) ?? (await this.listingForLookups(parent));
    if (siblings) {
      const kind = siblings.get(baseName(path));
      // The listing may have brought attributes back from an earlier HEAD (reuseConfirmed).
      if (kind === 'object') return this.meta.known(path) ?? this.fetchNamed(path, kind);
      if (kind === 'dir') return this.fetchNamed(path, kind);
      return 'missing';
    }
    // An expired listing too big to list again still says what a name was: a file is most likely
    // still one, so its HEAD is tried alone first (and not asked again below).
    const fileKey = this.ns.fileKey(path);
    const wasFile = this.meta.staleListing(parent)?.get(baseName(path)) === 'object';
    const head = wasFile ? await this.headOrUndefined(fileKey) : undefined;
    if (head) return this.confirmedAttr(path, head);
    const dirKey = this.ns.dirKey(path);
    const [found, below] = await Promise.all([wasFile ? undefined : this.headOrUndefined(fileKey), this.bucket.list(dirKey, { maxKeys: 1 })]);
    if (found) return this.confirmedAttr(path, found);
    if (below.objects.length === 0 && below.prefixes.length === 0) return 'missing';
    const marker = below.objects[0]?.key === dirKey ? await this.headOrUndefined(dirKey) : undefined;
    return dirAttr(marker, this.options.policy, this.options.mountedAt);
  }

  /**
   * A fresh listing of `dir` when the mount listed or created it lately (its listing expired) and
   * it is small: then for the next TTL a lookup of a missing name in it costs no request and of a
   * present one a HEAD, instead of a HEAD and a LIST apiece. A program filling a directory (cp -r,
   * tar x, rsync's temporary names) looks up each new name first. Undefined otherwise: a directory
   * the mount never listed is not listed for a lookup, so another client's new object there is
   * found at once.
   */
  private listingForLookups(dir: string): Promise<Listing> | undefined {
    const last = this.meta.staleListing(dir);
    if (!last || last.size > LOOKUP_LISTING_MAX_ENTRIES) return undefined;
    return this.listingOnce(dir);
  }

  /** A listing of `dir` without attributes, shared by everyone who asks while it is under way. */
  private listingOnce(dir: string): Promise<Listing> {
    let pending = this.lookupListings.get(dir);
    if (!pending) {
      pending = this.listNames(dir, { prefetchAttrs: false }).finally(() => this.lookupListings.delete(dir));
      this.lookupListings.set(dir, pending);
    }
    return pending;
  }

  /**
   * The mount made the object at `path` itself and knows it as a HEAD would (a write that said when
   * it made it): a later listing showing that object again needs no HEAD for it (reuseConfirmed).
   * rsync's no-op second run then costs a LIST per directory instead of a HEAD per file. A write's
   * answer may date the object late (a PutObject's Date is when it answered): see ANSWER_SLACK_S.
   */
  wrote(path: string, head: ObjectHead): void {
    this.meta.confirm(path, head, fileAttr(head, this.options.policy), ANSWER_SLACK_S);
    this.indexes.wrote(parentOf(path));
  }

  /** The object's HEAD, or undefined when there is no such object. */
  async headOrUndefined(key: string): Promise<ObjectHead | undefined> {
    try {
      return await this.bucket.store.head(key);
    } catch (err) {
      if (err instanceof FsError && err.errno === 'ENOENT') return undefined;
      throw err;
    }
  }

  /**
   * Every name in the directory `path` (which is known to be one), remembered as its listing
   * unless `remember` is false (then it answers no lookup). `vouched` gets the names whose
   * attributes the listing vouched for (an earlier HEAD or the index still holds).
   */
  private async listNames(
    path: string,
    { prefetchAttrs, remember = true, vouched, progress }: { prefetchAttrs: boolean; remember?: boolean; vouched?: Set<string>; progress?: ListingProgress },
  ): Promise<Listing> {
    const dirKey = this.ns.dirKey(path);
    const names: Listing = new Map();
    const since = this.meta.now();
    const seeded = this.indexes.seeding(path);
    let [objects, uncovered] = [0, 0];
    for await (const page of askedAhead(listPages(this.bucket, dirKey, '/'), LISTING_PAGES_AHEAD)) {
      await seeded(page.objects);
      const added: string[] = [];
      for (const object of page.objects) {
        const name = this.ns.entryName(dirKey, object.key);
        if (name === undefined) continue;
        if (!names.has(name)) added.push(name);
        names.set(name, 'object');
        objects++;
        const entry = joinPath(path, name);
        // The listing says it is an object: its HEAD alone gives the attributes, unless an earlier one (or the index) still does.
        if (this.reuseConfirmed(entry, object, names.size - 1)) {
          vouched?.add(name);
          continue;
        }
        uncovered++;
        if (prefetchAttrs) this.prefetchEntry(path, name, 'object', names.size - 1);
      }
      for (const prefix of page.prefixes) {
        const name = this.ns.entryName(dirKey, prefix);
        if (name === undefined || names.has(name)) continue;
        names.set(name, 'dir');
        added.push(name);
        if (prefetchAttrs) this.prefetchEntry(path, name, 'dir', names.size - 1);
      }
      progress?.(added);
      this.collector.dropped(page.objects.length * LISTED_ENTRY_GARBAGE);
    }
    // Files created here and not yet uploaded exist too.
    for (const name of this.meta.overlay.openNames(path)) names.set(name, 'object');
    if (remember) this.meta.setListing(path, names, since);
    this.indexes.listed(path, objects, uncovered);
    return names;
  }

  /**
   * What the mount keeps of an entry of `dir`'s index: the object it describes and the attributes
   * its metadata gives, through fileAttr's checks as a HEAD's would; not the metadata itself.
   */
  private indexSeed(dir: string, entry: IndexedHead): IndexSeed | undefined {
    const dirKey = this.ns.dirKey(dir);
    if (this.ns.entryName(dirKey, dirKey + entry.name) !== entry.name) return undefined;
    const { name, etag, size, lastModifiedS, slackS } = entry;
    return { name, of: { etag, size, lastModifiedS, slackS }, attr: fileAttr(headOf(entry, dirKey + name), this.options.policy) };
  }

  /**
   * Takes in a directory index's entries as if their HEADs had just been made, except where the
   * mount knows the object itself: each counts only while a listing shows that object unchanged
   * (reuseConfirmed).
   */
  private seed(dir: string, seeds: readonly IndexSeed[]): void {
    for (const { name, of, attr } of seeds) {
      const path = joinPath(dir, name);
      if (!this.meta.confirms(path)) this.meta.confirmIndexed(path, of, attr);
    }
  }

  /**
   * The index `dir` should have now: one listing, and for each object what the mount's HEADs and
   * writes found of it, else the entry of the `previous` index, while it still describes it.
   */
  private async indexEntries(dir: string, previous: ReadonlyMap<string, IndexedHead>): Promise<IndexedHead[]> {
    const dirKey = this.ns.dirKey(dir);
    const entries: IndexedHead[] = [];
    for await (const page of listPages(this.bucket, dirKey, '/')) {
      for (const object of page.objects) {
        const name = this.ns.entryName(dirKey, object.key);
        if (name === undefined) continue;
        const before = previous.get(name);
        const entry = this.meta.indexEntry(joinPath(dir, name), object) ?? (before && describes(before, object) ? before : undefined);
        if (entry) entries.push(entry);
      }
    }
    return entries;
  }

  /**
   * Re-arms `path`'s attributes from its last HEAD when the listing shows the same object, held as
   * if prefetched (after `listedBefore` names) even over a cached copy (that one may expire before
   * the program that listed gets to the name). Whether it did; prefetch() skips names cached or
   * open anyway.
   */
  private reuseConfirmed(path: string, listed: ObjectInfo, listedBefore: number): boolean {
    if (this.meta.overlay.isOpen(path)) return false;
    const unchanged = this.meta.unchanged(path, listed);
    const known = unchanged && this.options.times.apply(path, unchanged);
    if (known) this.meta.hold(path, known, listedBefore);
    return known !== undefined;
  }

  /**
   * Fetches the attributes of `dir`'s entry `name`, which a listing says is a `kind`, ahead of its
   * use, after `listedBefore` other names.
   */
  private prefetchEntry(dir: string, name: string, kind: EntryKind, listedBefore: number): void {
    const path = joinPath(dir, name);
    if (this.meta.overlay.isOpen(path) || this.meta.known(path) !== undefined || this.lookups.has(path)) return;
    this.fetchOnce(path, () => this.prefetchLimit(() => this.fetchNamed(path, kind)), listedBefore).catch((err: Error) =>
      this.options.log.debug(`attribute prefetch of ${path} failed: ${err.message}`),
    );
  }

  /**
   * What a name a listing gave as a `kind` is now: that kind if it still is one, else the other.
   * The listing may be from before a rename or removal (a walk's is kept): a name it gave as a
   * file may be a directory by now, and the other way round.
   */
  private async fetchNamed(path: string, kind: EntryKind): Promise<Lookup> {
    const asFile = (): Promise<Lookup> => this.fetchFileAttr(path, this.ns.fileKey(path));
    const asDir = (): Promise<Lookup> => this.fetchDirAttr(this.ns.dirKey(path));
    const found = await (kind === 'object' ? asFile() : asDir());
    if (found !== 'missing') return found;
    return kind === 'object' ? asDir() : asFile();
  }

  private async fetchFileAttr(path: string, key: string): Promise<Lookup> {
    const head = await this.headOrUndefined(key);
    return head ? this.confirmedAttr(path, head) : 'missing';
  }

  /** A file's attributes from its HEAD, remembered with the object's identity (see AttrCache.unchanged). */
  private confirmedAttr(path: string, head: ObjectHead): Attr {
    const attr = fileAttr(head, this.options.policy);
    this.meta.confirm(path, head, attr);
    this.indexes.touched(parentOf(path));
    return attr;
  }

  /**
   * A name a listing said is a directory. Without a marker it is one only while something is below
   * it: the listing may be from before the directory was renamed or removed (a walk's is kept).
   */
  private async fetchDirAttr(dirKey: string): Promise<Lookup> {
    const marker = await this.headOrUndefined(dirKey);
    if (!marker) {
      const below = await this.bucket.list(dirKey, { maxKeys: 1 });
      if (below.objects.length === 0 && below.prefixes.length === 0) return 'missing';
    }
    return dirAttr(marker, this.options.policy, this.options.mountedAt);
  }
}
