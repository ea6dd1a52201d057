import { createHash, randomBytes } from 'node:crypto';
import { readFile, readdir, rm } from 'node:fs/promises';
import { join } from 'node:path';
import { OssError, noSuchUpload } from '../errors.js';
import { crc64Combiner } from './crc64.js';
import { placePiece } from './dataFiles.js';
import { discardBody, uniqueName, writeFileAtomic, type ReceivedBody } from './files.js';
import { KeyedMutex } from './keyedMutex.js';
import type { ObjectHeaders, ObjectRecord, Store } from './store.js';

export interface UploadRecord extends ObjectHeaders {
  key: string;
  uploadId: string;
  initiated: number;
}

export interface PartRecord {
  number: number;
  data: string;
  size: number;
  /** Quoted upper-case hex MD5, as OSS returns it. */
  etag: string;
  crc64: string;
  lastModified: number;
}

export const MIN_PART_SIZE = 100 * 1024;
export const MAX_PART_NUMBER = 10_000;

const UPLOAD_ID = /^[0-9A-F]{32}$/;

/**
 * Multipart uploads under buckets/<bucket>/uploads/<id>/: upload.json (the future object's headers),
 * and per part a data file plus <n>.json naming it (renaming the JSON commits the part).
 */
export class MultipartStore {
  private readonly parts = new KeyedMutex();

  constructor(private readonly store: Store) {}

  async initiate(bucket: string, key: string, headers: ObjectHeaders): Promise<UploadRecord> {
    this.store.bucketRecord(bucket);
    const upload: UploadRecord = { ...headers, key, uploadId: randomBytes(16).toString('hex').toUpperCase(), initiated: Date.now() };
    const dir = this.store.layout.upload(bucket, upload.uploadId);
    await writeFileAtomic(join(dir, 'upload.json'), JSON.stringify(upload), this.store.tmpDir, [{ op: 'mkdirDurable', dir }]);
    return upload;
  }

  async get(bucket: string, key: string, uploadId: string): Promise<UploadRecord> {
    this.store.bucketRecord(bucket);
    if (!UPLOAD_ID.test(uploadId)) throw noSuchUpload(uploadId);
    try {
      const upload = JSON.parse(await readFile(join(this.store.layout.upload(bucket, uploadId), 'upload.json'), 'utf8')) as UploadRecord;
      if (upload.key !== key) throw noSuchUpload(uploadId);
      return upload;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw noSuchUpload(uploadId);
      throw err;
    }
  }

  /** Moves (or writes) a received body in as part `number`, replacing an earlier upload of it. */
  async putPart(bucket: string, upload: UploadRecord, number: number, body: ReceivedBody): Promise<PartRecord> {
    const dir = this.store.layout.upload(bucket, upload.uploadId);
    const part: PartRecord = {
      number,
      data: `${number}-${uniqueName()}`,
      size: body.size,
      etag: `"${body.md5.toString('hex').toUpperCase()}"`,
      crc64: body.crc64,
      lastModified: Date.now(),
    };
    return this.parts.run(`${upload.uploadId}/${number}`, async () => {
      const previous = await this.readPart(dir, number);
      const to = join(dir, part.data);
      try {
        await writeFileAtomic(join(dir, `${number}.json`), JSON.stringify(part), this.store.tmpDir, [placePiece(body.piece, to)]);
      } catch (err) {
        await discardBody(body);
        await rm(to, { force: true });
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw noSuchUpload(upload.uploadId);
        throw err;
      }
      if (previous) await rm(join(dir, previous.data), { force: true });
      return part;
    });
  }

  async listParts(bucket: string, upload: UploadRecord): Promise<PartRecord[]> {
    const dir = this.store.layout.upload(bucket, upload.uploadId);
    const numbers = (await readdir(dir)).filter((f) => /^\d+\.json$/.test(f)).map((f) => Number.parseInt(f, 10));
    const parts = await Promise.all(numbers.sort((a, b) => a - b).map((n) => this.readPart(dir, n)));
    return parts.filter((p): p is PartRecord => p !== undefined);
  }

