import type { Keyring } from '../crypto/index.js';
import { EncryptedBucket, type EncryptedBucketOptions } from '../secure/index.js';
import type { ObjectStore } from '../store/ObjectStore.js';
import { UsageTally } from '../store/usageTally.js';
import { Filesystem, type FilesystemOptions } from './filesystem.js';

export interface FilesystemSettings extends Omit<FilesystemOptions, 'usage'> {
  /** How the bucket encrypts and uploads (parts in flight, part size, plaintext objects). */
  bucket: EncryptedBucketOptions;
}

export interface BuiltFilesystem {
  fs: Filesystem;
  bucket: EncryptedBucket;
  /** What the mount has seen of the bucket, as statfs reports it. */
  usage: UsageTally;
}

/**
 * A Filesystem and what it stands on, over any store: the mount's (OSS, behind its upload journal)
 * or a test's (in memory). Nothing here knows of FUSE: the mount adapter is put in front afterwards.
 */
export function buildFilesystem(store: ObjectStore, keyring: Keyring, settings: FilesystemSettings): BuiltFilesystem {
  const usage = new UsageTally();
  const { bucket: bucketOptions, ...options } = settings;
  const bucket = new EncryptedBucket(usage.wrap(store), keyring, bucketOptions);
  const fs = new Filesystem(bucket, { ...options, usage: () => usage.usage });
  return { fs, bucket, usage };
}
