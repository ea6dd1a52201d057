import { createHash, randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { FsError } from '../errors.js';
import {
  checkEncryptedComplete,
  checkEncryptedCopy,
  checkEncryptedPut,
  encryptedLayout,
  type EncryptedLayout,
  expectedPartLength,
  wrongPartLength,
} from '../server/http/clientEncryption.js';
import { validateKey } from '../server/http/objectName.js';
import { parseRange } from '../server/http/range.js';
import { fileAlreadyExists, OssError } from '../server/errors.js';
import { toStoreError } from './errors.js';
import type {
  BodySink,
  ByteRange,
  GetOptions,
  GetResult,
  ListOptions,
  ListPage,
  MultipartUploadInfo,
  ObjectHead,
  ObjectMeta,
  ObjectStore,
  PutOptions,
  UploadedPart,
  Written,
} from './ObjectStore.js';

/** The kinds of request a fault can be aimed at. */
export type StoreOp = 'head' | 'get' | 'put' | 'copy' | 'delete' | 'list' | 'initiate' | 'part' | 'complete' | 'abort' | 'listUploads';

/**
 * What a failed request looked like on the wire. The memory store does not retry: a fault stands
 * for a request whose retries the OSS store has spent, and surfaces as the FsError it would then
 * throw (toStoreError): a reset or a 503 as EIO, a timeout as ETIMEDOUT, a 403 as EACCES.
 */
export type Fault = 'reset' | 'unavailable' | 'timeout' | 'denied';

const FAULTS: Record<Fault, () => unknown> = {
  reset: () => Object.assign(new Error('read ECONNRESET'), { code: 'ECONNRESET', status: -1 }),
  unavailable: () => new OssError(503, 'ServiceUnavailable', 'Please reduce your request rate.'),
  timeout: () => Object.assign(new Error('Response timeout'), { name: 'ResponseTimeoutError', status: -2 }),
  denied: () => new OssError(403, 'AccessDenied', 'You have no right to access this object.'),
};

interface StoredObject {
  body: Buffer;
  meta: ObjectMeta;
  contentType: string | undefined;
  etag: string;
  /** ms, as the server keeps it; a HEAD says it to the second (an HTTP date). */
  lastModified: number;
}

interface Upload {
  key: string;
  meta: ObjectMeta;
  contentType: string | undefined;
  layout: EncryptedLayout | undefined;
  initiated: number;
  parts: Map<number, { body: Buffer; etag: string }>;
}

const META_PREFIX = 'x-oss-meta-';
const MAX_META_BYTES = 8 * 1024;
const MAX_COPY_SIZE = 1024 ** 3;
const MIN_PART_SIZE = 100 * 1024;
const LIST_PAGE_MAX = 1000;

const md5Etag = (data: Buffer): string => `"${createHash('md5').update(data).digest('hex').toUpperCase()}"`;
const wholeSeconds = (ms: number): Date => new Date(Math.floor(ms / 1000) * 1000);
/** The server's CSE checks read metadata as the request's header names. */
const asHeaders = (meta: ObjectMeta): Record<string, string> => Object.fromEntries(Object.entries(meta).map(([k, v]) => [META_PREFIX + k, v]));
const byBytes = (a: string, b: string): number => Buffer.compare(Buffer.from(a), Buffer.from(b));

/**
 * An ObjectStore in memory, with the rules of the bundled strict server the layers above rely on:
 * ETag = upper-case MD5 of the body ("MD5-of-part-MD5s-N" for a multipart one), Last-Modified,
 * listings in UTF-8 byte order with delimiter, prefix and marker paging, ranged GETs read as OSS
 * reads a Range header, client-side-encryption headers on every part, no metadata change by copy,
 * conditional GET and copy (If-Match). Requests can be made to fail (failNext) to drive the retry
 * and error paths of the caller without a network.
 *
 * Simplified where the layers above cannot tell: bodies are whole Buffers (no streaming upload
 * limits), a mid-body connection drop is not modelled (the OSS store resumes it below the
 * interface), multipart listings come in one page, and there are no buckets beyond this one.
 * Its clock is Date.now(), so fake timers move it together with the caller's.
 */
export class MemoryStore implements ObjectStore {
  private readonly objects = new Map<string, StoredObject>();
  private readonly uploads = new Map<string, Upload>();
  private readonly faults: { op: StoreOp | 'any'; left: number; fault: Fault }[] = [];
  /** Requests made so far, by kind (failed ones included). */
  readonly calls: Record<StoreOp, number> = { head: 0, get: 0, put: 0, copy: 0, delete: 0, list: 0, initiate: 0, part: 0, complete: 0, abort: 0, listUploads: 0 };

  constructor(private readonly bucket = 'memory') {}

  /** The next `count` requests of kind `op` ('any': of every kind) fail with `fault`. */
  failNext(op: StoreOp | 'any', count: number, fault: Fault): void {
    if (count > 0) this.faults.push({ op, left: count, fault });
  }

  /** Drops the faults not yet spent. */
  clearFaults(): void {
    this.faults.length = 0;
  }

  /** The keys stored, in listing order (for tests). */
  keys(): string[] {
    return [...this.objects.keys()].sort(byBytes);
  }

  /** The stored (encrypted) body of `key`, or undefined (for tests). */
  raw(key: string): Buffer | undefined {
    return this.objects.get(key)?.body;
  }

  async head(key: string): Promise<ObjectHead> {
    return this.call('head', 'HEAD', key, () => headOf(key, this.found(key)));
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult> {
    return this.call('get', 'GET', key, () => {
      const o = this.found(key, options.ifMatch);
      const r = options.range;
      const range = r ? parseRange(`bytes=${r.start}-${r.end ?? ''}`, o.body.length) : undefined;
      const start = range?.start ?? 0;
      const end = range?.end ?? o.body.length - 1;
      return { head: headOf(key, o), start, body: Readable.from([Buffer.from(o.body.subarray(start, end + 1))]) };
    });
  }

  async readInto(key: string, range: Required<ByteRange>, ifMatch: string | undefined, sink: BodySink): Promise<void> {
    const bytes = await this.call('get', 'GET', key, () => {
      const o = this.found(key, ifMatch);
      const served = parseRange(`bytes=${range.start}-${range.end}`, o.body.length);
      // The OSS store refuses an answer that is not exactly the bytes asked for.
      if (served?.start !== range.start || served.end !== range.end) {
        throw new FsError('EIO', `GET ${this.bucket}/${key}: asked for bytes ${range.start}-${range.end} of an object of ${o.body.length}`);
      }
      return o.body.subarray(range.start, range.end + 1);
    });
    for (let at = 0; at < bytes.length; ) {
      const room = sink.room(bytes.length - at);
      const n = Math.min(room.length, bytes.length - at);
      bytes.copy(room, 0, at, at + n);
      sink.filled(n);
      at += n;
    }
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions): Promise<Written> {
    // A stream is read first, outside the fault: the OSS store sends a stream once, and its failure is the same.
    const data = Buffer.isBuffer(body) ? Buffer.from(body) : await collect(body);
    return this.call('put', 'PUT', key, () => {
      checkMeta(options.meta);
      checkEncryptedPut(asHeaders(options.meta));
      if (options.contentLength !== undefined && options.contentLength !== data.length) {
        throw new OssError(400, 'IncompleteBody', 'The request body is not the length its Content-Length said.');
      }
      if (options.forbidOverwrite && this.objects.has(key)) throw fileAlreadyExists();
      const stored = this.store(key, { body: data, meta: { ...options.meta }, contentType: options.contentType, etag: md5Etag(data) });
      // A PutObject's answer says only when it was answered (its Date header, to the second).
      return { etag: stored.etag, lastModified: wholeSeconds(stored.lastModified) };
    });
  }

  async copy(source: string, dest: string, options: { ifMatch?: string } = {}): Promise<Written> {
    return this.call('copy', 'COPY', `${source} -> ${dest}`, () => {
      validateKey(dest);
      const o = this.found(source, options.ifMatch);
      checkEncryptedCopy(asHeaders(o.meta), false, {});
      if (o.body.length > MAX_COPY_SIZE) throw new OssError(400, 'EntityTooLarge', 'The source object of a CopyObject must not be larger than 1 GB; use UploadPartCopy.');
      const stored = this.store(dest, { ...o });
      return { etag: stored.etag, lastModified: new Date(stored.lastModified) };
    });
  }

  async delete(key: string): Promise<void> {
    return this.call('delete', 'DELETE', key, () => {
      validateKey(key);
      this.objects.delete(key);
    });
  }

  async deleteMany(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += LIST_PAGE_MAX) {
      const batch = keys.slice(i, i + LIST_PAGE_MAX);
      await this.call('delete', 'DELETE', `${batch[0] ?? ''} (+${batch.length - 1} more)`, () => {
        batch.forEach(validateKey);
        for (const key of batch) this.objects.delete(key);
      });
    }
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    return this.call('list', 'LIST', prefix, () => {
      const maxKeys = Math.min(options.maxKeys ?? LIST_PAGE_MAX, LIST_PAGE_MAX);
      const delimiter = options.delimiter ?? '';
      const after = options.after ?? '';
      const page: ListPage = { objects: [], prefixes: [] };
      let last = '';
      for (const key of this.keys()) {
        if (!key.startsWith(prefix)) continue;
        const cut = delimiter ? key.indexOf(delimiter, prefix.length) : -1;
        const name = cut < 0 ? key : key.slice(0, cut + delimiter.length);
        if (byBytes(name, after) <= 0 || name === page.prefixes.at(-1)) continue;
        if (page.objects.length + page.prefixes.length === maxKeys) {
          page.next = last;
          return page;
        }
        if (cut < 0) {
          const o = this.objects.get(key)!;
          page.objects.push({ key, size: o.body.length, etag: o.etag, lastModified: new Date(o.lastModified) });
        } else {
          page.prefixes.push(name);
        }
        last = name;
      }
      return page;
    });
  }

  async initiateMultipart(key: string, options: PutOptions): Promise<string> {
    return this.call('initiate', 'INITIATE', key, () => {
      validateKey(key);
      checkMeta(options.meta);
      const layout = encryptedLayout(asHeaders(options.meta));
      const uploadId = randomBytes(16).toString('hex').toUpperCase();
      this.uploads.set(uploadId, { key, meta: { ...options.meta }, contentType: options.contentType, layout, initiated: Date.now(), parts: new Map() });
      return uploadId;
    });
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer, meta: ObjectMeta): Promise<UploadedPart> {
    return this.call('part', `PART ${partNumber}`, key, () => {
      const upload = this.upload(key, uploadId);
      const length = expectedPartLength(upload.layout, asHeaders(meta), partNumber);
      if (length !== undefined && body.length !== length) throw wrongPartLength(upload.layout!, partNumber, length, body.length);
      const etag = md5Etag(body);
      upload.parts.set(partNumber, { body: Buffer.from(body), etag });
      return { partNumber, etag };
    });
  }

  async completeMultipart(key: string, uploadId: string, parts: UploadedPart[]): Promise<{ etag: string }> {
    return this.call('complete', 'COMPLETE', key, () => {
      const upload = this.upload(key, uploadId);
      const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
      checkEncryptedComplete(upload.layout, sorted.map((p) => p.partNumber));
      const bodies: Buffer[] = [];
      const md5s = createHash('md5');
      for (const [i, want] of sorted.entries()) {
        const part = upload.parts.get(want.partNumber);
        if (!part || part.etag.toUpperCase() !== want.etag.toUpperCase()) throw new OssError(400, 'InvalidPart', `part ${want.partNumber} is not the one uploaded`);
        if (i < sorted.length - 1 && part.body.length < MIN_PART_SIZE) throw new OssError(400, 'EntityTooSmall', 'Your proposed upload is smaller than the minimum allowed size.');
        bodies.push(part.body);
        md5s.update(Buffer.from(part.etag.slice(1, -1), 'hex'));
      }
      const etag = `"${md5s.digest('hex').toUpperCase()}-${sorted.length}"`;
      this.store(key, { body: Buffer.concat(bodies), meta: upload.meta, contentType: upload.contentType, etag });
      this.uploads.delete(uploadId);
      return { etag };
    });
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    return this.call('abort', 'ABORT', key, () => {
      this.upload(key, uploadId);
      this.uploads.delete(uploadId);
    });
  }

  async listMultipartUploads(prefix: string): Promise<MultipartUploadInfo[]> {
    return this.call('listUploads', 'LIST UPLOADS', prefix, () =>
      [...this.uploads]
        .filter(([, u]) => u.key.startsWith(prefix))
        .map(([uploadId, u]) => ({ key: u.key, uploadId, initiated: new Date(u.initiated) }))
        .sort((a, b) => byBytes(a.key, b.key)),
    );
  }

  /** One request: a fault aimed at it fails it; any error becomes the FsError the OSS store would throw. */
  private async call<T>(op: StoreOp, name: string, key: string, run: () => T): Promise<T> {
    this.calls[op]++;
    // Answered in a later turn, as a request over a socket is: callers must not rely on the same turn.
    await new Promise<void>((resolve) => setImmediate(resolve));
    const fault = this.faults.find((f) => f.op === op || f.op === 'any');
    try {
      if (fault) {
        if (--fault.left === 0) this.faults.splice(this.faults.indexOf(fault), 1);
        throw FAULTS[fault.fault]();
      }
      return run();
    } catch (err) {
      throw toStoreError(err, name, this.bucket, key);
    }
  }

  private found(key: string, ifMatch?: string): StoredObject {
    validateKey(key);
    const o = this.objects.get(key);
    if (!o) throw new OssError(404, 'NoSuchKey', 'The specified key does not exist.');
    if (ifMatch !== undefined && ifMatch !== o.etag) throw new OssError(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold.');
    return o;
  }

  private store(key: string, object: Omit<StoredObject, 'lastModified'>): StoredObject {
    validateKey(key);
    const stored = { ...object, lastModified: Date.now() };
    this.objects.set(key, stored);
    return stored;
  }

  private upload(key: string, uploadId: string): Upload {
    const upload = this.uploads.get(uploadId);
    if (!upload || upload.key !== key) throw new OssError(404, 'NoSuchUpload', 'The specified upload does not exist.');
    return upload;
  }
}

function headOf(key: string, o: StoredObject): ObjectHead {
  return { key, size: o.body.length, etag: o.etag, lastModified: wholeSeconds(o.lastModified), meta: { ...o.meta }, contentType: o.contentType };
}

function checkMeta(meta: ObjectMeta): void {
  const bytes = Object.entries(meta).reduce((sum, [k, v]) => sum + k.length + v.length, 0);
  if (bytes > MAX_META_BYTES) throw new OssError(400, 'MetadataTooLarge', 'Your metadata headers exceed the maximum allowed metadata size.');
}

async function collect(body: Readable): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}
