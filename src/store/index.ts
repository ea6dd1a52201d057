export type * from './ObjectStore.js';
export { createOssStore, type OssStoreOptions } from './ossStore.js';
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';
export {
  CREDENTIAL_SOURCES,
  RefreshingCredentials,
  staticCredentials,
  type CredentialProvider,
  type Credentials,
  type CredentialSource,
} from './credentials.js';
export type { SignatureVersion } from './signing.js';
