import { constants } from 'node:fs';
import { join } from 'node:path';
import { FsError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Usage } from '../store/usageTally.js';
import { DirectoryIndexes, type EncryptedBucket, type StoredXattrs, type Xattrs } from '../secure/index.js';
import type { ObjectHead } from '../store/ObjectStore.js';
import { MemoryBudget } from '../memory/budget.js';
import { memoryInUse } from '../util/allocator.js';
import { createLimiter } from '../util/limit.js';
import { type Attr, type AttrPolicy, DIR_SIZE, kindOfMode, makeAttr, type NodeKind, type Owner, posixMetaOf } from './attributes.js';
import { BlockCache } from './blockCache.js';
import { DeferredAttrs } from './deferredAttrs.js';
import { LocalTimes } from './localTimes.js';
import { AttrCache, type AttrCacheOptions, type AttrMirror, type Lookup } from './attrCache.js';
import { type ListingProgress, Lookups } from './lookups.js';
import { baseName, checkKeyLength, checkNameLength, Namespace, parentOf } from './namespace.js';
import { OpenFile, type OpenFileContext } from './openFile.js';
import { SPOOL_DIR, WriteBackSpool } from './writeBackSpool.js';
import { WriteBackQueue } from './writeBackQueue.js';
import { withoutXattr, withXattr } from './xattrNames.js';
import { ATTR_WRITE_DELAY_MS, CLOSED_CONTENT_HOLD_MS, COPY_CONCURRENCY, RUNTIME_MEMORY, WRITE_BACK_MAX_BYTES } from '../tuning.js';

/** Who owns what the mount shows (see AttrPolicy for what is trusted). */
export interface Ownership {
  /** Owner of whatever carries no vouched-for owner: the mounting user, or -o uid=,gid=. */
  owner: Owner;
  /** Cleared from the permission bits of whatever carries no vouched-for mode. */
  umask: number;
  /** -o uid= / gid=: every entry is shown with this owner, whatever is stored (as s3fs, ossfs, rclone). */
  forced: Partial<Owner>;
  /** The mount root's permission bits. */
  rootPerms: number;
}

export interface FilesystemOptions {
  /** Key prefix the mount shows as its root ('' for the whole bucket). */
  prefix: string;
  ownership: Ownership;
  attrTtlMs: number;
  /** The attribute cache's size and clock, where not the defaults (a test's, small and on fake time). */
  attrCache?: AttrCacheOptions;
  /** How long a new file's upload waits after its last close (0: upload at close); see release(). */
  writeBackMs: number;
  /** Staging files live in `cacheDir/staging`. */
  cacheDir: string;
  /** Bytes of decrypted blocks kept in memory. */
  cacheSize: number;
  blockSize?: number;
  maxReadAheadBlocks?: number;
  memoryLimit?: number;
  readOnly: boolean;
  log: Logger;
  /** What the mount knows its bucket holds, for statfs (none: an empty filesystem). */
  usage?: () => Usage;
}

export interface StatFs {
  bsize: number;
  frsize: number;
  blocks: number;
  bfree: number;
  bavail: number;
  files: number;
  ffree: number;
  favail: number;
  namemax: number;
}

const MiB = 1024 * 1024;
/** The access-mode bits of open(2) flags (O_RDONLY/O_WRONLY/O_RDWR); Node's constants lack O_ACCMODE. */
const O_ACCMODE = 3;
/** The longest path Linux takes, and so the longest symlink target worth reading. */
const PATH_MAX = 4096;

const ROOT_HAS_NO_OBJECT = (): FsError => new FsError('EPERM', 'the mount root has no object to keep attributes in');

/** Set-group-ID (Node's fs.constants lacks it). */
const S_ISGID = 0o2000;

/**
 * The filesystem, knowing nothing of FUSE: POSIX operations on paths, in terms of an
 * EncryptedBucket. Every method resolves with its result or rejects with an FsError.
 */
export class Filesystem {
  private readonly ns: Namespace;
  private readonly meta: AttrCache;
  private readonly files: OpenFileContext;
  /** Open files by their current path; a rename moves the entry, an unlink drops it. */
  private readonly openByPath = new Map<string, OpenFile>();
  private readonly handles = new Map<number, OpenFile>();
  /** Files whose last handle was released and whose final upload/cleanup is still running. FUSE
   *  sends release after close(2) has returned, so the next open of the path must wait for it. */
  private readonly retiring = new Map<OpenFile, Promise<void>>();
  private readonly lookups: Lookups;
  /** Closed files whose upload waits: new files (write-back), and those held for a rename after close. */
  private readonly writeBacks: WriteBackQueue<OpenFile>;
  /** Durable copies of closed new files whose upload waits, for the next mount should this one die. */
  private readonly spool: WriteBackSpool | undefined;
  private readonly attrWrites: DeferredAttrs;
  private readonly times = new LocalTimes();
  /** Sets opened from objects' metadata, for as long as an attribute in a cache refers to them. */
  private readonly openedXattrs = new WeakMap<StoredXattrs, Promise<Xattrs>>();
  private nextHandle = 1;
  private readonly policy: AttrPolicy;

