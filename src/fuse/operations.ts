import type { Operations, Stat } from 'fuse-native';
import type { Errno } from '../errors.js';
import type { Logger } from '../log.js';
import type { Attr } from '../vfs/attributes.js';
import type { Filesystem } from '../vfs/filesystem.js';
import { errnoOf, fuseCode } from './errno.js';
import { MAX_REQUEST_BYTES } from './requestSize.js';

/** Failures that are part of normal operation (a lookup of a name that does not exist) log at debug. */
const ROUTINE: ReadonlySet<Errno> = new Set<Errno>(['ENOENT', 'EEXIST', 'ENOTEMPTY', 'ENOTSUP', 'EINVAL']);

/** utimens times from our patched fuse-native (scripts/patch-fuse-native.mjs): ms, or a marker ≥ 2^63. */
const UTIME_OMIT_MARK = 2 ** 63;
export type TimeArg = number | 'now' | 'omit';

export function decodeTime(value: number): TimeArg {
  if (value < UTIME_OMIT_MARK) return value;
  return value === UTIME_OMIT_MARK ? 'omit' : 'now';
}

function toStat(attr: Attr): Stat {
  return {
    mode: attr.mode,
    uid: attr.uid,
    gid: attr.gid,
    size: attr.size,
    nlink: attr.kind === 'dir' ? 2 : 1,
    blocks: Math.ceil(attr.size / 512),
    // The "preferred I/O size": cp and stdio size their buffers by it, and each write(2) is a
    // FUSE request, so at 4 KiB cp wrote in 128 KiB requests (its floor) where 1 MiB fit.
    blksize: MAX_REQUEST_BYTES,
    mtime: attr.mtime,
    atime: attr.atime,
    ctime: attr.ctime,
  };
}

/**
 * fuse-native callbacks ⇄ Filesystem calls. Nothing else lives here: each operation is a
 * translation of arguments, the result, and the error to its errno (logged once, with the path).
 */
export function fuseOperations(fs: Filesystem, log: Logger): Operations {
  const fail = (op: string, path: string, err: unknown): number => {
    const errno = errnoOf(err);
    const line = `${op} ${path}: ${errno}: ${(err as Error)?.message ?? String(err)}`;
    if (ROUTINE.has(errno)) log.debug(line);
    else log.warn(line);
    return fuseCode(errno);
  };
  /** For operations that answer (code, value?). */
  const call =
    <T>(op: string, path: string, work: () => Promise<T> | T, cb: (code: number, value?: T) => void): void => {
      const started = performance.now();
      Promise.resolve()
        .then(work)
        .then(
          (value) => {
            log.debug(`${op} ${path} ok ${(performance.now() - started).toFixed(1)}ms`);
            cb(0, value);
          },
          (err: unknown) => cb(fail(op, path, err)),
        );
    };
  const noValue = (cb: (code: number) => void) => (code: number) => cb(code);

  return {
    init: (cb) => cb(0),
    getattr: (path, cb) => call('getattr', path, async () => toStat(await fs.getattr(path)), cb),
    fgetattr: (path, _fd, cb) => call('fgetattr', path, async () => toStat(await fs.getattr(path)), cb),
    access: (path, _mode, cb) => call('access', path, () => fs.getattr(path).then(() => undefined), noValue(cb)),
    statfs: (_path, cb) => cb(0, { ...fs.statfs() }),
    readdir: (path, cb) =>
      call('readdir', path, () => fs.readdir(path), (code, names) => cb(code, code === 0 ? ['.', '..', ...(names ?? [])] : undefined)),
    mkdir: (path, mode, cb) => call('mkdir', path, () => fs.mkdir(path, mode), noValue(cb)),
    rmdir: (path, cb) => call('rmdir', path, () => fs.rmdir(path), noValue(cb)),
    create: (path, mode, cb) => call('create', path, () => fs.create(path, mode), cb),
    open: (path, flags, cb) => call('open', path, () => fs.open(path, flags), cb),
    read: (path, fd, buffer, length, position, cb) => {
      fs.read(fd, position, length).then(
        (data) => cb(data.copy(buffer, 0, 0, Math.min(data.length, length))),
        (err: unknown) => cb(fail('read', path, err)),
      );
    },
    write: (path, fd, buffer, length, position, cb) => {
      fs.write(fd, position, buffer.subarray(0, length)).then(cb, (err: unknown) => cb(fail('write', path, err)));
    },
    flush: (path, fd, cb) => call('flush', path, () => fs.flush(fd), noValue(cb)),
    fsync: (path, _datasync, fd, cb) => call('fsync', path, () => fs.flush(fd, true), noValue(cb)),
    release: (path, fd, cb) => call('release', path, () => fs.release(fd), noValue(cb)),
    truncate: (path, size, cb) => call('truncate', path, () => fs.truncate(path, size), noValue(cb)),
    ftruncate: (path, fd, size, cb) => call('ftruncate', path, () => fs.ftruncate(fd, size), noValue(cb)),
    unlink: (path, cb) => call('unlink', path, () => fs.unlink(path), noValue(cb)),
    rename: (src, dest, cb) => call('rename', `${src} -> ${dest}`, () => fs.rename(src, dest), noValue(cb)),
    chmod: (path, mode, cb) => call('chmod', path, () => fs.chmod(path, mode), noValue(cb)),
    chown: (path, uid, gid, cb) => call('chown', path, () => fs.chown(path, uid, gid), noValue(cb)),
    utimens: (path, atime, mtime, cb) =>
      call('utimens', path, () => fs.utimens(path, decodeTime(Number(atime)), decodeTime(Number(mtime))), noValue(cb)),
    symlink: (target, path, cb) => call('symlink', path, () => fs.symlink(target, path), noValue(cb)),
    readlink: (path, cb) => call('readlink', path, () => fs.readlink(path), cb),
    // Object storage has no hard links, device nodes or FIFOs.
    link: (_src, _dest, cb) => cb(fuseCode('EPERM')),
    mknod: (_path, _mode, _dev, cb) => cb(fuseCode('EPERM')),
    // Extended attributes are not stored (documented): tools that copy them report ENOTSUP and go on.
    // get/set/removexattr are left unimplemented: libfuse answers ENOSYS, which the kernel turns into
    // EOPNOTSUPP for the caller and remembers. Answered from here, it would keep asking, one round
    // trip per write(2) (for security.capability): a fifth of a small file's FUSE requests.
    listxattr: (_path, cb) => cb(0, []),
  };
}
