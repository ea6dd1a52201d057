import { removeFiles } from './dataFiles.js';

/**
 * Data files in use by readers (GETs, copies). A version replaced or deleted meanwhile keeps its
 * files until the last reader releases them: a multipart object has a file per part, too many to
 * hold an open handle on each for the length of a GET, as a single-file object could.
 */
export class FilePins {
  private readonly readers = new Map<string, number>();
  /** Pinned files whose version is gone: removed at their last release. */
  private readonly doomed = new Set<string>();

  /** Keeps `paths` on disk until the returned release is called (once). */
  pin(paths: string[]): () => Promise<void> {
    for (const path of paths) this.readers.set(path, (this.readers.get(path) ?? 0) + 1);
    let released = false;
    return async () => {
      if (released) return;
      released = true;
      const free: string[] = [];
      for (const path of paths) {
        const left = this.readers.get(path)! - 1;
        if (left > 0) {
          this.readers.set(path, left);
          continue;
        }
        this.readers.delete(path);
        if (this.doomed.delete(path)) free.push(path);
      }
      await removeFiles(free);
    };
  }

  /** Removes the files now, or those still pinned when their last reader releases them. */
  async remove(paths: string[]): Promise<void> {
    const free: string[] = [];
    for (const path of paths) {
      if (this.readers.has(path)) this.doomed.add(path);
      else free.push(path);
    }
    await removeFiles(free);
  }
}
