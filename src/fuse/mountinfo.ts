import { readFileSync } from 'node:fs';

/**
 * `major:minor` of the FUSE filesystem mounted at `path`, or undefined if none is, read from
 * /proc/self/mountinfo (never by stat(): inside the mount's own process a stat of the mountpoint
 * would wait for the event loop that is making the call).
 */
export function fuseDevice(path: string): string | undefined {
  // mountinfo writes space, tab, newline and backslash in a path as octal escapes.
  const escaped = path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  const line = readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .find((l) => l.split(' ')[4] === escaped && l.includes(' - fuse'));
  return line?.split(' ')[2];
}
