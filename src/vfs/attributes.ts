import { constants } from 'node:fs';
import { decodePosixMeta, encodePosixMeta, type PosixMeta } from '../secure/index.js';
import type { ObjectMeta } from '../store/ObjectStore.js';
import type { ObjectHead } from '../store/ObjectStore.js';

/** `special`: a FIFO, socket or device node — an empty object whose stored mode says which. */
export type NodeKind = 'file' | 'dir' | 'symlink' | 'special';

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
  /** A device node's device number; 0 for everything else. */
  rdev: number;
}

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
    case constants.S_IFIFO:
    case constants.S_IFSOCK:
    case constants.S_IFCHR:
    case constants.S_IFBLK:
      return 'special';
    default:
      return 'file';
  }
}

export function isDevice(mode: number): boolean {
  const type = mode & TYPE_MASK;
  return type === constants.S_IFCHR || type === constants.S_IFBLK;
}

/** A special file's type is in its stored mode; makeAttr is never asked for one without it. */
function typeBits(kind: NodeKind, mode: number | undefined): number {
  if (kind === 'special') return (mode ?? 0) & TYPE_MASK;
  return kind === 'dir' ? constants.S_IFDIR : kind === 'symlink' ? constants.S_IFLNK : constants.S_IFREG;
}

const DEFAULT_PERMS: Record<NodeKind, number> = { file: 0o644, dir: 0o755, symlink: 0o777, special: 0o644 };

/**
 * Attributes from POSIX metadata, filling what is missing the way s3fs/ossfs users expect. ctime
 * is the stored one when there is one (the mount stores it with every attribute it writes), else
 * the object's Last-Modified.
 */
export function makeAttr(kind: NodeKind, posix: PosixMeta, size: number, lastModifiedMs: number, owner: Owner): Attr {
  const perms = posix.mode === undefined ? DEFAULT_PERMS[kind] : posix.mode & 0o7777;
  const mtime = posix.mtime === undefined ? lastModifiedMs : Math.round(posix.mtime * 1000);
  const mode = typeBits(kind, posix.mode) | perms;
  return {
    kind,
    mode,
    uid: posix.uid ?? owner.uid,
    gid: posix.gid ?? owner.gid,
    size,
    mtime,
    atime: posix.atime === undefined ? mtime : Math.round(posix.atime * 1000),
    ctime: posix.ctime === undefined ? lastModifiedMs : Math.round(posix.ctime * 1000),
    rdev: isDevice(mode) ? (posix.rdev ?? 0) : 0,
  };
}

/** Directories report this size, as local filesystems do. */
export const DIR_SIZE = 4096;

/** A file object's attributes; its kind comes from the stored mode (symlinks carry S_IFLNK). */
export function fileAttr(head: ObjectHead, owner: Owner): Attr {
  const posix = decodePosixMeta(head.meta);
  const kind = posix.mode === undefined ? 'file' : kindOfMode(posix.mode);
  return makeAttr(kind === 'dir' ? 'file' : kind, posix, head.size, head.lastModified.getTime(), owner);
}

/** A directory's attributes: from its marker object when it has one, else those of an implicit directory. */
export function dirAttr(marker: ObjectHead | undefined, owner: Owner, implicitMtimeMs: number): Attr {
  if (!marker) return makeAttr('dir', {}, DIR_SIZE, implicitMtimeMs, owner);
  return makeAttr('dir', decodePosixMeta(marker.meta), DIR_SIZE, marker.lastModified.getTime(), owner);
}

/** The object metadata entries that keep `attr` (mode, owner, times, a device's number). */
export function posixMetaOf(attr: Attr): ObjectMeta {
  const times = { mtime: attr.mtime / 1000, atime: attr.atime / 1000, ctime: attr.ctime / 1000 };
  return encodePosixMeta({ mode: attr.mode, uid: attr.uid, gid: attr.gid, ...times, ...(isDevice(attr.mode) ? { rdev: attr.rdev } : {}) });
}
