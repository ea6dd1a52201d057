import http from 'node:http';
import https from 'node:https';
import { Readable } from 'node:stream';
import OSS from 'ali-oss';
import { FsError } from '../errors.js';
import type { Logger } from '../log.js';
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
import { toStoreError } from './errors.js';
import { HeadWorker } from './headWorker.js';
import { LeanRequest, type LeanResponse } from './leanRequest.js';
import { parseListing } from './listingXml.js';
import { resumableBody } from './resumableBody.js';
import { buildXml } from '../util/xml.js';
import { DEFAULT_RETRY_POLICY, RetryBudget, withRetry, type RetryPolicy } from './retry.js';

export interface OssStoreOptions {
  endpoint: string;
  bucket: string;
  region?: string;
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
  retry?: Partial<RetryPolicy>;
  /** Per request, until the response headers arrive (a streamed body has no overall limit). For
   *  requests whose answer may take the server long: PutObject, UploadPart(Copy), CopyObject,
   *  CompleteMultipartUpload. Default 60 s. */
  timeoutMs?: number;
  /** The same for requests a healthy server answers at once (HEAD, GET until its headers, LIST,
   *  DELETE, initiate/abort/list uploads): a hung server costs two tries of this, not one of
   *  `timeoutMs`, within the retry budget. Default 15 s (never more than `timeoutMs`). */
  quickTimeoutMs?: number;
  /** The longest silence in the middle of a GET body before it is dropped and resumed (default 30 s). */
  bodyIdleTimeoutMs?: number;
  /** Path-style addressing (`/<bucket>/key`); defaults to on for a `localhost` endpoint, which has no virtual hosts. */
  pathStyle?: boolean;
  /** Sockets per host; parts and reads in flight each take one. */
  maxSockets?: number;
  /** Bursts of HEADs go to a store of their own on a worker thread (see HeadWorker): for the mount. */
  headsOnWorker?: boolean;
  /** Hears of every retried request, at debug level (the worker's HEADs excepted). */
  log?: Logger;
}

/** What `client.request` takes, for the calls made here (ali-oss's own docs: lib/client.js). */
interface RequestParams {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
  bucket: string;
  object?: string;
  subres?: Record<string, string | number> | string;
  query?: Record<string, string | number>;
  headers?: Record<string, string | number>;
  content?: Buffer | string;
  stream?: Readable;
  mime?: string;
  successStatuses: number[];
  xmlResponse?: boolean;
  disabledMD5?: boolean;
  /** Overrides the client's timeout for this request (ms until the response headers). */
  timeout?: number;
}

interface RequestResult {
  status: number;
  headers: Record<string, string | undefined>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed XML, shape per call
  data: any;
}

interface RawClient {
  request(params: RequestParams): Promise<RequestResult>;
}

const META_PREFIX = 'x-oss-meta-';
/** The most keys one ListObjects page or one DeleteMultipleObjects call takes. */
const LIST_PAGE_MAX = 1000;
/** A GET body silent this long is on a dead connection (a dropped link sends nothing at all). */
const DEFAULT_BODY_IDLE_TIMEOUT_MS = 30_000;
/** Real OSS answers a HEAD or LIST in milliseconds; 15 s of silence is a hung server or link. */
const DEFAULT_QUICK_TIMEOUT_MS = 15_000;

export function createOssStore(o: OssStoreOptions): ObjectStore {
  return new OssStore(o);
}

class OssStore implements ObjectStore {
  private readonly client: RawClient;
  private readonly lean: LeanRequest;
  private readonly bucket: string;
  private readonly retry: RetryPolicy;
  private readonly bodyIdleTimeoutMs: number;
  private readonly quickTimeoutMs: number;
  private readonly timeoutMs: number;
  private readonly headWorker: HeadWorker | undefined;
  private headsInFlight = 0;
  private readonly log: Logger | undefined;

