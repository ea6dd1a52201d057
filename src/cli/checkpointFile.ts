import { closeSync, constants, fchmodSync, mkdirSync, openSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * The JSON file a resumable transfer keeps its progress in (private, 0600). A download's sits
 * next to its destination, inside a tree a bucket fills: no link there is ever followed, neither
 * reading nor writing.
 */

/** The checkpoint at `path`, or undefined when there is none or it is unreadable (torn by a crash). */
export function loadCheckpoint<T>(path: string, valid: (value: unknown) => value is T): T | undefined {
  let text: string;
  try {
    const fd = openSync(path, constants.O_RDONLY | constants.O_NOFOLLOW);
    try {
      text = readFileSync(fd, 'utf8');
    } finally {
      closeSync(fd);
    }
  } catch {
    return undefined;
  }
  try {
    const value: unknown = JSON.parse(text);
    return valid(value) ? value : undefined;
  } catch {
    return undefined;
  }
}

/** Written whole and renamed into place, so a crash leaves the previous checkpoint intact. */
export function saveCheckpoint(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 });
  const tmp = `${path}.tmp`;
  const fd = openSync(tmp, constants.O_WRONLY | constants.O_CREAT | constants.O_TRUNC | constants.O_NOFOLLOW, 0o600);
  try {
    fchmodSync(fd, 0o600);
    writeFileSync(fd, JSON.stringify(value));
  } finally {
    closeSync(fd);
  }
  renameSync(tmp, path);
}
