import { randomUUID } from 'node:crypto';
import { FsError } from '../errors.js';
import type { Logger } from '../log.js';
import type { EncryptedBucket } from '../secure/index.js';
import { CrashJournal } from '../util/crashJournal.js';

/** `key`'s last committed version is the object `backup`; none: there was none, so putting it back deletes `key`. */
interface Keep {
  op: 'keep';
  id: string;
  key: string;
  backup?: string;
}

type Entry = Keep | { op: 'done'; id: string };

/**
 * The last committed version of a file, kept while partial new content is under its name.
 *
 * Parts of an unfinished multipart upload cannot be read back, so a streamed file that is then
 * written in a part already sent, shortened or read back has its upload completed early and goes
 * on as an in-place edit (OpenFile.stage). Until its next upload commits it (close, fsync, rename)
 * the bucket holds partial content under its name. So before that, the object there is copied
 * aside, server-side, under the mount's reserved prefix, and a journal in the cache dir says so.
 * A close that cannot upload puts the copy back; after a crash the next mount does.
 */
export class KeptVersions {
  private readonly journal: CrashJournal<Entry>;

  constructor(
    private readonly bucket: EncryptedBucket,
    journalFile: string,
    /** Where copies go: Namespace.reservedKey, which the mount never shows. */
    private readonly backupPrefix: string,
    private readonly log: Logger,
  ) {
    this.journal = new CrashJournal(journalFile);
  }

  /** Keeps the object at `key` (`exists` false: this file never reached the bucket, there is none). */
  async keep(key: string, exists: boolean): Promise<KeptVersion> {
    const id = randomUUID();
    const entry: Keep = { op: 'keep', id, key, ...(exists ? { backup: this.backupPrefix + id } : {}) };
    // On disk before the copy, so a crash cannot leave a copy nobody knows of.
    this.record(entry);
    if (entry.backup === undefined) return new KeptVersion(this, entry);
    try {
      await this.bucket.copy(key, entry.backup);
      return new KeptVersion(this, entry);
    } catch (err) {
      if (!isMissing(err)) {
        this.record({ op: 'done', id });
        throw err;
      }
      // Deleted by someone else meanwhile: what to put back is its absence.
      const { backup: _, ...none } = entry;
      this.record(none);
      return new KeptVersion(this, none);
    }
  }

  /**
   * Puts back every version an earlier run kept and never released: that run died between
   * completing a file early and committing it. Entries it cannot put back stay for the next mount.
   */
  async recover(): Promise<void> {
    const open = new Map<string, Keep>();
    for (const e of this.journal.entries()) {
      if (e.op === 'keep') open.set(e.id, e);
      else open.delete(e.id);
    }
    let failed = 0;
    for (const entry of open.values()) {
      try {
        await this.putBack(entry);
      } catch (err) {
        this.log.warn(`${entry.key}: could not put back its version from before an unfinished write (${(err as Error).message}); the next mount tries again`);
        failed++;
      }
    }
    // Each entry put back has its `done`; one that failed stays open for the next mount.
    if (failed === 0) this.journal.clear();
  }

  /** Durable, every entry: a lost `done` would put an old version back over a committed one. */
  private record(entry: Entry): void {
    this.journal.append(entry, true);
  }

  async putBack(entry: Keep): Promise<void> {
    if (entry.backup === undefined) {
      await this.bucket.delete(entry.key);
      this.log.info(`${entry.key}: removed the partial content of a new file whose write never finished`);
    } else if (await this.copyBack(entry.backup, entry.key)) {
      this.log.info(`${entry.key}: put back the version from before a write that never finished`);
    }
    await this.release(entry);
  }

  /** False when there is no copy: the copy aside never finished, so nothing was completed over `key` either. */
  private async copyBack(backup: string, key: string): Promise<boolean> {
    try {
      await this.bucket.copy(backup, key);
      return true;
    } catch (err) {
      if (isMissing(err)) return false;
      throw err;
    }
  }

  async release(entry: Keep): Promise<void> {
    // The copy goes first: a crash before `done` then finds no copy, which puts nothing back (as
    // for a copy aside that never finished). `done` follows even if the delete failed, since an
    // open entry would put the old version back over what was committed since.
    if (entry.backup !== undefined) {
      await this.bucket.delete(entry.backup).catch((err: Error) => this.log.warn(`${entry.backup}: could not delete this copy of an earlier version (${err.message})`));
    }
    this.record({ op: 'done', id: entry.id });
  }
}

/** One file's kept version, from OpenFile.stage until its next commit or its close. */
export class KeptVersion {
  constructor(
    private readonly versions: KeptVersions,
    private readonly entry: Keep,
  ) {}

  /** The new content is committed (or the name is gone): what was kept is not needed. */
  release(): Promise<void> {
    return this.versions.release(this.entry);
  }

  /** The new content will never be committed: the name gets its last committed version back. */
  putBack(): Promise<void> {
    return this.versions.putBack(this.entry);
  }
}

function isMissing(err: unknown): boolean {
  return err instanceof FsError && err.errno === 'ENOENT';
}
