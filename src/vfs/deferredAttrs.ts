import { FsError } from '../errors.js';
import type { Logger } from '../log.js';
import { nextBackgroundDelay } from '../store/retry.js';
import type { Attr } from './attributes.js';

/** What a file's attributes became, and the object that is to carry them. */
interface Change {
  key: string;
  attr: Attr;
}

/**
 * Attribute changes (chmod, chown, touch) to files with nothing of their own to upload (closed,
 * or open only to read) and to directories, held for `delayMs` before they are written to the
 * object — a metadata-only copy, one HEAD and one CopyObject — so that
 * a burst of them costs one copy, and a rename in the meantime carries them in its own copy.
 * rsync sets the times and the mode of each file it wrote under a temporary name and then
 * renames it: three copies a file at once, one this way; and of each directory, twice, after
 * its mkdir and after its files: none of them in rsync's way.
 *
 * Until a change has landed the mount answers with it (attr()), whatever its caches hold. What
 * is at stake is the change, never data: a crash within the delay loses it, as one within ext4's
 * journal commit (5 s) does. Opening the file for writing (so before any upload or fsync of
 * it), unmount, and a directory rename write it first (settle); a rename of the file carries it
 * (take); an unlink or a new file under the name drops it.
 */
export class DeferredAttrs {
  private readonly waiting = new Map<string, Change & { timer: NodeJS.Timeout; delayMs: number }>();
  private readonly writing = new Map<string, { attr: Attr; done: Promise<void> }>();

  constructor(
    private readonly delayMs: number,
    private readonly log: Logger,
    /** Writes `attr`, the attributes of `path`, into the metadata of its object `key`. */
    private readonly write: (path: string, key: string, attr: Attr) => Promise<void>,
  ) {}

  /** The attributes of `path` with its change, while one waits or is being written. */
  attr(path: string): Attr | undefined {
    return this.waiting.get(path)?.attr ?? this.writing.get(path)?.attr;
  }

  /** A change waiting for `path` becomes `change(attr)` (a directory's entries changed: its times move). */
  retime(path: string, change: (attr: Attr) => Attr): void {
    const waiting = this.waiting.get(path);
    if (waiting) waiting.attr = change(waiting.attr);
  }

  /** `path`'s attributes are now `attr` (all of them): written after the delay, unless taken first. */
  set(path: string, key: string, attr: Attr): void {
    this.hold(path, { key, attr }, this.delayMs);
  }

  private hold(path: string, change: Change, delayMs: number): void {
    clearTimeout(this.waiting.get(path)?.timer);
    const timer = setTimeout(() => {
      this.settle(path).catch((err: Error) => this.log.error(`${path}: writing attributes failed, trying again later: ${err.message}`));
    }, delayMs);
    this.waiting.set(path, { ...change, timer, delayMs });
  }

  /**
   * Takes the change waiting for `path`, once any write of it in flight has landed: the caller
   * carries it (a rename's copy) or drops it (the object goes away or is replaced).
   */
  async take(path: string): Promise<Attr | undefined> {
    await this.writing.get(path)?.done.catch(() => undefined);
    const change = this.waiting.get(path);
    if (!change) return undefined;
    clearTimeout(change.timer);
    this.waiting.delete(path);
    return change.attr;
  }

  /**
   * Writes the change waiting for `path` now, if any, and waits for any write of it in flight. A
   * write that fails waits to be tried again, longer each time (nextBackgroundDelay), and rejects; one that
   * finds the object deleted or replaced by another client is dropped, with a warning.
   */
  async settle(path: string): Promise<void> {
    const change = this.waiting.get(path);
    if (!change) return this.writing.get(path)?.done;
    clearTimeout(change.timer);
    this.waiting.delete(path);
    const done = this.write(path, change.key, change.attr);
    const entry = { attr: change.attr, done };
    this.writing.set(path, entry);
    try {
      await done;
    } catch (err) {
      if (err instanceof FsError && (err.errno === 'ENOENT' || err.errno === 'ESTALE')) {
        this.log.warn(`${path}: attributes not written, the object changed meanwhile: ${err.message}`);
        return;
      }
      if (!this.waiting.has(path)) this.hold(path, change, nextBackgroundDelay(change.delayMs));
      throw err;
    } finally {
      if (this.writing.get(path) === entry) this.writing.delete(path);
    }
  }

  /** Resolves once no write is in flight (one that failed waits for its next try, not in flight). */
  async idle(): Promise<void> {
    while (this.writing.size > 0) await Promise.all([...this.writing.values()].map((w) => w.done.catch(() => undefined)));
  }

  /** settle() for every path at or below `dir` ('/' for all); rejects naming each that failed. */
  async settleTree(dir: string): Promise<void> {
    const below = dir === '/' ? '/' : `${dir}/`;
    const paths = [...new Set([...this.waiting.keys(), ...this.writing.keys()])].filter((p) => p === dir || p.startsWith(below));
    const failures: string[] = [];
    await Promise.all(paths.map((p) => this.settle(p).catch((err: Error) => failures.push(`${p}: ${err.message}`))));
    if (failures.length > 0) throw new FsError('EIO', `could not write the attributes of ${failures.length} file(s): ${failures.join('; ')}`);
  }
}
