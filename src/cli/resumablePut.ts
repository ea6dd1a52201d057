import { createHash } from 'node:crypto';
import { createReadStream, rmSync } from 'node:fs';
import { open, stat } from 'node:fs/promises';
import { join, resolve } from 'node:path';
import { ctrAt, envelopeMeta, type DataKey, type Envelope, type Keyring } from '../crypto/index.js';
import { FsError } from '../errors.js';
import type { ObjectMeta, ObjectStore, UploadedPart } from '../store/ObjectStore.js';
import { createLimiter } from '../util/limit.js';
import { loadCheckpoint, saveCheckpoint } from './checkpointFile.js';
import { partSizeFor } from '../secure/parts.js';

/**
 * An upload of one large local file that survives being interrupted (Ctrl-C, a crash, a network
 * outage): a checkpoint under the cache directory records the multipart upload and each part
 * as it completes, and the same command run again uploads only the missing parts.
 *
 * The checkpoint holds the envelope as stored on the object (the data key and IV wrapped by the
 * master key) and never the data key itself; a resume unwraps it again with the keyring.
 *
 * CTR must never encrypt two different plaintexts under one key at one offset (their XOR would
 * be the XOR of the plaintexts). So each part's SHA-256 goes into the checkpoint before the part
 * is sent — a part in flight when the process died is covered too — and a resume first reads the
 * whole source: any part unlike its hash, or a whole-file MD5 unlike the envelope's, starts a
 * fresh upload with a fresh data key. Size and mtime only decide quickly that it changed.
 *
 * This lives in the CLI rather than in EncryptedBucket because only the CLI has a file it can
 * re-read on the next run; the mount streams from an application that will not replay its writes.
 */


interface Checkpoint {
  version: 2;
  endpoint: string;
  bucket: string;
  key: string;
  source: string;
  size: number;
  mtimeMs: number;
  uploadId: string;
  partSize: number;
  envelope: Envelope;
  parts: UploadedPart[];
  /** Part number → base64 SHA-256 of its plaintext, written before the part is first sent. */
  hashes: Record<string, string>;
}

/** What an older version wrote: no hashes, so nothing to prove a resume safe with. */
type StoredCheckpoint = Checkpoint | (Omit<Checkpoint, 'version' | 'hashes'> & { version: 1 });

export interface ResumablePutOptions {
  /** Where checkpoints live (`<cache dir>/checkpoints`). */
  checkpointDir: string;
  /** Endpoint and bucket name identify the upload together with the key and the source path. */
  endpoint: string;
  bucket: string;
  partSize: number;
  concurrency: number;
  meta: ObjectMeta;
  contentType?: string;
  /** Plaintext bytes now known to be stored (parts done before, then each part as it lands). */
  onProgress?(bytes: number): void;
  /** One-line notes for the user (resuming, starting over). */
  onNote?(message: string): void;
}


export function checkpointPath(dir: string, endpoint: string, bucket: string, key: string, source: string): string {
  const id = createHash('sha256').update(JSON.stringify([endpoint, bucket, key, resolve(source)])).digest('hex');
  return join(dir, `${id.slice(0, 32)}.json`);
}

export async function resumablePut(
  store: ObjectStore,
  keyring: Keyring,
  key: string,
  source: string,
  o: ResumablePutOptions,
): Promise<{ etag: string; size: number }> {
  const file = await stat(source);
  const path = checkpointPath(o.checkpointDir, o.endpoint, o.bucket, key, source);
  const resumed = await resumeFrom(path, store, keyring, key, file, o);
  if (resumed) return upload(store, key, source, resumed.checkpoint, resumed.dataKey, path, o);

  const partSize = partSizeFor(file.size, o.partSize);
  const md5 = await fileMd5(source);
  const sealed = await keyring.seal({ unencryptedContentLength: file.size, unencryptedContentMd5: md5, dataSize: file.size, partSize });
  const uploadId = await store.initiateMultipart(key, {
    meta: { ...o.meta, ...envelopeMeta(sealed.envelope) },
    ...(o.contentType ? { contentType: o.contentType } : {}),
  });
  const checkpoint: Checkpoint = {
    version: 2,
    endpoint: o.endpoint,
    bucket: o.bucket,
    key,
    source: resolve(source),
    size: file.size,
    mtimeMs: file.mtimeMs,
    uploadId,
    partSize,
    envelope: sealed.envelope,
    parts: [],
    hashes: {},
  };
  saveCheckpoint(path, checkpoint);
  return upload(store, key, source, checkpoint, sealed.dataKey, path, o);
}