  constructor(
    private readonly bucket: EncryptedBucket,
    private readonly options: FilesystemOptions,
  ) {
    this.ns = new Namespace(options.prefix);
    const { owner, umask, rootPerms } = options.ownership;
    this.policy = {
      owner,
      umask,
      rootPerms,
      verified: (key, meta) => bucket.attrMac.verified(key, meta),
      refused: (key, field, raw) => options.log.debug(`${key}: x-oss-meta-${field} ${JSON.stringify(raw)} is out of range or not a number: read as absent`),
    };
    // Open files, then attribute changes not written yet: what they say wins over the cache.
    this.meta = new AttrCache(
      options.attrTtlMs,
      {
        attr: (path) => this.openByPath.get(path)?.currentAttr() ?? this.attrWrites.attr(path),
        isOpen: (path) => this.openByPath.has(path),
        openNames: (dir) => [...this.openByPath].filter(([path, file]) => parentOf(path) === dir && !file.unlinked).map(([path]) => baseName(path)),
      },
      options.attrCache,
    );
    this.attrWrites = new DeferredAttrs(ATTR_WRITE_DELAY_MS, options.log, async (path, key, attr) => {
      if (attr.kind === 'dir') return this.copied(path, attr, await this.setDirAttr(path, attr));
      this.copied(path, attr, await this.bucket.patchMeta(key, posixMetaOf(attr)));
    });
    this.lookups = new Lookups(
      bucket,
      this.ns,
      this.meta,
      {
        policy: this.policy,
        mountedAt: Date.now(),
        log: options.log,
        times: this.times,
        writable: !options.readOnly,
      },
    );
    const memory = new MemoryBudget(options.cacheSize, { rss: options.cacheSize + RUNTIME_MEMORY, inUse: memoryInUse });
    this.files = {
      bucket,
      memory,
      cache: new BlockCache(options.blockSize ?? MiB, memory),
      stagingDir: join(options.cacheDir, 'staging'),
      memoryLimit: options.memoryLimit ?? 8 * MiB,
      maxReadAhead: options.maxReadAheadBlocks ?? 16,
      log: options.log,
    };
    this.writeBacks = new WriteBackQueue<OpenFile>({
      maxBytes: WRITE_BACK_MAX_BYTES,
      // Open again: its last release schedules anew.
      due: async (file) => (file.handles > 0 ? undefined : this.retire(file, true)),
      log: options.log,
    });
    if (options.writeBackMs > 0 && !options.readOnly) this.spool = new WriteBackSpool(join(options.cacheDir, SPOOL_DIR), bucket);
  }

  // ---- attributes and lookups -------------------------------------------------------------

  /**
   * Keeps `mirror` (src/fuse/attrMirror.ts) a copy of the attributes held for a listing's names, as
   * the kernel is shown them, for `heldAttrLifetime`; the attribute cache tells it of every change.
   */
  mirrorAttrs(mirror: AttrMirror): void {
    this.meta.mirrorTo({
      hold: (path, attr, holdMs) => mirror.hold(path, this.shown(attr), holdMs),
      drop: (path) => mirror.drop(path),
      dropTree: (dir) => mirror.dropTree(dir),
    });
  }

  get heldAttrLifetime(): { ttlMs: number } {
    return this.meta.heldLifetime;
  }

  /** The attributes the kernel is told: with the forced owner, if any. */
  async getattr(path: string): Promise<Attr> {
    return this.shown(await this.attrOf(path));
  }

  /** The attributes as stored (or as stand-ins for what is not trusted): what the mount writes back. */
  private async attrOf(path: string): Promise<Attr> {
    checkNameLength(path);
    const found = await this.lookups.lookup(path);
    if (found === 'missing') throw new FsError('ENOENT', `no such file or directory: ${path}`);
    return found;
  }

  private shown(attr: Attr): Attr {
    const { uid, gid } = this.options.ownership.forced;
    return uid === undefined && gid === undefined ? attr : { ...attr, uid: uid ?? attr.uid, gid: gid ?? attr.gid };
  }

  /**
   * A new entry's attributes as the mount stores them, and as it then shows them: they are vouched
   * for when this mount can make a MAC (see AttrMac), else shown as any other unvouched entry.
   * Its owner is its creator; its group the directory's where that is setgid (which a new
   * directory inherits), as Linux does.
   */
  private async newAttr(path: string, kind: NodeKind, mode: number, size: number, creator: Owner, rdev?: number): Promise<Attr> {
    const parent = await this.attrOf(parentOf(path));
    const inherits = (parent.mode & S_ISGID) !== 0;
    const perms = (mode & 0o7777) | (inherits && kind === 'dir' ? S_ISGID : 0);
    const now = Date.now();
    // A special file's type is part of what is stored; every other kind's follows from `kind`.
    const type = kind === 'special' ? mode & constants.S_IFMT : 0;
    const posix = { mode: type | perms, uid: creator.uid, gid: inherits ? parent.gid : creator.gid, rdev, mtime: now / 1000 };
    return makeAttr(kind, posix, size, now, this.policy, this.bucket.attrMac.canSign);
  }

