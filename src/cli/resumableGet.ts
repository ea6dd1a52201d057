import { createHash } from 'node:crypto';
import { constants, rmSync } from 'node:fs';
import { type FileHandle, open, unlink } from 'node:fs/promises';
import { FsError } from '../errors.js';
import { type PieceBuffers, recycledBuffers } from '../memory/pieceBuffers.js';
import { type EncryptedBucket, type EncryptedHead, md5Mismatch, type ObjectReader } from '../secure/index.js';
import { createLimiter, createSerialQueue } from '../util/limit.js';
import { loadCheckpoint, saveCheckpoint } from './checkpointFile.js';
import { formatBytes } from './progress.js';
import { partSizeFor } from '../secure/parts.js';
import { DOWNLOAD_PIECE } from '../tuning.js';

/**
 * A download of one large object that survives being interrupted (Ctrl-C, a crash, a network
 * outage) and fetches it over several connections at once. The object is cut into ranges of the
 * part size; each is fetched with its own ranged GET, decrypted at its CTR counter (the data key
 * is unwrapped once, for the whole object) and written at its offset into `DEST.ossencfs-part`.
 * `DEST.ossencfs-checkpoint` beside it names the object version (ETag, size) and the ranges on
 * disk; the same command run again fetches only the others, or starts over if the object changed.
 * Both files are private (0600); the checkpoint holds no key material, not even the wrapped key.
 *
 * A range is recorded once its bytes are synced to disk, so a power cut cannot leave the
 * checkpoint claiming bytes the file lost.
 *
 * The finished file is checked against the object's unencrypted-content-md5 before it is renamed
 * to DEST. The MD5 runs over the ranges in order as they complete, read back from the part file
 * (they are still in the page cache), so it overlaps the download; ranges an earlier run left are
 * read back the same way.
 */

const PART_SUFFIX = '.ossencfs-part';
const CHECKPOINT_SUFFIX = '.ossencfs-checkpoint';


export interface DownloadCheckpoint {
  version: 1;
  endpoint: string;
  bucket: string;
  key: string;
  /** The version downloaded: a different ETag or size means the object changed. */
  etag: string;
  size: number;
  partSize: number;
  /** Ranges (range i is bytes [i·partSize, (i+1)·partSize)) written to the part file and synced. */
  done: number[];
}

export interface ResumableGetOptions {
  /** Endpoint and bucket name identify the object together with its key. */
  endpoint: string;
  bucket: string;
  partSize: number;
  concurrency: number;
  /** Plaintext bytes written in this run, as they land. */
  onProgress?(bytes: number): void;
  /** Plaintext bytes an earlier run left in the part file (heard once, before any onProgress). */
  onResumed?(bytes: number): void;
  /** One-line notes for the user (resuming, starting over). */
  onNote?(message: string): void;
  /** Moves the finished, checked part file to the destination (mode, times, rename). */
  place(partPath: string): Promise<void>;
}

function partFiles(dest: string): { part: string; checkpoint: string } {
  return { part: dest + PART_SUFFIX, checkpoint: dest + CHECKPOINT_SUFFIX };
}

