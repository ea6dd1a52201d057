import { link, mkdir, open, readdir, readFile, rename, rm, type FileHandle } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { OssError, noSuchBucket, noSuchKey } from '../errors.js';
import { uniqueName, writeFileAtomic } from './files.js';
import { KeyIndex, type IndexEntry } from './keyIndex.js';
import { KeyedMutex } from './keyedMutex.js';
import { Layout } from './layout.js';

/** The headers an object is described by: set on PUT/initiate, kept or replaced by copy. */
export interface ObjectHeaders {
  contentType: string;
  /** Standard stored headers (cache-control, content-disposition, …), lower-case names. */
  headers: Record<string, string>;
  /** `x-oss-meta-*` headers, lower-case names, values as received (latin1 byte strings). */
  meta: Record<string, string>;
}

export interface ObjectRecord extends ObjectHeaders {
  key: string;
  /** Name of the immutable data file. */
  data: string;
  size: number;
  etag: string;
  crc64: string;
  lastModified: number;
  type: 'Normal' | 'Multipart';
}

export interface BucketRecord {
  name: string;
  creationDate: number;
  storageClass: string;
}

interface BucketState {
  record: BucketRecord;
  index: KeyIndex;
  /** Data file of each key, to unlink the old version when a new one commits. */
  dataOf: Map<string, string>;
}

export type NewObject = Omit<ObjectRecord, 'data' | 'lastModified'>;

const BUCKET_NAME = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

