import { LRUCache } from 'lru-cache';
import type { EntryKind, Listing } from './attrCache.js';
import { WALKS_KEPT, WALK_NAMES_KEPT, WALK_SIGN_MS, WALK_WINDOW } from '../tuning.js';

/** A walked directory's names in listing order, and the run of them attributes were asked for. */
interface Walk {
  listing: Listing;
  entries: [string, EntryKind][];
  /** Names whose attributes the listing itself vouched for: nothing to fetch ahead. */
  vouched: ReadonlySet<string>;
  position: Map<string, number>;
  asked: { from: number; to: number };
}

/**
 * Programs that stat a directory's entries one by one without listing it (rsync's compare,
 * `find -newer`, a backup tool's scan) wait a round trip per name. This notices such a walk (a
 * second lookup in a directory the mount has no listing of), lists the directory once, and from
 * then on names the entries after the walker's position so their attributes can be fetched
 * before it gets there, as sequential read-ahead does for bytes.
 *
 * The listing serves as a hint of order only: each attribute still comes from its own HEAD (or a
 * fresh listing's word that an earlier HEAD still holds), and a name the listing lacks (another
 * client's new object) is looked up as if there were no walk.
 */
export class DirectoryWalks {
  private readonly lastMiss = new LRUCache<string, number>({ max: 1_024 });
  private readonly walks = new LRUCache<string, Walk>({
    max: WALKS_KEPT,
    maxSize: WALK_NAMES_KEPT,
    sizeCalculation: (walk) => Math.max(1, walk.entries.length),
  });

  /** Whether `dir` is being walked: listed for a walk, and its order still remembered. */
  walking(dir: string): boolean {
    return this.walks.has(dir);
  }

  /** A lookup in `dir` (not walked yet) missed the cache: whether that makes it a walk. */
  missed(dir: string, now = Date.now()): boolean {
    const last = this.lastMiss.get(dir);
    if (last !== undefined && now - last < WALK_SIGN_MS) {
      this.lastMiss.delete(dir);
      return true;
    }
    this.lastMiss.set(dir, now);
    return false;
  }

  /** `dir` was listed: walks of it follow this order from now on. */
  listed(dir: string, listing: Listing, vouched: ReadonlySet<string> = new Set()): void {
    if (this.walks.get(dir)?.listing === listing) return;
    const entries = [...listing];
    if (entries.length > WALK_NAMES_KEPT) return;
    this.walks.set(dir, { listing, entries, vouched, position: new Map(entries.map(([name], i) => [name, i])), asked: { from: 0, to: 0 } });
  }

  /**
   * The entries of `dir` from `name` on, up to the window, not handed out before and not vouched
   * for by the listing: what to fetch ahead now that the walker asks for `name`. Empty when `dir`
   * is not being walked or lacks it.
   */
  ahead(dir: string, name: string): [string, EntryKind][] {
    const walk = this.walks.get(dir);
    const at = walk?.position.get(name);
    if (!walk || at === undefined) return [];
    // A walker that jumped (a second pass, a skip) starts a new run.
    const within = at >= walk.asked.from && at < walk.asked.to;
    const from = within ? walk.asked.to : at;
    const to = Math.min(at + WALK_WINDOW, walk.entries.length);
    walk.asked = { from: within ? walk.asked.from : at, to: Math.max(to, from) };
    return walk.entries.slice(from, to).filter(([name]) => !walk.vouched.has(name));
  }
}