  constructor(o: OssStoreOptions) {
    this.log = o.log;
    this.headWorker = o.headsOnWorker ? new HeadWorker(o, (key) => this.headHere(key)) : undefined;
    const maxSockets = o.maxSockets ?? 64;
    this.timeoutMs = o.timeoutMs ?? 60_000;
    const pathStyle = o.pathStyle ?? new URL(o.endpoint).hostname === 'localhost';
    const agents = { http: new http.Agent({ keepAlive: true, maxSockets }), https: new https.Agent({ keepAlive: true, maxSockets }) };
    const client = new OSS({
      endpoint: o.endpoint,
      bucket: o.bucket,
      ...(o.region ? { region: o.region } : {}),
      accessKeyId: o.accessKeyId,
      accessKeySecret: o.accessKeySecret,
      ...(o.securityToken ? { stsToken: o.securityToken } : {}),
      timeout: this.timeoutMs,
      secure: o.endpoint.startsWith('https:'),
      // Our own retry loop wraps every call; the SDK's would retry non-idempotent calls too.
      retryMax: 0,
      sldEnable: pathStyle,
      agent: agents.http,
      httpsAgent: agents.https,
    } as OSS.Options);
    this.client = client as unknown as RawClient;
    this.lean = new LeanRequest(client as unknown as ConstructorParameters<typeof LeanRequest>[0], o.bucket, agents, maxSockets);
    this.bucket = o.bucket;
    this.retry = { ...DEFAULT_RETRY_POLICY, ...o.retry };
    this.bodyIdleTimeoutMs = o.bodyIdleTimeoutMs ?? DEFAULT_BODY_IDLE_TIMEOUT_MS;
    this.quickTimeoutMs = Math.min(o.quickTimeoutMs ?? DEFAULT_QUICK_TIMEOUT_MS, this.timeoutMs);
  }

  async head(key: string): Promise<ObjectHead> {
    this.addressable('HEAD', key);
    return this.headWorker?.takes(this.headsInFlight) ? this.headWorker.head(key) : this.headHere(key);
  }

  private async headHere(key: string): Promise<ObjectHead> {
    this.headsInFlight++;
    try {
      const headers = await this.call('HEAD', key, () => this.lean.head(key, { ok: [200], timeoutMs: this.quickTimeoutMs }));
      return headFrom(key, headers, Number(headers['content-length'] ?? 0));
    } finally {
      this.headsInFlight--;
    }
  }

  async get(key: string, options: GetOptions = {}): Promise<GetResult> {
    this.addressable('GET', key);
    const first = await this.call('GET', key, () => this.rawGet(key, options.range, options.ifMatch));
    const served = servedRange(first.headers);
    const size = served?.total ?? Number(first.headers['content-length'] ?? 0);
    const head = headFrom(key, first.headers, size);
    const start = served?.start ?? 0;
    const endExclusive = served ? served.end + 1 : size;
    const etag = head.etag;
    const body = resumableBody(first, {
      start,
      endExclusive,
      retry: this.retry,
      idleTimeoutMs: this.bodyIdleTimeoutMs,
      reopen: async (offset) => {
        const r = await this.rawGet(key, { start: offset, end: endExclusive - 1 }, etag);
        try {
          this.servedAsAsked(key, r.headers, offset, endExclusive - 1);
        } catch (err) {
          r.destroy();
          throw err;
        }
        return r;
      },
      fail: (err) => toStoreError(err, 'GET', this.bucket, key),
      retried: (err, offset) => this.heardRetry(err, 'GET', key, `resuming at byte ${offset}`),
    });
    return { head, start, body };
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions): Promise<{ etag: string }> {
    this.addressable('PUT', key);
    const headers = requestHeaders(options);
    if (Buffer.isBuffer(body)) {
      const answered = await this.call('PUT', key, () => this.lean.write('PUT', key, { headers, ok: [200], timeoutMs: this.timeoutMs, body }));
      return { etag: answered.etag ?? '' };
    }
    // A stream cannot be rewound, so it is sent once.
    const r = await this.once('PUT', key, () =>
      this.client.request({ method: 'PUT', bucket: this.bucket, object: key, headers, stream: body, successStatuses: [200] }),
    );
    return { etag: r.headers.etag ?? '' };
  }

  async copy(
    source: string,
    dest: string,
    options: { meta?: ObjectMeta; contentType?: string; ifMatch?: string } = {},
  ): Promise<Written> {
    const headers: Record<string, string> = { 'x-oss-copy-source': this.copySource(source) };
    if (options.ifMatch) headers['x-oss-copy-source-if-match'] = options.ifMatch;
    this.addressable('COPY', dest);
    if (options.meta) {
      headers['x-oss-metadata-directive'] = 'REPLACE';
      Object.assign(headers, metaHeaders(options.meta));
    }
    if (options.contentType) headers['Content-Type'] = options.contentType;
    const r = await this.call('COPY', `${source} -> ${dest}`, () =>
      this.client.request({
        method: 'PUT',
        bucket: this.bucket,
        object: dest,
        headers,
        xmlResponse: true,
        successStatuses: [200],
      }),
    );
    const lastModified = new Date(String(r.data?.LastModified ?? ''));
    return { etag: etagOf(r), ...(Number.isNaN(lastModified.getTime()) ? {} : { lastModified }) };
  }

