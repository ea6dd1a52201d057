import { appendFileSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createLogger } from '../../src/log.js';
import { UploadJournal } from '../../src/store/uploadJournal.js';
import { type Harness, startHarness } from './harness.js';

const PART = Buffer.alloc(100 * 1024, 7);

/** The per-mount upload journal against the real server: what a crash leaves behind is found and aborted. */
describe('upload journal', () => {
  let h: Harness;
  const log = createLogger('error');

  beforeAll(async () => {
    h = await startHarness();
  });

  const dirs: string[] = [];
  afterAll(async () => {
    await h?.close();
    for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
  });

  const journalFile = (): string => {
    const dir = mkdtempSync(join(tmpdir(), 'ossencfs-journal-'));
    dirs.push(dir);
    return join(dir, 'uploads.jsonl');
  };
  const uploadsOf = async (key: string): Promise<string[]> => (await h.store.listMultipartUploads(key)).filter((u) => u.key === key).map((u) => u.uploadId);

  it('an upload started and never finished is aborted; a completed one and a stranger’s are left alone', async () => {
    const file = journalFile();
    const store = new UploadJournal(file).wrap(h.store);
    const left = await store.initiateMultipart('j/left.bin', { meta: {} });
    await store.uploadPart('j/left.bin', left, 1, PART, {});
    const done = await store.initiateMultipart('j/done.bin', { meta: {} });
    const part = await store.uploadPart('j/done.bin', done, 1, PART, {});
    await store.completeMultipart('j/done.bin', done, [part]);
    const stranger = await h.store.initiateMultipart('j/stranger.bin', { meta: {} });
    expect(statSync(file).mode & 0o777).toBe(0o600);

    // A torn last line, as a crash in the middle of an append leaves it.
    appendFileSync(file, '{"op":"beg');
    expect(await new UploadJournal(file).recover(h.store, log)).toBe(1);
    expect(await uploadsOf('j/left.bin')).toEqual([]);
    expect(await uploadsOf('j/stranger.bin')).toEqual([stranger]);
    await h.store.abortMultipart('j/stranger.bin', stranger);
  });

  it('a crash after the server created the upload but before its id was written: found by key and time', async () => {
    const file = journalFile();
    const journal = new UploadJournal(file);
    // What JournaledStore.initiateMultipart does, cut short by the crash between its two steps.
    journal.record({ op: 'intent', key: 'j/unnamed.bin', at: Date.now() });
    const orphan = await h.store.initiateMultipart('j/unnamed.bin', { meta: {} });
    // The key is a prefix of another key's: that upload is not ours to abort.
    const neighbour = await h.store.initiateMultipart('j/unnamed.bin.other', { meta: {} });
    expect(readFileSync(file, 'utf8')).not.toContain(orphan);

    expect(await new UploadJournal(file).recover(h.store, log)).toBe(1);
    expect(await uploadsOf('j/unnamed.bin')).toEqual([]);
    expect(await uploadsOf('j/unnamed.bin.other')).toEqual([neighbour]);
    await h.store.abortMultipart('j/unnamed.bin.other', neighbour);
  });
});
