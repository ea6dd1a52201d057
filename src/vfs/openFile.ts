import { FsError } from '../errors.js';
import {
  type EncryptedBucket,
  type EncryptedHead,
  MAX_META_BYTES,
  metaBytes,
  sealedXattrsBytes,
  splitMeta,
  withoutSealedXattrs,
  type Xattrs,
} from '../secure/index.js';
import type { ObjectHead, ObjectMeta } from '../store/ObjectStore.js';
import type { Logger } from '../log.js';
import { type Attr, posixMetaOf } from './attributes.js';
import type { Lease, MemoryBudget } from '../memory/budget.js';
import type { BlockCache } from './blockCache.js';
import { CachedReader } from './cachedReader.js';
import { StagingFile } from './stagingFile.js';
import { createSerialQueue } from '../util/limit.js';
import type { SpooledState, SpoolEntry, WriteBackSpool } from './writeBackSpool.js';
import { ENVELOPE_META_RESERVE } from '../tuning.js';

export interface OpenFileContext {
  bucket: EncryptedBucket;
  /** Lends upload parts (writeParts) and counts content held in memory (staging); the cache borrows from it too. */
  memory: MemoryBudget;
  cache: BlockCache;
  stagingDir: string;
  /** New content stays in memory up to this size (one PutObject at close), then moves to a staging file. */
  memoryLimit: number;
  maxReadAhead: number;
  log: Logger;
}

/**
 * Where a file's current content lives while it is open:
 * - remote: unchanged object version, read through the block cache;
 * - memory: new content written front to back, small so far, counted in the memory budget's
 *   `staging` account by `lease` from its first byte until it is dropped;
 * - staged: the whole content in a local sparse file — in-place edits, and new content past the
 *   memory limit. Nothing is sent before the upload: OSS wants an encrypted multipart upload's
 *   exact size when it starts, which only the upload knows.
 * Appends keep memory content; anything else (a write elsewhere, a partial truncate) and growth
 * past the limit move it to staged.
 */
type Content =
  | { kind: 'remote'; head?: EncryptedHead; reader?: CachedReader }
  | { kind: 'memory'; chunks: Buffer[]; size: number; lease?: Lease }
  | { kind: 'staged'; file: StagingFile };

/**
 * One file open by one or more handles: its content and its pending attributes. Operations on it
 * run one at a time, in arrival order, so writes land in the order the kernel sent them.
 * flush() makes it durable: it returns only once the object is whole in the bucket.
 */
export class OpenFile {
  handles = 0;
  /** The name is gone (remove(), or a failed stream), so no later upload may bring the file back. */
  private nameGone = false;
  /**
   * Changes so far, and how many of them the last upload carried: the file is dirty while they
   * differ. An attribute change does not wait for the file's turn (setAttr), so it can come in
   * while an upload runs with the attributes from before it: that upload leaves the file dirty.
   */
  private changes: number;
  private uploadedChanges = 0;
  /** Data was written (or explicitly truncated) since the last upload, not just O_TRUNC/create. */
  private written = false;
  private content: Content;
  /** Content operations run one at a time, in the order they came. */
  private readonly serial = createSerialQueue();
  /** An object is at `key` that this file's next upload replaces (false: a new name, not uploaded yet). */
  private inBucket: boolean;
  /** The durable copy of this closed file's content, while its upload waits (see WriteBackSpool). */
  private spooled: SpoolEntry | undefined;

  private constructor(
    private readonly ctx: OpenFileContext,
    public path: string,
    public key: string,
    public attr: Attr,
    content: Content,
    dirty: boolean,
    /** User metadata of the original object that is not ours to drop (e.g. an SDK's x-oss-meta-*);
     *  undefined until the object's HEAD has been fetched. */
    private baseMeta: ObjectMeta | undefined,
    inBucket: boolean,
  ) {
    this.content = content;
    this.changes = dirty ? 1 : 0;
    this.inBucket = inBucket;
  }

  /** An existing object; its HEAD (envelope, foreign metadata) is fetched only when content is needed. */
  static existing(ctx: OpenFileContext, path: string, key: string, attr: Attr): OpenFile {
    return new OpenFile(ctx, path, key, attr, { kind: 'remote' }, false, undefined, true);
  }

  /** New, empty content: a new name (create), or replacing an object (open with O_TRUNC) whose foreign metadata it keeps. */
  static created(ctx: OpenFileContext, path: string, key: string, attr: Attr, replaced?: { meta: ObjectMeta }): OpenFile {
    return new OpenFile(ctx, path, key, { ...attr, size: 0 }, { kind: 'memory', chunks: [], size: 0 }, true, replaced?.meta ?? {}, replaced !== undefined);
  }

