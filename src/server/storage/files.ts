import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, open, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBodyHasher } from './bodyHasher.js';

/** Big buffers: loopback moves ~1 GB/s and per-chunk overhead dominates below ~256 KiB. */
export const STREAM_CHUNK = 1 << 20;

export function uniqueName(): string {
  return randomBytes(12).toString('hex');
}

/**
 * Makes the entries of `dir` as they are now (files renamed, linked or removed there) survive a
 * crash: a rename reaches the disk with its directory, not with the file it names, so without
 * this a version the server had acknowledged could vanish, or name data that did.
 */
export async function syncDir(dir: string): Promise<void> {
  const handle = await open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/** `mkdir -p` whose new directories survive a crash: each one's entry in its parent is synced. */
export async function makeDirDurable(dir: string): Promise<void> {
  const first = await mkdir(dir, { recursive: true });
  if (first === undefined) return;
  for (let made = dir; ; made = dirname(made)) {
    await syncDir(dirname(made));
    if (made === first) return;
  }
}

/** Writes `data` to a temporary file, fsyncs it and renames it over `path`, durably: readers see
 *  old or new, whole, and after a crash the new one if this returned. */
export async function writeFileAtomic(path: string, data: string | Buffer, tmpDir: string): Promise<void> {
  const tmp = join(tmpDir, uniqueName());
  try {
    const handle = await open(tmp, 'w', 0o600);
    try {
      await handle.writeFile(data);
      await handle.sync();
    } finally {
      await handle.close();
    }
    await rename(tmp, path);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
  await syncDir(dirname(path));
}

export interface ReceivedFile {
  /** Temporary path holding the bytes; the caller renames it into place or removes it. */
  path: string;
  size: number;
  md5: Buffer;
  crc64: string;
}

/**
 * Flushing to disk while the body still arrives: the page cache would otherwise hold the whole
 * body dirty (writeback starts at a tenth of RAM) and the final fsync would write it all while the
 * client waits (~0.7 s per GiB here). A background fdatasync per this many bytes leaves the final
 * one little to do.
 */
const SYNC_EVERY = 64 << 20;

/**
 * Streams `source` into a new file under `tmpDir`, hashing in the same pass, then fsyncs it.
 * On any failure (client gone, disk full, `check` refusing) the file is removed before rethrowing.
 */
export async function receiveToFile(
  source: Readable,
  tmpDir: string,
  expectedSize: number | undefined,
  check?: (received: Omit<ReceivedFile, 'path'>) => void,
): Promise<ReceivedFile> {
  const path = join(tmpDir, uniqueName());
  const hasher = createBodyHasher(expectedSize);
  let size = 0;
  let handle: FileHandle | undefined;
  let flushing: Promise<void> = Promise.resolve();
  let flushError: unknown;
  try {
    handle = await open(path, 'w', 0o600);
    const file = handle;
    let synced = 0;
    await pipeline(
      source,
      async function* hash(chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          size += chunk.length;
          yield chunk;
          await hasher.update(chunk);
          if (size - synced >= SYNC_EVERY) {
            synced = size;
            // One at a time. A failure is kept and thrown below: Linux reports a writeback error to
            // one fsync only, so the final sync could succeed after this one failed.
            flushing = flushing.then(() => file.datasync()).catch((err: unknown) => void (flushError ??= err));
          }
        }
      },
      // The numeric fd: a stream given the FileHandle itself keeps a reference that never lets close() finish.
      createWriteStream('', { fd: file.fd, autoClose: false, highWaterMark: STREAM_CHUNK }),
    );
    await flushing;
    if (flushError !== undefined) throw flushError;
    await file.sync();
    const received = { size, ...(await hasher.digest()) };
    check?.(received);
    return { path, ...received };
  } catch (err) {
    hasher.abandon();
    await flushing;
    await rm(path, { force: true });
    throw err;
  } finally {
    await handle?.close();
  }
}
