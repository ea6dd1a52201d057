import { pipeline } from 'node:stream/promises';
import { StringDecoder } from 'node:string_decoder';
import { promisify } from 'node:util';
import { createGunzip, gzip } from 'node:zlib';
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
    const entries: IndexedHead[] = [];
    return (await this.each(dirKey, (entry) => entries.push(entry))) ? entries : undefined;
  }

  /**
   * Reads the index of `dirKey` as read() does, handing each entry to `take` as it is decoded, so
   * a directory of 100,000 entries never holds its whole document (~1 KiB an entry) at once.
   * Whether there was an index; an entry taken is good only if this then resolves (the document
   * is checked whole only at its end).
   */
  async each(dirKey: string, take: (entry: IndexedHead) => void): Promise<boolean> {
    const key = DirectoryIndexes.keyOf(dirKey);
    const bad = (why: string): FsError => new FsError('EBADMSG', `${JSON.stringify(key)}: not a directory index: ${why}`);
    const scanner = new EntryScanner(take, bad);
    try {
      await pipeline(await this.bucket.get(key), createGunzip(), async (unzipped: AsyncIterable<Buffer>) => {
        const decoder = new StringDecoder('utf8');
        for await (const chunk of unzipped) scanner.push(decoder.write(chunk));
        scanner.push(decoder.end());
      });
    } catch (err) {
      if (err instanceof FsError && err.errno === 'ENOENT') return false;
      if (err instanceof CryptoError) throw new FsError('EBADMSG', `${JSON.stringify(key)}: not a directory index: ${err.message}`, { cause: err });
      if (isZlibError(err)) throw bad('not gzipped JSON');
      throw err;
    }
    const doc = scanner.end();
    if (!isRecord(doc) || doc.format !== FORMAT || doc.version !== VERSION) throw bad('unknown format');
    if (doc.dir !== dirKey) throw bad(`made for ${JSON.stringify(doc.dir)}`);
    return true;
  }

  /** Replaces the index of the directory `dirKey`; resolves with the new index object's ETag. */
  async write(dirKey: string, entries: readonly IndexedHead[]): Promise<{ etag: string }> {
    const json = JSON.stringify({ format: FORMAT, version: VERSION, dir: dirKey, entries });
    return this.bucket.put(DirectoryIndexes.keyOf(dirKey), await promisify(gzip)(json), { contentType: 'application/octet-stream' });
  }
}

/** A document longer than this before its entries is not one of ours. */
const MAX_HEAD = 64 * 1024;

/**
 * An index document read as it arrives: each element of its top-level "entries" array is parsed
 * alone, checked and handed on, and the rest of the document is kept to be checked at the end
 * (as if its entries were []). Text is kept from the start of the element not yet complete, so
 * what is held at once is about one entry and one chunk.
 */
class EntryScanner {
  private text = '';
  /** Where in `text` scanning resumes. */
  private at = 0;
  private phase: 'head' | 'entries' | 'tail' = 'head';
  /** The document but its entries: up to and including the array's `[`, then from its `]` on. */
  private kept = '';

  constructor(
    private readonly take: (entry: IndexedHead) => void,
    private readonly bad: (why: string) => FsError,
  ) {}

  push(chunk: string): void {
    this.text = this.text.slice(this.at) + chunk;
    this.at = 0;
    if (this.phase === 'head') this.head();
    if (this.phase === 'entries') this.entries();
    if (this.phase === 'tail') {
      this.kept += this.text.slice(this.at);
      this.text = '';
      this.at = 0;
    }
  }

  /** The document, its entries left out; throws when it is not JSON or had no entries array. */
  end(): unknown {
    if (this.phase !== 'tail') throw this.bad(this.phase === 'head' ? 'unknown format' : 'not gzipped JSON');
    try {
      return JSON.parse(this.kept);
    } catch {
      throw this.bad('not gzipped JSON');
    }
  }

  /** Up to the `[` of the top-level "entries": kept whole, as it is short. */
  private head(): void {
    const found = /^\s*\{(?:[^"]|"(?:[^"\\]|\\.)*")*?"entries"\s*:\s*\[/.exec(this.text);
    if (!found) {
      if (this.text.length > MAX_HEAD) throw this.bad('unknown format');
      return;
    }
    this.kept = found[0];
    this.at = found[0].length;
    this.phase = 'entries';
  }

  private entries(): void {
    for (;;) {
      const next = /[^\s,]/g;
      next.lastIndex = this.at;
      const start = next.exec(this.text);
      if (!start) return;
      if (start[0] === ']') {
        this.kept += ']';
        this.at = start.index + 1;
        this.phase = 'tail';
        return;
      }
      if (start[0] !== '{') throw this.bad('malformed entry');
      const end = closingBrace(this.text, start.index);
      if (end < 0) {
        this.at = start.index;
        return;
      }
      let entry: unknown;
      try {
        entry = JSON.parse(this.text.slice(start.index, end));
      } catch {
        throw this.bad('malformed entry');
      }
      if (!isIndexedHead(entry)) throw this.bad('malformed entry');
      this.take(entry);
      this.at = end;
    }
  }
}

/** Where the object opening at `text[from]` ends (just past its `}`), or -1 when `text` stops first. */
function closingBrace(text: string, from: number): number {
  const token = /[{}[\]"]/g;
  let depth = 0;
  token.lastIndex = from;
  for (let t = token.exec(text); t; t = token.exec(text)) {
    if (t[0] === '"') {
      const close = /[^"\\]*(?:\\.[^"\\]*)*"/y;
      close.lastIndex = t.index + 1;
      if (!close.exec(text)) return -1;
      token.lastIndex = close.lastIndex;
    } else if (t[0] === '{' || t[0] === '[') depth++;
    else if (--depth === 0) return t.index + 1;
  }
  return -1;
}

function isZlibError(err: unknown): boolean {
  const code = (err as { code?: unknown } | undefined)?.code;
  return typeof code === 'string' && code.startsWith('Z_');
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
