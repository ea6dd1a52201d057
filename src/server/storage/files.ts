import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { open, rename, rm } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBodyHasher } from './bodyHasher.js';

/** Big buffers: loopback moves ~1 GB/s and per-chunk overhead dominates below ~256 KiB. */
export const STREAM_CHUNK = 1 << 20;

export function uniqueName(): string {
  return randomBytes(12).toString('hex');
}

/** Writes `data` to a temporary file, fsyncs it and renames it over `path`: readers see old or new, whole. */
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
}

export interface ReceivedFile {
  /** Temporary path holding the bytes; the caller renames it into place or removes it. */
  path: string;
  size: number;
  md5: Buffer;
  crc64: string;
}

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
  try {
    const out = createWriteStream(path, { mode: 0o600, highWaterMark: STREAM_CHUNK });
    await pipeline(
      source,
      async function* hash(chunks: AsyncIterable<Buffer>) {
        for await (const chunk of chunks) {
          size += chunk.length;
          yield chunk;
          await hasher.update(chunk);
        }
      },
      out,
    );
    const handle = await open(path, 'r+');
    try {
      await handle.sync();
    } finally {
      await handle.close();
    }
    const received = { size, ...(await hasher.digest()) };
    check?.(received);
    return { path, ...received };
  } catch (err) {
    hasher.abandon();
    await rm(path, { force: true });
    throw err;
  }
}
