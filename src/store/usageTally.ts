import type { Readable } from 'node:stream';
import { FsError } from '../errors.js';
import type { BodySink, ByteRange, GetOptions, ListOptions, ObjectMeta, ObjectStore, PutOptions, UploadedPart } from './ObjectStore.js';

/** What a mount knows its bucket holds: the objects it has listed, looked at or written, and their bytes. */
export interface Usage {
  objects: number;
  bytes: number;
}

/**
 * Tallies a bucket's objects as they pass through a store: a listing or a HEAD tells an object's
 * size, a write sets it, a delete takes it away. Object storage has no quota or usage call to ask
 * (and asking per statfs would cost a request each), so this is what `df` can honestly say: the
 * part of the bucket this mount has seen. Costs one map entry per object seen, no request.
 */
export class UsageTally {
  private readonly sizes = new Map<string, number>();
  private bytes = 0;
  /** The size of each part sent so far (a part sent again replaces itself), per multipart upload. */
  private readonly parts = new Map<string, Map<number, number>>();

  get usage(): Usage {
    return { objects: this.sizes.size, bytes: this.bytes };
  }

  saw(key: string, size: number): void {
    this.bytes += size - (this.sizes.get(key) ?? 0);
    this.sizes.set(key, size);
  }

  gone(key: string): void {
    this.bytes -= this.sizes.get(key) ?? 0;
    this.sizes.delete(key);
  }

  wrap(store: ObjectStore): ObjectStore {
    return new TalliedStore(store, this);
  }

  /** A part sent for an upload (counted once its upload completes). */
  part(uploadId: string, partNumber: number, size: number): void {
    let sizes = this.parts.get(uploadId);
    if (!sizes) this.parts.set(uploadId, (sizes = new Map()));
    sizes.set(partNumber, size);
  }

  /** The upload is over: the bytes of the parts this process sent, and forgets them. */
  endUpload(uploadId: string): number {
    const sizes = this.parts.get(uploadId);
    this.parts.delete(uploadId);
    return [...(sizes?.values() ?? [])].reduce((a, b) => a + b, 0);
  }

  /** A key whose size the tally knows. */
  sizeOf(key: string): number | undefined {
    return this.sizes.get(key);
  }
}

class TalliedStore implements ObjectStore {
  constructor(
    private readonly inner: ObjectStore,
    private readonly tally: UsageTally,
  ) {}

  async head(key: string) {
    try {
      const head = await this.inner.head(key);
      this.tally.saw(key, head.size);
      return head;
    } catch (err) {
      if (err instanceof FsError && err.errno === 'ENOENT') this.tally.gone(key);
      throw err;
    }
  }

  async list(prefix: string, options?: ListOptions) {
    const page = await this.inner.list(prefix, options);
    for (const o of page.objects) this.tally.saw(o.key, o.size);
    return page;
  }

  async put(key: string, body: Buffer | Readable, options: PutOptions) {
    const written = await this.inner.put(key, body, options);
    const size = Buffer.isBuffer(body) ? body.length : options.contentLength;
    if (size === undefined) this.tally.gone(key);
    else this.tally.saw(key, size);
    return written;
  }

  async copy(source: string, dest: string, options?: { ifMatch?: string }) {
    const written = await this.inner.copy(source, dest, options);
    const size = this.tally.sizeOf(source);
    if (size === undefined) this.tally.gone(dest);
    else this.tally.saw(dest, size);
    return written;
  }

  async delete(key: string) {
    await this.inner.delete(key);
    this.tally.gone(key);
  }

  async deleteMany(keys: string[]) {
    await this.inner.deleteMany(keys);
    for (const key of keys) this.tally.gone(key);
  }

  async uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer, meta: ObjectMeta) {
    const part = await this.inner.uploadPart(key, uploadId, partNumber, body, meta);
    this.tally.part(uploadId, partNumber, body.length);
    return part;
  }

  async completeMultipart(key: string, uploadId: string, parts: UploadedPart[]) {
    const done = await this.inner.completeMultipart(key, uploadId, parts);
    // Parts an earlier process sent (a recovered upload) are not known here: the next HEAD or listing says.
    this.tally.saw(key, this.tally.endUpload(uploadId));
    return done;
  }

  async abortMultipart(key: string, uploadId: string) {
    await this.inner.abortMultipart(key, uploadId);
    this.tally.endUpload(uploadId);
  }

  get(key: string, options?: GetOptions) {
    return this.inner.get(key, options);
  }
  readInto(key: string, range: Required<ByteRange>, ifMatch: string | undefined, sink: BodySink) {
    return this.inner.readInto(key, range, ifMatch, sink);
  }
  initiateMultipart(key: string, options: PutOptions) {
    return this.inner.initiateMultipart(key, options);
  }
  listMultipartUploads(prefix: string) {
    return this.inner.listMultipartUploads(prefix);
  }
}
