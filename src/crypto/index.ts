/** Content encryption in the OSS SDKs' client-side-encryption format; no FUSE, no storage. */
export type { Matdesc, DataKey, Envelope, EnvelopeExtra, MasterKey, WrappedDataKey } from './types.js';
export { readEnvelope, envelopeMeta, isEncryptionMetaName, withUploadSizes, wrappedKeyHeader } from './envelope.js';
export { rsaMasterKey, type RsaMasterKeyOptions } from './rsaMasterKey.js';
export { kmsMasterKey, type KmsMasterKeyOptions } from './kmsMasterKey.js';
export { newDataKey } from './dataKey.js';
export { Keyring } from './keyring.js';
export { ctrAt, ctrAtInPlace, ctrFrom, ctrStream, counterBlock } from './ctr.js';
export { ctrAtInWorker } from './ctrWorker.js';
export { CryptoError, type CryptoErrorKind } from './errors.js';
export { sameMatdesc, formatMatdesc } from './matdesc.js';
export { CEK_ALG_AES_CTR, WRAP_ALG_KMS, WRAP_ALG_RSA_OAEP, WRAP_ALG_RSA_PKCS1 } from './algorithms.js';