  // ---- directories ------------------------------------------------------------------------

  /** The names in the directory `path`; `progress` sees them page by page while it is listed. */
  async readdir(path: string, progress?: ListingProgress): Promise<string[]> {
    const attr = await this.attrOf(path);
    if (attr.kind !== 'dir') throw new FsError('ENOTDIR', `not a directory: ${path}`);
    return this.lookups.names(path, progress);
  }

  async mkdir(path: string, mode: number, creator: Owner): Promise<void> {
    this.checkWritable();
    const key = this.ns.newKey(path, 'dir');
    const attr = await this.newAttr(path, 'dir', mode, DIR_SIZE, creator);
    await this.bucket.put(key, Buffer.alloc(0), { meta: posixMetaOf(attr) });
    this.meta.added(path, attr);
    // The kernel looked the name up first and found nothing, so nothing is below it: lookups of
    // new names in it need no request until the TTL runs out.
    this.meta.setListing(path, new Map());
    this.entriesChanged(parentOf(path));
  }

  async rmdir(path: string): Promise<void> {
    this.checkWritable();
    const attr = await this.attrOf(path);
    if (attr.kind !== 'dir') throw new FsError('ENOTDIR', `not a directory: ${path}`);
    if (!(await this.isEmptyDir(path))) throw new FsError('ENOTEMPTY', `directory not empty: ${path}`);
    await this.attrWrites.take(path); // nothing is left to carry it
    const dirKey = this.ns.dirKey(path);
    await this.bucket.deleteMany([dirKey, DirectoryIndexes.keyOf(dirKey)]);
    this.meta.removed(path);
    this.times.forget(path);
    this.entriesChanged(parentOf(path));
  }

  /** Empty but for its marker and its index. */
  private async isEmptyDir(path: string): Promise<boolean> {
    const dirKey = this.ns.dirKey(path);
    const page = await this.bucket.list(dirKey, { maxKeys: 3 });
    if (page.objects.some((o) => o.key !== dirKey && o.key !== DirectoryIndexes.keyOf(dirKey)) || page.prefixes.length > 0) return false;
    return ![...this.openByPath.keys()].some((p) => parentOf(p) === path);
  }

  // ---- files ------------------------------------------------------------------------------

  async create(path: string, mode: number, creator: Owner): Promise<number> {
    this.checkWritable();
    await this.closingAt(path);
    const key = this.ns.newKey(path, 'file');
    const attr = await this.newAttr(path, 'file', mode, 0, creator);
    await this.takeName(path);
    await this.attrWrites.take(path); // the object it was for is replaced
    const file = OpenFile.created(this.files, path, key, attr);
    this.openByPath.set(path, file);
    this.meta.added(path, attr);
    this.entriesChanged(parentOf(path));
    return this.newHandle(file);
  }

  async open(path: string, flags: number): Promise<number> {
    const writing = (flags & O_ACCMODE) !== constants.O_RDONLY || (flags & constants.O_TRUNC) !== 0;
    if (writing) {
      this.checkWritable();
      // A waiting attribute change lands first: landing after this writer's upload, it would undo
      // what the writing changed (the mtime). Readers need not wait (rsync opens to fchmod).
      await this.attrWrites.settle(path);
    }
    // The release of the path's last handle can come during any await here (FUSE sends it after
    // close(2) returned): a file is joined only in the same turn as the look that finds it open
    // and not closing, and a handle on it keeps it from closing.
    for (;;) {
      const closing = this.closingAt(path);
      if (closing) {
        await closing;
        continue;
      }
      const open = this.openByPath.get(path);
      if (open && writing && this.onlyHeld(open)) {
        // A writer finds it closed, as without the hold (a reader, rsync's fchmod, joins it).
        await this.retire(open, false);
        continue;
      }
      if (open) return this.joined(open, flags);
      const file = await this.fileToOpen(path, flags);
      if (this.closingAt(path) || this.openByPath.has(path)) continue; // opened or closing meanwhile
      this.openByPath.set(path, file);
      this.meta.overlaid(path);
      return this.newHandle(file);
    }
  }

  /** A new handle on a file open already; O_TRUNC empties it. */
  private async joined(file: OpenFile, flags: number): Promise<number> {
    const fh = this.newHandle(file);
    if (flags & constants.O_TRUNC) {
      try {
        await file.truncate(0);
      } catch (err) {
        await this.release(fh);
        throw err;
      }
    }
    return fh;
  }

