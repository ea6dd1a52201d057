import type { Readable } from 'node:stream';

/**
 * The storage contract every layer above talks to. It moves bytes and metadata and knows nothing
 * of encryption: bodies here are whatever the caller gave (ciphertext, for ossencfs).
 *
 * Errors are FsError: NoSuchKey/NoSuchUpload → ENOENT, AccessDenied/SignatureDoesNotMatch → EACCES,
 * InvalidRange → EINVAL, exhausted retries or a dead server → EIO.
 */

/** User metadata: lower-case name after `x-oss-meta-` → value, byte-exact. */
export type ObjectMeta = Record<string, string>;

export interface ObjectInfo {
  key: string;
  size: number;
  /** As the server sent it, quotes included. */
  etag: string;
  lastModified: Date;
}

export interface ObjectHead extends ObjectInfo {
  meta: ObjectMeta;
  contentType: string | undefined;
}

/** An inclusive byte range, as HTTP Range has it; `end` absent means to the end. */
export interface ByteRange {
  start: number;
  end?: number;
}

export interface GetResult {
  head: ObjectHead;
  /** Offset in the object of the body's first byte (the served range's start, 0 for a whole GET). */
  start: number;
  body: Readable;
}

/** Memory a ranged GET's body is read into, the reader's own (see ObjectStore.readInto). */
export interface BodySink {
  /** Where the next bytes go: a non-empty buffer of at most `max` bytes, the same until `filled`. */
  room(max: number): Buffer;
  /** The first `n` bytes of the last room were filled. */
  filled(n: number): void;
}

export interface GetOptions {
  range?: ByteRange;
  /** Fail with ESTALE if the object's ETag is no longer this one (If-Match). */
  ifMatch?: string;
}

export interface PutOptions {
  meta: ObjectMeta;
  contentType?: string;
  /** Required for a stream body. */
  contentLength?: number;
  /** Only if no object has the key (OSS's x-oss-forbid-overwrite); EEXIST if one does. */
  forbidOverwrite?: boolean;
}

export interface ListOptions {
  delimiter?: string;
  /** Opaque continuation from a previous page's `next`. */
  after?: string;
  maxKeys?: number;
}

export interface ListPage {
  objects: ObjectInfo[];
  prefixes: string[];
  /** Present when the listing is truncated: pass it as `after` for the next page. */
  next?: string;
}

/**
 * What a write reports of the object it made, and when, where the answer says: a CopyObject's
 * names its LastModified; a PutObject's only the Date it was answered at, which stands in for it
 * (the same second, or just after; a later second merely fails to match a listing); a
 * CompleteMultipartUpload's nothing.
 */
export interface Written {
  etag: string;
  lastModified?: Date;
}

export interface UploadedPart {
  partNumber: number;
  etag: string;
}

export interface MultipartUploadInfo {
  key: string;
  uploadId: string;
  initiated: Date;
}

export interface ObjectStore {
  head(key: string): Promise<ObjectHead>;
  get(key: string, options?: GetOptions): Promise<GetResult>;
  /**
   * Bytes [range.start, range.end] of the object into `sink`, in order, resolving once all are in.
   * A connection that drops mid-way is picked up at the byte where it stopped. ESTALE if the
   * object's ETag is no longer `ifMatch`.
   */
  readInto(key: string, range: Required<ByteRange>, ifMatch: string | undefined, sink: BodySink): Promise<void>;
  put(key: string, body: Buffer | Readable, options: PutOptions): Promise<Written>;
  /**
   * Server-side copy keeping the source's metadata (OSS changes no metadata of a client-side
   * encrypted object by copy); with `ifMatch`, only while the source still has this ETag (else ESTALE).
   */
  copy(source: string, dest: string, options?: { ifMatch?: string }): Promise<Written>;
  delete(key: string): Promise<void>;
  /** Any number of keys: the store sends them as many DeleteMultipleObjects requests as OSS's 1,000-key limit needs. */
  deleteMany(keys: string[]): Promise<void>;
  list(prefix: string, options?: ListOptions): Promise<ListPage>;

  initiateMultipart(key: string, options: PutOptions): Promise<string>;
  /**
   * `meta` goes on the part as `x-oss-meta-*` headers: OSS requires every part of a client-side
   * encrypted upload to repeat the Initiate's encryption headers (key, start, data-size, part-size).
   */
  uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer, meta: ObjectMeta): Promise<UploadedPart>;
  completeMultipart(key: string, uploadId: string, parts: UploadedPart[]): Promise<{ etag: string }>;
  abortMultipart(key: string, uploadId: string): Promise<void>;
  listMultipartUploads(prefix: string): Promise<MultipartUploadInfo[]>;
}
