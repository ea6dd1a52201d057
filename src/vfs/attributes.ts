import { constants } from 'node:fs';
import { decodePosixMeta, encodePosixMeta, type PosixMeta, storedXattrs, type StoredXattrs, type Xattrs } from '../secure/index.js';
import type { ObjectMeta } from '../store/ObjectStore.js';
import type { ObjectHead } from '../store/ObjectStore.js';

export type NodeKind = 'file' | 'dir' | 'symlink';

/** What getattr answers. Times are milliseconds since the epoch (fuse-native's precision). */
export interface Attr {
  kind: NodeKind;
  /** Full st_mode: type bits and permission bits. */
  mode: number;
  uid: number;
  gid: number;
  size: number;
  mtime: number;
  atime: number;
  ctime: number;
  /** Extended attributes, when there are any: known in memory, or sealed in the object's metadata. */
  xattrs?: XattrsRef;
}

/** `stored` is opened (an unwrap of the data key) only when a caller asks for the values. */
export type XattrsRef = { known: Xattrs } | { stored: StoredXattrs };

/** Who owns objects that carry no POSIX metadata (written by the SDKs, or implicit directories). */
export interface Owner {
  uid: number;
  gid: number;
}

const TYPE_MASK = constants.S_IFMT;

export function kindOfMode(mode: number): NodeKind {
  switch (mode & TYPE_MASK) {
    case constants.S_IFDIR:
      return 'dir';
    case constants.S_IFLNK:
      return 'symlink';
    default:
      return 'file';
  }
}

function typeBits(kind: NodeKind): number {
  return kind === 'dir' ? constants.S_IFDIR : kind === 'symlink' ? constants.S_IFLNK : constants.S_IFREG;
}

const DEFAULT_PERMS: Record<NodeKind, number> = { file: 0o644, dir: 0o755, symlink: 0o777 };

/** Attributes from POSIX metadata, filling what is missing the way s3fs/ossfs users expect. */
export function makeAttr(kind: NodeKind, posix: PosixMeta, size: number, lastModifiedMs: number, owner: Owner): Attr {
  const perms = posix.mode === undefined ? DEFAULT_PERMS[kind] : posix.mode & 0o7777;
  const mtime = posix.mtime === undefined ? lastModifiedMs : Math.round(posix.mtime * 1000);
  return {
    kind,
    mode: typeBits(kind) | perms,
    uid: posix.uid ?? owner.uid,
    gid: posix.gid ?? owner.gid,
    size,
    mtime,
    atime: posix.atime === undefined ? mtime : Math.round(posix.atime * 1000),
    ctime: lastModifiedMs,
  };
}

/** Directories report this size, as local filesystems do. */
export const DIR_SIZE = 4096;

/** A file object's attributes; its kind comes from the stored mode (symlinks carry S_IFLNK). */
export function fileAttr(head: ObjectHead, owner: Owner): Attr {
  const posix = decodePosixMeta(head.meta);
  const kind = posix.mode === undefined ? 'file' : kindOfMode(posix.mode);
  return withStoredXattrs(makeAttr(kind === 'dir' ? 'file' : kind, posix, head.size, head.lastModified.getTime(), owner), head);
}

function withStoredXattrs(attr: Attr, head: ObjectHead): Attr {
  const stored = storedXattrs(head.key, head.meta);
  return stored ? { ...attr, xattrs: { stored } } : attr;
}

/** A directory's attributes: from its marker object when it has one, else those of an implicit directory. */
export function dirAttr(marker: ObjectHead | undefined, owner: Owner, implicitMtimeMs: number): Attr {
  if (!marker) return makeAttr('dir', {}, DIR_SIZE, implicitMtimeMs, owner);
  return withStoredXattrs(makeAttr('dir', decodePosixMeta(marker.meta), DIR_SIZE, marker.lastModified.getTime(), owner), marker);
}

/** The object metadata entries that keep `attr` (mode, owner, times). */
export function posixMetaOf(attr: Attr): ObjectMeta {
  return encodePosixMeta({ mode: attr.mode, uid: attr.uid, gid: attr.gid, mtime: attr.mtime / 1000, atime: attr.atime / 1000 });
}
