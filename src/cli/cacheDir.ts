import { readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ensurePrivateDir } from './permissions.js';

/**
 * The cache dir: checkpoints of interrupted puts, and per mount (`mounts/<id>/`) its upload
 * journal and its staging files — plaintext of files being edited, 0600. A mount killed with
 * staging files leaves plaintext behind; every command that uses the cache dir removes what no
 * live mount owns. A mount records its owner (pid and start time, so a reused pid is not taken for
 * it) before it stages anything; a directory without an owner is left alone.
 */

const OWNER = 'owner';

/** The cache dir, checked (ours, 0700; made if missing) and swept of dead mounts' staging files. */
export function useCacheDir(dir: string): string {
  ensurePrivateDir(dir, 'cache dir');
  sweepStaleStaging(dir);
  return dir;
}

/** A mount's claim on its directory, then its own leftovers from an earlier run go. */
export function claimMountCache(mountCache: string): void {
  ensurePrivateDir(mountCache, 'mount cache dir');
  writeFileSync(join(mountCache, OWNER), JSON.stringify(identity(process.pid)), { mode: 0o600 });
  rmSync(join(mountCache, 'staging'), { recursive: true, force: true });
}

function sweepStaleStaging(dir: string): void {
  const mounts = join(dir, 'mounts');
  let ids: string[];
  try {
    ids = readdirSync(mounts);
  } catch {
    return;
  }
  for (const id of ids) {
    const owner = readOwner(join(mounts, id, OWNER));
    if (owner === undefined || isAlive(owner)) continue;
    rmSync(join(mounts, id, 'staging'), { recursive: true, force: true });
    rmSync(join(mounts, id, OWNER), { force: true });
  }
}

interface Owner {
  pid: number;
  /** Clock ticks after boot the process started (/proc/PID/stat field 22); undefined off Linux. */
  start: string | undefined;
}

function identity(pid: number): Owner {
  return { pid, start: startTime(pid) };
}

function readOwner(file: string): Owner | undefined {
  try {
    const owner = JSON.parse(readFileSync(file, 'utf8')) as Owner;
    return Number.isInteger(owner.pid) && owner.pid > 0 ? owner : undefined;
  } catch {
    return undefined;
  }
}

function isAlive(owner: Owner): boolean {
  try {
    process.kill(owner.pid, 0);
  } catch (err) {
    // EPERM: alive, someone else's.
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  return owner.start === undefined || startTime(owner.pid) === owner.start;
}

function startTime(pid: number): string | undefined {
  try {
    // The name (field 2) is in parentheses and may hold spaces: count from after it.
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}
