import type { Readable } from 'node:stream';
import type { Logger } from '../log.js';
import { CrashJournal } from '../util/crashJournal.js';
import type {
  BodySink,
  ByteRange,
  GetOptions,
  ListOptions,
  ObjectMeta,
  ObjectStore,
  PutOptions,
  UploadedPart,
} from './ObjectStore.js';
import { UPLOAD_CLOCK_SKEW_MS } from '../tuning.js';

type Entry =
  /** About to ask for an upload of `key` (ms since the epoch): a crash before `begin` leaves one the journal cannot name. */
  | { op: 'intent'; key: string; at: number }
  | { op: 'begin' | 'end'; key: string; uploadId: string };


/**
 * The multipart uploads this mount has started and not finished, in an append-only file under the
 * cache dir. If the mount dies (kill -9, power loss), the next mount finds them here and aborts them:
 * they were never completed, so the previous object versions are intact, and aborting stops them
 * from being billed while invisible. Lines hold only object keys, times and upload ids — never key
 * material. An intent line goes down before each Initiate: if the mount dies after the server
 * created an upload but before its id was written, recovery finds it by key and time.
 */
export class UploadJournal {
  private readonly journal: CrashJournal<Entry>;

  constructor(file: string) {
    this.journal = new CrashJournal(file);
  }

  /** Aborts what an earlier run left unfinished, then starts a fresh journal. */
  async recover(store: ObjectStore, log: Logger): Promise<number> {
    const open = new Map<string, string>();
    /** Keys whose last intent has no begin yet → when that intent was written. */
    const unnamed = new Map<string, number>();
    for (const e of this.journal.entries()) {
      if (e.op === 'intent') unnamed.set(e.key, e.at);
      else if (e.op === 'begin') {
        open.set(e.uploadId, e.key);
        unnamed.delete(e.key);
      } else open.delete(e.uploadId);
    }
    for (const [key, at] of unnamed) {
      for (const upload of await store.listMultipartUploads(key)) {
        if (upload.key === key && upload.initiated.getTime() >= at - UPLOAD_CLOCK_SKEW_MS) open.set(upload.uploadId, key);
      }
    }
    for (const [uploadId, key] of open) {
      await store.abortMultipart(key, uploadId).catch((err: Error) => log.warn(`${key}: could not abort leftover upload ${uploadId}: ${err.message}`));
      log.info(`${key}: aborted upload ${uploadId} left unfinished by an earlier run`);
    }
    this.journal.clear();
    return open.size;
  }

  record(entry: Entry): void {
    // An upload must be on disk before it exists, and named before its first part is sent:
    // that is what lets a crash be cleaned up.
    this.journal.append(entry, entry.op !== 'end');
  }

  /** The store, with every multipart upload it starts and ends written down. */
  wrap(store: ObjectStore): ObjectStore {
    return new JournaledStore(store, this);
  }
}

class JournaledStore implements ObjectStore {
  constructor(
    private readonly inner: ObjectStore,
    private readonly journal: UploadJournal,
  ) {}

  async initiateMultipart(key: string, options: PutOptions): Promise<string> {
    this.journal.record({ op: 'intent', key, at: Date.now() });
    const uploadId = await this.inner.initiateMultipart(key, options);
    this.journal.record({ op: 'begin', key, uploadId });
    return uploadId;
  }

  async completeMultipart(key: string, uploadId: string, parts: UploadedPart[]): Promise<{ etag: string }> {
    const done = await this.inner.completeMultipart(key, uploadId, parts);
    this.journal.record({ op: 'end', key, uploadId });
    return done;
  }

  async abortMultipart(key: string, uploadId: string): Promise<void> {
    await this.inner.abortMultipart(key, uploadId);
    this.journal.record({ op: 'end', key, uploadId });
  }

  head(key: string) {
    return this.inner.head(key);
  }
  get(key: string, options?: GetOptions) {
    return this.inner.get(key, options);
  }
  readInto(key: string, range: Required<ByteRange>, ifMatch: string | undefined, sink: BodySink) {
    return this.inner.readInto(key, range, ifMatch, sink);
  }
  put(key: string, body: Buffer | Readable, options: PutOptions) {
    return this.inner.put(key, body, options);
  }
  copy(source: string, dest: string, options?: { ifMatch?: string }) {
    return this.inner.copy(source, dest, options);
  }
  delete(key: string) {
    return this.inner.delete(key);
  }
  deleteMany(keys: string[]) {
    return this.inner.deleteMany(keys);
  }
  list(prefix: string, options?: ListOptions) {
    return this.inner.list(prefix, options);
  }
  uploadPart(key: string, uploadId: string, partNumber: number, body: Buffer, meta: ObjectMeta) {
    return this.inner.uploadPart(key, uploadId, partNumber, body, meta);
  }
  listMultipartUploads(prefix: string) {
    return this.inner.listMultipartUploads(prefix);
  }
}
