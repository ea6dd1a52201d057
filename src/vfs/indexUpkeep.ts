import { LRUCache } from 'lru-cache';
import type { Logger } from '../log.js';
import { DirectoryIndexes, type IndexedHead, type ObjectIdentity } from '../secure/index.js';
import type { ObjectInfo } from '../store/ObjectStore.js';
import { INDEX_MIN_OBJECTS, INDEX_QUIET_MS, INDEX_SEEDED_KEPT, INDEX_STALE_MAX } from '../tuning.js';
import type { Attr } from './attributes.js';

/** What the mount keeps of an index entry while a listing uses it: the object it describes and its attributes. */
export interface IndexSeed {
  name: string;
  of: ObjectIdentity;
  attr: Attr;
}

/** What the upkeep asks of the mount's lookups. */
export interface IndexSource {
  /** What to keep of an entry of `dir`'s index as it is read (its metadata is not kept); undefined: nothing. */
  take(dir: string, entry: IndexedHead): IndexSeed | undefined;
  /** Takes in seeds of `dir`'s index (what the mount knows better stays). */
  seed(dir: string, seeds: readonly IndexSeed[]): void;
  /**
   * Every object of `dir` now (one listing), with what a HEAD found of each where the mount knows
   * it still holds, else the `previous` index's entry where that still does.
   */
  current(dir: string, previous: ReadonlyMap<string, IndexedHead>): Promise<IndexedHead[]>;
}

interface Staleness {
  /** Listed objects no index entry or earlier HEAD covered, at the last listing. */
  uncovered: number;
  /** Objects the mount wrote since. */
  written: number;
  /** Objects at the last listing. */
  objects: number;
  timer?: NodeJS.Timeout;
}

/**
 * Keeps directories' attribute indexes (secure/directoryIndex.ts) in use: reads a directory's
 * index beside its first listing (and again when a listing shows another), and writes a fresh one
 * once enough of its objects had to be asked for one by one — after a walk or `ls -l` of a
 * directory without one, or after the mount wrote many files there. A read-only mount only reads.
 * An index is a hint: any failure to read or write one costs HEADs, never an error.
 */
export class IndexUpkeep {
  /** ETag of the index each directory was seeded from; '' when it had none. */
  private readonly seeded = new LRUCache<string, string>({ max: INDEX_SEEDED_KEPT });
  private readonly stale = new Map<string, Staleness>();
  private readonly writing = new Map<string, Promise<void>>();

  constructor(
    private readonly indexes: DirectoryIndexes,
    private readonly source: IndexSource,
    private readonly o: { writable: boolean; log: Logger; dirKey: (dir: string) => string },
  ) {}

  /**
   * For one listing of `dir`: a function to call with each page's objects before using them,
   * which resolves once the directory's index (when there is a new one) has seeded the cache. A
   * directory never seen is read at once, beside the first page, and seeds each page's objects as
   * they come (checking 10,000 entries' MACs before the first page would hold it back); later, it
   * is read only when a page shows an index other than the one read, and seeds all at once.
   */
  seeding(dir: string): (objects: readonly ObjectInfo[]) => Promise<void> {
    const dirKey = this.o.dirKey(dir);
    const indexKey = DirectoryIndexes.keyOf(dirKey);
    const read = this.seeded.has(dir) ? undefined : this.read(dir, dirKey);
    return async (objects) => {
      const listed = objects.find((o) => o.key === indexKey);
      if (listed && read) this.seeded.set(dir, listed.etag);
      else if (listed && this.seeded.get(dir) !== listed.etag) {
        this.seeded.set(dir, listed.etag);
        const reread = await this.read(dir, dirKey);
        if (reread) this.source.seed(dir, [...reread.values()]);
        return;
      }
      const index = await read;
      if (index) this.source.seed(dir, objects.flatMap((o) => index.get(o.key.slice(dirKey.length)) ?? []));
    };
  }

  /** The seeds of `dir`'s index by name; undefined when it has none or it cannot be used. */
  private read(dir: string, dirKey: string): Promise<ReadonlyMap<string, IndexSeed> | undefined> {
    this.seeded.set(dir, '');
    const seeds = new Map<string, IndexSeed>();
    const take = (entry: IndexedHead): void => {
      const seed = this.source.take(dir, entry);
      if (seed) seeds.set(seed.name, seed);
    };
    return this.indexes.each(dirKey, take).then(
      (found) => (found ? seeds : undefined),
      (err: Error) => {
        this.o.log.debug(`index of ${dir} not used: ${err.message}`);
        return undefined;
      },
    );
  }

  /** A listing of `dir` showed `objects` objects, `uncovered` of them needing a HEAD each. */
  listed(dir: string, objects: number, uncovered: number): void {
    const s = this.stateOf(dir);
    s.objects = objects;
    s.uncovered = uncovered;
    this.consider(dir, s);
  }

  /** The mount wrote an object in `dir` (the index may describe its old version, or lack it). */
  wrote(dir: string): void {
    const s = this.stateOf(dir);
    s.written++;
    this.consider(dir, s);
  }

  /** Something happened in `dir` (a HEAD came in): a rewrite due waits for quiet. */
  touched(dir: string): void {
    const s = this.stale.get(dir);
    if (s?.timer) this.consider(dir, s);
  }

  /** Writes every index due now (unmount). */
  async flush(): Promise<void> {
    const due = [...this.stale].filter(([, s]) => s.timer !== undefined);
    for (const [, s] of due) clearTimeout(s.timer);
    await Promise.all([...due.map(([dir]) => this.rewrite(dir)), ...this.writing.values()]);
  }

  private stateOf(dir: string): Staleness {
    let s = this.stale.get(dir);
    if (!s) this.stale.set(dir, (s = { uncovered: 0, written: 0, objects: 0 }));
    return s;
  }

  private consider(dir: string, s: Staleness): void {
    const objects = Math.max(s.objects, s.written);
    if (!this.o.writable || objects < INDEX_MIN_OBJECTS) return;
    const due = Math.min(INDEX_STALE_MAX, Math.max(1, Math.ceil(objects / 100)));
    if (s.uncovered + s.written < due) return;
    clearTimeout(s.timer);
    s.timer = setTimeout(() => void this.rewrite(dir), INDEX_QUIET_MS);
    s.timer.unref();
  }

  /** A fresh index of `dir` from a listing and what the mount knows of each object; one at a time per directory. */
  private rewrite(dir: string): Promise<void> {
    this.stale.delete(dir);
    const before = this.writing.get(dir) ?? Promise.resolve();
    const done = before
      .then(async () => {
        const dirKey = this.o.dirKey(dir);
        // What the mount took in from the index it kept no copy of: read again, checked again.
        const previous = await this.indexes.read(dirKey).catch(() => undefined);
        const entries = await this.source.current(dir, new Map((previous ?? []).map((e) => [e.name, e])));
        if (entries.length === 0) return;
        const { etag } = await this.indexes.write(dirKey, entries);
        this.seeded.set(dir, etag);
        this.o.log.debug(`index of ${dir} written: ${entries.length} entries`);
      })
      .catch((err: Error) => this.o.log.debug(`index of ${dir} not written: ${err.message}`))
      .finally(() => {
        if (this.writing.get(dir) === done) this.writing.delete(dir);
      });
    this.writing.set(dir, done);
    return done;
  }
}
