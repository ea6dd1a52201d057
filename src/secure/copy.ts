import type { ObjectHead, ObjectMeta, ObjectStore, Written } from '../store/ObjectStore.js';
import { uploadMultipart } from './multipartUpload.js';

export interface CopyTuning {
  /** Above this size CopyObject is not allowed (OSS: 1 GiB) and parts are copied one range at a time. */
  copyThreshold: number;
  partSize: number;
  concurrency: number;
}

/** OSS takes at most 10,000 parts, so a huge object gets bigger parts. */
const MAX_PARTS = 10_000;

/**
 * A server-side copy of `source` (as headed) to `dest`: no byte passes through the client.
 * `meta` absent keeps the source's metadata; present, the destination gets exactly it — so a
 * caller replacing metadata must include every encryption entry. `multipart` forces the
 * part-copy path, which the size also forces above the threshold.
 */
export async function serverSideCopy(
  store: ObjectStore,
  source: ObjectHead,
  dest: string,
  options: { meta?: ObjectMeta; multipart?: boolean },
  tuning: CopyTuning,
): Promise<Written> {
  const multipart = source.size > 0 && (options.multipart || source.size > tuning.copyThreshold);
  const contentType = source.contentType;
  if (!multipart) {
    // Only the version headed: a newer one's ciphertext under this one's envelope would be lost.
    const copy = { ifMatch: source.etag, ...(options.meta ? { meta: options.meta } : {}), ...(contentType ? { contentType } : {}) };
    return store.copy(source.key, dest, copy);
  }
  const partSize = Math.max(tuning.partSize, Math.ceil(source.size / MAX_PARTS));
  // Initiate carries the final object's metadata; a part copy carries none.
  const init = { meta: options.meta ?? source.meta, ...(contentType ? { contentType } : {}) };
  return uploadMultipart(store, dest, init, tuning.concurrency, async (upload) => {
    for (let start = 0, n = 1; start < source.size; start += partSize, n++) {
      const range = { start, end: Math.min(start + partSize, source.size) - 1 };
      const partNumber = n;
      // Pinned to the ETag we headed, so a source rewritten mid-copy fails (ESTALE) instead of mixing versions.
      await upload.add(() => store.uploadPartCopy(dest, upload.uploadId, partNumber, source.key, range, { ifMatch: source.etag }));
    }
  });
}
