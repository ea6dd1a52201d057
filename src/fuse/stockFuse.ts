import { constants } from 'node:os';
import type Fuse from '@ossencfs/fuse-native';
import { FsError } from '../errors.js';
import { isStored } from '../vfs/xattrNames.js';
import type { AttrMirrorMode } from './attrMirror.js';
import type { TimeArg } from './operations.js';

/**
 * The mount on stock fuse-native (src/fuse/fuseBuild.ts): what each missing piece of our build
 * costs, said once each at start-up, and the JavaScript that stands in where a stock answer
 * would be wrong.
 */

/** One WARN line each, for the pieces every stock mount goes without (those of a setting only while it is on). */
export function stockDegradations(o: { xattrs: boolean; attrMirror?: AttrMirrorMode }): string[] {
  return [
    ...(o.attrMirror === 'off' ? [] : ['no attribute mirror: every getattr is answered in JavaScript (native/fuse-native/attr_cache.c answers those of listed names in C)']),
    'requests stay at 128 KiB: libfuse2 alone never takes the kernel up on larger ones (native/fuse-native/large_requests.c does)',
    'setting times: stock fuse-native passes the access time as both times, so only `touch` (both to now) is kept; any other time (touch -d, cp -p, rsync -t, tar) fails with EOPNOTSUPP, and libfuse drops touch -a / touch -m alone without an error',
    ...(o.xattrs ? ['extended attributes: every write(2) asks for security.capability, answered in JavaScript (native/fuse-native/xattrs.c answers it in C); --no-xattrs spares it'] : []),
  ];
}

/**
 * How far back a time may lie and still be taken for the kernel's "now": it is stamped as the
 * syscall enters (from a clock never ahead of Date.now()) and reaches JavaScript after a thread hop
 * and whatever the event loop was busy with.
 */
const NOW_WINDOW_MS = 2000;

/**
 * utimens as stock fuse-native passes it: the access time twice (its utimens never passes the
 * modification time), and only when the kernel set both times, as a plain value (libfuse 2.9
 * without flag_utime_omit_ok turns UTIME_NOW into the kernel's current time and drops a change of
 * one time alone). So the modification time asked for is unknown, except for `touch`, where both
 * are "now": a time within moments of now is taken for that; any other is refused, never guessed.
 * What this cannot tell apart: an explicit pair whose access time lies in that window (cp -p of a
 * file read in the last two seconds), whose modification time then becomes that access time.
 */
export function stockTimes(atime: number, now = Date.now()): [TimeArg, TimeArg] {
  if (atime <= now && atime >= now - NOW_WINDOW_MS) return [atime, atime];
  throw new FsError('EOPNOTSUPP', 'stock fuse-native does not pass the modification time: only touch (both times to now) is kept');
}

type Signal = (result: number, buffer: ArrayBufferLike) => void;
type FuseClass = typeof Fuse;

const ENODATA = -constants.errno.ENODATA;
const ERANGE = -constants.errno.ERANGE;

/**
 * Stock fuse-native's getxattr answers a value's whole length even when the caller's buffer is
 * shorter (libfuse then sends past its buffer), and its listxattr writes past a short buffer (a
 * RangeError that ends the process) and sizes a list 128 bytes too long. These answer as
 * getxattr(2) and listxattr(2) say: the size, the value, or ERANGE. A name outside user.* is never
 * stored (src/vfs/xattrNames.ts), so it is ENODATA at once, as native/fuse-native/xattrs.c answers it.
 */
export function withXattrAnswers(Base: FuseClass): FuseClass {
  return class StockXattrs extends Base {
    protected override _op_getxattr(signal: Signal, path: string, name: string, value: Buffer, position: number): void {
      if (!isStored(name)) return signal(ENODATA, value.buffer);
      this.ops.getxattr!(path, name, position, (err, found) => {
        if (err) return signal(err, value.buffer);
        if (!found) return signal(ENODATA, value.buffer);
        signal(fitInto(value, [found]), value.buffer);
      });
    }

    protected override _op_listxattr(signal: Signal, path: string, list: Buffer): void {
      this.ops.listxattr!(path, (err, names) => {
        if (err) return signal(err, list.buffer);
        signal(fitInto(list, (names ?? []).map((n) => Buffer.from(`${n}\0`))), list.buffer);
      });
    }
  };
}

/** The answer for `parts` written into the caller's `buffer`: their length for a size query, else ERANGE or the length written. */
function fitInto(buffer: Buffer, parts: Buffer[]): number {
  const length = parts.reduce((sum, p) => sum + p.length, 0);
  if (buffer.length === 0) return length;
  if (length > buffer.length) return ERANGE;
  Buffer.concat(parts).copy(buffer);
  return length;
}
