import type { ObjectMeta, ObjectStore, PutOptions, UploadedPart } from '../store/ObjectStore.js';
import { createLimiter, type Limiter } from '../util/limit.js';
import { splitMeta } from './head.js';

/**
 * One multipart upload with a bounded window of parts in flight. `add` waits while the window is
 * full — that wait is the backpressure a writer passes on to its caller — and throws once any
 * part has failed (each part already retried itself in the store), so no more work is queued
 * behind a dead upload.
 */
export class MultipartUpload {
  /** Parts sent and parts waiting for their turn. */
  private readonly inFlight = new Set<Promise<void>>();
  private readonly window: Limiter;
  private readonly parts: UploadedPart[] = [];
  private failure: { error: unknown } | undefined;

  private constructor(
    private readonly store: ObjectStore,
    readonly key: string,
    readonly uploadId: string,
    /** The Initiate's encryption entries, which OSS wants again, unchanged, on every part. */
    private readonly partMeta: ObjectMeta,
    concurrency: number,
  ) {
    this.window = createLimiter(concurrency);
  }

  static async initiate(store: ObjectStore, key: string, options: PutOptions, concurrency: number): Promise<MultipartUpload> {
    return new MultipartUpload(store, key, await store.initiateMultipart(key, options), splitMeta(options.meta).encryption, concurrency);
  }

  /** Sends part `partNumber` with the upload's encryption headers. */
  sendPart(partNumber: number, body: Buffer): Promise<UploadedPart> {
    return this.store.uploadPart(this.key, this.uploadId, partNumber, body, this.partMeta);
  }

  /** Resolves once `send` has started (or was skipped, as the upload had failed meanwhile). */
  async add(send: () => Promise<UploadedPart>): Promise<void> {
    this.throwIfFailed();
    await new Promise<void>((started) => {
      const task: Promise<void> = this.window(() => {
        started();
        return this.failure ? Promise.resolve() : send().then((part) => void this.parts.push(part));
      })
        .catch((error: unknown) => void (this.failure ??= { error }))
        .finally(() => this.inFlight.delete(task));
      this.inFlight.add(task);
    });
    this.throwIfFailed();
  }

  async complete(): Promise<{ etag: string }> {
    await Promise.all(this.inFlight);
    this.throwIfFailed();
    return this.store.completeMultipart(this.key, this.uploadId, this.parts);
  }

  /** Waits for the parts in flight, so none lands after the abort and leaves storage behind. */
  async abort(): Promise<void> {
    await Promise.all(this.inFlight);
    await this.store.abortMultipart(this.key, this.uploadId);
  }

  private throwIfFailed(): void {
    if (this.failure) throw this.failure.error;
  }
}

/** Runs `fill` against a fresh upload and completes it; on any failure the upload is aborted and the first error rethrown. */
export async function uploadMultipart(
  store: ObjectStore,
  key: string,
  options: PutOptions,
  concurrency: number,
  fill: (upload: MultipartUpload) => Promise<void>,
): Promise<{ etag: string }> {
  const upload = await MultipartUpload.initiate(store, key, options, concurrency);
  try {
    await fill(upload);
    return await upload.complete();
  } catch (err) {
    await upload.abort().catch(() => undefined);
    throw err;
  }
}