  /** An OpenFile for a path nobody has open. */
  private async fileToOpen(path: string, flags: number): Promise<OpenFile> {
    const attr = await this.attrOf(path);
    if (attr.kind === 'dir') throw new FsError('EISDIR', `is a directory: ${path}`);
    const key = this.ns.fileKey(path);
    if (flags & constants.O_TRUNC) {
      // The old content is not needed, only the metadata that is not ours to drop.
      const head = await this.lookups.headOrUndefined(key);
      const now = Date.now(); // truncating is a change of the content
      return OpenFile.created(this.files, path, key, { ...attr, mtime: now, ctime: now }, head && { meta: head.meta });
    }
    return OpenFile.existing(this.files, path, key, attr);
  }

  /** The final upload and cleanup of the file at `path`, if its last handle was released and they still run. */
  private closingAt(path: string): Promise<void> | undefined {
    for (const [file, closing] of this.retiring) if (file.path === path) return closing;
    return undefined;
  }

  private newHandle(file: OpenFile): number {
    const fh = this.nextHandle++;
    file.handles++;
    this.handles.set(fh, file);
    return fh;
  }

  private handle(fh: number): OpenFile {
    const file = this.handles.get(fh);
    if (!file) throw new FsError('EBADF', `no open file with handle ${fh}`);
    return file;
  }

  read(fh: number, position: number, length: number): Promise<Buffer> {
    return this.handle(fh).read(position, length);
  }

  async write(fh: number, position: number, data: Buffer): Promise<number> {
    this.checkWritable();
    const file = this.handle(fh);
    await file.write(position, data);
    await this.uploadCarriesAttrs(file);
    return data.length;
  }

  /**
   * `file` has content to upload now, and its upload carries its attributes: a change to them
   * made while it had none (setAttr, written on its own) is dropped, or it would land after the
   * upload with the size and mtime from before, and be what getattr shows once the file is closed.
   */
  private async uploadCarriesAttrs(file: OpenFile): Promise<void> {
    if (this.attrWrites.attr(file.path) !== undefined && this.openByPath.get(file.path) === file) await this.attrWrites.take(file.path);
  }

  /**
   * close() (final = false) and fsync() (final = true): returns once the content is durable in the
   * bucket — except that close() of a new file under write-back returns once the file is in the
   * spool on local disk, and leaves the upload to release().
   */
  async flush(fh: number, final = false): Promise<void> {
    const file = this.handle(fh);
    if (!final && this.defersUpload(file) && (await this.spooled(file, false))) return;
    const made = await file.flush(final);
    if (!file.unlinked) this.uploaded(file, made);
  }

  /** `file`'s content or attributes went up: the cache shows them, and knows the object made (see Lookups.wrote). */
  private uploaded(file: OpenFile, made: ObjectHead | undefined): void {
    this.meta.added(file.path, file.currentAttr());
    if (made) this.lookups.wrote(file.path, made);
  }

  /**
   * The last handle of a file closed. A new file's upload waits writeBackMs (rclone's
   * --vfs-write-back), so what programs like rsync do next — set times and mode, rename the
   * temporary name to the final one — folds into that one upload instead of a CopyObject each.
   * Until then the bucket does not have it and the spool does (a crash loses no closed file, the
   * next mount uploads it); fsync uploads at once. Everything else uploads now, and its failure is
   * this call's.
   */
  async release(fh: number): Promise<void> {
    const file = this.handle(fh);
    this.handles.delete(fh);
    if (--file.handles > 0) return;
    if (this.defersUpload(file) && (await this.spooled(file, true))) return this.writeBacks.schedule(file, this.options.writeBackMs);
    // Uploaded at close, its content stays a moment: rsync renames its temporary file next, which
    // then costs one PutObject of it (see OpenFile.rename) instead of a copy through the client.
    if (this.holdsAfterClose(file)) return this.writeBacks.schedule(file, CLOSED_CONTENT_HOLD_MS);
    await this.retire(file, false);
  }

  /** Closed, uploaded, and held only for a rename to come (see release()). */
  private onlyHeld(file: OpenFile): boolean {
    return file.handles === 0 && !file.isDirty && this.writeBacks.has(file);
  }

  private holdsAfterClose(file: OpenFile): boolean {
    return !file.isDirty && file.holdsContentInMemory && !file.isLocalOnly && !file.unlinked && this.writeBacks.roomFor(file);
  }

  /**
   * A closed file's upload may wait once its content is on local disk (WriteBackSpool), so that a
   * crash of the mount loses no closed file; if the spool cannot take it (a full disk), it uploads now.
   */
  private async spooled(file: OpenFile, final: boolean): Promise<boolean> {
    if (!this.spool) return true;
    try {
      await file.spoolTo(this.spool, final);
      return true;
    } catch (err) {
      this.options.log.warn(`${file.path}: uploading at close, as the write-back spool could not keep it: ${(err as Error).message}`);
      return false;
    }
  }

  private defersUpload(file: OpenFile): boolean {
    if (this.options.writeBackMs <= 0 || !file.isDirty || !file.isLocalOnly || file.unlinked) return false;
    return this.writeBacks.roomFor(file);
  }

