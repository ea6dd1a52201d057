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
  /** A device node's device number, as stat's st_rdev (FUSE carries 32 bits of it). */
  rdev?: number;
}

const FIELDS = ['mode', 'uid', 'gid', 'rdev', 'mtime', 'atime', 'ctime'] as const;
type Field = (typeof FIELDS)[number];
type Time = 'mtime' | 'atime' | 'ctime';
const TIMES: ReadonlySet<Field> = new Set<Time>(['mtime', 'atime', 'ctime']);

/** The largest value of each integer field; (uid_t)-1 is chown's "unchanged", never an owner. */
const MAX: Record<Exclude<Field, Time>, number> = { mode: 0o177777, uid: 0xfffffffe, gid: 0xfffffffe, rdev: 0xffffffff };

export function encodePosixMeta(p: PosixMeta): ObjectMeta {
  const meta: ObjectMeta = {};
  for (const field of FIELDS) {
    const value = p[field];
    if (value !== undefined && Number.isFinite(value)) meta[field] = String(value);
  }
  return meta;
}

/**
 * Unparseable or out-of-range values (another tool's, a hand edit) read as absent rather than as
 * garbage or a value wrapped to 32 bits; `refused` hears of each.
 */
export function decodePosixMeta(meta: ObjectMeta, refused?: (field: string, raw: string) => void): PosixMeta {
  const p: PosixMeta = {};
  for (const field of FIELDS) {
    const raw = meta[field];
    if (raw === undefined || raw.trim() === '') continue;
    const value = Number(raw);
    const ok = TIMES.has(field) ? Number.isFinite(value) : Number.isInteger(value) && value >= 0 && value <= MAX[field as Exclude<Field, Time>];
    if (ok) p[field] = value;
    else refused?.(field, raw);
  }
  return p;
}
