import { constants, fstatSync, type Stats } from 'node:fs';
import { lstat, mkdir, realpath, stat } from 'node:fs/promises';
import { dirname, relative, sep } from 'node:path';
import { FsError } from '../errors.js';

/**
 * Where downloaded bytes may land. The rule for symlinks at the destination:
 *
 * - a symlink the user named as DEST is followed, as cp(1) does: `get oss://b/k /dev/stdout`
 *   writes to standard output, a link to a file rewrites that file and keeps the link;
 * - below the root of a tree download nothing is followed: every directory between the root and
 *   a file must be a real directory (a symlink there refuses that object), a symlink at a file's
 *   own name is replaced, and symlinks the bucket holds are created only after every file, so no
 *   object can route a later one outside the destination.
 */

/** What a single DEST names once links are followed. */
export type Target =
  /** Standard output (`-`). */
  | { kind: 'stdout' }
  /** A regular file or a name to create: written next to `path` and renamed over it. */
  | { kind: 'file'; path: string }
  /** A device, FIFO or socket (/dev/null, /dev/stdout on a pipe): written in place, no chmod. */
  | { kind: 'special'; path: string };

export async function resolveTarget(dest: string): Promise<Target> {
  if (dest === '-') return { kind: 'stdout' };
  const info = await stat(dest).catch(() => undefined);
  const link = await lstat(dest).catch(() => undefined);
  if (!info) {
    if (link?.isSymbolicLink()) throw new FsError('ENOENT', `not writing through dangling symlink ${dest}`);
    return { kind: 'file', path: dest };
  }
  // /dev/stdout cannot be opened again when it is a socket (as Node's child pipes are).
  if (isStdout(info)) return { kind: 'stdout' };
  if (!info.isFile()) return { kind: 'special', path: dest };
  return { kind: 'file', path: link?.isSymbolicLink() ? await realpath(dest) : dest };
}

function isStdout(info: Stats): boolean {
  try {
    const out = fstatSync(1);
    return out.dev === info.dev && out.ino === info.ino;
  } catch {
    return false;
  }
}

/**
 * Creates (0700, like the files' temporary names) each missing directory from `root` down to
 * `dir`, checking every existing one with lstat: a symlink or a file on the way is refused.
 */
export async function ensureDirInside(root: string, dir: string): Promise<void> {
  await mkdir(root, { recursive: true, mode: 0o700 });
  const rel = relative(root, dir);
  if (rel === '') return;
  if (rel.startsWith('..') || rel.startsWith(sep)) throw outside(dir, root);
  let at = root;
  for (const part of rel.split(sep)) {
    at = `${at}${sep}${part}`;
    await mkdir(at, { mode: 0o700 }).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'EEXIST') throw err;
    });
    const info = await lstat(at);
    if (!info.isDirectory()) {
      throw new FsError('ENOTDIR', `refusing to write under ${at}: it is ${info.isSymbolicLink() ? 'a symlink' : 'not a directory'}`);
    }
  }
}

/** The parent of `path`, checked as ensureDirInside does. */
export function ensureParentInside(root: string, path: string): Promise<void> {
  return ensureDirInside(root, dirname(path));
}

function outside(path: string, root: string): FsError {
  return new FsError('EPERM', `refusing to write ${path}: it is outside ${root}`);
}

/**
 * The permission bits a downloaded file or directory gets from the mode its object records: the
 * rwx bits only (never setuid, setgid or sticky, which a writer to the bucket could plant), less
 * the umask, as cp does without -p.
 */
export function localMode(stored: number): number {
  return stored & 0o777 & ~process.umask();
}

export function isSymlinkMode(mode: number | undefined): boolean {
  return mode !== undefined && (mode & constants.S_IFMT) === constants.S_IFLNK;
}