export async function resumableGet(bucket: EncryptedBucket, head: EncryptedHead, dest: string, o: ResumableGetOptions): Promise<void> {
  const paths = partFiles(dest);
  // The envelope and length are checked, and the data key unwrapped, before any file is touched.
  const reader = await bucket.openReader(head.key, head);
  const { cp, file } = (await resumeFrom(paths, head, o)) ?? (await startAfresh(paths, head, o));
  const count = Math.ceil(cp.size / cp.partSize);
  const written = new Set(cp.done);
  const wanted = head.envelope?.unencryptedContentMd5;
  const md5 = wanted !== undefined ? new OrderedMd5(file, cp, written) : undefined;
  const commits = new Commits(file, paths.checkpoint, cp);
  const buffers = recycledBuffers();
  try {
    const already = cp.done.reduce((sum, i) => sum + rangeOf(cp, i).length, 0);
    if (already > 0) {
      o.onNote?.(`resuming oss://${o.bucket}/${head.key}: ${formatBytes(already)} of ${formatBytes(cp.size)} already here`);
      o.onResumed?.(already);
    }
    md5?.advance();
    let failed = false;
    const limit = createLimiter(o.concurrency);
    const pending: Promise<void>[] = [];
    for (let i = 0; i < count; i++) {
      if (written.has(i)) continue;
      pending.push(
        limit(async () => {
          if (failed) return;
          try {
            await fetchRange(reader, file, rangeOf(cp, i), buffers, o);
          } catch (err) {
            failed = true;
            throw err;
          }
          written.add(i);
          commits.add(i);
          md5?.advance();
        }),
      );
    }
    // Let every started range finish (or fail) first, so the checkpoint records all that landed.
    const results = await Promise.allSettled(pending);
    const failure = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failure) {
      await commits.flush().catch(() => undefined);
      throw failure.reason;
    }
    // Complete: the checkpoint is about to go, so what waits for a commit need not be synced.
    await commits.settle();
    if (md5 && (await md5.digest()) !== wanted) {
      // Those bytes are wrong (an altered object, or a wrong key): nothing of them is kept.
      await file.close();
      rmSync(paths.part, { force: true });
      rmSync(paths.checkpoint, { force: true });
      throw md5Mismatch(head.key);
    }
  } finally {
    await file.close().catch(() => undefined);
  }
  await o.place(paths.part);
  rmSync(paths.checkpoint, { force: true });
}

interface Range {
  start: number;
  length: number;
}

function rangeOf(cp: DownloadCheckpoint, i: number): Range {
  const start = i * cp.partSize;
  return { start, length: Math.min(cp.partSize, cp.size - start) };
}

/** One ranged GET, each piece written at its offset as soon as it is decrypted. */
async function fetchRange(reader: ObjectReader, file: FileHandle, range: Range, buffers: PieceBuffers, o: ResumableGetOptions): Promise<void> {
  const pieces = reader.pieces(range.start, range.start + range.length, DOWNLOAD_PIECE, buffers);
  // After a failure every later piece fails alike; the first one is thrown below.
  for (const p of pieces) p.catch(() => undefined);
  let at = range.start;
  for (const piece of pieces) {
    const plain = await piece;
    await writeAll(file, plain, at);
    buffers.give(plain);
    at += plain.length;
    o.onProgress?.(plain.length);
  }
}

async function writeAll(file: FileHandle, data: Buffer, position: number): Promise<void> {
  for (let at = 0; at < data.length; ) {
    const { bytesWritten } = await file.write(data, at, data.length - at, position + at);
    at += bytesWritten;
  }
}

/** The part file and checkpoint an earlier run left for this very object version, or undefined. */
async function resumeFrom(
  paths: { part: string; checkpoint: string },
  head: EncryptedHead,
  o: ResumableGetOptions,
): Promise<{ cp: DownloadCheckpoint; file: FileHandle } | undefined> {
  const cp = loadCheckpoint(paths.checkpoint, isDownloadCheckpoint);
  if (!cp) return undefined;
  const url = `oss://${o.bucket}/${head.key}`;
  if (cp.endpoint !== o.endpoint || cp.bucket !== o.bucket || cp.key !== head.key) {
    o.onNote?.(`${paths.part} holds part of oss://${cp.bucket}/${cp.key}, not ${url} — starting over`);
    return undefined;
  }
  if (cp.etag !== head.etag || cp.size !== head.size) {
    o.onNote?.(`${url} changed since the interrupted download — starting over`);
    return undefined;
  }
  const file = await open(paths.part, constants.O_RDWR | constants.O_NOFOLLOW).catch(() => undefined);
  const info = await file?.stat();
  if (!file || !info?.isFile() || info.size !== cp.size) {
    await file?.close();
    o.onNote?.(`${paths.part} is missing or not the size of ${url} — starting over`);
    return undefined;
  }
  return { cp, file };
}

async function startAfresh(
  paths: { part: string; checkpoint: string },
  head: EncryptedHead,
  o: ResumableGetOptions,
): Promise<{ cp: DownloadCheckpoint; file: FileHandle }> {
  // Whatever is at the part file's name (a stale part, a link) goes; the new one is made, never opened through a link.
  await unlink(paths.part).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'ENOENT') throw err;
  });
  const file = await open(paths.part, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try {
    await file.truncate(head.size);
    const cp: DownloadCheckpoint = {
      version: 1,
      endpoint: o.endpoint,
      bucket: o.bucket,
      key: head.key,
      etag: head.etag,
      size: head.size,
      partSize: partSizeFor(head.size, o.partSize),
      done: [],
    };
    saveCheckpoint(paths.checkpoint, cp);
    return { cp, file };
  } catch (err) {
    await file.close();
    throw err;
  }
}