  /**
   * Uploads what is left of a file nobody has open, then drops its local state; opens of its path
   * wait for this. When the upload fails the file is kept for another try (`keepOnFailure`) or
   * dropped with its changes, and the promise rejects either way.
   */
  private retire(file: OpenFile, keepOnFailure: boolean): Promise<void> {
    // A write-back timer left from an earlier close would retire the file again, and write its
    // attributes from then over what changed since.
    this.writeBacks.cancel(file);
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
          if (this.openByPath.get(file.path) === file) this.openByPath.delete(file.path);
          // What failed to upload is gone: the bucket's version (or none) is what the name holds.
          if (!uploaded) this.meta.invalidateTree(file.path);
          // What the cache knows of an unchanged file stays (what the rename's upload made, say).
          else if (changed && !file.unlinked) this.uploaded(file, made);
        }
      }
    })();
    this.retiring.set(file, done.catch(() => undefined).finally(() => this.retiring.delete(file)));
    return done;
  }

  async truncate(path: string, size: number): Promise<void> {
    this.checkWritable();
    const fh = await this.open(path, constants.O_WRONLY);
    try {
      await this.ftruncate(fh, size);
      await this.flush(fh, true);
    } finally {
      await this.release(fh);
    }
  }

  async ftruncate(fh: number, size: number): Promise<void> {
    this.checkWritable();
    const file = this.handle(fh);
    await file.truncate(size);
    await this.uploadCarriesAttrs(file);
  }

  async unlink(path: string): Promise<void> {
    this.checkWritable();
    const attr = await this.attrOf(path);
    if (attr.kind === 'dir') throw new FsError('EISDIR', `is a directory: ${path}`);
    const deleteObject = (): Promise<void> => this.bucket.delete(this.ns.fileKey(path));
    // An attribute change waiting for it (made while it was closed, or open and clean) goes with it.
    await this.attrWrites.take(path);
    const open = this.openByPath.get(path);
    if (open) {
      this.openByPath.delete(path);
      await open.remove(deleteObject);
    } else {
      await deleteObject();
    }
    this.meta.removed(path);
    this.times.forget(path);
    this.entriesChanged(parentOf(path));
  }

  /** A file open under `path` loses the name to another file (create, rename over it), once its
   *  upload in flight, if any, has landed: the new file's upload must come after it. */
  private async takeName(path: string): Promise<void> {
    const previous = this.openByPath.get(path);
    if (!previous) return;
    this.openByPath.delete(path);
    await previous.remove();
  }

  // ---- rename -----------------------------------------------------------------------------

  async rename(src: string, dest: string): Promise<void> {
    this.checkWritable();
    const from = await this.attrOf(src);
    this.ns.newKey(dest, from.kind === 'dir' ? 'dir' : 'file');
    const to = await this.lookups.lookup(dest);
    if (from.kind === 'dir') return this.renameDir(src, dest, to);
    if (to !== 'missing' && to.kind === 'dir') throw new FsError('EISDIR', `cannot replace directory ${dest} with a file`);

    await this.takeName(dest);
    const [srcKey, destKey] = [this.ns.fileKey(src), this.ns.fileKey(dest)];
    await this.attrWrites.take(dest); // the object it was for is replaced
    // Server-side copy, carrying a change to the attributes that waits (rsync: times and mode,
    // then the rename); a file that is open (or held just after close) moves in its own turn (see
    // OpenFile.rename): then a new one whose content is all here needs no request at all, its one
    // upload goes to dest, and one whose content is in memory goes up again under dest.
    let moved: ObjectHead | undefined;
    const moveObject = async (): Promise<void> => {
      const changed = await this.attrWrites.take(src);
      moved = await this.bucket.copy(srcKey, destKey, changed ? { patch: posixMetaOf({ ...changed, ctime: Date.now() }) } : {});
      await this.bucket.delete(srcKey);
    };
    const open = this.openByPath.get(src);
    if (open) {
      const dropSource = async (): Promise<void> => {
        await this.attrWrites.take(src); // the new object carries it
        await this.bucket.delete(srcKey);
      };
      const renamed = (made?: ObjectHead): void => {
        moved ??= made;
        open.setAttr({}, true); // a rename changes its ctime (kept by LocalTimes, carried by an upload)
        // Unless it was retired (closed and dropped) while waiting for its turn.
        if (this.openByPath.get(src) !== open) return;
        this.openByPath.delete(src);
        this.openByPath.set(dest, open);
      };
      await open.rename(dest, destKey, to !== 'missing', { moveObject, dropSource, moved: renamed });
    } else {
      await moveObject();
    }
    const now = Date.now();
    this.meta.removed(src);
    this.times.forget(src);
    this.times.forget(dest);
    this.times.statusChanged(dest, now);
    this.copied(dest, { ...from, ctime: now }, moved);
    this.entriesChanged(parentOf(src), parentOf(dest));
  }

  /**
   * A copy made the object at `path` (a rename, an attribute change landing), whose attributes are
   * now `attr`. What an earlier HEAD said is forgotten (a metadata-only copy may keep the ETag and
   * the second); the copy's own answer, when it said when it made the object, stands in for it.
   */
  private copied(path: string, attr: Attr, made: ObjectHead | undefined): void {
    this.meta.added(path, attr);
    if (made) this.lookups.wrote(path, made);
  }

  /** Directories: server-side copy of every object below, then delete the originals. Not atomic. */
  private async renameDir(src: string, dest: string, to: Lookup): Promise<void> {
    if (dest.startsWith(`${src}/`)) throw new FsError('EINVAL', `cannot move ${src} into itself`);
    if (to !== 'missing') {
      if (to.kind !== 'dir') throw new FsError('ENOTDIR', `not a directory: ${dest}`);
      if (!(await this.isEmptyDir(dest))) throw new FsError('ENOTEMPTY', `directory not empty: ${dest}`);
      await this.attrWrites.take(dest);
      const destDirKey = this.ns.dirKey(dest);
      await this.bucket.deleteMany([destDirKey, DirectoryIndexes.keyOf(destDirKey)]);
    }
    const below = `${src}/`;
    for (const [path, file] of this.openByPath) if (path.startsWith(below) && file.isDirty) await file.flush(true);
    await this.attrWrites.settleTree(src);

    const srcKey = this.ns.dirKey(src);
    const destKey = this.ns.dirKey(dest);
    const copyLimit = createLimiter(COPY_CONCURRENCY);
    const moved: string[] = [];
    let after: string | undefined;
    do {
      const page = await this.bucket.list(srcKey, { after, maxKeys: 1000 });
      // An index names the directory it describes: the moved ones get their own in time.
      const copied = page.objects.filter((o) => !DirectoryIndexes.isIndex(o.key));
      const copies = copied.map((o) => ({ from: o.key, to: destKey + o.key.slice(srcKey.length) }));
      for (const { to } of copies) checkKeyLength(to);
      await Promise.all(copies.map(({ from, to }) => copyLimit(() => this.bucket.copy(from, to))));
      moved.push(...page.objects.map((o) => o.key));
      after = page.next;
    } while (after !== undefined);
    await this.bucket.deleteMany(moved);

    for (const [path, file] of [...this.openByPath]) {
      if (!path.startsWith(below)) continue;
      const moved = dest + path.slice(src.length);
      this.openByPath.delete(path);
      file.moveTo(moved, this.ns.fileKey(moved));
      this.openByPath.set(moved, file);
    }
    this.meta.invalidateTree(src);
    this.meta.invalidateTree(dest);
    this.times.forget(dest);
    this.times.moveTree(src, dest);
    this.times.statusChanged(dest, Date.now());
    this.entriesChanged(parentOf(src), parentOf(dest));
  }

  // ---- attributes that change ----------------------------------------------------------------

  chmod(path: string, mode: number): Promise<void> {
    return this.setAttr(path, (a) => ({ mode: (a.mode & constants.S_IFMT) | (mode & 0o7777) }));
  }

  chown(path: string, uid: number, gid: number): Promise<void> {
    // -1 means "leave as is" (chown(2)); fuse-native hands it over as an unsigned 32-bit value.
    const keep = (v: number): boolean => v === -1 || v === 0xffffffff;
    return this.setAttr(path, (a) => ({ uid: keep(uid) ? a.uid : uid, gid: keep(gid) ? a.gid : gid }));
  }

  /** Times in ms since the epoch; 'now' and 'omit' as utimensat(2)'s UTIME_NOW and UTIME_OMIT. */
  utimens(path: string, atime: number | 'now' | 'omit', mtime: number | 'now' | 'omit'): Promise<void> {
    const now = Date.now();
    const pick = (t: number | 'now' | 'omit'): number | undefined => (t === 'omit' ? undefined : t === 'now' ? now : t);
    const a = pick(atime);
    const m = pick(mtime);
    return this.setAttr(path, () => ({ ...(a === undefined ? {} : { atime: a }), ...(m === undefined ? {} : { mtime: m }) }));
  }

  /**
   * Attributes live in the object's metadata: an open file takes them with its next upload, a
   * closed one or a directory a moment later (DeferredAttrs).
   */
  private async setAttr(path: string, change: (a: Attr) => Partial<Attr>): Promise<void> {
    this.checkWritable();
    const open = this.openByPath.get(path);
    if (open?.isDirty) {
      // Its upload carries them; an older change that waits must not land after it.
      await this.attrWrites.take(path);
      open.setAttr(change(open.attr));
      return;
    }
    if (open) {
      // Nothing to upload (opened to read, or uploaded at close and FUSE's release not in yet):
      // written like a closed file's, and carried by an upload should it get content after all.
      open.setAttr(change(open.attr), true);
      this.attrWrites.set(path, open.key, open.currentAttr());
      return;
    }
    const attr = await this.attrOf(path);
    const updated: Attr = { ...attr, ...change(attr), ctime: Date.now() };
    if (attr.kind === 'dir') {
      if (path === '/') throw ROOT_HAS_NO_OBJECT();
      this.attrWrites.set(path, this.ns.dirKey(path), updated);
      this.times.forget(path);
    } else {
      this.attrWrites.set(path, this.ns.fileKey(path), updated);
    }
    this.meta.added(path, updated);
  }

  /** Writes a directory's attributes into its marker object; resolves as `copy` when it patched one. */
  private async setDirAttr(path: string, attr: Attr, xattrs?: Xattrs): Promise<ObjectHead | undefined> {
    if (path === '/') throw ROOT_HAS_NO_OBJECT();
    const posix = posixMetaOf(attr);
    // An implicit directory gets a marker object to hold its attributes.
    return this.bucket.patchMeta(this.ns.dirKey(path), posix, xattrs).catch(async (err: unknown) => {
      if (!(err instanceof FsError && err.errno === 'ENOENT')) throw err;
      await this.bucket.put(this.ns.dirKey(path), Buffer.alloc(0), { meta: posix, ...(xattrs ? { xattrs } : {}) });
      return undefined;
    });
  }

  // ---- extended attributes ----------------------------------------------------------------

  async getxattr(path: string, name: string): Promise<Buffer> {
    const value = (await this.xattrsOf(await this.getattr(path))).get(name);
    if (value === undefined) throw new FsError('ENODATA', `no extended attribute ${name} on ${path}`);
    return value;
  }

  async listxattr(path: string): Promise<string[]> {
    return [...(await this.xattrsOf(await this.getattr(path))).keys()];
  }

  setxattr(path: string, name: string, value: Buffer, flags: number): Promise<void> {
    return this.changeXattrs(path, (set) => withXattr(set, name, value, flags));
  }

  removexattr(path: string, name: string): Promise<void> {
    return this.changeXattrs(path, (set) => withoutXattr(set, name));
  }

  /**
   * What the attributes say; an object's sealed set is opened (its data key unwrapped, which the
   * keyring caches) once per HEAD that found it. Objects without a set cost nothing.
   */
  private xattrsOf(attr: Attr): Promise<Xattrs> {
    const ref = attr.xattrs;
    if (!ref) return Promise.resolve(new Map());
    if ('known' in ref) return Promise.resolve(ref.known);
    let opened = this.openedXattrs.get(ref.stored);
    if (!opened) {
      opened = this.bucket.openXattrs(ref.stored);
      this.openedXattrs.set(ref.stored, opened);
      opened.catch(() => this.openedXattrs.delete(ref.stored));
    }
    return opened;
  }

  /**
   * Extended attributes live in the object's metadata, sealed under its data key. A file with
   * content to upload carries the new set with it; anything else is written now (a metadata-only
   * re-send, as chmod's), with a change of mode or times still waiting for it: then a set too big
   * for OSS's metadata fails here with E2BIG and leaves the object as it was.
   */
  private async changeXattrs(path: string, change: (set: Xattrs) => Xattrs): Promise<void> {
    this.checkWritable();
    if (path === '/') throw new FsError('EOPNOTSUPP', 'the mount root has no object to keep extended attributes in');
    const open = this.openByPath.get(path);
    if (open?.isDirty) {
      const set = change(await this.xattrsOf(open.attr));
      open.checkXattrsFit(set);
      open.setAttr({ xattrs: { known: set } });
      return;
    }
    const pending = await this.attrWrites.take(path);
    const attr = pending ?? open?.currentAttr() ?? (await this.getattr(path));
    const set = change(await this.xattrsOf(attr));
    const updated: Attr = { ...attr, xattrs: { known: set }, ctime: Date.now() };
    if (attr.kind === 'dir') {
      await this.setDirAttr(path, updated, set);
      this.meta.added(path, updated);
      return;
    }
    const key = this.ns.fileKey(path);
    let made: ObjectHead | undefined;
    try {
      made = await this.bucket.patchMeta(key, pending ? posixMetaOf(pending) : {}, set);
    } catch (err) {
      if (pending) this.attrWrites.set(path, key, pending);
      throw err;
    }
    open?.setAttr({ xattrs: updated.xattrs }, true);
    this.copied(path, updated, made);
  }

  // ---- symlinks ---------------------------------------------------------------------------

  async symlink(target: string, path: string, creator: Owner): Promise<void> {
    this.checkWritable();
    const key = this.ns.newKey(path, 'file');
    const body = Buffer.from(target);
    const attr = await this.newAttr(path, 'symlink', 0o777, body.length, creator);
    await this.bucket.put(key, body, { meta: posixMetaOf(attr) });
    this.meta.added(path, attr);
    this.entriesChanged(parentOf(path));
  }

  // ---- special files and hard links -------------------------------------------------------

  /**
   * FIFOs, sockets and device nodes are empty objects whose stored mode says which (and, for a
   * device, `rdev` which one), as s3fs keeps them; the kernel opens them itself, never through
   * the mount. S_IFREG (or no type) makes an empty regular file.
   */
  async mknod(path: string, mode: number, rdev: number, creator: Owner): Promise<void> {
    this.checkWritable();
    const type = mode & constants.S_IFMT;
    const regular = type === 0 || type === constants.S_IFREG;
    if (!regular && kindOfMode(mode) !== 'special') throw new FsError('EINVAL', `mknod makes no file of type 0${type.toString(8)}: ${path}`);
    const key = this.ns.newKey(path, 'file');
    const attr = await this.newAttr(path, regular ? 'file' : 'special', mode, 0, creator, rdev);
    await this.bucket.put(key, Buffer.alloc(0), { meta: posixMetaOf(attr) });
    this.meta.added(path, attr);
    this.entriesChanged(parentOf(path));
  }

  /**
   * Object storage has no hard links. The errors a caller is owed before that come first, as Linux
   * checks them (the kernel itself answers most before asking); then EPERM, the answer of Linux
   * filesystems without links (vfat).
   */
  async link(src: string, dest: string): Promise<void> {
    this.checkWritable();
    const from = await this.getattr(src);
    if (from.kind === 'dir') throw new FsError('EPERM', `cannot hard-link a directory: ${src}`);
    this.ns.newKey(dest, 'file');
    const parent = await this.lookups.lookup(parentOf(dest));
    if (parent === 'missing') throw new FsError('ENOENT', `no such directory: ${parentOf(dest)}`);
    if (parent.kind !== 'dir') throw new FsError('ENOTDIR', `not a directory: ${parentOf(dest)}`);
    if ((await this.lookups.lookup(dest)) !== 'missing') throw new FsError('EEXIST', `file exists: ${dest}`);
    throw new FsError('EPERM', `object storage has no hard links: ${src} -> ${dest}`);
  }

  /** Entries in these directories were created, removed or renamed: their mtime and ctime move (see LocalTimes). */
  private entriesChanged(...dirs: string[]): void {
    const now = Date.now();
    for (const dir of dirs) {
      this.times.entriesChanged(dir, now);
      this.meta.retime(dir, (attr) => this.times.apply(dir, attr));
      this.attrWrites.retime(dir, (attr) => this.times.apply(dir, attr));
    }
  }

  /**
   * A symlink's target is its object's body, which whoever writes to the bucket sizes: more than
   * PATH_MAX is no target, and is not read into memory (outside the cache's budget) to find out.
   */
  async readlink(path: string): Promise<string> {
    const attr = await this.attrOf(path);
    if (attr.kind !== 'symlink') throw new FsError('EINVAL', `not a symbolic link: ${path}`);
    const tooLong = (size: number) => new FsError('EIO', `${path}: a symlink's target is at most ${PATH_MAX} bytes; its object holds ${size}`);
    if (attr.size > PATH_MAX) throw tooLong(attr.size);
    const body = await this.bucket.get(this.ns.fileKey(path));
    const chunks: Buffer[] = [];
    let size = 0;
    for await (const chunk of body) {
      size += (chunk as Buffer).length;
      if (size > PATH_MAX) throw tooLong(size); // leaving the loop lets go of the body
      chunks.push(chunk as Buffer);
    }
    return Buffer.concat(chunks).toString();
  }

  // ---- the rest ---------------------------------------------------------------------------

  /**
   * Object storage has no fixed size: always 1 TiB and 2^32 inodes free, so df and installers are
   * content, and as used what the mount has seen of the bucket (listed, looked at or written; see
   * UsageTally). No request: statfs is called often.
   */
  statfs(): StatFs {
    const bsize = 4096;
    const free = 2 ** 40 / bsize;
    const freeFiles = 2 ** 32;
    const { bytes, objects } = this.options.usage?.() ?? { bytes: 0, objects: 0 };
    const used = Math.ceil(bytes / bsize);
    return { bsize, frsize: bsize, blocks: used + free, bfree: free, bavail: free, files: objects + freeFiles, ffree: freeFiles, favail: freeFiles, namemax: 255 };
  }

  /**
   * Resolves once the work a release or a timer started in the background (final uploads,
   * attribute writes) has ended, failed or not: what a test waits for before it looks at the
   * bucket, since nothing else says when that work is done.
   */
  async idle(): Promise<void> {
    do {
      await Promise.all(this.retiring.values());
      await this.attrWrites.idle();
    } while (this.retiring.size > 0);
  }

  /** Uploads everything still pending (unmount, SIGTERM). */
  async flushAll(): Promise<void> {
    this.writeBacks.cancelAll();
    const failures: string[] = [];
    for (const [path, file] of this.openByPath) {
      await file.flush(true).catch((err: Error) => failures.push(`${path}: ${err.message}`));
    }
    await this.attrWrites.settleTree('/').catch((err: Error) => failures.push(err.message));
    await this.lookups.flushIndexes();
    if (failures.length > 0) throw new FsError('EIO', `could not upload ${failures.length} file(s): ${failures.join('; ')}`);
  }

  private checkWritable(): void {
    if (this.options.readOnly) throw new FsError('EROFS', 'the mount is read-only');
  }
}