  get size(): number {
    const c = this.content;
    return c.kind === 'remote' ? this.attr.size : c.kind === 'staged' ? c.file.size : c.size;
  }

  get unlinked(): boolean {
    return this.nameGone;
  }

  get isDirty(): boolean {
    return this.changes !== this.uploadedChanges;
  }

  /** True when the content is (also) held locally, so an upload will happen at close anyway. */
  get hasLocalContent(): boolean {
    return this.content.kind !== 'remote';
  }

  /** A new name whose whole content is here and nowhere in the bucket: renaming it needs no request. */
  get isLocalOnly(): boolean {
    return !this.inBucket && (this.content.kind === 'memory' || this.content.kind === 'staged');
  }

  /**
   * The file's name is gone (unlink, or another file took it). Runs in the file's turn, so an upload
   * already under way finishes first and none starts after: the name cannot come back. The bucket's
   * object goes through `deleteObject`, skipped when this file never reached the bucket. An open
   * handle keeps reading what it opened, as POSIX has it: content only the bucket holds is
   * downloaded first, and a failed download fails the removal with nothing removed.
   */
  remove(deleteObject?: () => Promise<void>): Promise<void> {
    return this.serial(async () => {
      if (this.handles > 0 && this.content.kind === 'remote') await this.stage();
      this.nameGone = true;
      this.dropSpooled();
      if (deleteObject && !this.isLocalOnly) await deleteObject();
    });
  }

  /** The attributes getattr shows while the file is open. */
  currentAttr(): Attr {
    return { ...this.attr, size: this.size };
  }

  read(position: number, length: number): Promise<Buffer> {
    // Reads of an unchanged object need no ordering with each other: let them overlap.
    const current = this.content;
    if (current.kind === 'remote') return this.reader(current).then((r) => r.read(position, length));
    return this.serial(async () => {
      const c = this.content;
      switch (c.kind) {
        case 'remote':
          return (await this.reader(c)).read(position, length);
        case 'memory':
          return Buffer.concat(c.chunks).subarray(position, Math.min(position + length, c.size));
        case 'staged':
          return c.file.read(position, length);
      }
    });
  }

  /**
   * `data` must stay as it is until the promise settles (like fs.write's buffer): the FUSE reply
   * waits for it, so the kernel's buffer needs no copy unless it is kept past then. A staged file
   * writes it out; only memory content keeps it.
   */
  write(position: number, data: Buffer): Promise<void> {
    return this.serial(async () => {
      const c = this.content;
      if (c.kind === 'memory' && position === c.size && c.size + data.length <= this.ctx.memoryLimit) {
        c.chunks.push(Buffer.from(data));
        c.size += data.length;
        (c.lease ??= this.ctx.memory.lease('staging', `open file ${this.path}`)).own(data.length);
      } else {
        await (await this.stage()).write(position, data);
      }
      this.touch();
    });
  }

  truncate(size: number): Promise<void> {
    return this.serial(async () => {
      if (size === this.size && this.content.kind !== 'remote') return;
      if (size === 0 && this.content.kind !== 'staged') {
        // The new content replaces the object, but its foreign metadata stays: learn it first.
        if (this.content.kind === 'remote') await this.remoteHead(this.content);
        await this.discardContent();
        this.content = { kind: 'memory', chunks: [], size: 0 };
      } else {
        await (await this.stage()).truncate(size);
      }
      this.touch();
    });
  }

  /**
   * chmod/chown/utimens on an open file: kept with the content, written by the next flush — or,
   * `writtenElsewhere` (the mount's DeferredAttrs), only shown and carried by a later upload.
   */
  setAttr(patch: Partial<Pick<Attr, 'mode' | 'uid' | 'gid' | 'mtime' | 'atime' | 'xattrs'>>, writtenElsewhere = false): void {
    this.attr = { ...this.attr, ...patch, ctime: Date.now() };
    if (!writtenElsewhere) this.changes++;
    this.spooled?.update(this.spoolState());
  }

  /** Whether the content as it is now has a durable copy in the spool. */
  get isSpooled(): boolean {
    return this.spooled !== undefined;
  }