  /** All uploads in progress in the bucket, ordered by key then initiation (as OSS lists them). */
  async listUploads(bucket: string): Promise<UploadRecord[]> {
    this.store.bucketRecord(bucket);
    const root = this.store.layout.uploadsDir(bucket);
    let ids: string[];
    try {
      ids = await readdir(root);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const uploads: UploadRecord[] = [];
    for (const id of ids) {
      try {
        uploads.push(JSON.parse(await readFile(join(root, id, 'upload.json'), 'utf8')) as UploadRecord);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'ENOENT') throw err;
      }
    }
    return uploads.sort((a, b) => Buffer.compare(Buffer.from(a.key), Buffer.from(b.key)) || a.initiated - b.initiated);
  }

  async abort(bucket: string, upload: UploadRecord): Promise<void> {
    await rm(this.store.layout.upload(bucket, upload.uploadId), { recursive: true, force: true });
  }

  /**
   * Makes the named parts the object, in O(parts): their files are hard-linked in as the object's
   * data files, never copied, and the CRC64 of the whole is combined from theirs. Until the object's
   * metadata is committed the upload is untouched, so a crash or failure leaves it to complete again.
   * Every part but the last must be at least 100 KiB, the
   * list must be ascending, and each ETag must match the stored part, as OSS checks.
   */
  async complete(bucket: string, upload: UploadRecord, requested: { number: number; etag: string }[]): Promise<ObjectRecord> {
    if (requested.length === 0) throw new OssError(400, 'MalformedXML', 'The XML you provided was not well-formed or did not validate against our published schema.');
    const stored = new Map((await this.listParts(bucket, upload)).map((p) => [p.number, p]));
    const parts: PartRecord[] = [];
    for (const [i, want] of requested.entries()) {
      if (i > 0 && want.number <= requested[i - 1]!.number) {
        throw new OssError(400, 'InvalidPartOrder', 'The list of parts was not in ascending order. Parts must be ordered by part number.', { UploadId: upload.uploadId });
      }
      const part = stored.get(want.number);
      if (!part || normalizeEtag(want.etag) !== normalizeEtag(part.etag)) {
        throw new OssError(400, 'InvalidPart', 'One or more of the specified parts could not be found or the specified entity tag might not have matched the part\'s entity tag.', { UploadId: upload.uploadId, PartNumber: String(want.number), ETag: want.etag });
      }
      if (i < requested.length - 1 && part.size < MIN_PART_SIZE) {
        throw new OssError(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size.', { UploadId: upload.uploadId, PartNumber: String(want.number), MinSizeAllowed: String(MIN_PART_SIZE), ProposedSize: String(part.size) });
      }
      parts.push(part);
    }
    const dir = this.store.layout.upload(bucket, upload.uploadId);
    const combine = crc64Combiner();
    const md5s = createHash('md5');
    let crc = '0';
    for (const part of parts) {
      crc = combine(crc, part.crc64, part.size);
      md5s.update(Buffer.from(part.etag.slice(1, -1), 'hex'));
    }
    try {
      const record = await this.store.commit(bucket, {
        key: upload.key,
        contentType: upload.contentType,
        headers: upload.headers,
        meta: upload.meta,
        size: parts.reduce((sum, part) => sum + part.size, 0),
        etag: `"${md5s.digest('hex').toUpperCase()}-${parts.length}"`,
        crc64: crc,
        type: 'Multipart',
      }, parts.map((part) => ({ path: join(dir, part.data), size: part.size })), true);
      await this.abort(bucket, upload);
      return record;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw noSuchUpload(upload.uploadId);
      throw err;
    }
  }

  private async readPart(dir: string, number: number): Promise<PartRecord | undefined> {
    try {
      return JSON.parse(await readFile(join(dir, `${number}.json`), 'utf8')) as PartRecord;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }
}

function normalizeEtag(etag: string): string {
  return etag.trim().replace(/^"|"$/g, '').toUpperCase();
}
