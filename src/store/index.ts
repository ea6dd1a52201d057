export type * from './ObjectStore.js';
export { createOssStore, type OssStoreOptions } from './ossStore.js';
export { DEFAULT_RETRY_POLICY, type RetryPolicy } from './retry.js';
