import { DirectoryIndexes, type EncryptedBucket } from '../secure/index.js';
import type { ObjectHead } from '../store/ObjectStore.js';
import { createLimiter } from '../util/limit.js';
import { type Attr, posixMetaOf } from './attributes.js';
import type { AttrCache } from './attrCache.js';
import type { DeferredAttrs } from './deferredAttrs.js';
import type { LocalTimes } from './localTimes.js';
import { checkKeyLength, type Namespace, parentOf } from './namespace.js';
import type { OpenFiles } from './openFiles.js';
import type { TreeChanges } from './treeChanges.js';
import { COPY_CONCURRENCY } from '../tuning.js';

export interface RenameParts {
  bucket: EncryptedBucket;
  ns: Namespace;
  meta: AttrCache;
  attrWrites: DeferredAttrs;
  times: LocalTimes;
  files: OpenFiles;
  changes: TreeChanges;
}

/**
 * Moves files and directories to a new name once Filesystem.rename has checked that POSIX allows
 * it: the objects in the bucket, the open files and what the caches know.
 */
export class Renames {
  constructor(private readonly p: RenameParts) {}

  /** The file at `src`, whose attributes are `from`, becomes `dest` (`replacing` a file there). */
  async moveFile(src: string, dest: string, from: Attr, replacing: boolean): Promise<void> {
    const { bucket, ns, attrWrites, files, times } = this.p;
    await files.takeName(dest);
    const [srcKey, destKey] = [ns.fileKey(src), ns.fileKey(dest)];
    await attrWrites.take(dest); // the object it was for is replaced
    // Server-side copy, carrying a change to the attributes that waits (rsync: times and mode,
    // then the rename); a file that is open (or held just after close) moves in its own turn (see
    // OpenFile.rename): then a new one whose content is all here needs no request at all, its one
    // upload goes to dest, and one whose content is in memory goes up again under dest.
    let moved: ObjectHead | undefined;
    const moveObject = async (): Promise<void> => {
      const changed = await attrWrites.take(src);
      moved = await bucket.copy(srcKey, destKey, changed ? { patch: posixMetaOf({ ...changed, ctime: Date.now() }) } : {});
      await bucket.delete(srcKey);
    };
    const open = files.at(src);
    if (open) {
      const dropSource = async (): Promise<void> => {
        await attrWrites.take(src); // the new object carries it
        await bucket.delete(srcKey);
      };
      const renamed = (made?: ObjectHead): void => {
        moved ??= made;
        open.setAttr({}, true); // a rename changes its ctime (kept by LocalTimes, carried by an upload)
        files.moved(open, src, dest);
      };
      await open.rename(dest, destKey, replacing, { moveObject, dropSource, moved: renamed });
    } else {
      await moveObject();
    }
    const now = Date.now();
    this.p.meta.removed(src);
    times.forget(src);
    times.forget(dest);
    times.statusChanged(dest, now);
    this.p.changes.written(dest, { ...from, ctime: now }, moved);
    this.p.changes.entriesChanged(parentOf(src), parentOf(dest));
  }

  /**
   * The directory `src` becomes `dest` (`replacing` an empty one there): a server-side copy of
   * every object below, then the originals are deleted. Not atomic.
   */
  async moveDir(src: string, dest: string, replacing: boolean): Promise<void> {
    const { bucket, ns, attrWrites, files, times } = this.p;
    if (replacing) {
      await attrWrites.take(dest);
      const destDirKey = ns.dirKey(dest);
      await bucket.deleteMany([destDirKey, DirectoryIndexes.keyOf(destDirKey)]);
    }
    for (const [, file] of files.below(src)) if (file.isDirty) await file.flush(true);
    await attrWrites.settleTree(src);

    const srcKey = ns.dirKey(src);
    const destKey = ns.dirKey(dest);
    const copyLimit = createLimiter(COPY_CONCURRENCY);
    const moved: string[] = [];
    let after: string | undefined;
    do {
      const page = await bucket.list(srcKey, { after, maxKeys: 1000 });
      // An index names the directory it describes: the moved ones get their own in time.
      const copied = page.objects.filter((o) => !DirectoryIndexes.isIndex(o.key));
      const copies = copied.map((o) => ({ from: o.key, to: destKey + o.key.slice(srcKey.length) }));
      for (const { to } of copies) checkKeyLength(to);
      await Promise.all(copies.map(({ from, to }) => copyLimit(() => bucket.copy(from, to))));
      moved.push(...page.objects.map((o) => o.key));
      after = page.next;
    } while (after !== undefined);
    await bucket.deleteMany(moved);

    for (const [path, file] of files.below(src)) {
      const movedTo = dest + path.slice(src.length);
      file.moveTo(movedTo, ns.fileKey(movedTo));
      files.moved(file, path, movedTo);
    }
    this.p.meta.invalidateTree(src);
    this.p.meta.invalidateTree(dest);
    times.forget(dest);
    times.moveTree(src, dest);
    times.statusChanged(dest, Date.now());
    this.p.changes.entriesChanged(parentOf(src), parentOf(dest));
  }
}
