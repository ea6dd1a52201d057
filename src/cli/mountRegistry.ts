import { createHash } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { isMounted } from '../fuse/mount.js';

/**
 * Which process serves which mountpoint, from what, so `ossencfs umount` can wait until the mount
 * process has finished its last uploads and exited, and `ossencfs mounts` can list them. One file
 * per mountpoint in a private runtime dir.
 */
export interface MountRecord {
  pid: number;
  mountpoint: string;
  /** oss://BUCKET[/PREFIX] */
  source: string;
  endpoint: string;
}

function registryDir(): string {
  const dir = join(process.env.XDG_RUNTIME_DIR || tmpdir(), `ossencfs-${process.getuid?.() ?? 0}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return dir;
}

function recordFile(mountpoint: string): string {
  return join(registryDir(), `${createHash('sha256').update(resolve(mountpoint)).digest('hex').slice(0, 16)}.pid`);
}

export function registerMount(record: Omit<MountRecord, 'pid'>): () => void {
  const file = recordFile(record.mountpoint);
  writeFileSync(file, JSON.stringify({ pid: process.pid, ...record }), { mode: 0o600 });
  return () => rmSync(file, { force: true });
}

export function mountProcess(mountpoint: string): number | undefined {
  return liveRecord(recordFile(mountpoint))?.pid;
}

/** The mounts whose process is alive and whose mountpoint is mounted, by mountpoint. */
export function activeMounts(): MountRecord[] {
  const dir = registryDir();
  return readdirSync(dir)
    .filter((name) => name.endsWith('.pid'))
    .map((name) => liveRecord(join(dir, name)))
    .filter((r): r is MountRecord => r !== undefined && isMounted(r.mountpoint))
    .sort((a, b) => a.mountpoint.localeCompare(b.mountpoint));
}

function liveRecord(file: string): MountRecord | undefined {
  try {
    const record = JSON.parse(readFileSync(file, 'utf8')) as MountRecord;
    process.kill(record.pid, 0);
    return record;
  } catch {
    return undefined;
  }
}
