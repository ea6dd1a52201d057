import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { FsError } from '../errors.js';

/** Who holds the embedded default's data directory: the mount process that serves it, or `ossencfs server`. */
interface Holder {
  pid: number;
  /** Absent for `ossencfs server`. */
  mountpoint?: string;
}

/**
 * Takes the embedded default's data directory for this process, or refuses with who holds it: two
 * servers over one directory would each miss the other's writes and write the same files. The lock
 * is a file naming the holder's pid; one whose process is gone (a crash) is taken over.
 * Returns the release.
 */
export function lockDataDir(dataDir: string, mountpoint: string | undefined): () => void {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = join(dataDir, 'mount.lock');
  const mine: Holder = { pid: process.pid, ...(mountpoint === undefined ? {} : { mountpoint }) };
  for (let attempt = 0; ; attempt++) {
    try {
      writeFileSync(file, JSON.stringify(mine), { flag: 'wx', mode: 0o600 });
      return () => {
        if (holder(file)?.pid === process.pid) rmSync(file, { force: true });
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 0) throw err;
    }
    const other = holder(file);
    if (other && alive(other.pid)) {
      if (other.mountpoint === undefined) {
        throw new FsError('EBUSY', `the embedded default in ${dataDir} is served by ossencfs server (process ${other.pid}): stop it first`);
      }
      throw new FsError(
        'EBUSY',
        `the embedded default in ${dataDir} is already mounted on ${other.mountpoint} (process ${other.pid}): use that mount, or ossencfs umount ${other.mountpoint} first`,
      );
    }
    rmSync(file, { force: true });
  }
}

function holder(file: string): Holder | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as Holder;
  } catch {
    return undefined;
  }
}

export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: a process of another user has that pid, so it is alive.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
