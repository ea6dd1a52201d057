import { FsError } from '../errors.js';

/** Whether a store call failed because the bucket itself does not exist (OSS code NoSuchBucket). */
export function isNoSuchBucket(err: unknown): boolean {
  if (!(err instanceof FsError) || err.errno !== 'ENOENT') return false;
  const cause = err.cause as { code?: unknown } | undefined;
  return cause?.code === 'NoSuchBucket' || /\bNoSuchBucket\b/.test(err.message);
}