async function upload(
  store: ObjectStore,
  key: string,
  source: string,
  cp: Checkpoint,
  dataKey: DataKey,
  path: string,
  o: ResumablePutOptions,
): Promise<{ etag: string; size: number }> {
  const count = Math.max(1, Math.ceil(cp.size / cp.partSize));
  const done = new Set(cp.parts.map((p) => p.partNumber));
  o.onProgress?.(cp.parts.reduce((sum, p) => sum + partLength(cp, p.partNumber), 0));
  const limit = createLimiter(o.concurrency);
  const handle = await open(source, 'r');
  try {
    const pending: Promise<void>[] = [];
    for (let n = 1; n <= count; n++) {
      if (done.has(n)) continue;
      pending.push(
        limit(async () => {
          const offset = (n - 1) * cp.partSize;
          const plain = Buffer.allocUnsafe(partLength(cp, n));
          const { bytesRead } = await handle.read(plain, 0, plain.length, offset);
          if (bytesRead !== plain.length) throw changed(source);
          const hash = sha256(plain);
          const recorded = cp.hashes[n];
          // Sent before under this key and offset (or maybe sent: it was in flight): only the same bytes may go again.
          if (recorded !== undefined && recorded !== hash) throw changed(source);
          if (recorded === undefined) {
            cp.hashes[n] = hash;
            saveCheckpoint(path, cp);
          }
          const part = await store.uploadPart(key, cp.uploadId, n, ctrAt(dataKey, offset, plain), envelopeMeta(cp.envelope));
          cp.parts.push(part);
          saveCheckpoint(path, cp);
          o.onProgress?.(plain.length);
        }),
      );
    }
    // Let every started part finish (or fail) before reporting, so the checkpoint is complete.
    const results = await Promise.allSettled(pending);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw failed.reason;
  } finally {
    await handle.close();
  }
  const after = await stat(source);
  if (after.size !== cp.size || after.mtimeMs !== cp.mtimeMs) {
    await discard(store, path, cp);
    throw changed(source);
  }
  const parts = [...cp.parts].sort((a, b) => a.partNumber - b.partNumber);
  const { etag } = await store.completeMultipart(key, cp.uploadId, parts);
  rmSync(path, { force: true });
  return { etag, size: cp.size };
}

/** The checkpoint to continue from, or undefined to start afresh (after cleaning up a stale one). */
async function resumeFrom(
  path: string,
  store: ObjectStore,
  keyring: Keyring,
  key: string,
  file: { size: number; mtimeMs: number },
  o: ResumablePutOptions,
): Promise<{ checkpoint: Checkpoint; dataKey: DataKey } | undefined> {
  // A checkpoint torn by a crash mid-write cannot be trusted; its upload is left for `uploads abort`.
  const cp = loadCheckpoint(path, isStoredCheckpoint);
  if (!cp) return undefined;
  if (cp.version !== 2) {
    o.onNote?.(`the interrupted upload of ${cp.source} kept no part hashes to check the file against — starting over`);
    await discard(store, path, cp);
    return undefined;
  }
  if (cp.size !== file.size || cp.mtimeMs !== file.mtimeMs || !(await sameContent(cp))) {
    o.onNote?.(`${cp.source} changed since the interrupted upload to ${key} — starting over`);
    await discard(store, path, cp);
    return undefined;
  }
  const uploads = await store.listMultipartUploads(key);
  if (!uploads.some((u) => u.uploadId === cp.uploadId && u.key === key)) {
    o.onNote?.(`the interrupted upload of ${cp.source} is gone from the bucket — starting over`);
    rmSync(path, { force: true });
    return undefined;
  }
  let dataKey: DataKey;
  try {
    dataKey = await keyring.open(cp.envelope, key);
  } catch (err) {
    o.onNote?.(`cannot reopen the interrupted upload of ${cp.source} (${(err as Error).message}) — starting over`);
    await discard(store, path, cp);
    return undefined;
  }
  o.onNote?.(`resuming upload of ${cp.source}: ${cp.parts.length} of ${Math.ceil(cp.size / cp.partSize)} parts already uploaded`);
  return { checkpoint: cp, dataKey };
}

/** Whether the source still holds what the checkpoint recorded: each hashed part and the whole file's MD5. */
async function sameContent(cp: Checkpoint): Promise<boolean> {
  const md5 = createHash('md5');
  let part = createHash('sha256');
  let n = 1;
  let inPart = 0;
  let same = true;
  const endPart = (): void => {
    const recorded = cp.hashes[n];
    if (recorded !== undefined && recorded !== part.digest('base64')) same = false;
    part = createHash('sha256');
    n++;
    inPart = 0;
  };
  for await (const chunk of createReadStream(cp.source, { highWaterMark: 1024 * 1024 }) as AsyncIterable<Buffer>) {
    md5.update(chunk);
    for (let at = 0; at < chunk.length; ) {
      const left = partLength(cp, n) - inPart;
      if (left <= 0) return false; // it grew
      const take = Math.min(chunk.length - at, left);
      part.update(chunk.subarray(at, at + take));
      at += take;
      inPart += take;
      if (inPart === partLength(cp, n)) endPart();
    }
  }
  return same && md5.digest('base64') === cp.envelope.unencryptedContentMd5;
}

function sha256(data: Buffer): string {
  return createHash('sha256').update(data).digest('base64');
}

function partLength(cp: Checkpoint, n: number): number {
  return Math.min(cp.partSize, cp.size - (n - 1) * cp.partSize);
}

function changed(source: string): FsError {
  return new FsError('EAGAIN', `${source} changed while it was being uploaded — run the command again`);
}

async function discard(store: ObjectStore, path: string, cp: StoredCheckpoint): Promise<void> {
  await store.abortMultipart(cp.key, cp.uploadId).catch(() => undefined);
  rmSync(path, { force: true });
}

function isStoredCheckpoint(value: unknown): value is StoredCheckpoint {
  const version = (value as Partial<StoredCheckpoint> | null)?.version;
  return version === 2 || version === 1;
}

async function fileMd5(path: string): Promise<string> {
  const hash = createHash('md5');
  for await (const chunk of createReadStream(path, { highWaterMark: 1024 * 1024 })) hash.update(chunk as Buffer);
  return hash.digest('base64');
}
