/**
 * ossencfs as a library: an OSS bucket whose objects are encrypted on the client in the official
 * OSS SDKs' format (V2), readable and writable by them and by this package alike.
 *
 *   const store = createOssStore({ endpoint, bucket, accessKeyId, accessKeySecret });  // region from an OSS endpoint, else `region`
 *   // or, temporary credentials renewed before they expire (ECS RAM role, RRSA, credentials URI…):
 *   //   createOssStore({ endpoint, bucket, credentials: RefreshingCredentials.from('default') })
 *   const keyring = new Keyring({ writer: rsaMasterKey({ privateKeyPem }) });
 *   const bucket = new EncryptedBucket(store, keyring);
 *   await bucket.put('a.txt', Buffer.from('hello'));
 *   const text = await bucket.get('a.txt');   // a plaintext Readable
 */
export {
  EncryptedBucket,
  encodePosixMeta,
  decodePosixMeta,
  type EncryptedBucketOptions,
  type EncryptedHead,
  type ObjectReader,
  type ObjectWriter,
  type PosixMeta,
  type PutResult,
} from './secure/index.js';
export {
  createOssStore,
  DEFAULT_RETRY_POLICY,
  CREDENTIAL_SOURCES,
  RefreshingCredentials,
  staticCredentials,
  type OssStoreOptions,
  type RetryPolicy,
  type CredentialProvider,
  type Credentials,
  type CredentialSource,
  type SignatureVersion,
} from './store/index.js';
export type * from './store/ObjectStore.js';
export {
  Keyring,
  rsaMasterKey,
  kmsMasterKey,
  CryptoError,
  readEnvelope,
  envelopeMeta,
  isEncryptionMetaName,
  type CryptoErrorKind,
  type DataKey,
  type Envelope,
  type MasterKey,
  type Matdesc,
  type RsaMasterKeyOptions,
  type KmsMasterKeyOptions,
} from './crypto/index.js';
export { FsError, type Errno } from './errors.js';
