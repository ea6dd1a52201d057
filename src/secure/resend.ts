import { withUploadSizes } from '../crypto/index.js';
import { FsError } from '../errors.js';
import type { ObjectHead, ObjectMeta, ObjectStore, Written } from '../store/ObjectStore.js';
import { uploadMultipart } from './multipartUpload.js';
import { partSizeFor } from './parts.js';

export interface ResendTuning {
  /** Up to this size an object goes as one GET and one PutObject. */
  multipartThreshold: number;
  partSize: number;
  /** Parts in flight, each one part-sized buffer. */
  concurrency: number;
}


/**
 * Writes `source`'s bytes, unchanged, to `dest` under `meta`, through the client. OSS refuses to
 * change the metadata of a client-side-encrypted object by CopyObject, refuses UploadPartCopy
 * from one, and copies nothing of 1 GB or more: an attribute change, a large rename and a re-key
 * all come down to this.
 *
 * The bytes are ciphertext and stay so — nothing is decrypted or encrypted again. That is sound
 * because `meta`'s envelope wraps the same data key and IV as the source's, and AES-CTR's
 * keystream depends on the offset alone. Every read names the version headed (If-Match), so a
 * source replaced meanwhile fails with ESTALE instead of mixing two versions.
 */
export async function resendObject(
  store: ObjectStore,
  source: ObjectHead,
  dest: string,
  meta: ObjectMeta,
  tuning: ResendTuning,
  onProgress?: (bytes: number) => void,
): Promise<Written> {
  const contentType = source.contentType ? { contentType: source.contentType } : {};
  if (source.size <= tuning.multipartThreshold) {
    const body = await readCiphertext(store, source, 0, source.size);
    const written = await store.put(dest, body, { meta: withUploadSizes(meta, undefined), contentLength: body.length, ...contentType });
    onProgress?.(body.length);
    return written;
  }
  const partSize = partSizeFor(source.size, tuning.partSize);
  const init = { meta: withUploadSizes(meta, { dataSize: source.size, partSize }), ...contentType };
  return uploadMultipart(store, dest, init, tuning.concurrency, async (upload) => {
    for (let start = 0, n = 1; start < source.size; start += partSize, n++) {
      const [from, partNumber, length] = [start, n, Math.min(partSize, source.size - start)];
      await upload.add(async () => {
        const part = await upload.sendPart(partNumber, await readCiphertext(store, source, from, length));
        onProgress?.(length);
        return part;
      });
    }
  });
}

/** Bytes [start, start + length) of the version `source` names, into one buffer. */
async function readCiphertext(store: ObjectStore, source: ObjectHead, start: number, length: number): Promise<Buffer> {
  const out = Buffer.allocUnsafe(length);
  if (length === 0) return out;
  let filled = 0;
  await store.readInto(source.key, { start, end: start + length - 1 }, source.etag, {
    room: (max) => out.subarray(filled, filled + Math.min(max, length - filled)),
    filled: (n) => void (filled += n),
  });
  if (filled !== length) throw new FsError('EIO', `GET ${source.key}: ${filled} of ${length} bytes arrived`);
  return out;
}