  async delete(key: string): Promise<void> {
    this.addressable('DELETE', key);
    await this.call('DELETE', key, () => this.lean.write('DELETE', key, { ok: [204, 200], timeoutMs: this.quickTimeoutMs }));
  }

  async deleteMany(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += LIST_PAGE_MAX) {
      const batch = keys.slice(i, i + LIST_PAGE_MAX);
      const xml = buildXml('Delete', { Quiet: true, Object: batch.map((k) => ({ Key: k })) });
      await this.call('DELETE', `${batch[0] ?? ''} (+${batch.length - 1} more)`, () =>
        this.client.request({
          method: 'POST',
          bucket: this.bucket,
          subres: 'delete',
          timeout: this.quickTimeoutMs,
          content: xml,
          mime: 'xml',
          xmlResponse: true,
          successStatuses: [200],
        }),
      );
    }
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    // encoding-type=url: a key may hold characters XML 1.0 cannot carry (control characters).
    const query: Record<string, string> = { prefix, 'max-keys': String(Math.min(options.maxKeys ?? LIST_PAGE_MAX, LIST_PAGE_MAX)), 'encoding-type': 'url' };
    if (options.delimiter) query.delimiter = options.delimiter;
    if (options.after) query.marker = options.after;
    const listing = await this.call('LIST', prefix, async () => {
      const r = await this.lean.send('GET', '', { ok: [200], timeoutMs: this.quickTimeoutMs, query });
      // A page is small: a body that stalls fails (and is retried) like a request that gets no answer.
      const stalled = setTimeout(() => r.destroy(Object.assign(new Error(`LIST ${prefix}: page not complete in ${this.quickTimeoutMs} ms`), { code: 'ETIMEDOUT' })), this.quickTimeoutMs);
      const chunks: Buffer[] = [];
      try {
        for await (const chunk of r) chunks.push(chunk as Buffer);
      } finally {
        clearTimeout(stalled);
      }
      return parseListing(Buffer.concat(chunks).toString('utf8'));
    });
    const { objects, prefixes } = listing;
    const page: ListPage = { objects, prefixes };
    if (listing.truncated) {
      // V1 sends NextMarker only with a delimiter; without one the last key is the marker.
      const last = [objects.at(-1)?.key, prefixes.at(-1)].filter((k): k is string => !!k).sort().at(-1);
      const next = listing.nextMarker ?? last;
      if (next) page.next = next;
    }
    return page;
  }

  async initiateMultipart(key: string, options: PutOptions): Promise<string> {
    this.addressable('INITIATE', key);
    const r = await this.call('INITIATE', key, () =>
      this.client.request({
        method: 'POST',
        bucket: this.bucket,
        object: key,
        subres: 'uploads',
        headers: requestHeaders(options),
        timeout: this.quickTimeoutMs,
        xmlResponse: true,
        successStatuses: [200],
      }),
    );
    const uploadId: unknown = r.data?.UploadId;
    // An id of "undefined" would fail every part as NoSuchUpload, naming the wrong cause.
    if (typeof uploadId !== 'string' || uploadId === '') {
      throw new FsError('EIO', `INITIATE ${this.bucket}/${key}: the server's answer names no UploadId`);
    }
    return uploadId;
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer, meta: ObjectMeta): Promise<UploadedPart> {
    this.addressable(`PART ${partNumber}`, key);
    const r = await this.call(`PART ${partNumber}`, key, () =>
      this.client.request({
        method: 'PUT',
        bucket: this.bucket,
        object: key,
        subres: { partNumber, uploadId },
        headers: { ...metaHeaders(meta), 'Content-Length': body.length, 'Content-Type': 'application/octet-stream' },
        content: body,
        // A part is ciphertext nobody else can check either; hashing it would cost a core-second per GiB.
        disabledMD5: true,
        successStatuses: [200],
      }),
    );
    return { partNumber, etag: r.headers.etag ?? '' };
  }

  async uploadPartCopy(
    key: string,
    uploadId: string,
    partNumber: number,
    source: string,
    range: Required<ByteRange>,
    options: { ifMatch?: string } = {},
  ): Promise<UploadedPart> {
    this.addressable(`PART COPY ${partNumber}`, key);
    const headers: Record<string, string> = {
      'x-oss-copy-source': this.copySource(source),
      'x-oss-copy-source-range': `bytes=${range.start}-${range.end}`,
    };
    if (options.ifMatch) headers['x-oss-copy-source-if-match'] = options.ifMatch;
    const r = await this.call(`PART COPY ${partNumber}`, key, () =>
      this.client.request({
        method: 'PUT',
        bucket: this.bucket,
        object: key,
        subres: { partNumber, uploadId },
        headers,
        xmlResponse: true,
        successStatuses: [200],
      }),
    );
    return { partNumber, etag: etagOf(r) };
  }

  async completeMultipart(key: string, uploadId: string, parts: UploadedPart[]): Promise<{ etag: string }> {
    this.addressable('COMPLETE', key);
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    const xml = buildXml('CompleteMultipartUpload', { Part: sorted.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) });
    const r = await this.call('COMPLETE', key, () =>
      this.client.request({
        method: 'POST',
        bucket: this.bucket,
        object: key,
        subres: { uploadId },
        content: xml,
        mime: 'xml',
        xmlResponse: true,
        successStatuses: [200],
      }),
    );
    return { etag: etagOf(r) };
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    this.addressable('ABORT', key);
    await this.call('ABORT', key, () =>
      this.client.request({
        method: 'DELETE',
        bucket: this.bucket,
        object: key,
        subres: { uploadId },
        successStatuses: [204],
        timeout: this.quickTimeoutMs,
      }),
    );
  }

  async listMultipartUploads(prefix: string): Promise<MultipartUploadInfo[]> {
    const uploads: MultipartUploadInfo[] = [];
    let keyMarker = '';
    let uploadIdMarker = '';
    for (;;) {
      const query: Record<string, string> = { prefix };
      if (keyMarker) query['key-marker'] = keyMarker;
      if (uploadIdMarker) query['upload-id-marker'] = uploadIdMarker;
      const r = await this.call('LIST UPLOADS', prefix, () =>
        this.client.request({
          method: 'GET',
          bucket: this.bucket,
          subres: 'uploads',
          query,
          timeout: this.quickTimeoutMs,
          xmlResponse: true,
          successStatuses: [200],
        }),
      );
      const data = r.data ?? {};
      for (const u of asArray(data.Upload)) {
        uploads.push({ key: String(u.Key), uploadId: String(u.UploadId), initiated: new Date(String(u.Initiated)) });
      }
      if (data.IsTruncated !== 'true') return uploads;
      keyMarker = String(data.NextKeyMarker ?? '');
      uploadIdMarker = String(data.NextUploadIdMarker ?? '');
    }
  }

  async readInto(key: string, range: Required<ByteRange>, ifMatch: string | undefined, sink: BodySink): Promise<void> {
    this.addressable('GET', key);
    let offset = range.start;
    let pin = ifMatch;
    const counted: BodySink = {
      room: (max) => sink.room(max),
      filled: (n) => {
        offset += n;
        sink.filled(n);
      },
    };
    const budget = new RetryBudget(this.retry);
    for (;;) {
      const from = offset;
      try {
        await this.lean.getInto(key, getHeaders({ start: from, end: range.end }, pin), this.quickTimeoutMs, {
          sink: counted,
          idleMs: this.bodyIdleTimeoutMs,
          // Checked before a byte lands in the sink: a reader's blocks are filled by position.
          accept: ({ headers }) => {
            this.servedAsAsked(key, headers, from, range.end);
            // A resumed read must continue the same version.
            pin ??= headers.etag;
          },
        });
        return;
      } catch (err) {
        if (!(await budget.again(err, offset > from))) throw toStoreError(err, 'GET', this.bucket, key);
        this.heardRetry(err, 'GET', key, offset > range.start ? `resuming at byte ${offset}` : 'another try follows');
      }
    }
  }

  /** Throws EIO unless a ranged GET's answer holds exactly bytes `from`..`end`: a reader places them by position. */
  private servedAsAsked(key: string, headers: Record<string, string | undefined>, from: number, end: number): void {
    const served = servedRange(headers);
    if (served?.start !== from || served.end !== end || Number(headers['content-length']) !== end - from + 1) {
      throw new FsError('EIO', `GET ${this.bucket}/${key}: asked for bytes ${from}-${end}, the server answered ${headers['content-range'] ?? 'without a range'}`);
    }
  }

  /** One GET attempt; the caller owns retries and the response stream. */
  private rawGet(key: string, range: ByteRange | undefined, ifMatch: string | undefined): Promise<LeanResponse> {
    return this.lean.send('GET', key, { headers: getHeaders(range, ifMatch), ok: [200, 206], timeoutMs: this.quickTimeoutMs });
  }

  /**
   * ali-oss sends every request through WHATWG URL parsing, which folds '.' and '..' path segments,
   * escaped or not: a key with such a segment (other tools can create one) would go out as another
   * key under a signature for this one, and fail as a confusing 403 — or, against a server that
   * does not check, reach the wrong object. Such keys can be listed, copied from and bulk-deleted
   * (their names travel in headers and XML), not addressed in a URL: refuse that up front.
   */
  private addressable(op: string, key: string): void {
    if (key.split('/').some((segment) => segment === '.' || segment === '..')) {
      throw new FsError('EINVAL', `${op} ${this.bucket}/${key}: a key with a '.' or '..' segment cannot be addressed (its URL would name another object)`);
    }
  }

  private copySource(source: string): string {
    return `/${this.bucket}/${encodeURIComponent(source)}`;
  }

  private async call<T>(op: string, key: string, send: () => Promise<T>): Promise<T> {
    const retried = (err: unknown, tries: number): void => this.heardRetry(err, op, key, `try ${tries + 1} follows`);
    try {
      return await withRetry(this.retry, send, retried);
    } catch (err) {
      throw toStoreError(err, op, this.bucket, key);
    }
  }

  /** One debug line per retried try: the failure as the final error would word it, then what follows. */
  private heardRetry(err: unknown, op: string, key: string, next: string): void {
    this.log?.debug(`${toStoreError(err, op, this.bucket, key).message}; ${next}`);
  }

  private async once<T>(op: string, key: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      throw toStoreError(err, op, this.bucket, key);
    }
  }
}

