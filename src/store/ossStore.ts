import { createHash } from 'node:crypto';
import { Readable } from 'node:stream';
import { XMLParser } from 'fast-xml-parser';
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
import { type CredentialProvider, RefreshingCredentials, staticCredentials } from './credentials.js';
import { retryReason, toStoreError } from './errors.js';
import { HeadWorker } from './headWorker.js';
import { parseListing } from './listingXml.js';
import { noRegionMessage, signingRegion } from './region.js';
import { abandon, resumableBody } from './resumableBody.js';
import type { Query, SignatureVersion } from './signing.js';
import { type Answer, type Exchange, Transport } from './transport.js';
import { buildXml } from '../util/xml.js';
import { DEFAULT_RETRY_POLICY, RetryBudget, withRetry, type RetryPolicy } from './retry.js';
import { BODY_IDLE_TIMEOUT_MS, QUICK_TIMEOUT_MS } from '../tuning.js';

export interface OssStoreOptions {
  endpoint: string;
  bucket: string;
  /** The region id V4 signs for (`cn-hangzhou`; `oss-cn-hangzhou` is taken too); read from an OSS endpoint's host when absent. */
  region?: string;
  /** 4 (the default): `OSS4-HMAC-SHA256`. 1: the old `OSS AK:SIG`, for deployments that know no other. */
  signatureVersion?: SignatureVersion;
  /** Static keys; or `credentials`, which wins. */
  accessKeyId?: string;
  accessKeySecret?: string;
  securityToken?: string;
  /** Credentials that may change (temporary ones, renewed): asked before each request. */
  credentials?: CredentialProvider;
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
  /** Path-style addressing (`/<bucket>/key`); defaults to on for an IP or `localhost` endpoint, which has no virtual hosts. */
  pathStyle?: boolean;
  /** Connections per host; parts and reads in flight each take one. */
  maxSockets?: number;
  /** Bursts of HEADs go to a store of their own on a worker thread (see HeadWorker): for the mount.
   *  With keys or a RefreshingCredentials, which the worker can make for itself. */
  headsOnWorker?: boolean;
  /** Hears of every retried request, at debug level (the worker's HEADs excepted). */
  log?: Logger;
  /** Hears of every retried request (the worker's HEADs excepted): a CLI says it on its status line. */
  retries?: RetryListener;
}

export interface RetryListener {
  /** A try failed and another follows: told before the wait. */
  retrying(notice: RetryNotice): void;
  /** A request that was retried went through after all. */
  recovered(): void;
}

/** A try failed and another follows: what, why, which try comes next and when. */
export interface RetryNotice {
  op: string;
  /** oss://BUCKET/KEY */
  url: string;
  /** A few words: `connection refused`, `HTTP 503 ServiceUnavailable`. */
  reason: string;
  /** The number of the try that follows (2 for the first retry). */
  attempt: number;
  delayMs: number;
}

const META_PREFIX = 'x-oss-meta-';
/** The most keys one ListObjects page or one DeleteMultipleObjects call takes. */
const LIST_PAGE_MAX = 1000;

const xml = new XMLParser({ parseTagValue: false, trimValues: false });

/** A '.' or '..' path segment. */
const DOT_SEGMENT = /(^|\/)\.\.?(\/|$)/;

export function createOssStore(o: OssStoreOptions): ObjectStore {
  return new OssStore(o);
}

class OssStore implements ObjectStore {
  private readonly http: Transport;
  private readonly bucket: string;
  private readonly retry: RetryPolicy;
  private readonly bodyIdleTimeoutMs: number;
  private readonly quickTimeoutMs: number;
  private readonly timeoutMs: number;
  private readonly headWorker: HeadWorker | undefined;
  private headsInFlight = 0;
  private readonly log: Logger | undefined;
  private readonly retries: RetryListener | undefined;

