import { writeFileSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { fuseDevice } from './mountinfo.js';

/**
 * The largest read or write the kernel sends the mount: 1 MiB, once our patched fuse-native
 * (native/fuse-native/large_requests.c) has asked for 256 pages per request.
 */
export const MAX_REQUEST_BYTES = 1024 * 1024;

/**
 * The kernel's read-ahead for a FUSE mount is 128 KiB (its backing device's `read_ahead_kb`), so
 * page-cache reads come in 128 KiB requests however large a request may be. At the request size,
 * a sequential read arrives in 1 MiB requests: an eighth of the round trips. Only root may write
 * sysfs; for anyone else this gives the reason, and reads stay at 128 KiB.
 *
 * The kernel sets read-ahead down to 128 KiB again when it takes the filesystem's INIT reply,
 * which can come after mount() returns; no request is answered before that reply, so a stat of
 * the mountpoint (asynchronous: the event loop must stay free to answer it) waits for it.
 */
export async function setReadAhead(mountpoint: string, bytes = MAX_REQUEST_BYTES): Promise<{ ok: true } | { ok: false; reason: string }> {
  await stat(mountpoint);
  const device = fuseDevice(mountpoint);
  if (device === undefined) return { ok: false, reason: `no FUSE mount at ${mountpoint}` };
  const knob = `/sys/class/bdi/${device}/read_ahead_kb`;
  try {
    writeFileSync(knob, String(Math.floor(bytes / 1024)));
    return { ok: true };
  } catch (err) {
    return { ok: false, reason: `${knob}: ${(err as NodeJS.ErrnoException).code ?? String(err)}` };
  }
}
