import type { Operations } from '@ossencfs/fuse-native';
import type { Errno } from '../errors.js';
import type { Logger } from '../log.js';
import type { Filesystem } from '../vfs/filesystem.js';
import type { CallerOf } from './caller.js';
import { errnoOf, fuseCode } from './errno.js';
import { toStat } from './stat.js';

/** Failures that are part of normal operation (a lookup of a name that does not exist) log at debug. */
const ROUTINE: ReadonlySet<Errno> = new Set<Errno>(['ENOENT', 'EEXIST', 'ENOTEMPTY', 'ENOTSUP', 'EOPNOTSUPP', 'EINVAL', 'ENODATA']);

/** utimens times from our fuse-native build (native/fuse-native/patches/0001-utimens-times.patch): ms, or a marker ≥ 2^63. */
const UTIME_OMIT_MARK = 2 ** 63;
export type TimeArg = number | 'now' | 'omit';

export function decodeTime(value: number): TimeArg {
  if (value < UTIME_OMIT_MARK) return value;
  return value === UTIME_OMIT_MARK ? 'omit' : 'now';
}

/** The times utimens sets, from the two values the fuse-native build passed (ours: decodeTime's; stock: ./stockFuse.ts). */
export type TimesOf = (atime: number, mtime: number) => [TimeArg, TimeArg];
export const markedTimes: TimesOf = (atime, mtime) => [decodeTime(atime), decodeTime(mtime)];

/** The code an operation's failure answers with, logged once with the path. */
export function failureCode(log: Logger, op: string, path: string, err: unknown): number {
  const errno = errnoOf(err);
  const line = `${op} ${path}: ${errno}: ${(err as Error)?.message ?? String(err)}`;
  if (ROUTINE.has(errno)) log.debug(line);
  else log.warn(line);
  return fuseCode(errno);
}

/**
 * fuse-native callbacks ⇄ Filesystem calls. Nothing else lives here: each operation is a
 * translation of arguments, the result, and the error to its errno (logged once, with the path).
 * `callerOf` answers only synchronously at a handler's start (see CallerOf). Listings are served
 * apart: page by page (./listingStream.ts), or whole on a build without it (./listingWhole.ts).
 */
export function fuseOperations(fs: Filesystem, log: Logger, callerOf: CallerOf, options: { xattrs: boolean; times: TimesOf }): Operations {
  const fail = (op: string, path: string, err: unknown): number => failureCode(log, op, path, err);
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
  const attrsOf = async (path: string) => toStat(await fs.getattr(path));

  const xattrs: Operations = {
    // getxattr of a name outside user.* (security.capability, asked on every write(2)) is answered
    // in C (native/fuse-native/xattrs.c), which also answers ERANGE for a value past the caller's buffer.
    getxattr: (path, name, _position, cb) => call('getxattr', path, () => fs.getxattr(path, name), cb),
    listxattr: (path, cb) => call('listxattr', path, () => fs.listxattr(path), cb),
    // The value is fuse-native's view of libfuse's buffer, which is gone once this answers: copied.
    setxattr: (path, name, value, _position, flags, cb) =>
      call('setxattr', path, () => fs.setxattr(path, name, Buffer.from(value), flags), noValue(cb)),
    removexattr: (path, name, cb) => call('removexattr', path, () => fs.removexattr(path, name), noValue(cb)),
  };
  // Without them (--no-xattrs), get/set/removexattr stay unimplemented: libfuse answers ENOSYS, which
  // the kernel turns into EOPNOTSUPP for the caller and remembers, so it stops asking: no round trip
  // per write(2) for security.capability, none per `ls -l` entry for its ACL and SELinux label.
  const noXattrs: Operations = { listxattr: (_path, cb) => cb(0, []) };

  return {
    init: (cb) => cb(0),
    getattr: (path, cb) => call('getattr', path, () => attrsOf(path), cb),
    fgetattr: (path, _fd, cb) => call('fgetattr', path, () => attrsOf(path), cb),
    access: (path, _mode, cb) => call('access', path, () => fs.getattr(path).then(() => undefined), noValue(cb)),
    statfs: (_path, cb) => cb(0, { ...fs.statfs() }),
    mkdir: (path, mode, cb) => {
      const creator = callerOf();
      call('mkdir', path, () => fs.mkdir(path, mode, creator), noValue(cb));
    },
    rmdir: (path, cb) => call('rmdir', path, () => fs.rmdir(path), noValue(cb)),
    create: (path, mode, cb) => {
      const creator = callerOf();
      call('create', path, () => fs.create(path, mode, creator), cb);
    },
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
      call('utimens', path, () => fs.utimens(path, ...options.times(Number(atime), Number(mtime))), noValue(cb)),
    symlink: (target, path, cb) => {
      const creator = callerOf();
      call('symlink', path, () => fs.symlink(target, path, creator), noValue(cb));
    },
    readlink: (path, cb) => call('readlink', path, () => fs.readlink(path), cb),
    link: (src, dest, cb) => call('link', `${src} -> ${dest}`, () => fs.link(src, dest), noValue(cb)),
    mknod: (path, mode, dev, cb) => {
      const creator = callerOf();
      call('mknod', path, () => fs.mknod(path, mode, dev, creator), noValue(cb));
    },
    ...(options.xattrs ? xattrs : noXattrs),
  };
}
