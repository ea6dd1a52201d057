export { EncryptedBucket, type EncryptedBucketOptions, type PutResult } from './encryptedBucket.js';
export type { EncryptedHead } from './head.js';
export { md5Mismatch, type ObjectReader, type PieceBuffers } from './objectReader.js';
export type { ObjectWriter } from './objectWriter.js';
export { decodePosixMeta, encodePosixMeta, type PosixMeta } from './posixMeta.js';
