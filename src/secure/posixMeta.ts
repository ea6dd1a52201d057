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
}

const FIELDS = ['mode', 'uid', 'gid', 'mtime', 'atime'] as const;

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
    if (field === 'mtime' || field === 'atime') p[field] = value;
    else if (Number.isInteger(value) && value >= 0) p[field] = value;
  }
  return p;
}
