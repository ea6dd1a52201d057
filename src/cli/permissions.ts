import { lstatSync, mkdirSync, statSync } from 'node:fs';
import { FsError } from '../errors.js';

/**
 * Files and directories that hold secrets must be their owner's alone: a private key or its
 * passphrase readable by others protects nothing, and a cache dir someone else can write lets
 * them swap plaintext staging files or plant upload-journal entries.
 */

/** Refuses a secret file readable by group/others, naming the fix; `override` is the flag that accepts it anyway. */
export function checkSecretFile(file: string, what: string, override?: { flag: string; given: boolean }): void {
  const mode = statSync(file).mode;
  if ((mode & 0o077) === 0 || override?.given) return;
  throw new FsError(
    'EACCES',
    `${what} ${file} is readable by group/others (mode ${(mode & 0o777).toString(8)}) — chmod 600 ${file}${override ? ` (or pass ${override.flag})` : ''}`,
  );
}

/** Creates `dir` 0700 when missing; refuses one that is not a directory of ours with mode 0700. */
export function ensurePrivateDir(dir: string, what: string): string {
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const info = lstatSync(dir);
  const uid = process.getuid?.();
  if (!info.isDirectory()) throw new FsError('ENOTDIR', `${what} ${dir} is not a directory${info.isSymbolicLink() ? ' (a symlink)' : ''}`);
  if (uid !== undefined && info.uid !== uid) {
    throw new FsError('EACCES', `${what} ${dir} belongs to uid ${info.uid}, not to you (uid ${uid}): use a directory of your own`);
  }
  if ((info.mode & 0o077) !== 0) {
    throw new FsError('EACCES', `${what} ${dir} is open to group/others (mode ${(info.mode & 0o777).toString(8)}) — chmod 700 ${dir}`);
  }
  return dir;
}
