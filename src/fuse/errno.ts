import { constants } from 'node:os';
import { type Errno, FsError } from '../errors.js';

/** The errno an operation's failure answers with: FsError's own, a Node system error's code, else EIO. */
export function errnoOf(err: unknown): Errno {
  if (err instanceof FsError) return err.errno;
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (typeof code === 'string' && code in constants.errno) return code as Errno;
  return 'EIO';
}

/** fuse-native wants a negative errno number. */
export function fuseCode(errno: Errno): number {
  return -constants.errno[errno];
}
