import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

/**
 * Which process serves which mountpoint, so `ossencfs umount` can wait until the mount process
 * has finished its last uploads and exited. One pid file per mountpoint in a private runtime dir.
 */
function pidFile(mountpoint: string): string {
  const dir = join(process.env.XDG_RUNTIME_DIR || tmpdir(), `ossencfs-${process.getuid?.() ?? 0}`);
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  return join(dir, `${createHash('sha256').update(resolve(mountpoint)).digest('hex').slice(0, 16)}.pid`);
}

export function registerMount(mountpoint: string): () => void {
  const file = pidFile(mountpoint);
  writeFileSync(file, String(process.pid), { mode: 0o600 });
  return () => rmSync(file, { force: true });
}

export function mountProcess(mountpoint: string): number | undefined {
  try {
    const pid = Number(readFileSync(pidFile(mountpoint), 'utf8'));
    process.kill(pid, 0);
    return pid;
  } catch {
    return undefined;
  }
}
