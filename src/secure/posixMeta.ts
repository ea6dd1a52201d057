import type { ObjectMeta } from '../store/ObjectStore.js';

/** POSIX attributes as ossfs and s3fs keep them in user metadata, so either tool sees ours. */
export interface PosixMeta {
  /** st_mode including the file-type bits, e.g. 0o100644. */
  mode?: number;
  uid?: number;
  gid?: number;
  /** Seconds since the epoch; may be fractional. */
  mtime?: number;
  atime?: number;
  ctime?: number;
  /** A device node's device number, as stat's st_rdev. */
  rdev?: number;
}

const FIELDS = ['mode', 'uid', 'gid', 'mtime', 'atime', 'ctime', 'rdev'] as const;
const TIMES: ReadonlySet<string> = new Set(['mtime', 'atime', 'ctime']);
/** FUSE's attributes carry a device number in 32 bits: anything larger is no device of this system. */
const RDEV_LIMIT = 2 ** 32;

export function encodePosixMeta(p: PosixMeta): ObjectMeta {
  const meta: ObjectMeta = {};
  for (const field of FIELDS) {
    const value = p[field];
    if (value !== undefined && Number.isFinite(value)) meta[field] = String(value);
  }
  return meta;
}

/** Unparseable values (another tool's, a hand edit) read as absent rather than as garbage. */
export function decodePosixMeta(meta: ObjectMeta): PosixMeta {
  const p: PosixMeta = {};
  for (const field of FIELDS) {
    const raw = meta[field];
    if (raw === undefined || raw.trim() === '') continue;
    const value = Number(raw);
    if (!Number.isFinite(value)) continue;
    if (TIMES.has(field)) p[field] = value;
    else if (Number.isInteger(value) && value >= 0 && (field !== 'rdev' || value < RDEV_LIMIT)) p[field] = value;
  }
  return p;
}