async function mapLimited<T>(items: T[], limit: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await fn(items[next++]!);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

async function listDir(path: string): Promise<string[]> {
  try {
    return await readdir(path);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** Buckets and objects in a directory (layout in ./layout.ts); safe for concurrent requests. */
export class Store {
  private readonly buckets = new Map<string, BucketState>();
  private readonly commits = new KeyedMutex();

  private constructor(readonly layout: Layout) {}

  static async open(dir: string): Promise<Store> {
    const store = new Store(new Layout(dir));
    await rm(store.layout.tmp, { recursive: true, force: true });
    await mkdir(store.layout.tmp, { recursive: true });
    await mkdir(store.layout.buckets, { recursive: true });
    for (const name of await listDir(store.layout.buckets)) await store.load(name);
    return store;
  }

  get tmpDir(): string {
    return this.layout.tmp;
  }

  private async load(name: string): Promise<void> {
    let record: BucketRecord;
    try {
      record = JSON.parse(await readFile(this.layout.bucketFile(name), 'utf8')) as BucketRecord;
    } catch (err) {
      if (isMissing(err)) return; // a bucket directory whose creation never completed
      throw err;
    }
    const dataOf = new Map<string, string>();
    const entries: IndexEntry[] = [];
    const metaDir = this.layout.metaDir(name);
    const files: string[] = [];
    for (const shard of await listDir(metaDir)) {
      for (const file of await listDir(join(metaDir, shard))) files.push(join(metaDir, shard, file));
    }
    await mapLimited(files, 32, async (file) => {
      const object = JSON.parse(await readFile(file, 'utf8')) as ObjectRecord;
      entries.push(indexEntry(object));
      dataOf.set(object.key, object.data);
    });
    const referenced = new Set(dataOf.values());
    const dataDir = this.layout.dataDir(name);
    for (const shard of await listDir(dataDir)) {
      for (const file of await listDir(join(dataDir, shard))) {
        if (!referenced.has(file)) await rm(join(dataDir, shard, file), { force: true });
      }
    }
    this.buckets.set(name, { record, index: KeyIndex.of(entries), dataOf });
  }

  // ---- buckets ----

  async createBucket(name: string, storageClass: string): Promise<void> {
    if (!BUCKET_NAME.test(name)) throw new OssError(400, 'InvalidBucketName', 'The specified bucket is not valid.', { BucketName: name });
    if (this.buckets.has(name)) throw new OssError(409, 'BucketAlreadyExists', 'The requested bucket name is not available.', { BucketName: name });
    const record: BucketRecord = { name, creationDate: Date.now(), storageClass };
    const state: BucketState = { record, index: new KeyIndex(), dataOf: new Map() };
    this.buckets.set(name, state);
    try {
      await mkdir(this.layout.bucket(name), { recursive: true });
      await writeFileAtomic(this.layout.bucketFile(name), JSON.stringify(record), this.tmpDir);
    } catch (err) {
      this.buckets.delete(name);
      throw err;
    }
  }

  async deleteBucket(name: string, hasUploads: () => Promise<boolean>): Promise<void> {
    const state = this.bucket(name);
    if (state.index.size > 0 || (await hasUploads())) {
      throw new OssError(409, 'BucketNotEmpty', 'The bucket you tried to delete is not empty.', { BucketName: name });
    }
    this.buckets.delete(name);
    await rm(this.layout.bucketFile(name), { force: true });
    await rm(this.layout.bucket(name), { recursive: true, force: true });
  }

  listBuckets(): BucketRecord[] {
    return [...this.buckets.values()].map((s) => s.record).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  bucketRecord(name: string): BucketRecord {
    return this.bucket(name).record;
  }

  index(name: string): KeyIndex {
    return this.bucket(name).index;
  }

  private bucket(name: string): BucketState {
    const state = this.buckets.get(name);
    if (!state) throw noSuchBucket(name);
    return state;
  }

  // ---- objects ----

  /** The object's metadata, or NoSuchKey. */
  async head(bucket: string, key: string): Promise<ObjectRecord> {
    const state = this.bucket(bucket);
    if (!state.index.get(key)) throw noSuchKey(key);
    try {
      return JSON.parse(await readFile(this.layout.metaFile(bucket, key), 'utf8')) as ObjectRecord;
    } catch (err) {
      if (isMissing(err)) throw noSuchKey(key);
      throw err;
    }
  }

  /**
   * Metadata plus an open handle on that version's bytes, taken together: a PUT committing
   * meanwhile unlinks the old file, in which case the lookup is simply repeated.
   */
  async openObject(bucket: string, key: string): Promise<{ record: ObjectRecord; handle: FileHandle }> {
    for (;;) {
      const record = await this.head(bucket, key);
      try {
        return { record, handle: await open(this.dataPath(bucket, record), 'r') };
      } catch (err) {
        if (!isMissing(err)) throw err;
      }
    }
  }

  dataPath(bucket: string, record: ObjectRecord): string {
    return this.layout.dataFile(bucket, record.data);
  }

  /**
   * Makes `file` the bytes of a new version of the object. `share` hard-links an existing data
   * file (copies: data files never change) instead of moving a temporary one.
   */
  async commit(bucket: string, object: NewObject, file: string, share = false): Promise<ObjectRecord> {
    const state = this.bucket(bucket);
    const record: ObjectRecord = { ...object, data: uniqueName(), lastModified: Date.now() };
    const dataFile = this.layout.dataFile(bucket, record.data);
    await mkdir(dirname(dataFile), { recursive: true });
    if (share) await link(file, dataFile);
    else await rename(file, dataFile);
    const metaFile = this.layout.metaFile(bucket, object.key);
    await this.commits.run(`${bucket}/${object.key}`, async () => {
      try {
        await mkdir(dirname(metaFile), { recursive: true });
        await writeFileAtomic(metaFile, JSON.stringify(record), this.tmpDir);
      } catch (err) {
        await rm(dataFile, { force: true });
        throw err;
      }
      const previous = state.dataOf.get(object.key);
      state.index.set(indexEntry(record));
      state.dataOf.set(object.key, record.data);
      if (previous) await rm(this.layout.dataFile(bucket, previous), { force: true });
    });
    return record;
  }

  /** Removes the object if present; deleting an absent key is not an error in OSS. */
  async delete(bucket: string, key: string): Promise<void> {
    const state = this.bucket(bucket);
    await this.commits.run(`${bucket}/${key}`, async () => {
      const previous = state.dataOf.get(key);
      if (previous === undefined) return;
      await rm(this.layout.metaFile(bucket, key), { force: true });
      state.index.delete(key);
      state.dataOf.delete(key);
      await rm(this.layout.dataFile(bucket, previous), { force: true });
    });
  }
}

function indexEntry(object: ObjectRecord): IndexEntry {
  return { key: object.key, size: object.size, etag: object.etag, lastModified: object.lastModified, type: object.type };
}
