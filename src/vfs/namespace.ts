import { FsError } from '../errors.js';
import { INDEX_NAME } from '../secure/index.js';

/** Longest name one directory entry may have (Linux NAME_MAX), in bytes. */
export const NAME_MAX = 255;
/** Longest object key OSS stores, in UTF-8 bytes. */
const MAX_KEY_BYTES = 1023;
/**
 * The root entry reserved for the mount's own objects. It is not listed, not found, and not a
 * name a program may create, as gocryptfs does with its config file; so is every directory's
 * index (INDEX_NAME).
 */
const RESERVED = '.ossencfs';

/**
 * Maps paths inside the mount ('/a/b') to object keys under the mounted prefix, and back.
 * A file is the object `prefix + 'a/b'`; a directory is everything under `prefix + 'a/b/'`,
 * optionally with a zero-length marker object of exactly that name.
 */
export class Namespace {
  /** '' for a whole bucket, otherwise ends with '/'. */
  readonly prefix: string;

  constructor(prefix: string) {
    const trimmed = prefix.replace(/^\/+|\/+$/g, '');
    this.prefix = trimmed === '' ? '' : `${trimmed}/`;
  }

  fileKey(path: string): string {
    if (path === '/') throw new FsError('EISDIR', 'the mount root is a directory');
    if (isReserved(path)) throw new FsError('ENOENT', `no such file: ${path}`);
    return this.prefix + path.slice(1);
  }

  /** The key prefix of a directory's children (and its marker object's key). */
  dirKey(path: string): string {
    if (isReserved(path)) throw new FsError('ENOENT', `no such directory: ${path}`);
    return path === '/' ? this.prefix : `${this.prefix}${path.slice(1)}/`;
  }

  /**
   * The key a new file or directory at `path` will have. Refused here, before anything is created,
   * when the bucket or the mount could not hold it: otherwise the error would only surface when
   * close() uploads, which programs that ignore close errors never see.
   */
  newKey(path: string, kind: 'file' | 'dir'): string {
    if (isReserved(path)) throw new FsError('EPERM', `${path} is reserved for the mount's own use`);
    checkNameLength(path);
    const key = kind === 'dir' ? this.dirKey(path) : this.fileKey(path);
    checkKeyLength(key);
    return key;
  }

  /**
   * The entry name a listed key or common prefix has inside the directory `dirKey`, or
   * undefined when it cannot be a name here: the marker itself, empty segments ('a//b'), '.', '..',
   * or names longer than NAME_MAX. Such objects stay in the bucket, untouched, and are not shown.
   */
  entryName(dirKey: string, key: string): string | undefined {
    const rest = key.slice(dirKey.length).replace(/\/$/, '');
    if (rest === '' || rest.includes('/') || rest === '.' || rest === '..') return undefined;
    if ((dirKey === this.prefix && rest === RESERVED) || rest === INDEX_NAME) return undefined;
    if (Buffer.byteLength(rest) > NAME_MAX) return undefined;
    return rest;
  }
}

/** The mount's own root entry and everything in it, and every directory's index. */
function isReserved(path: string): boolean {
  return path === `/${RESERVED}` || path.startsWith(`/${RESERVED}/`) || baseName(path) === INDEX_NAME;
}

export function parentOf(path: string): string {
  const i = path.lastIndexOf('/');
  return i <= 0 ? '/' : path.slice(0, i);
}

export function baseName(path: string): string {
  return path.slice(path.lastIndexOf('/') + 1);
}

export function joinPath(dir: string, name: string): string {
  return dir === '/' ? `/${name}` : `${dir}/${name}`;
}

/** No entry has a name longer than NAME_MAX: looking one up is ENAMETOOLONG, as on a local disk, not ENOENT. */
export function checkNameLength(path: string): void {
  const name = baseName(path);
  if (Buffer.byteLength(name) > NAME_MAX) throw new FsError('ENAMETOOLONG', `name longer than ${NAME_MAX} bytes: ${name.slice(0, 40)}…`);
}

export function checkKeyLength(key: string): void {
  if (Buffer.byteLength(key) > MAX_KEY_BYTES) throw new FsError('ENAMETOOLONG', `object key longer than ${MAX_KEY_BYTES} bytes: ${key.slice(0, 40)}…`);
}
