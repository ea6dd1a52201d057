import { mkdir, readdir, readFile, rm } from 'node:fs/promises';
import { dirname, join } from 'node:path';
import { LRUCache } from 'lru-cache';
import { fileAlreadyExists, OssError, noSuchBucket, noSuchKey } from '../errors.js';
import { placePiece, removeFiles, sizeOf, type DataPiece } from './dataFiles.js';
import type { DurableStep } from './durableSteps.js';
import { makeDirDurable, syncDir, uniqueName, writeFileAtomic } from './files.js';
import { KeyIndex, type IndexEntry } from './keyIndex.js';
import { KeyedMutex } from './keyedMutex.js';
import { Layout } from './layout.js';
import { FilePins } from './pins.js';
import { SERVER_INLINE_MAX, SERVER_RECORD_CACHE_BYTES, SERVER_RECORD_CACHE_ENTRIES } from '../../tuning.js';

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
  /**
   * The immutable data files whose concatenation is the object: one, or one per part if multipart.
   * A small object's one entry holds its bytes (`inline`, base64) and names no file; its name is
   * still unique to the version.
   */
  data: { name: string; size: number; inline?: string }[];
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
  /** Each key's current version, to tell whether a record read is still current and to unlink its files once replaced. */
  versions: Map<string, Version>;
}

interface Version {
  /** The name of the version's first data entry, unique to it. */
  id: string;
  /** Its data files (none if its bytes are inline). */
  files: string[];
}

function versionOf(record: ObjectRecord): Version {
  return { id: record.data[0]!.name, files: record.data.filter((d) => d.inline === undefined).map((d) => d.name) };
}

export type NewObject = Omit<ObjectRecord, 'data' | 'lastModified'>;

const BUCKET_NAME = /^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/;

/** What a parsed metadata record with its encryption envelope takes in memory (~2-3 KiB), beside its inline bytes. */
const RECORD_OVERHEAD = 2 << 10;

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

/** An object's metadata file; before multipart objects kept their parts, `data` was one file name. */
function parseRecord(text: string): ObjectRecord {
  const record = JSON.parse(text) as Omit<ObjectRecord, 'data'> & { data: ObjectRecord['data'] | string };
  return { ...record, data: typeof record.data === 'string' ? [{ name: record.data, size: record.size }] : record.data };
}

/** Cached records are shared by every request that reads them: a change would be a bug, so it throws. */
function frozen(record: ObjectRecord): ObjectRecord {
  Object.freeze(record.headers);
  Object.freeze(record.meta);
  for (const d of record.data) Object.freeze(d);
  Object.freeze(record.data);
  return Object.freeze(record);
}

/** Bucket names have no '/', so this names one object across buckets. */
function recordKey(bucket: string, key: string): string {
  return `${bucket}/${key}`;
}

function isMissing(err: unknown): boolean {
  return (err as NodeJS.ErrnoException).code === 'ENOENT';
}

/** Buckets and objects in a directory (layout in ./layout.ts); safe for concurrent requests. */
export class Store {
  private readonly buckets = new Map<string, BucketState>();
  private readonly commits = new KeyedMutex();
  private readonly pins = new FilePins();
  /**
   * The current version's record of recently used objects. Changed only together with `versions`,
   * in the same synchronous step, so an entry is never of a replaced or deleted version.
   */
  private readonly records = new LRUCache<string, ObjectRecord>({
    max: SERVER_RECORD_CACHE_ENTRIES,
    maxSize: SERVER_RECORD_CACHE_BYTES,
    sizeCalculation: (record) => RECORD_OVERHEAD + (record.data[0]!.inline?.length ?? 0),
  });

  private constructor(readonly layout: Layout) {}

  static async open(dir: string): Promise<Store> {
    const store = new Store(new Layout(dir));
    await rm(store.layout.tmp, { recursive: true, force: true });
    await mkdir(store.layout.tmp, { recursive: true });
    await makeDirDurable(store.layout.buckets);
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
    const versions = new Map<string, Version>();
    const entries: IndexEntry[] = [];
    const metaDir = this.layout.metaDir(name);
    const files: string[] = [];
    for (const shard of await listDir(metaDir)) {
      for (const file of await listDir(join(metaDir, shard))) files.push(join(metaDir, shard, file));
    }
    await mapLimited(files, 32, async (file) => {
      const object = parseRecord(await readFile(file, 'utf8'));
      entries.push(indexEntry(object));
      versions.set(object.key, versionOf(object));
      this.records.set(recordKey(name, object.key), frozen(object));
    });
    const referenced = new Set([...versions.values()].flatMap((v) => v.files));
    const dataDir = this.layout.dataDir(name);
    for (const shard of await listDir(dataDir)) {
      for (const file of await listDir(join(dataDir, shard))) {
        if (!referenced.has(file)) await rm(join(dataDir, shard, file), { force: true });
      }
    }
    this.buckets.set(name, { record, index: KeyIndex.of(entries), versions });
  }

  // ---- buckets ----