  constructor(o: OssStoreOptions) {
    this.log = o.log;
    this.retries = o.retries;
    // Also what makes it safe to put in a host name and a path unescaped.
    if (!/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(o.bucket)) {
      throw new FsError('EINVAL', `"${o.bucket}" is not a valid bucket name (3-63 characters of a-z, 0-9 and -)`);
    }
    const signatureVersion = o.signatureVersion ?? 4;
    const region = signingRegion(o.region, o.endpoint);
    if (signatureVersion === 4 && !region) throw new FsError('EINVAL', noRegionMessage(o.endpoint));
    let credentials = o.credentials;
    if (!credentials) {
      if (!o.accessKeyId || !o.accessKeySecret) throw new FsError('EINVAL', `${o.bucket}: no credentials (accessKeyId and accessKeySecret, or a credentials provider)`);
      credentials = staticCredentials({ accessKeyId: o.accessKeyId, accessKeySecret: o.accessKeySecret, ...(o.securityToken ? { securityToken: o.securityToken } : {}) });
    }
    // The worker needs credentials it can make for itself: keys, or a source of the library's.
    const workerCanSign = !o.credentials || o.credentials instanceof RefreshingCredentials;
    this.headWorker = o.headsOnWorker && workerCanSign ? new HeadWorker(o, (key) => this.headHere(key)) : undefined;
    this.timeoutMs = o.timeoutMs ?? 60_000;
    this.http = new Transport({
      endpoint: o.endpoint,
      bucket: o.bucket,
      signatureVersion,
      region,
      credentials,
      pathStyle: o.pathStyle ?? Transport.pathStyleByDefault(o.endpoint),
      maxSockets: o.maxSockets ?? 64,
    });
    this.bucket = o.bucket;
    this.retry = { ...DEFAULT_RETRY_POLICY, ...o.retry };
    this.bodyIdleTimeoutMs = o.bodyIdleTimeoutMs ?? BODY_IDLE_TIMEOUT_MS;
    this.quickTimeoutMs = Math.min(o.quickTimeoutMs ?? QUICK_TIMEOUT_MS, this.timeoutMs);
  }

  async head(key: string): Promise<ObjectHead> {
    this.addressable('HEAD', key);
    return this.headWorker?.takes(this.headsInFlight) ? this.headWorker.head(key) : this.headHere(key);
  }

