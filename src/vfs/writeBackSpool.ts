import { createHash, randomUUID } from 'node:crypto';
import { createReadStream, rmSync } from 'node:fs';
import { mkdir, open, readFile, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { ctrAtInPlace, type DataKey, envelopeMeta, readEnvelope, withUploadSizes } from '../crypto/index.js';
import { FsError } from '../errors.js';
import type { Logger } from '../log.js';
import { type EncryptedBucket, withoutSealedXattrs, type Xattrs } from '../secure/index.js';
import { checkMetaSize, withSealedXattrs } from '../secure/xattrs.js';
import type { ObjectMeta } from '../store/ObjectStore.js';
import { CrashJournal } from '../util/crashJournal.js';

/** Under the mount's cache dir. */
export const SPOOL_DIR = 'spool';
const JOURNAL = 'spool.jsonl';
/** What a recovery could not upload, apart from the running mount's journal (which empties itself). */
const LEFT = 'left.jsonl';

/** What the upload of a waiting file needs besides its bytes; recovery uploads exactly this. */
export interface SpooledState {
  key: string;
  /** The object's user metadata (POSIX attributes, foreign entries), without the envelope. */
  meta: ObjectMeta;
  xattrs?: Xattrs | undefined;
  /** The name held an object this file replaces (a rename over it): recovery overwrites it. */
  replacing: boolean;
}

/** Plaintext to spool: a whole buffer, given to the spool (encrypted in place), or a local file of `size` bytes. */
export type SpoolSource = { buffer: Buffer } | { path: string; size: number };

/**
 * Journal lines. `keep` precedes its data file's use and is on disk before close returns; `set`
 * (a chmod, touch, rename, xattr change of the waiting file) is written through the page cache,
 * which a crash of the process keeps. The envelope holds the data key wrapped by the master key,
 * as the bucket would hold it, and xattrs are sealed under the data key: nothing here is plaintext.
 */
type Line =
  | { op: 'keep'; id: string; key: string; meta: ObjectMeta; replacing: boolean; envelope: ObjectMeta }
  | { op: 'set'; id: string; key: string; meta: ObjectMeta; replacing: boolean }
  | { op: 'drop'; id: string };

type Kept = Extract<Line, { op: 'keep' }>;

/** One waiting file's durable copy: its attributes follow the file's, and it goes once uploaded or gone. */
export class SpoolEntry {
  private dropped = false;

  constructor(
    private readonly spool: WriteBackSpool,
    readonly id: string,
    private readonly dataKey: DataKey,
  ) {}

  update(state: SpooledState): void {
    if (!this.dropped) this.spool.append({ op: 'set', id: this.id, ...this.sealed(state) }, false);
  }

  drop(): void {
    if (this.dropped) return;
    this.dropped = true;
    this.spool.forget(this.id);
  }

  /** The state as journaled: its xattrs sealed under the spooled ciphertext's data key. */
  sealed(state: SpooledState): { key: string; meta: ObjectMeta; replacing: boolean } {
    const meta = withoutSealedXattrs(state.meta);
    return { key: state.key, meta: state.xattrs ? withSealedXattrs(meta, this.dataKey, state.xattrs) : meta, replacing: state.replacing };
  }
}

/**
 * Closed new files whose upload waits (write-back), kept on local disk as the ciphertext their
 * recovery uploads: a 0700 directory of 0600 files, each fsync'd with its journal line before
 * close returns. The running mount uploads from its own copy (a fresh data key); a spooled copy
 * is used only by the next mount after a crash (recoverSpool).
 */
export class WriteBackSpool {
  private readonly journal: CrashJournal<Line>;
  private readonly live = new Set<string>();
  private ready: Promise<void> | undefined;

  constructor(
    private readonly dir: string,
    private readonly bucket: EncryptedBucket,
  ) {
    this.journal = new CrashJournal(join(dir, JOURNAL));
  }

  /** Encrypts `source` under a new data key into the spool, durably, and journals what its upload needs. */
  async keep(state: SpooledState, source: SpoolSource): Promise<SpoolEntry> {
    await (this.ready ??= mkdir(this.dir, { recursive: true, mode: 0o700 }).then(() => undefined));
    const { dataKey, envelope } = await this.bucket.keyring.seal();
    const id = randomUUID();
    const file = join(this.dir, id);
    const md5 = createHash('md5');
    const handle = await open(file, 'wx', 0o600);
    let size = 0;
    try {
      const write = async (plain: Buffer): Promise<void> => {
        md5.update(plain);
        const cipher = ctrAtInPlace(dataKey, size, plain);
        for (let at = 0; at < cipher.length; ) at += (await handle.write(cipher, at, cipher.length - at, size + at)).bytesWritten;
        size += cipher.length;
      };
      if ('buffer' in source) await write(source.buffer);
      else for await (const chunk of createReadStream(source.path, { end: source.size - 1, highWaterMark: 1024 * 1024 })) await write(chunk as Buffer);
      await handle.sync();
    } catch (err) {
      await handle.close().catch(() => undefined);
      await rm(file, { force: true });
      throw err;
    }
    await handle.close();
    const entry = new SpoolEntry(this, id, dataKey);
    const sealedEnvelope = envelopeMeta({ ...envelope, unencryptedContentLength: size, unencryptedContentMd5: md5.digest('base64') });
    this.append({ op: 'keep', id, ...entry.sealed(state), envelope: sealedEnvelope }, true);
    this.live.add(id);
    return entry;
  }

  append(line: Line, durable: boolean): void {
    this.journal.append(line, durable);
  }

  /** Uploaded or gone: its copy goes; once none is left the journal starts afresh. */
  forget(id: string): void {
    if (!this.live.delete(id)) return;
    this.journal.append({ op: 'drop', id }, false);
    rmSync(join(this.dir, id), { force: true });
    if (this.live.size === 0) this.journal.clear();
  }
}

export interface Recovered {
  uploaded: number;
  /** Uploaded under another name, since another client made the object meanwhile. */
  conflicts: number;
  /** Left in the spool for a later mount: another key's, or their upload failed. */
  kept: number;
}

/**
 * Uploads what a mount that died left in its spool, before this one serves: each file under the
 * name and attributes it last had, its ciphertext and envelope as spooled. A new name is written
 * only if nobody made an object there meanwhile (x-oss-forbid-overwrite); if someone did, the file
 * goes to `<name>.ossencfs-conflict-<time>` instead. A file sealed under a key this mount does not
 * hold, or whose upload fails, stays in the spool for a later mount. One log line per such file.
 */
export async function recoverSpool(dir: string, bucket: EncryptedBucket, log: Logger): Promise<Recovered> {
  const journal = new CrashJournal<Line>(join(dir, JOURNAL));
  const leftBefore = new CrashJournal<Line>(join(dir, LEFT));
  const entries = spooled(leftBefore, journal);
  const result: Recovered = { uploaded: 0, conflicts: 0, kept: 0 };
  const left: Kept[] = [];
  for (const entry of entries.values()) {
    const outcome = await recoverOne(dir, entry, bucket, log).catch((err: Error) => {
      log.error(`spool: ${entry.key}: upload failed, kept in ${join(dir, entry.id)} for the next mount: ${err.message}`);
      return 'kept' as const;
    });
    result[outcome]++;
    if (outcome === 'kept') left.push(entry);
    else await rm(join(dir, entry.id), { force: true });
  }
  // The left entries are on disk before the journal that named them goes.
  const leftNow = new CrashJournal<Line>(join(dir, `${LEFT}.new`));
  left.forEach((entry, i) => leftNow.append(entry, i === left.length - 1));
  if (left.length > 0) await rename(join(dir, `${LEFT}.new`), join(dir, LEFT));
  else leftBefore.clear();
  journal.clear();
  return result;
}

/** The object keys of the files a spool holds, as a recovery would upload them (for a read-only mount to name). */
export function spooledKeys(dir: string): string[] {
  return [...spooled(new CrashJournal<Line>(join(dir, LEFT)), new CrashJournal<Line>(join(dir, JOURNAL))).values()].map((e) => e.key);
}

/** Each file the journals hold, in its last state. */
function spooled(...journals: CrashJournal<Line>[]): Map<string, Kept> {
  const entries = new Map<string, Kept>();
  for (const line of journals.flatMap((j) => j.entries())) {
    if (line.op === 'keep') entries.set(line.id, line);
    else if (line.op === 'drop') entries.delete(line.id);
    else {
      const kept = entries.get(line.id);
      if (kept) entries.set(line.id, { ...kept, key: line.key, meta: line.meta, replacing: line.replacing });
    }
  }
  return entries;
}

async function recoverOne(dir: string, entry: Kept, bucket: EncryptedBucket, log: Logger): Promise<keyof Recovered> {
  const envelope = readEnvelope(entry.envelope, entry.key);
  if (!envelope) throw new FsError('EIO', 'its journal line holds no envelope');
  try {
    await bucket.keyring.open(envelope, entry.key);
  } catch (err) {
    log.error(`spool: ${entry.key}: sealed under a key this mount does not hold (${(err as Error).message}); kept in ${join(dir, entry.id)} for a mount with that key`);
    return 'kept';
  }
  const body = await readFile(join(dir, entry.id));
  const put = (key: string): Promise<unknown> => {
    const meta = bucket.attrMac.sign(key, withUploadSizes({ ...entry.meta, ...entry.envelope }, undefined));
    checkMetaSize(meta, key);
    return bucket.store.put(key, body, { meta, contentLength: body.length, ...(entry.replacing && key === entry.key ? {} : { forbidOverwrite: true }) });
  };
  try {
    await put(entry.key);
    return 'uploaded';
  } catch (err) {
    if (!(err instanceof FsError && err.errno === 'EEXIST')) throw err;
  }
  const aside = `${entry.key}.ossencfs-conflict-${new Date().toISOString().replace(/[-:]|\.\d+/g, '')}`;
  await put(aside);
  log.warn(`spool: ${entry.key}: another client made this object while the mount was down; the file the mount had waiting is uploaded as ${aside}`);
  return 'conflicts';
}
