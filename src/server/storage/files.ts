import { randomBytes } from 'node:crypto';
import { open, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { type Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createBodyHasher } from './bodyHasher.js';
import type { DataPiece } from './dataFiles.js';
import { runDurably, type DurableStep } from './durableSteps.js';
import { SERVER_SMALL_BODY, SERVER_SYNC_EVERY, SERVER_WRITE_BATCH } from '../../tuning.js';


export function uniqueName(): string {
  return randomBytes(12).toString('hex');
}

export async function syncDir(dir: string): Promise<void> {
  await runDurably([{ op: 'syncDir', dir }]);
}

export async function makeDirDurable(dir: string): Promise<void> {
  await runDurably([{ op: 'mkdirDurable', dir }]);
}

/**
 * Writes `data` to a temporary file, fsyncs it and renames it over `path`, durably: readers see
 * old or new, whole, and after a crash the new one if this returned. `first` runs before, in the
 * same batch (making the directory, placing the data a record names).
 */
export async function writeFileAtomic(path: string, data: string | Buffer, tmpDir: string, first: DurableStep[] = []): Promise<void> {
  const tmp = join(tmpDir, uniqueName());
  try {
    await runDurably([
      ...first,
      { op: 'writeSynced', path: tmp, data },
      { op: 'rename', from: tmp, to: path },
      { op: 'syncDir', dir: dirname(path) },
    ]);
  } catch (err) {
    await rm(tmp, { force: true });
    throw err;
  }
}

/** A request body, received and hashed: in memory if small, else in a temporary file the caller moves into place or removes. */
export interface ReceivedBody {
  piece: DataPiece;
  size: number;
  md5: Buffer;
  crc64: string;
}

type Check = (received: Omit<ReceivedBody, 'piece'>) => void;

/**
 * Receives `source`, hashing it, into memory or (large, or of unknown size) a new file under
 * `tmpDir` that is fsynced. On any failure (client gone, disk full, `check` refusing) nothing is
 * left behind.
 */
export async function receiveBody(source: Readable, tmpDir: string, expectedSize: number | undefined, check?: Check): Promise<ReceivedBody> {
  return expectedSize !== undefined && expectedSize <= SERVER_SMALL_BODY ? receiveSmall(source, check) : receiveStreaming(source, join(tmpDir, uniqueName()), expectedSize, check);
}

/** Removes what a received body left on disk, once it is not going to be used. */
export async function discardBody(body: ReceivedBody): Promise<void> {
  if ('path' in body.piece) await rm(body.piece.path, { force: true });
}

async function receiveSmall(source: Readable, check?: Check): Promise<ReceivedBody> {
  const hasher = createBodyHasher(undefined);
  const chunks: Buffer[] = [];
  for await (const chunk of source) {
    chunks.push(chunk as Buffer);
    await hasher.update(chunk as Buffer);
  }
  const bytes = Buffer.concat(chunks);
  const received = { size: bytes.length, ...(await hasher.digest()) };
  check?.(received);
  return { piece: { bytes }, ...received };
}

/**
 * A stream into `file` that never closes it: the handle is the caller's to close, once. (An
 * fs.WriteStream on the numeric fd closes it when a failed pipeline destroys the stream, whatever
 * `autoClose` says; the caller's close then hit whichever file or socket had been given that number
 * meanwhile — an injected reset of one part upload left another hanging.) FileHandle.close waits
 * for a write still in flight. `written` gets each batch's chunks once they are in the file.
 */
function writerTo(file: FileHandle, written: (chunks: Buffer[]) => Promise<void>): Writable {
  return new Writable({
    // Batches of chunks (see SERVER_WRITE_BATCH); two may wait while one is written.
    objectMode: true,
    highWaterMark: 2,
    writev(batches, done) {
      const chunks = batches.flatMap((b) => b.chunk as Buffer[]);
      writeAll(file, chunks).then(() => written(chunks)).then(() => done(), done);
    },
  });
}

/** Writes every byte of `buffers` at the file's position (a short write goes on where it stopped). */
async function writeAll(file: FileHandle, buffers: Buffer[]): Promise<void> {
  buffers = buffers.filter((b) => b.length > 0);
  while (buffers.length > 0) {
    let { bytesWritten } = await file.writev(buffers);
    if (bytesWritten === 0) throw Object.assign(new Error('write made no progress'), { code: 'EIO' });
    while (buffers.length > 0 && bytesWritten >= buffers[0]!.length) bytesWritten -= buffers.shift()!.length;
    if (bytesWritten > 0) buffers[0] = buffers[0]!.subarray(bytesWritten);
  }
}

async function receiveStreaming(source: Readable, path: string, expectedSize: number | undefined, check?: Check): Promise<ReceivedBody> {
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
      async function* hashInBatches(chunks: AsyncIterable<Buffer>) {
        let batch: Buffer[] = [];
        let batched = 0;
        for await (const chunk of chunks) {
          size += chunk.length;
          batch.push(chunk);
          batched += chunk.length;
          if (batched >= SERVER_WRITE_BATCH) {
            yield batch;
            batch = [];
            batched = 0;
          }
          if (size - synced >= SERVER_SYNC_EVERY) {
            synced = size;
            // One at a time. A failure is kept and thrown below: Linux reports a writeback error to
            // one fsync only, so the final sync could succeed after this one failed.
            flushing = flushing.then(() => file.datasync()).catch((err: unknown) => void (flushError ??= err));
          }
        }
        if (batch.length > 0) yield batch;
      },
      // Hashed once written: the hasher may take the chunks to another thread.
      writerTo(file, async (chunks) => {
        for (const chunk of chunks) await hasher.update(chunk);
      }),
    );
    await flushing;
    if (flushError !== undefined) throw flushError;
    await file.sync();
    const received = { size, ...(await hasher.digest()) };
    check?.(received);
    return { piece: { path, size }, ...received };
  } catch (err) {
    hasher.abandon();
    await flushing;
    await rm(path, { force: true });
    throw err;
  } finally {
    await handle?.close();
  }
}
