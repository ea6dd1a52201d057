import { LRUCache } from 'lru-cache';
import type { Attr } from './attributes.js';
import { LOCAL_TIMES_KEPT } from '../tuning.js';

interface Times {
  mtime?: number;
  ctime: number;
}

/**
 * Times the mount moved without writing them to the bucket, kept for the mount's life (ms):
 * - a directory's mtime and ctime when an entry in it is created, removed or renamed: writing its
 *   marker each time would add a request to every create, unlink and rename;
 * - a file's ctime when a rename moved it: the copy keeps the object's metadata, and rewriting
 *   that would send the object again.
 * They are laid over what the bucket says (the later of the two), and the next write of the
 * path's attributes carries them. A remount shows what the bucket has.
 */
export class LocalTimes {
  private readonly times = new LRUCache<string, Times>({ max: LOCAL_TIMES_KEPT });

  /** An entry in the directory `dir` was created, removed or renamed at `ms`. */
  entriesChanged(dir: string, ms: number): void {
    this.times.set(dir, { mtime: ms, ctime: ms });
  }

  /** `path` itself changed (it was renamed) at `ms`: its ctime moves, its mtime stays. */
  statusChanged(path: string, ms: number): void {
    const mtime = this.times.get(path)?.mtime;
    this.times.set(path, mtime === undefined ? { ctime: ms } : { mtime, ctime: ms });
  }

  /** `attr`, which the bucket gave for `path`, with the times the mount moved since. */
  apply(path: string, attr: Attr): Attr {
    const t = this.times.get(path);
    if (!t) return attr;
    return { ...attr, mtime: Math.max(attr.mtime, t.mtime ?? attr.mtime), ctime: Math.max(attr.ctime, t.ctime) };
  }

  /** The bucket has `path`'s times now (its attributes were written), or `path` is gone. */
  forget(path: string): void {
    this.times.delete(path);
  }

  /** A directory rename moved `src` and everything below it to `dest` (a pass over every entry). */
  moveTree(src: string, dest: string): void {
    for (const [path, t] of [...this.times.entries()]) {
      const moved = path === src ? dest : path.startsWith(`${src}/`) ? dest + path.slice(src.length) : undefined;
      if (moved === undefined) continue;
      this.times.delete(path);
      this.times.set(moved, t);
    }
  }
}