  /**
   * Keeps the content as it is now in `spool`, with what its upload needs, until it is uploaded,
   * changed or gone. As with flush(), a non-final close before any data was written (a shell's
   * redirection closing its first descriptor) keeps nothing: the writes that follow would drop it.
   */
  spoolTo(spool: WriteBackSpool, final: boolean): Promise<void> {
    return this.serial(async () => {
      const c = this.content;
      if (this.spooled || !this.isDirty || this.nameGone || c.kind === 'remote') return;
      if (!final && !this.written && c.kind === 'memory') return;
      const source = c.kind === 'memory' ? { buffer: Buffer.concat(c.chunks) } : { path: c.file.path, size: c.file.size };
      this.spooled = await spool.keep(this.spoolState(), source);
    });
  }

  private spoolState(): SpooledState {
    const ref = this.attr.xattrs;
    return { key: this.key, meta: this.uploadMeta(), xattrs: ref && 'known' in ref ? ref.known : undefined, replacing: this.inBucket };
  }

  private dropSpooled(): void {
    this.spooled?.drop();
    this.spooled = undefined;
  }

  /** E2BIG unless `set` fits in the metadata of this file's next upload, with room for its envelope. */
  checkXattrsFit(set: Xattrs): void {
    // The replaced object's envelope does not go up again: the upload brings its own.
    const bytes = metaBytes(splitMeta(this.uploadMeta()).user) + sealedXattrsBytes(set) + ENVELOPE_META_RESERVE;
    if (bytes > MAX_META_BYTES) {
      throw new FsError('E2BIG', `${this.path}: its extended attributes would take its metadata to ${bytes} bytes with the envelope; OSS keeps at most ${MAX_META_BYTES}`);
    }
  }

  /**
   * Uploads what changed. Resolves once the object is durable; rejects (EIO) and stays dirty if not.
   * A non-final flush before any data was written uploads nothing: programs like dd and shells open
   * (O_TRUNC), dup2 and close the first descriptor before writing, and that close must not replace
   * the object with an empty one (a crash would then lose the previous version). The final close
   * (release) and fsync always upload. Resolves with the object the upload made, when its answer
   * said when (PutResult.made).
   */
  flush(final: boolean): Promise<ObjectHead | undefined> {
    return this.serial(async () => {
      if (!final && !this.written && this.content.kind === 'memory') return undefined;
      return this.upload();
    });
  }

  /** The whole content is in memory, so an upload needs nothing from the bucket. */
  get holdsContentInMemory(): boolean {
    return this.content.kind === 'memory';
  }

  /**
   * Renames the file in its turn, between uploads, so none goes to the old name afterwards. A new
   * name whose content is all here just takes the new key (its one upload goes there). Content
   * held in memory that is in the bucket already (a file just closed, see OpenFiles.closed) goes
   * up again under the new key, then `dropSource` deletes the old object: one PutObject where a
   * move in the bucket costs a HEAD, and with an attribute change a GET and a PUT of the
   * ciphertext (OSS changes no metadata of an encrypted object by CopyObject). Otherwise what is
   * only local goes up first and `moveObject` moves the object in the bucket. `moved` runs at the
   * end of the turn, for the caller's own bookkeeping to change with the name (with the object
   * uploaded under it, when known).
   */
  rename(path: string, key: string, replacing: boolean, steps: { moveObject: () => Promise<void>; dropSource: () => Promise<void>; moved: (made?: ObjectHead) => void }): Promise<void> {
    return this.serial(async () => {
      if (this.isLocalOnly) {
        this.moveTo(path, key, replacing);
      } else if (this.holdsContentInMemory && !this.nameGone) {
        const from = { path: this.path, key: this.key };
        this.path = path;
        this.key = key;
        this.inBucket = replacing;
        this.changes++; // a new object, under the new key
        let made: ObjectHead | undefined;
        try {
          made = await this.upload();
        } catch (err) {
          // The object under the old name is as it was; this file is again what it holds, dirty.
          this.path = from.path;
          this.key = from.key;
          this.inBucket = true;
          throw err;
        }
        steps.moved(made);
        await steps.dropSource();
        return;
      } else {
        await this.upload();
        await steps.moveObject();
        this.moveTo(path, key, replacing);
      }
      steps.moved();
    });
  }

  /** The object moved (a directory rename, done in the bucket already): later uploads go to the new key. */
  moveTo(path: string, key: string, replacing = true): void {
    this.path = path;
    this.key = key;
    this.inBucket ||= replacing;
    this.spooled?.update(this.spoolState());
  }