function isDownloadCheckpoint(value: unknown): value is DownloadCheckpoint {
  const cp = value as Partial<DownloadCheckpoint> | null;
  return (
    cp?.version === 1 &&
    typeof cp.etag === 'string' &&
    Number.isSafeInteger(cp.size) &&
    Number.isSafeInteger(cp.partSize) &&
    cp.partSize! > 0 &&
    Array.isArray(cp.done) &&
    cp.done.every((i) => Number.isSafeInteger(i) && i >= 0 && i * cp.partSize! < cp.size!)
  );
}

/**
 * Records written ranges in the checkpoint once they are on disk: a commit syncs the file, then
 * saves every range written before the sync. Ranges written while one commit runs wait for the
 * next, so a fast download syncs once per batch rather than once per range.
 */
class Commits {
  private waiting: number[] = [];
  private running: Promise<void> | undefined;
  private failure: unknown;

  constructor(
    private readonly file: FileHandle,
    private readonly path: string,
    private readonly cp: DownloadCheckpoint,
  ) {}

  add(range: number): void {
    this.waiting.push(range);
    void this.flush().catch(() => undefined);
  }

  /** Resolves once no commit runs; ranges still waiting are left out of the checkpoint. */
  async settle(): Promise<void> {
    this.waiting = [];
    while (this.running) await this.running.catch(() => undefined);
  }

  /** Resolves once every range added so far is in the checkpoint; rejects if a sync failed. */
  async flush(): Promise<void> {
    while (this.running) await this.running;
    if (this.failure !== undefined) throw this.failure;
    if (this.waiting.length === 0) return;
    this.running = this.commit().finally(() => (this.running = undefined));
    await this.running;
  }

  private async commit(): Promise<void> {
    const batch = this.waiting.splice(0);
    try {
      await this.file.datasync();
    } catch (err) {
      this.failure = err;
      throw err;
    }
    this.cp.done.push(...batch);
    saveCheckpoint(this.path, this.cp);
  }
}

/**
 * MD5 of the part file's ranges in order, as far as they are written: each call to advance()
 * hashes on from the first range not yet hashed while ranges are written, reading them back.
 */
class OrderedMd5 {
  private readonly hash = createHash('md5');
  private next = 0;
  private readonly serial = createSerialQueue();
  private hashing: Promise<void> = Promise.resolve();
  /** The first failed read: the hash then lacks a range, and no later range is hashed. */
  private failure: { error: unknown } | undefined;
  private readonly buffer = Buffer.allocUnsafe(DOWNLOAD_PIECE);

  constructor(
    private readonly file: FileHandle,
    private readonly cp: DownloadCheckpoint,
    private readonly written: ReadonlySet<number>,
  ) {}

  advance(): void {
    // A failed read is reported by digest(); until then nobody listens.
    this.hashing = this.serial(() => (this.failure ? Promise.resolve() : this.catchUp().catch((error: unknown) => void (this.failure = { error }))));
  }

  async digest(): Promise<string> {
    await this.hashing;
    if (this.failure) throw this.failure.error;
    if (this.next * this.cp.partSize < this.cp.size) throw new FsError('EIO', `only ${this.next} ranges of the download were hashed`);
    return this.hash.digest('base64');
  }

  private async catchUp(): Promise<void> {
    while (this.written.has(this.next)) {
      const { start, length } = rangeOf(this.cp, this.next);
      for (let at = 0; at < length; ) {
        const { bytesRead } = await this.file.read(this.buffer, 0, Math.min(DOWNLOAD_PIECE, length - at), start + at);
        if (bytesRead === 0) throw new FsError('EIO', `the part file ended at byte ${start + at} of ${this.cp.size}`);
        this.hash.update(this.buffer.subarray(0, bytesRead));
        at += bytesRead;
      }
      this.next++;
    }
  }
}
