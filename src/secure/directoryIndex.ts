import { promisify } from 'node:util';
import { gunzip, gzip } from 'node:zlib';
import { CryptoError } from '../crypto/index.js';
import { FsError } from '../errors.js';
import type { ObjectHead, ObjectInfo, ObjectMeta } from '../store/ObjectStore.js';
import type { EncryptedBucket } from './encryptedBucket.js';

/**
 * The object in every directory that holds its index, as gocryptfs keeps a `gocryptfs.diriv` in
 * each: next to what it describes, so it needs no access beyond the directory's and moves with it.
 * The mount neither shows nor lets a program make an entry of this name.
 */
export const INDEX_NAME = '.ossencfs-index';

const FORMAT = 'ossencfs-directory-index';

/**
 * How many seconds before a write's answer the object it made may be dated (see
 * IndexedHead.slackS). A PutObject's answer carries only its Date, later than Last-Modified by the
 * server's time on the request, which can be long on a loaded server. Generous is safe: another
 * version with the same ETag (a re-send of these bytes) is made after this one, so it is dated no
 * earlier; it would have to be made before this answer was sent to be mistaken for it.
 */
export const ANSWER_SLACK_S = 60;
const VERSION = 1;

/**
 * What a HEAD of one of the directory's objects found, kept so that a listing showing the same
 * object (ETag, size and Last-Modified second) can stand in for that HEAD.
 */
export interface IndexedHead {
  /** The entry's name in the directory. */
  name: string;
  etag: string;
  size: number;
  /** Last-Modified, whole seconds. */
  lastModifiedS: number;
  /** The seconds before lastModifiedS a listing may show (a PutObject's answer may date it late). */
  slackS: number;
  contentType: string | undefined;
  /** The object's metadata, encryption entries included: attributes are derived from it as from a HEAD. */
  meta: ObjectMeta;
}

/** Which version of an object an IndexedHead (or a remembered HEAD) describes. */
export type ObjectIdentity = Pick<IndexedHead, 'etag' | 'size' | 'lastModifiedS' | 'slackS'>;

/** Whether a listing's `listed` object is the version `known` describes (see ANSWER_SLACK_S). */
export function describes(known: ObjectIdentity, listed: ObjectInfo): boolean {
  const listedS = Math.floor(listed.lastModified.getTime() / 1000);
  return known.etag === listed.etag && known.size === listed.size && listedS >= known.lastModifiedS - known.slackS && listedS <= known.lastModifiedS;
}

/** An IndexedHead as the HEAD it stands for, of the object at `key`. */
export function headOf(entry: IndexedHead, key: string): ObjectHead {
  return { key, size: entry.size, etag: entry.etag, lastModified: new Date(entry.lastModifiedS * 1000), meta: entry.meta, contentType: entry.contentType };
}

/** The IndexedHead of a HEAD (`slackS` 0) or of a write's answer (ANSWER_SLACK_S) of the object named `name`. */
export function indexed(name: string, head: ObjectHead, slackS: number): IndexedHead {
  return { name, etag: head.etag, size: head.size, lastModifiedS: Math.floor(head.lastModified.getTime() / 1000), slackS, contentType: head.contentType, meta: head.meta };
}

/**
 * The per-directory attribute index: the HEADs of a directory's objects, gzipped JSON in one
 * encrypted object (the SDK format, like every other object), so a fresh mount learns a whole
 * directory's attributes with one GET beside its LIST instead of a HEAD per file.
 *
 * It is a hint, never the truth: the listing says which names exist, and an entry counts only
 * while the listing shows the object it describes unchanged. Its metadata goes through the same
 * checks as a HEAD's (the attribute MAC among them), so whoever can write the index could as well
 * write the objects. It names the directory it was made for: an index carried along by a copy of
 * the directory is ignored.
 */
export class DirectoryIndexes {
  constructor(private readonly bucket: EncryptedBucket) {}

  static keyOf(dirKey: string): string {
    return dirKey + INDEX_NAME;
  }

  /** Whether the object `key` is a directory's index. */
  static isIndex(key: string): boolean {
    return key === INDEX_NAME || key.endsWith(`/${INDEX_NAME}`);
  }

  /**
   * The index of the directory `dirKey`, or undefined when it has none. An index that cannot be
   * read as one (not encrypted, tampered with, another directory's, an unknown format) fails
   * with EBADMSG: the caller goes on without it.
   */
  async read(dirKey: string): Promise<IndexedHead[] | undefined> {
    const key = DirectoryIndexes.keyOf(dirKey);
    let body: Buffer;
    try {
      const chunks: Buffer[] = [];
      for await (const chunk of await this.bucket.get(key)) chunks.push(chunk as Buffer);
      body = Buffer.concat(chunks);
    } catch (err) {
      if (err instanceof FsError && err.errno === 'ENOENT') return undefined;
      if (err instanceof CryptoError) throw new FsError('EBADMSG', `${JSON.stringify(key)}: not a directory index: ${err.message}`, { cause: err });
      throw err;
    }
    return parse(key, dirKey, body);
  }

  /** Replaces the index of the directory `dirKey`; resolves with the new index object's ETag. */
  async write(dirKey: string, entries: readonly IndexedHead[]): Promise<{ etag: string }> {
    const json = JSON.stringify({ format: FORMAT, version: VERSION, dir: dirKey, entries });
    return this.bucket.put(DirectoryIndexes.keyOf(dirKey), await promisify(gzip)(json), { contentType: 'application/octet-stream' });
  }
}

async function parse(key: string, dirKey: string, body: Buffer): Promise<IndexedHead[]> {
  const bad = (why: string): FsError => new FsError('EBADMSG', `${JSON.stringify(key)}: not a directory index: ${why}`);
  let doc: unknown;
  try {
    doc = JSON.parse((await promisify(gunzip)(body)).toString('utf8'));
  } catch {
    throw bad('not gzipped JSON');
  }
  if (!isRecord(doc) || doc.format !== FORMAT || doc.version !== VERSION) throw bad('unknown format');
  if (doc.dir !== dirKey) throw bad(`made for ${JSON.stringify(doc.dir)}`);
  if (!Array.isArray(doc.entries) || !doc.entries.every(isIndexedHead)) throw bad('malformed entry');
  return doc.entries;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function isIndexedHead(v: unknown): v is IndexedHead {
  if (!isRecord(v)) return false;
  const { name, etag, size, lastModifiedS, slackS, contentType, meta } = v;
  return (
    typeof name === 'string' &&
    typeof etag === 'string' &&
    Number.isSafeInteger(size) &&
    (size as number) >= 0 &&
    Number.isSafeInteger(lastModifiedS) &&
    Number.isSafeInteger(slackS) &&
    (slackS as number) >= 0 &&
    (slackS as number) <= ANSWER_SLACK_S &&
    (contentType === undefined || typeof contentType === 'string') &&
    isRecord(meta) &&
    Object.values(meta).every((value) => typeof value === 'string')
  );
}
