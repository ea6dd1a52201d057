import { ANSWER_SLACK_S, DirectoryIndexes, indexed, type IndexedHead } from '../secure/index.js';
import type { EncryptedBucket } from '../secure/index.js';
import type { ObjectHead } from '../store/ObjectStore.js';

/** The directory key an object key is in: `a/b/c` → `a/b/`, `c` → ``. */
function dirKeyOf(key: string): string {
  return key.slice(0, key.lastIndexOf('/') + 1);
}

/**
 * The directory indexes (src/secure/directoryIndex.ts) of a tree `put -r` uploaded, so a fresh
 * mount of it learns each directory's attributes with one GET instead of a HEAD per file. Each
 * keeps the entries of the directory's existing index for the names this upload did not write
 * (a mount checks every entry against its listing anyway).
 */
export class TreeIndex {
  private readonly dirs = new Map<string, Map<string, IndexedHead>>();

  /** The upload's answer for the object `head.key` (a PutObject's, dated by its Date). */
  add(head: ObjectHead): void {
    const dirKey = dirKeyOf(head.key);
    let entries = this.dirs.get(dirKey);
    if (!entries) this.dirs.set(dirKey, (entries = new Map()));
    const name = head.key.slice(dirKey.length);
    entries.set(name, indexed(name, head, ANSWER_SLACK_S));
  }

  /** Writes each directory's index; an unreadable existing one is replaced. */
  async write(bucket: EncryptedBucket): Promise<void> {
    const indexes = new DirectoryIndexes(bucket);
    for (const [dirKey, entries] of this.dirs) {
      const before = await indexes.read(dirKey).catch(() => undefined);
      const kept = (before ?? []).filter((e) => !entries.has(e.name));
      await indexes.write(dirKey, [...kept, ...entries.values()]);
    }
  }
}
