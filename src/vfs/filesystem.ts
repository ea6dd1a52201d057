import { constants } from 'node:fs';
import { FsError } from '../errors.js';
import type { Usage } from '../store/usageTally.js';
import { DirectoryIndexes, type EncryptedBucket, type StoredXattrs, type Xattrs } from '../secure/index.js';
import type { ObjectHead } from '../store/ObjectStore.js';
import { type Attr, type AttrPolicy, DIR_SIZE, kindOfMode, makeAttr, type NodeKind, type Owner, posixMetaOf } from './attributes.js';
import type { DeferredAttrs } from './deferredAttrs.js';
import { ROOT_HAS_NO_OBJECT, writeDirAttr } from './dirMarker.js';
import type { LocalTimes } from './localTimes.js';
import type { AttrCache, AttrMirror } from './attrCache.js';
import type { ListingProgress, Lookups } from './lookups.js';
import { checkNameLength, type Namespace, parentOf } from './namespace.js';
import { OpenFile, type OpenFileContext } from './openFile.js';
import type { OpenFiles } from './openFiles.js';
import type { Renames } from './renames.js';
import type { TreeChanges } from './treeChanges.js';
import { withoutXattr, withXattr } from './xattrNames.js';

/** What the filesystem stands on, built for it by buildFilesystem (src/vfs/buildFilesystem.ts). */
export interface FilesystemParts {
  bucket: EncryptedBucket;
  ns: Namespace;
  policy: AttrPolicy;
  meta: AttrCache;
  lookups: Lookups;
  attrWrites: DeferredAttrs;
  times: LocalTimes;
  changes: TreeChanges;
  files: OpenFiles;
  renames: Renames;
  /** What an open file's content needs: the bucket, the block cache, the memory budget, staging. */
  fileContext: OpenFileContext;
}

export interface FilesystemOptions {
  /** -o uid= / gid=: every entry is shown with this owner, whatever is stored. */
  forced: Partial<Owner>;
  readOnly: boolean;
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

/** The access-mode bits of open(2) flags (O_RDONLY/O_WRONLY/O_RDWR); Node's constants lack O_ACCMODE. */
const O_ACCMODE = 3;
/** The longest path Linux takes, and so the longest symlink target worth reading. */
const PATH_MAX = 4096;

/** Set-group-ID (Node's fs.constants lacks it). */
const S_ISGID = 0o2000;

/**
 * The filesystem, knowing nothing of FUSE: POSIX operations on paths, in terms of an
 * EncryptedBucket. Every method resolves with its result or rejects with an FsError. It checks
 * what POSIX asks of each operation and delegates: open files to OpenFiles, moves to Renames.
 */
export class Filesystem {
  private readonly bucket: EncryptedBucket;
  private readonly ns: Namespace;
  private readonly policy: AttrPolicy;
  private readonly meta: AttrCache;
  private readonly lookups: Lookups;
  private readonly attrWrites: DeferredAttrs;
  private readonly times: LocalTimes;
  private readonly changes: TreeChanges;
  private readonly files: OpenFiles;
  private readonly renames: Renames;
  private readonly fileContext: OpenFileContext;
  /** Sets opened from objects' metadata, for as long as an attribute in a cache refers to them. */
  private readonly openedXattrs = new WeakMap<StoredXattrs, Promise<Xattrs>>();

  constructor(
    parts: FilesystemParts,
    private readonly options: FilesystemOptions,
  ) {
    ({
      bucket: this.bucket,
      ns: this.ns,
      policy: this.policy,
      meta: this.meta,
      lookups: this.lookups,
      attrWrites: this.attrWrites,
      times: this.times,
      changes: this.changes,
      files: this.files,
      renames: this.renames,
      fileContext: this.fileContext,
    } = parts);
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
    const { uid, gid } = this.options.forced;
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
    this.changes.entriesChanged(parentOf(path));
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
    this.changes.entriesChanged(parentOf(path));
  }

  /** Empty but for its marker and its index. */
  private async isEmptyDir(path: string): Promise<boolean> {
    const dirKey = this.ns.dirKey(path);
    const page = await this.bucket.list(dirKey, { maxKeys: 3 });
    if (page.objects.some((o) => o.key !== dirKey && o.key !== DirectoryIndexes.keyOf(dirKey)) || page.prefixes.length > 0) return false;
    return !this.files.hasEntriesIn(path);
  }

  // ---- files ------------------------------------------------------------------------------

  async create(path: string, mode: number, creator: Owner): Promise<number> {
    this.checkWritable();
    await this.files.closingAt(path);
    const key = this.ns.newKey(path, 'file');
    const attr = await this.newAttr(path, 'file', mode, 0, creator);
    await this.files.takeName(path);
    await this.attrWrites.take(path); // the object it was for is replaced
    const file = OpenFile.created(this.fileContext, path, key, attr);
    this.files.add(file);
    this.meta.added(path, attr);
    this.changes.entriesChanged(parentOf(path));
    return this.files.newHandle(file);
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
      const closing = this.files.closingAt(path);
      if (closing) {
        await closing;
        continue;
      }
      const open = this.files.at(path);
      if (open && writing && this.files.onlyHeld(open)) {
        // A writer finds it closed, as without the hold (a reader, rsync's fchmod, joins it).
        await this.files.retire(open, false);
        continue;
      }
      if (open) return this.joined(open, flags);
      const file = await this.fileToOpen(path, flags);
      if (this.files.closingAt(path) || this.files.isOpen(path)) continue; // opened or closing meanwhile
      this.files.add(file);
      this.meta.overlaid(path);
      return this.files.newHandle(file);
    }
  }