  private async headHere(key: string): Promise<ObjectHead> {
    this.headsInFlight++;
    try {
      const { headers } = await this.call('HEAD', key, () => this.http.fetch({ method: 'HEAD', key, ok: [200], timeoutMs: this.quickTimeoutMs }));
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
    const body = resumableBody(first.body, {
      start,
      endExclusive,
      retry: this.retry,
      idleTimeoutMs: this.bodyIdleTimeoutMs,
      reopen: async (offset) => {
        const r = await this.rawGet(key, { start: offset, end: endExclusive - 1 }, etag);
        try {
          this.servedAsAsked(key, r.headers, offset, endExclusive - 1);
        } catch (err) {
          abandon(r.body);
          throw err;
        }
        return r.body;
      },
      fail: (err) => toStoreError(err, 'GET', this.bucket, key),
      retried: (err, offset, failed, delayMs) => this.heardRetry(err, 'GET', key, `resuming at byte ${offset}`, failed, delayMs),
    });
    return { head, start, body };
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions): Promise<Written> {
    this.addressable('PUT', key);
    const headers = requestHeaders(options);
    if (Buffer.isBuffer(body)) {
      // Its Content-MD5, as ali-oss sends it: the server checks the body arrived whole.
      headers['Content-MD5'] = createHash('md5').update(body).digest('base64');
      const r = await this.call('PUT', key, () => this.http.fetch({ method: 'PUT', key, headers, body, ok: [200], timeoutMs: this.timeoutMs }));
      return putWritten(r.headers);
    }
    // A stream cannot be rewound, so it is sent once.
    const r = await this.once('PUT', key, () => this.http.fetch({ method: 'PUT', key, headers, body, ok: [200], timeoutMs: this.timeoutMs }));
    return putWritten(r.headers);
  }

  async copy(source: string, dest: string, options: { ifMatch?: string } = {}): Promise<Written> {
    const headers: Record<string, string> = { 'x-oss-copy-source': this.copySource(source) };
    if (options.ifMatch) headers['x-oss-copy-source-if-match'] = options.ifMatch;
    this.addressable('COPY', dest);
    const r = await this.call('COPY', `${source} -> ${dest}`, () => this.xmlCall({ method: 'PUT', key: dest, headers, ok: [200], timeoutMs: this.timeoutMs }));
    const lastModified = new Date(String(r.data.LastModified ?? ''));
    return { etag: etagOf(r), ...(Number.isNaN(lastModified.getTime()) ? {} : { lastModified }) };
  }

  async delete(key: string): Promise<void> {
    this.addressable('DELETE', key);
    await this.call('DELETE', key, () => this.http.fetch({ method: 'DELETE', key, ok: [204, 200], timeoutMs: this.quickTimeoutMs }));
  }

  async deleteMany(keys: string[]): Promise<void> {
    for (let i = 0; i < keys.length; i += LIST_PAGE_MAX) {
      const batch = keys.slice(i, i + LIST_PAGE_MAX);
      const body = Buffer.from(buildXml('Delete', { Quiet: true, Object: batch.map((k) => ({ Key: k })) }));
      await this.call('DELETE', `${batch[0] ?? ''} (+${batch.length - 1} more)`, () =>
        this.http.fetch({ method: 'POST', key: '', query: { delete: null }, headers: xmlHeaders(body), body, ok: [200], timeoutMs: this.quickTimeoutMs }),
      );
    }
  }

  async list(prefix: string, options: ListOptions = {}): Promise<ListPage> {
    // encoding-type=url: a key may hold characters XML 1.0 cannot carry (control characters).
    const query: Query = { prefix, 'max-keys': String(Math.min(options.maxKeys ?? LIST_PAGE_MAX, LIST_PAGE_MAX)), 'encoding-type': 'url' };
    if (options.delimiter) query.delimiter = options.delimiter;
    if (options.after) query.marker = options.after;
    const listing = await this.call('LIST', prefix, async () => {
      // A page is small: a body that stalls fails (and is retried) like a request that gets no answer.
      const r = await this.http.fetch({ method: 'GET', key: '', query, ok: [200], timeoutMs: this.quickTimeoutMs, bodyIdleMs: this.quickTimeoutMs });
      return parseListing(r.body.toString('utf8'));
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
      this.xmlCall({ method: 'POST', key, query: { uploads: null }, headers: requestHeaders(options), ok: [200], timeoutMs: this.quickTimeoutMs }),
    );
    const uploadId: unknown = r.data.UploadId;
    // An id of "undefined" would fail every part as NoSuchUpload, naming the wrong cause.
    if (typeof uploadId !== 'string' || uploadId === '') {
      throw new FsError('EIO', `INITIATE ${this.bucket}/${key}: the server's answer names no UploadId`);
    }
    return uploadId;
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer, meta: ObjectMeta): Promise<UploadedPart> {
    this.addressable(`PART ${partNumber}`, key);
    // No Content-MD5: a part is ciphertext nobody else can check either; hashing it would cost a core-second per GiB.
    const headers = { ...metaHeaders(meta), 'Content-Type': 'application/octet-stream' };
    const r = await this.call(`PART ${partNumber}`, key, () =>
      this.http.fetch({ method: 'PUT', key, query: { partNumber: String(partNumber), uploadId }, headers, body, ok: [200], timeoutMs: this.timeoutMs }),
    );
    return { partNumber, etag: r.headers.etag ?? '' };
  }

  async completeMultipart(key: string, uploadId: string, parts: UploadedPart[]): Promise<{ etag: string }> {
    this.addressable('COMPLETE', key);
    const sorted = [...parts].sort((a, b) => a.partNumber - b.partNumber);
    const body = Buffer.from(buildXml('CompleteMultipartUpload', { Part: sorted.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) }));
    const r = await this.call('COMPLETE', key, () =>
      this.xmlCall({ method: 'POST', key, query: { uploadId }, headers: xmlHeaders(body), body, ok: [200], timeoutMs: this.timeoutMs }),
    );
    return { etag: etagOf(r) };
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    this.addressable('ABORT', key);
    await this.call('ABORT', key, () => this.http.fetch({ method: 'DELETE', key, query: { uploadId }, ok: [204], timeoutMs: this.quickTimeoutMs }));
  }

  async listMultipartUploads(prefix: string): Promise<MultipartUploadInfo[]> {
    const uploads: MultipartUploadInfo[] = [];
    let keyMarker = '';
    let uploadIdMarker = '';
    for (;;) {
      const query: Query = { uploads: null, prefix };
      if (keyMarker) query['key-marker'] = keyMarker;
      if (uploadIdMarker) query['upload-id-marker'] = uploadIdMarker;
      const r = await this.call('LIST UPLOADS', prefix, () =>
        this.xmlCall({ method: 'GET', key: '', query, ok: [200], timeoutMs: this.quickTimeoutMs, bodyIdleMs: this.quickTimeoutMs }),
      );
      const data = r.data;
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
        const x: Exchange = { method: 'GET', key, headers: getHeaders({ start: from, end: range.end }, pin), ok: [200, 206], timeoutMs: this.quickTimeoutMs, bodyIdleMs: this.bodyIdleTimeoutMs };
        await this.http.fetchInto(x, {
          sink: counted,
          // Checked before a byte lands in the sink: a reader's blocks are filled by position.
          accept: ({ headers }) => {
            this.servedAsAsked(key, headers, from, range.end);
            // A resumed read must continue the same version.
            pin ??= headers.etag;
          },
        });
        return;
      } catch (err) {
        const next = offset > range.start ? `resuming at byte ${offset}` : 'another try follows';
        if (!(await budget.again(err, offset > from, (delayMs, failed) => this.heardRetry(err, 'GET', key, next, failed, delayMs)))) {
          throw toStoreError(err, 'GET', this.bucket, key);
        }
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

  /** One GET attempt; the caller owns retries and the response body. */
  private rawGet(key: string, range: ByteRange | undefined, ifMatch: string | undefined): Promise<Answer & { body: Readable }> {
    return this.http.open({ method: 'GET', key, headers: getHeaders(range, ifMatch), ok: [200, 206], timeoutMs: this.quickTimeoutMs });
  }

  /** A request whose answer is an XML document: its root element's children. */
  private async xmlCall(x: Exchange): Promise<XmlAnswer> {
    const r = await this.http.fetch(x);
    const doc = r.body.length > 0 ? (xml.parse(r.body.toString('utf8')) as Record<string, unknown>) : {};
    const root = Object.entries(doc).find(([name]) => name !== '?xml')?.[1];
    // eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed XML, shape per call
    return { headers: r.headers, data: (typeof root === 'object' && root !== null ? root : {}) as Record<string, any> };
  }

  /**
   * A key with a '.' or '..' segment: URL handling along the way (ours, a proxy's, the server's)
   * may fold those segments, so the request would name another object under a signature for this
   * one — a confusing 403, or against a server that does not check, the wrong object. Such keys
   * (other tools can create them) can be listed, copied from and bulk-deleted (their names travel
   * in headers and XML), not addressed in a URL: refuse that up front.
   */
  private addressable(op: string, key: string): void {
    if (DOT_SEGMENT.test(key)) {
      throw new FsError('EINVAL', `${op} ${this.bucket}/${key}: a key with a '.' or '..' segment cannot be addressed (its URL would name another object)`);
    }
  }

  private copySource(source: string): string {
    return `/${this.bucket}/${encodeURIComponent(source)}`;
  }

  private async call<T>(op: string, key: string, send: () => Promise<T>): Promise<T> {
    const started = Date.now();
    let failed = 1;
    const retried = (err: unknown, tries: number, delayMs: number): void => {
      failed = tries + 1;
      this.heardRetry(err, op, key, `try ${tries + 1} follows`, tries, delayMs);
    };
    try {
      const answer = await withRetry(this.retry, send, retried);
      if (failed > 1) this.retries?.recovered();
      return answer;
    } catch (err) {
      const e = toStoreError(err, op, this.bucket, key);
      if (failed === 1) throw e;
      throw new FsError(e.errno, `${e.message}; gave up after ${failed} tries in ${Math.round((Date.now() - started) / 1000)} s`, { cause: err });
    }
  }

  /**
   * Per retried try, before its wait: a debug line (the failure as the final error would word it,
   * then what follows), and the retry listener's notice.
   */
  private heardRetry(err: unknown, op: string, key: string, next: string, failed: number, delayMs: number): void {
    this.log?.debug(`${toStoreError(err, op, this.bucket, key).message}; ${next}`);
    this.retries?.retrying({ op, url: `oss://${this.bucket}/${key}`, reason: retryReason(err), attempt: failed + 1, delayMs });
  }

  private async once<T>(op: string, key: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (err) {
      throw toStoreError(err, op, this.bucket, key);
    }
  }
}

interface XmlAnswer {
  headers: Record<string, string | undefined>;
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- parsed XML, shape per call
  data: Record<string, any>;
}

/** An XML request body's headers: its type, and its Content-MD5 (DeleteMultipleObjects requires one). */
function xmlHeaders(body: Buffer): Record<string, string> {
  return { 'Content-Type': 'application/xml', 'Content-MD5': createHash('md5').update(body).digest('base64') };
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
  if (options.forbidOverwrite) headers['x-oss-forbid-overwrite'] = 'true';
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

/** What a PutObject's answer says of the object: its ETag, and the Date it was answered at (see Written). */
function putWritten(headers: Record<string, string | undefined>): Written {
  const answered = new Date(headers.date ?? '');
  return { etag: headers.etag ?? '', ...(Number.isNaN(answered.getTime()) ? {} : { lastModified: answered }) };
}

/** The ETag a copy or complete reports in its XML body, else in its header. */
function etagOf(r: XmlAnswer): string {
  return String(r.data.ETag ?? r.headers.etag ?? '');
}

// eslint-disable-next-line @typescript-eslint/no-explicit-any -- xml2js output
function asArray(v: any): any[] {
  if (v === undefined || v === null) return [];
  return Array.isArray(v) ? v : [v];
}
