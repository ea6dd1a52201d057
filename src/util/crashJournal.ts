import { appendFileSync, closeSync, fsyncSync, mkdirSync, openSync, readFileSync, rmSync } from 'node:fs';
import { dirname } from 'node:path';

/**
 * An append-only file of JSON lines (0600, in a 0700 directory) naming work a crash could leave
 * half done, for the next run to finish or undo. Entries must never hold key material or content.
 */
export class CrashJournal<Entry> {
  constructor(private readonly file: string) {
    mkdirSync(dirname(file), { recursive: true, mode: 0o700 });
  }

  /** Everything written since the last clear(); a torn last line (the crash itself) is skipped. */
  entries(): Entry[] {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch {
      return [];
    }
    const entries: Entry[] = [];
    for (const line of text.split('\n')) {
      if (line === '') continue;
      try {
        entries.push(JSON.parse(line) as Entry);
      } catch {
        // Written when the process died: what it was about to start had not started yet.
      }
    }
    return entries;
  }

  /** `durable`: on disk (fsynced) before this returns, for an entry that must precede what it names. */
  append(entry: Entry, durable: boolean): void {
    appendFileSync(this.file, `${JSON.stringify(entry)}\n`, { mode: 0o600 });
    if (!durable) return;
    const fd = openSync(this.file, 'r');
    try {
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
  }

  clear(): void {
    rmSync(this.file, { force: true });
  }
}
