import { FsError } from '../errors.js';

/**
 * OSS's limits on a multipart upload, and part sizes that keep to them. A client-side-encrypted
 * object's parts must also start on an AES block (16 bytes), so a part's counter follows from its
 * offset alone.
 */

/** OSS refuses a part, but the last, smaller than this. */
export const MIN_PART_SIZE = 100 * 1024;
/** OSS takes at most this many parts in one upload. */
export const MAX_PARTS = 10_000;

const AES_BLOCK = 16;

export function checkPartSize(partSize: number): void {
  if (!Number.isSafeInteger(partSize) || partSize % AES_BLOCK !== 0 || partSize < MIN_PART_SIZE) {
    throw new FsError('EINVAL', `part size ${partSize} must be a multiple of ${AES_BLOCK} and at least ${MIN_PART_SIZE} bytes`);
  }
}

/** The part size for `size` bytes: `wanted`, or more where `wanted` would take over MAX_PARTS parts (still a multiple of 16). */
export function partSizeFor(size: number, wanted: number): number {
  return Math.max(wanted, Math.ceil(size / MAX_PARTS / AES_BLOCK) * AES_BLOCK);
}