/** A GET's Range (none: the whole object) and If-Match (none: any version). */
function getHeaders(range: ByteRange | undefined, ifMatch: string | undefined): Record<string, string> {
  const headers: Record<string, string> = {};
  if (range) headers.Range = `bytes=${range.start}-${range.end ?? ''}`;
  if (ifMatch) headers['If-Match'] = ifMatch;
  return headers;
}

function requestHeaders(options: PutOptions): Record<string, string> {
  const headers = metaHeaders(options.meta);
  headers['Content-Type'] = options.contentType ?? 'application/octet-stream';
  if (options.contentLength !== undefined) headers['Content-Length'] = String(options.contentLength);
  return headers;
}

function metaHeaders(meta: ObjectMeta): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const [name, value] of Object.entries(meta)) headers[META_PREFIX + name.toLowerCase()] = value;
  return headers;
}

function headFrom(key: string, headers: Record<string, string | undefined>, size: number): ObjectHead {
  const meta: ObjectMeta = {};
  for (const [name, value] of Object.entries(headers)) {
    if (name.startsWith(META_PREFIX) && value !== undefined) meta[name.slice(META_PREFIX.length)] = value;
  }
  return {
    key,
    size,
    etag: headers.etag ?? '',
    lastModified: new Date(headers['last-modified'] ?? 0),
    meta,
    contentType: headers['content-type'],
  };
}

/** `Content-Range: bytes a-b/total` of a 206; undefined for a whole-object 200. */
function servedRange(headers: Record<string, string | undefined>): { start: number; end: number; total: number } | undefined {
  const m = /^bytes (\d+)-(\d+)\/(\d+)$/.exec(headers['content-range'] ?? '');
  if (!m) return undefined;
  return { start: Number(m[1]), end: Number(m[2]), total: Number(m[3]) };
}

/** The ETag a copy or complete reports in its XML body, else in its header. */
function etagOf(r: RequestResult): string {
  return String(r.data?.ETag ?? r.headers.etag ?? '');
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- xml2js output
function asArray(v: any): any[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}