  /** Uploads what changed, if anything; resolves with the object made, when its answer said enough to know it as a HEAD would. */
  private async upload(): Promise<ObjectHead | undefined> {
    if (!this.isDirty || this.nameGone) return undefined;
    const uploading = this.changes;
    const c = this.content;
    const meta = this.uploadMeta();
    const { bucket } = this.ctx;
    let made: ObjectHead | undefined;
    switch (c.kind) {
      case 'memory':
        ({ made } = await bucket.put(this.key, Buffer.concat(c.chunks), { meta, ...(await this.xattrsToCarry()) }));
        break;
      case 'staged': {
        const md5 = c.file.md5();
        // Its parts come out of the memory budget: the cache shrinks while the file uploads.
        const parts = this.ctx.memory.lease('writeParts', `upload of ${this.key}`);
        try {
          await bucket.putFile(this.key, c.file.path, { meta, buffers: parts, ...(md5 !== undefined ? { md5 } : {}), ...(await this.xattrsToCarry()) });
        } finally {
          parts.end();
        }
        break;
      }
      case 'remote': {
        // Only attributes changed: the object's other metadata stays as the bucket has it.
        const ref = this.attr.xattrs;
        await bucket.patchMeta(this.key, posixMetaOf(this.attr), ref && 'known' in ref ? ref.known : undefined);
        break;
      }
    }
    this.uploadedChanges = uploading;
    this.written = false;
    this.inBucket = true;
    this.dropSpooled();
    return made;
  }

  /**
   * The extended attributes new content takes along, sealed anew under its new data key: the set
   * the replaced object held is opened with that object's key. One that does not open (altered in
   * the bucket) is not worth the content: the upload goes on without it, and says so.
   */
  private async xattrsToCarry(): Promise<{ xattrs?: Xattrs }> {
    const ref = this.attr.xattrs;
    if (!ref) return {};
    if ('known' in ref) return { xattrs: ref.known };
    try {
      return { xattrs: await this.ctx.bucket.openXattrs(ref.stored) };
    } catch (err) {
      this.ctx.log.error(`${this.key}: extended attributes dropped with the new content: ${(err as Error).message}`);
      const { xattrs: _dropped, ...rest } = this.attr;
      this.attr = rest;
      return {};
    }
  }

  /** Last handle closed: drop local state. Anything still unflushed is lost to this mount, so say so. */
  async close(): Promise<void> {
    await this.serial(async () => {
      if (this.isDirty && !this.nameGone) {
        const kept = this.spooled ? '; the spool keeps them for the next mount' : '';
        this.ctx.log.error(`${this.key}: closed with changes that were never uploaded${kept}`);
      } else {
        this.dropSpooled();
      }
      await this.discardContent();
    });
  }

  private async discardContent(): Promise<void> {
    const c = this.content;
    if (c.kind === 'staged') await c.file.remove();
    if (c.kind === 'memory') c.lease?.end();
  }

  private async remoteHead(c: Extract<Content, { kind: 'remote' }>): Promise<EncryptedHead> {
    if (!c.head) {
      c.head = await this.ctx.bucket.head(this.key);
      this.baseMeta ??= c.head.meta;
    }
    return c.head;
  }

  private async reader(c: Extract<Content, { kind: 'remote' }>): Promise<CachedReader> {
    if (!c.reader) {
      const source = await this.ctx.bucket.openReader(this.key, await this.remoteHead(c));
      c.reader = new CachedReader(source, this.ctx.cache, this.ctx.maxReadAhead, (err) =>
        this.ctx.log.debug(`${this.key}: read-ahead failed: ${(err as Error).message}`),
      );
    }
    return c.reader;
  }

  /** Moves the content to a local staging file (downloading it if it is remote). */
  private async stage(): Promise<StagingFile> {
    const c = this.content;
    if (c.kind === 'staged') return c.file;
    const file = await StagingFile.create(this.ctx.stagingDir);
    try {
      if (c.kind === 'memory') await file.write(0, Buffer.concat(c.chunks));
      if (c.kind === 'remote') {
        const head = await this.remoteHead(c);
        if (head.size > 0) await file.fill((await this.ctx.bucket.openReader(this.key, head)).stream());
      }
    } catch (err) {
      await file.remove();
      throw err;
    }
    if (c.kind === 'memory') c.lease?.end();
    this.content = { kind: 'staged', file };
    return file;
  }

  private touch(): void {
    this.dropSpooled(); // no longer the content: the next close spools it anew
    this.written = true;
    const now = Date.now();
    this.attr = { ...this.attr, mtime: now, ctime: now };
    this.changes++;
  }

  /** Metadata for uploading new content: the replaced object's foreign entries plus our attributes. */
  private uploadMeta(): ObjectMeta {
    return { ...withoutSealedXattrs(this.baseMeta ?? {}), ...posixMetaOf(this.attr) };
  }
}