  async createBucket(name: string, storageClass: string): Promise<void> {
    if (!BUCKET_NAME.test(name)) throw new OssError(400, 'InvalidBucketName', 'The specified bucket is not valid.', { BucketName: name });
    if (this.buckets.has(name)) throw new OssError(409, 'BucketAlreadyExists', 'The requested bucket name is not available.', { BucketName: name });
    const record: BucketRecord = { name, creationDate: Date.now(), storageClass };
    const state: BucketState = { record, index: new KeyIndex(), versions: new Map() };
    this.buckets.set(name, state);
    try {
      await writeFileAtomic(this.layout.bucketFile(name), JSON.stringify(record), this.tmpDir, [{ op: 'mkdirDurable', dir: this.layout.bucket(name) }]);
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

  /** The object's metadata (frozen: shared with other requests), or NoSuchKey. */
  async head(bucket: string, key: string): Promise<ObjectRecord> {
    const state = this.bucket(bucket);
    if (!state.versions.has(key)) throw noSuchKey(key);
    const cached = this.records.get(recordKey(bucket, key));
    if (cached) return cached;
    let record: ObjectRecord;
    try {
      record = frozen(parseRecord(await readFile(this.layout.metaFile(bucket, key), 'utf8')));
    } catch (err) {
      if (isMissing(err)) throw noSuchKey(key);
      throw err;
    }
    // A commit or delete that finished while the file was read has set its own entry (or none):
    // only the version still current may go in.
    if (state.versions.get(key)?.id === record.data[0]!.name) this.records.set(recordKey(bucket, key), record);
    return record;
  }

  /**
   * The current version's metadata and bytes, whose data files stay on disk until `release` even if
   * a new version or a delete commits meanwhile.
   */
  async acquire(bucket: string, key: string): Promise<{ record: ObjectRecord; pieces: DataPiece[]; release: () => Promise<void> }> {
    const state = this.bucket(bucket);
    for (;;) {
      const record = await this.head(bucket, key);
      const current = state.versions.get(key);
      if (current === undefined) throw noSuchKey(key);
      // Checked and pinned in one step: a commit removes the old files only after `versions` moved
      // on, and any removal from now on sees the pin. Otherwise the metadata read was of a replaced
      // version (or of one whose commit is finishing): read again.
      if (current.id !== record.data[0]!.name) continue;
      const pieces = record.data.map((d): DataPiece => (d.inline === undefined ? { path: this.layout.dataFile(bucket, d.name), size: d.size } : { bytes: Buffer.from(d.inline, 'base64') }));
      return { record, pieces, release: this.pins.pin(current.files.map((name) => this.layout.dataFile(bucket, name))) };
    }
  }

  /**
   * Makes `pieces`, in order, the bytes of a new version of the object. Files are moved in, or with
   * `share` hard-linked (data files never change, so copies and completed uploads share them);
   * bytes held in memory are written to their data file in the same batch, or, up to SERVER_INLINE_MAX,
   * into the metadata file itself. `forbidOverwrite` (x-oss-forbid-overwrite): FileAlreadyExists
   * if the key holds an object when the commit's turn comes.
   */
  async commit(bucket: string, object: NewObject, pieces: DataPiece[], share = false, forbidOverwrite = false): Promise<ObjectRecord> {
    const state = this.bucket(bucket);
    const only = pieces.length === 1 ? pieces[0]! : undefined;
    const inline = only !== undefined && 'bytes' in only && only.bytes.length <= SERVER_INLINE_MAX ? only.bytes : undefined;
    const data = inline
      ? [{ name: uniqueName(), size: inline.length, inline: inline.toString('base64') }]
      : pieces.map((piece) => ({ name: uniqueName(), size: sizeOf(piece) }));
    const record = frozen({ ...object, data, lastModified: Date.now() });
    const placed = inline ? [] : data.map((d) => this.layout.dataFile(bucket, d.name));
    // Until the metadata is renamed into place the new files are nobody's: a failure removes them.
    const discard = async (err: unknown): Promise<never> => {
      await removeFiles(placed);
      throw err;
    };
    const placing = placed.flatMap((path, i): DurableStep[] => [{ op: 'mkdirDurable', dir: dirname(path) }, placePiece(pieces[i]!, path, share)]);
    // The data files' entries are on disk before the metadata naming them can be.
    const syncing = [...new Set(placed.map((path) => dirname(path)))].map((dir): DurableStep => ({ op: 'syncDir', dir }));
    const metaFile = this.layout.metaFile(bucket, object.key);
    await this.commits.run(`${bucket}/${object.key}`, async () => {
      if (forbidOverwrite && state.versions.has(object.key)) throw fileAlreadyExists();
      await writeFileAtomic(metaFile, JSON.stringify(record), this.tmpDir, [...placing, ...syncing, { op: 'mkdirDurable', dir: dirname(metaFile) }])
        .catch(discard);
      const previous = state.versions.get(object.key);
      state.index.set(indexEntry(record));
      state.versions.set(object.key, versionOf(record));
      this.records.set(recordKey(bucket, object.key), record);
      if (previous) await this.pins.remove(previous.files.map((name) => this.layout.dataFile(bucket, name)));
    });
    return record;
  }

  /** Removes the object if present; deleting an absent key is not an error in OSS. */
  async delete(bucket: string, key: string): Promise<void> {
    const state = this.bucket(bucket);
    await this.commits.run(`${bucket}/${key}`, async () => {
      const previous = state.versions.get(key);
      if (previous === undefined) return;
      const metaFile = this.layout.metaFile(bucket, key);
      await rm(metaFile, { force: true });
      await syncDir(dirname(metaFile));
      state.index.delete(key);
      state.versions.delete(key);
      this.records.delete(recordKey(bucket, key));
      await this.pins.remove(previous.files.map((name) => this.layout.dataFile(bucket, name)));
    });
  }
}

function indexEntry(object: ObjectRecord): IndexEntry {
  return { key: object.key, size: object.size, etag: object.etag, lastModified: object.lastModified, type: object.type };
}
