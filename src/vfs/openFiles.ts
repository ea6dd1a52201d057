import { FsError } from '../errors.js';
import type { Logger } from '../log.js';
import type { ObjectHead } from '../store/ObjectStore.js';
import { baseName, parentOf } from './namespace.js';
import type { OpenFile } from './openFile.js';
import type { TreeChanges } from './treeChanges.js';
import type { WriteBackQueue } from './writeBackQueue.js';
import type { WriteBackSpool } from './writeBackSpool.js';
import { CLOSED_CONTENT_HOLD_MS } from '../tuning.js';

export interface OpenFilesOptions {
  /** Closed files whose upload waits: new files (write-back), and those held for a rename after close. */
  writeBacks: WriteBackQueue<OpenFile>;
  /** Durable copies of closed new files whose upload waits, for the next mount should this one die. */
  spool: WriteBackSpool | undefined;
  /** How long a new file's upload waits after its last close (0: upload at close); see closed(). */
  writeBackMs: number;
  changes: TreeChanges;
  log: Logger;
}

/**
 * The files open in the mount, by path and by handle, and what becomes of one once its last handle
 * is released: its upload waits (write-back), its content is held for a rename, or it is retired
 * (uploaded and dropped), which the next open of its path waits for.
 */
export class OpenFiles {
  /** Open files by their current path; a rename moves the entry, an unlink drops it. */
  private readonly byPath = new Map<string, OpenFile>();
  private readonly handles = new Map<number, OpenFile>();
  /** Files whose last handle was released and whose final upload/cleanup is still running. FUSE
   *  sends release after close(2) has returned, so the next open of the path must wait for it. */
  private readonly retiring = new Map<OpenFile, Promise<void>>();
  private nextHandle = 1;

  constructor(private readonly o: OpenFilesOptions) {}

  // ---- by path ----------------------------------------------------------------------------

  at(path: string): OpenFile | undefined {
    return this.byPath.get(path);
  }

  isOpen(path: string): boolean {
    return this.byPath.has(path);
  }

  /** Whether `file` is still the one open under its path (not retired or replaced meanwhile). */
  isCurrent(file: OpenFile): boolean {
    return this.byPath.get(file.path) === file;
  }

  /** `file` is open under its path. */
  add(file: OpenFile): void {
    this.byPath.set(file.path, file);
  }

  /** Nothing is open under `path` any more (unlinked); the file that was, if any. */
  forget(path: string): OpenFile | undefined {
    const file = this.byPath.get(path);
    this.byPath.delete(path);
    return file;
  }

  /** `file` is open under `to` instead of `from`, unless it left `from` meanwhile (retired). */
  moved(file: OpenFile, from: string, to: string): void {
    if (this.byPath.get(from) !== file) return;
    this.byPath.delete(from);
    this.byPath.set(to, file);
  }

  /** Every open file, with its path. */
  all(): [string, OpenFile][] {
    return [...this.byPath];
  }

  /** The open files anywhere below the directory `dir`. */
  below(dir: string): [string, OpenFile][] {
    return this.all().filter(([path]) => path.startsWith(`${dir}/`));
  }

  /** The names of the directory `dir` that open files hold (the unlinked ones aside). */
  namesIn(dir: string): string[] {
    return this.all()
      .filter(([path, file]) => parentOf(path) === dir && !file.unlinked)
      .map(([path]) => baseName(path));
  }

  /** Whether an open file has `dir` as its directory. */
  hasEntriesIn(dir: string): boolean {
    for (const path of this.byPath.keys()) if (parentOf(path) === dir) return true;
    return false;
  }

  /** A file open under `path` loses the name to another file (create, rename over it), once its
   *  upload in flight, if any, has landed: the new file's upload must come after it. */
  async takeName(path: string): Promise<void> {
    const previous = this.forget(path);
    if (previous) await previous.remove();
  }

  // ---- by handle --------------------------------------------------------------------------

  newHandle(file: OpenFile): number {
    const fh = this.nextHandle++;
    file.handles++;
    this.handles.set(fh, file);
    return fh;
  }

  handle(fh: number): OpenFile {
    const file = this.handles.get(fh);
    if (!file) throw new FsError('EBADF', `no open file with handle ${fh}`);
    return file;
  }

  /** The handle is gone; its file, when that was its last handle. */
  release(fh: number): OpenFile | undefined {
    const file = this.handle(fh);
    this.handles.delete(fh);
    return --file.handles > 0 ? undefined : file;
  }

  // ---- closing ----------------------------------------------------------------------------

  /**
   * close(2) of a handle of `file` that is not its last: true when its upload may wait for the last
   * release, its content being in the spool (or no spool being kept).
   */
  async spooledAtClose(file: OpenFile): Promise<boolean> {
    return this.defersUpload(file) && (await this.spooled(file, false));
  }

