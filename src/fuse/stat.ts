import type { Stat } from '@ossencfs/fuse-native';
import type { Attr } from '../vfs/attributes.js';
import { MAX_REQUEST_BYTES } from './requestSize.js';

/** What the kernel is told of a file or directory. */
export function toStat(attr: Attr): Stat {
  return {
    mode: attr.mode,
    uid: attr.uid,
    gid: attr.gid,
    size: attr.size,
    nlink: attr.kind === 'dir' ? 2 : 1,
    rdev: attr.rdev,
    blocks: Math.ceil(attr.size / 512),
    // The "preferred I/O size": cp and stdio size their buffers by it, and each write(2) is a
    // FUSE request, so at 4 KiB cp wrote in 128 KiB requests (its floor) where 1 MiB fit.
    blksize: MAX_REQUEST_BYTES,
    mtime: attr.mtime,
    atime: attr.atime,
    ctime: attr.ctime,
  };
}
