import { constants } from 'node:fs';
import { decodePosixMeta, encodePosixMeta, type PosixMeta, storedXattrs, type StoredXattrs, type Xattrs } from '../secure/index.js';
import type { ObjectHead, ObjectMeta } from '../store/ObjectStore.js';

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
  /** Extended attributes, when there are any: known in memory, or sealed in the object's metadata. */
  xattrs?: XattrsRef;
}

/** `stored` is opened (an unwrap of the data key) only when a caller asks for the values. */
export type XattrsRef = { known: Xattrs } | { stored: StoredXattrs };

export interface Owner {
  uid: number;
  gid: number;
}

/**
 * How stored attributes become those shown. Stored owner and mode are trusted only when a master-key
 * holder vouched for them (src/secure/attrMac.ts): anyone who may write to the bucket can set them.
 */
export interface AttrPolicy {
  /** Owner of every entry whose stored owner is not vouched for. */
  owner: Owner;
  /** Cleared from the permission bits of every entry whose stored mode is not vouched for. */
  umask: number;
  /** The mount root's permission bits: it has no object to keep any in. */
  rootPerms: number;
  /** Whether the object `key`'s stored mode, owner and rdev were vouched for. */
  verified(key: string, meta: ObjectMeta): boolean;
  /** Hears of each stored value read as absent because it is out of range or unparseable. */
  refused(key: string, field: string, raw: string): void;
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

/** Before the umask, as open(2) and mkdir(2) start from. */
const DEFAULT_PERMS: Record<NodeKind, number> = { file: 0o666, dir: 0o777, symlink: 0o777, special: 0o666 };
/** The kinds a bucket writer may decide; any other (a device node, a FIFO) only with a vouched-for mode. */
const UNVOUCHED_KINDS: readonly NodeKind[] = ['file', 'dir', 'symlink'];

/**
 * Attributes from POSIX metadata. Vouched for (`verified`): owner and mode as stored, setuid,
 * setgid and sticky included. Otherwise the policy's owner, and the stored permission bits under
 * the umask, never setuid, setgid or sticky. Missing ones are filled the way s3fs/ossfs users expect.
 * ctime is the stored one when there is one (the mount stores it with every attribute it writes),
 * else the object's Last-Modified.
 */
export function makeAttr(kind: NodeKind, posix: PosixMeta, size: number, lastModifiedMs: number, policy: AttrPolicy, verified: boolean): Attr {
  const stored = posix.mode === undefined ? undefined : posix.mode & (verified ? 0o7777 : 0o777);
  const perms = kind === 'symlink' ? 0o777 : stored === undefined ? DEFAULT_PERMS[kind] & ~policy.umask : verified ? stored : stored & ~policy.umask;
  const mtime = posix.mtime === undefined ? lastModifiedMs : Math.round(posix.mtime * 1000);
  const mode = typeBits(kind, posix.mode) | perms;
  return {
    kind,
    mode,
    uid: (verified ? posix.uid : undefined) ?? policy.owner.uid,
    gid: (verified ? posix.gid : undefined) ?? policy.owner.gid,
    size,
    mtime,
    atime: posix.atime === undefined ? mtime : Math.round(posix.atime * 1000),
    ctime: posix.ctime === undefined ? lastModifiedMs : Math.round(posix.ctime * 1000),
    rdev: isDevice(mode) ? (posix.rdev ?? 0) : 0,
  };
}

/** Directories report this size, as local filesystems do. */
export const DIR_SIZE = 4096;

function storedPosix(head: ObjectHead, policy: AttrPolicy): PosixMeta {
  return decodePosixMeta(head.meta, (field, raw) => policy.refused(head.key, field, raw));
}

/** A file object's attributes; its kind comes from the stored mode (symlinks carry S_IFLNK). */
export function fileAttr(head: ObjectHead, policy: AttrPolicy): Attr {
  const posix = storedPosix(head, policy);
  const verified = policy.verified(head.key, head.meta);
  const stored = posix.mode === undefined ? 'file' : kindOfMode(posix.mode);
  const kind = stored === 'dir' || (!verified && !UNVOUCHED_KINDS.includes(stored)) ? 'file' : stored;
  return withStoredXattrs(makeAttr(kind, posix, head.size, head.lastModified.getTime(), policy, verified), head);
}

function withStoredXattrs(attr: Attr, head: ObjectHead): Attr {
  const stored = storedXattrs(head.key, head.meta);
  return stored ? { ...attr, xattrs: { stored } } : attr;
}

/** A directory's attributes: from its marker object when it has one, else those of an implicit directory. */
export function dirAttr(marker: ObjectHead | undefined, policy: AttrPolicy, implicitMtimeMs: number): Attr {
  if (!marker) return makeAttr('dir', {}, DIR_SIZE, implicitMtimeMs, policy, false);
  const attr = makeAttr('dir', storedPosix(marker, policy), DIR_SIZE, marker.lastModified.getTime(), policy, policy.verified(marker.key, marker.meta));
  return withStoredXattrs(attr, marker);
}

/** The mount root: the policy's owner, and the root's own permission bits. */
export function rootAttr(policy: AttrPolicy, mountedAtMs: number): Attr {
  return makeAttr('dir', { mode: policy.rootPerms }, DIR_SIZE, mountedAtMs, policy, true);
}

/** The object metadata entries that keep `attr` (mode, owner, times, a device's number). */
export function posixMetaOf(attr: Attr): ObjectMeta {
  const times = { mtime: attr.mtime / 1000, atime: attr.atime / 1000, ctime: attr.ctime / 1000 };
  return encodePosixMeta({ mode: attr.mode, uid: attr.uid, gid: attr.gid, ...times, ...(isDevice(attr.mode) ? { rdev: attr.rdev } : {}) });
}