  /** A new handle on a file open already; O_TRUNC empties it. */
  private async joined(file: OpenFile, flags: number): Promise<number> {
    const fh = this.files.newHandle(file);
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
      return OpenFile.created(this.fileContext, path, key, { ...attr, mtime: now, ctime: now }, head && { meta: head.meta });
    }
    return OpenFile.existing(this.fileContext, path, key, attr);
  }

  read(fh: number, position: number, length: number): Promise<Buffer> {
    return this.files.handle(fh).read(position, length);
  }

  async write(fh: number, position: number, data: Buffer): Promise<number> {
    this.checkWritable();
    const file = this.files.handle(fh);
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
    if (this.attrWrites.attr(file.path) !== undefined && this.files.isCurrent(file)) await this.attrWrites.take(file.path);
  }

  /**
   * close() (final = false) and fsync() (final = true): returns once the content is durable in the
   * bucket — except that close() of a new file under write-back returns once the file is in the
   * spool on local disk, and leaves the upload to release().
   */
  async flush(fh: number, final = false): Promise<void> {
    const file = this.files.handle(fh);
    if (!final && (await this.files.spooledAtClose(file))) return;
    const made = await file.flush(final);
    if (!file.unlinked) this.changes.written(file.path, file.currentAttr(), made);
  }

  /** The handle is gone; the last handle of a file closes it (see OpenFiles.closed). */
  async release(fh: number): Promise<void> {
    const file = this.files.release(fh);
    if (file) await this.files.closed(file);
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
    const file = this.files.handle(fh);
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
    const open = this.files.forget(path);
    if (open) {
      await open.remove(deleteObject);
    } else {
      await deleteObject();
    }
    this.meta.removed(path);
    this.times.forget(path);
    this.changes.entriesChanged(parentOf(path));
  }

  // ---- rename -----------------------------------------------------------------------------

  async rename(src: string, dest: string): Promise<void> {
    this.checkWritable();
    const from = await this.attrOf(src);
    this.ns.newKey(dest, from.kind === 'dir' ? 'dir' : 'file');
    const to = await this.lookups.lookup(dest);
    if (from.kind === 'dir') {
      if (dest.startsWith(`${src}/`)) throw new FsError('EINVAL', `cannot move ${src} into itself`);
      if (to !== 'missing') {
        if (to.kind !== 'dir') throw new FsError('ENOTDIR', `not a directory: ${dest}`);
        if (!(await this.isEmptyDir(dest))) throw new FsError('ENOTEMPTY', `directory not empty: ${dest}`);
      }
      return this.renames.moveDir(src, dest, to !== 'missing');
    }
    if (to !== 'missing' && to.kind === 'dir') throw new FsError('EISDIR', `cannot replace directory ${dest} with a file`);
    return this.renames.moveFile(src, dest, from, to !== 'missing');
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
    const open = this.files.at(path);
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
    const open = this.files.at(path);
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
      await writeDirAttr(this.bucket, this.ns, path, updated, set);
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
    this.changes.written(path, updated, made);
  }

  // ---- symlinks ---------------------------------------------------------------------------

  async symlink(target: string, path: string, creator: Owner): Promise<void> {
    this.checkWritable();
    const key = this.ns.newKey(path, 'file');
    const body = Buffer.from(target);
    const attr = await this.newAttr(path, 'symlink', 0o777, body.length, creator);
    await this.bucket.put(key, body, { meta: posixMetaOf(attr) });
    this.meta.added(path, attr);
    this.changes.entriesChanged(parentOf(path));
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
    this.changes.entriesChanged(parentOf(path));
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
   * Object storage has no fixed size: always 1 TiB free, so df and installers are content, and as
   * used what the mount has seen of the bucket (listed, looked at or written; see UsageTally). The
   * inode total is the most fuse-native carries (32 bits), the objects seen counted out of it.
   * No request: statfs is called often.
   */
  statfs(): StatFs {
    const bsize = 4096;
    const free = 2 ** 40 / bsize;
    const files = 2 ** 32 - 1;
    const { bytes, objects } = this.options.usage?.() ?? { bytes: 0, objects: 0 };
    const used = Math.ceil(bytes / bsize);
    const freeFiles = files - Math.min(objects, files);
    return { bsize, frsize: bsize, blocks: used + free, bfree: free, bavail: free, files, ffree: freeFiles, favail: freeFiles, namemax: 255 };
  }

  /**
   * Resolves once the work a release or a timer started in the background (final uploads,
   * attribute writes) has ended, failed or not: what a test waits for before it looks at the
   * bucket, since nothing else says when that work is done.
   */
  async idle(): Promise<void> {
    do {
      await this.files.retired();
      await this.attrWrites.idle();
    } while (this.files.anyRetiring);
  }

  /** Uploads everything still pending (unmount, SIGTERM). */
  async flushAll(): Promise<void> {
    this.files.stopWaiting();
    const failures: string[] = [];
    for (const [path, file] of this.files.all()) {
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
