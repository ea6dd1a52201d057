import { FsError } from '../errors.js';
import { type Buckets, createBuckets } from '../store/buckets.js';
import { credentialProvider, parseOssUrl, type Settings, signingTarget, UsageError } from './options.js';

/** Whether a store call failed because the bucket itself does not exist (OSS code NoSuchBucket). */
export function isNoSuchBucket(err: unknown): boolean {
  if (!(err instanceof FsError) || err.errno !== 'ENOENT') return false;
  const cause = err.cause as { code?: unknown } | undefined;
  return cause?.code === 'NoSuchBucket' || /\bNoSuchBucket\b/.test(err.message);
}

/** The account's buckets at the settings' endpoint, signed as the object store signs, with its credentials. */
export async function openBuckets(settings: Settings): Promise<Buckets> {
  const { endpoint, region } = signingTarget(settings);
  return createBuckets({ endpoint, region, signatureVersion: settings.signatureVersion, credentials: await credentialProvider(settings).current() });
}

/** `oss://BUCKET` and nothing more: what mb and rb take. */
export function bucketOnly(url: string): string {
  const { bucket, prefix } = parseOssUrl(url.replace(/\/$/, ''));
  if (prefix !== '') throw new UsageError(`${url} names objects in a bucket; give the bucket alone (oss://${bucket})`);
  return bucket;
}