  /**
   * The last handle of `file` was released. A new file's upload waits writeBackMs (rclone's
   * --vfs-write-back), so what programs like rsync do next — set times and mode, rename the
   * temporary name to the final one — folds into that one upload instead of a CopyObject each.
   * Until then the bucket does not have it and the spool does (a crash loses no closed file, the
   * next mount uploads it); fsync uploads at once. Everything else uploads now, and its failure is
   * this call's.
   */
  async closed(file: OpenFile): Promise<void> {
    if (this.defersUpload(file) && (await this.spooled(file, true))) return this.o.writeBacks.schedule(file, this.o.writeBackMs);
    // Uploaded at close, its content stays a moment: rsync renames its temporary file next, which
    // then costs one PutObject of it (see OpenFile.rename) instead of a copy through the client.
    if (this.holdsAfterClose(file)) return this.o.writeBacks.schedule(file, CLOSED_CONTENT_HOLD_MS);
    await this.retire(file, false);
  }

  /** A closed file's wait is over: retired, unless it was opened again (its last release schedules anew). */
  async due(file: OpenFile): Promise<void> {
    if (file.handles === 0) await this.retire(file, true);
  }

  /** Closed, uploaded, and held only for a rename to come (see closed()). */
  onlyHeld(file: OpenFile): boolean {
    return file.handles === 0 && !file.isDirty && this.o.writeBacks.has(file);
  }

  /** No closed file waits any more: the caller uploads what is left itself (unmount). */
  stopWaiting(): void {
    this.o.writeBacks.cancelAll();
  }

  private holdsAfterClose(file: OpenFile): boolean {
    return !file.isDirty && file.holdsContentInMemory && !file.isLocalOnly && !file.unlinked && this.o.writeBacks.roomFor(file);
  }

  /**
   * A closed file's upload may wait once its content is on local disk (WriteBackSpool), so that a
   * crash of the mount loses no closed file; if the spool cannot take it (a full disk), it uploads now.
   */
  private async spooled(file: OpenFile, final: boolean): Promise<boolean> {
    if (!this.o.spool) return true;
    try {
      await file.spoolTo(this.o.spool, final);
      return true;
    } catch (err) {
      this.o.log.warn(`${file.path}: uploading at close, as the write-back spool could not keep it: ${(err as Error).message}`);
      return false;
    }
  }

  private defersUpload(file: OpenFile): boolean {
    if (this.o.writeBackMs <= 0 || !file.isDirty || !file.isLocalOnly || file.unlinked) return false;
    return this.o.writeBacks.roomFor(file);
  }

  // ---- retiring ---------------------------------------------------------------------------

  /** The final upload and cleanup of the file at `path`, if its last handle was released and they still run. */
  closingAt(path: string): Promise<void> | undefined {
    for (const [file, closing] of this.retiring) if (file.path === path) return closing;
    return undefined;
  }

  /** Whether a final upload or cleanup still runs. */
  get anyRetiring(): boolean {
    return this.retiring.size > 0;
  }

  /** Resolves once the final uploads and cleanups running now have ended, failed or not. */
  async retired(): Promise<void> {
    await Promise.all(this.retiring.values());
  }

  /**
   * Uploads what is left of a file nobody has open, then drops its local state; opens of its path
   * wait for this. When the upload fails the file is kept for another try (`keepOnFailure`) or
   * dropped with its changes, and the promise rejects either way.
   */
  retire(file: OpenFile, keepOnFailure: boolean): Promise<void> {
    // A write-back timer left from an earlier close would retire the file again, and write its
    // attributes from then over what changed since.
    this.o.writeBacks.cancel(file);
    const done = (async () => {
      let uploaded = false;
      let changed = false;
      let made: ObjectHead | undefined;
      try {
        // Again if an attribute change came in while it uploaded (see OpenFile.changes).
        for (; file.isDirty && !file.unlinked; changed = true) made = await file.flush(true);
        uploaded = true;
      } finally {
        if (uploaded || !keepOnFailure) {
          await file.close();
          if (this.isCurrent(file)) this.byPath.delete(file.path);
          // What failed to upload is gone: the bucket's version (or none) is what the name holds.
          if (!uploaded) this.o.changes.dropped(file.path);
          // What the cache knows of an unchanged file stays (what the rename's upload made, say).
          else if (changed && !file.unlinked) this.o.changes.written(file.path, file.currentAttr(), made);
        }
      }
    })();
    this.retiring.set(file, done.catch(() => undefined).finally(() => this.retiring.delete(file)));
    return done;
  }
}
