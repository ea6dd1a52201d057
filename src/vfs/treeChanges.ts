import type { ObjectHead } from '../store/ObjectStore.js';
import type { Attr } from './attributes.js';
import type { AttrCache } from './attrCache.js';
import type { DeferredAttrs } from './deferredAttrs.js';
import type { LocalTimes } from './localTimes.js';
import type { Lookups } from './lookups.js';

/**
 * What the mount's caches learn from a change it made itself: the attributes an object now has,
 * local changes that were lost, and directories whose entries changed.
 */
export class TreeChanges {
  constructor(
    private readonly meta: AttrCache,
    private readonly lookups: Lookups,
    private readonly times: LocalTimes,
    private readonly attrWrites: DeferredAttrs,
  ) {}

  /**
   * An upload or a copy (a rename, an attribute change landing) made the object at `path`, whose
   * attributes are now `attr`. What an earlier HEAD said is forgotten (a metadata-only copy may
   * keep the ETag and the second); the write's own answer, when it said when it made the object,
   * stands in for it (see Lookups.wrote).
   */
  written(path: string, attr: Attr, made: ObjectHead | undefined): void {
    this.meta.added(path, attr);
    if (made) this.lookups.wrote(path, made);
  }

  /** Local changes under `path` were dropped: the bucket's version (or none) is what the name holds. */
  dropped(path: string): void {
    this.meta.invalidateTree(path);
  }

  /** Entries in these directories were created, removed or renamed: their mtime and ctime move (see LocalTimes). */
  entriesChanged(...dirs: string[]): void {
    const now = Date.now();
    for (const dir of dirs) {
      this.times.entriesChanged(dir, now);
      this.meta.retime(dir, (attr) => this.times.apply(dir, attr));
      this.attrWrites.retime(dir, (attr) => this.times.apply(dir, attr));
    }
  }
}
