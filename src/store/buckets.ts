import OSS from 'ali-oss';
import type { Credentials } from './credentials.js';
import { toStoreError } from './errors.js';
import type { SignatureVersion } from './signing.js';

/**
 * Bucket-level calls (PutBucket, DeleteBucket, ListBuckets) for `mb`, `rb` and `ls oss://`. Apart
 * from ObjectStore, which is one bucket's objects: these are rare, made by hand, and not retried
 * (a PutBucket that timed out may have made the bucket).
 */
export interface BucketInfo {
  name: string;
  created: Date;
  region: string | undefined;
}

export interface Buckets {
  /** OSS refuses a name that is taken, by anyone (BucketAlreadyExists). */
  create(name: string): Promise<void>;
  /** OSS refuses a bucket that holds objects or unfinished multipart uploads (BucketNotEmpty). */
  remove(name: string): Promise<void>;
  /** Every bucket of the account, by name. */
  list(): Promise<BucketInfo[]>;
}

export interface BucketsOptions {
  endpoint: string;
  /** The region id V4 signs for (`cn-hangzhou`); V1 needs none. */
  region: string | undefined;
  signatureVersion: SignatureVersion;
  credentials: Credentials;
}

interface RawBuckets {
  putBucket(name: string): Promise<unknown>;
  deleteBucket(name: string): Promise<unknown>;
  listBuckets(query: Record<string, string> | null): Promise<{
    buckets: { name: string; creationDate: string; region?: string }[] | null;
    isTruncated: boolean;
    nextMarker: string | null;
  }>;
}

export function createBuckets(o: BucketsOptions): Buckets {
  const client = new OSS({
    endpoint: o.endpoint,
    // The object store's own signer has no service-level requests (ListBuckets): ali-oss signs these, V4 as the store does.
    ...(o.region ? { region: `oss-${o.region}` } : {}),
    ...(o.signatureVersion === 4 ? { authorizationV4: true } : {}),
    accessKeyId: o.credentials.accessKeyId,
    accessKeySecret: o.credentials.accessKeySecret,
    ...(o.credentials.securityToken ? { stsToken: o.credentials.securityToken } : {}),
    secure: o.endpoint.startsWith('https:'),
    // As the object store does: a bucket under localhost is a path, not a subdomain.
    sldEnable: new URL(o.endpoint).hostname === 'localhost',
    retryMax: 0,
  } as OSS.Options) as unknown as RawBuckets;
  const call = async <T>(op: string, bucket: string, run: () => Promise<T>): Promise<T> => {
    try {
      return await run();
    } catch (err) {
      throw toStoreError(err, op, bucket, '');
    }
  };
  return {
    create: async (name) => void (await call('PutBucket', name, () => client.putBucket(name))),
    remove: async (name) => void (await call('DeleteBucket', name, () => client.deleteBucket(name))),
    list: async () => {
      const found: BucketInfo[] = [];
      let marker: string | null = null;
      do {
        const query: Record<string, string> = { 'max-keys': '1000', ...(marker ? { marker } : {}) };
        const page = await call('ListBuckets', '', () => client.listBuckets(query));
        for (const b of page.buckets ?? []) found.push({ name: b.name, created: new Date(b.creationDate), region: b.region });
        marker = page.isTruncated ? page.nextMarker : null;
      } while (marker);
      return found.sort((a, b) => a.name.localeCompare(b.name));
    },
  };
}
