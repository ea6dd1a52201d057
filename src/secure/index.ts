export { EncryptedBucket, type EncryptedBucketOptions, type PutResult } from './encryptedBucket.js';
export { type EncryptedHead, splitMeta } from './head.js';
export { ANSWER_SLACK_S, describes, DirectoryIndexes, headOf, indexed, type IndexedHead, INDEX_NAME, type ObjectIdentity } from './directoryIndex.js';
export { md5Mismatch, type ObjectReader } from './objectReader.js';
export type { ObjectWriter } from './objectWriter.js';
export { decodePosixMeta, encodePosixMeta, type PosixMeta } from './posixMeta.js';
export { MAX_META_BYTES, metaBytes, sealedXattrsBytes, storedXattrs, type StoredXattrs, withoutSealedXattrs, XATTR_NAME_MAX, type Xattrs } from './xattrs.js';
