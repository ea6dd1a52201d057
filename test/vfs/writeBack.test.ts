import { generateKeyPairSync } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { Keyring, rsaMasterKey } from '../../src/crypto/index.js';
import type { Logger } from '../../src/log.js';
import { EncryptedBucket } from '../../src/secure/index.js';
import { MemoryStore } from '../../src/store/memoryStore.js';
import { BACKGROUND_RETRY_MAX_MS } from '../../src/tuning.js';
import { WriteBackQueue } from '../../src/vfs/writeBackQueue.js';
import { recoverSpool, WriteBackSpool } from '../../src/vfs/writeBackSpool.js';

function recordingLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (m: string) => void lines.push(`${level} ${m}`);
  return { lines, error: at('ERROR'), warn: at('WARN'), info: at('INFO'), debug: at('DEBUG') };
}

const keyringOf = (): Keyring =>
  new Keyring({ writer: rsaMasterKey({ privateKeyPem: generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }) as string }) });

async function plaintextOf(bucket: EncryptedBucket, key: string): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of await bucket.get(key)) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString();
}

describe('WriteBackQueue', () => {
  afterEach(() => vi.useRealTimers());

  it('runs an item once its wait is over; a later schedule replaces the earlier wait', async () => {
    vi.useFakeTimers();
    const due: string[] = [];
    const q = new WriteBackQueue({ maxBytes: 100, due: async (i: { path: string; size: number }) => void due.push(i.path), log: recordingLog() });
    const a = { path: '/a', size: 1 };
    q.schedule(a, 100);
    await vi.advanceTimersByTimeAsync(50);
    q.schedule(a, 100);
    await vi.advanceTimersByTimeAsync(60);
    expect(due).toEqual([]);
    expect(q.has(a)).toBe(true);
    await vi.advanceTimersByTimeAsync(40);
    expect(due).toEqual(['/a']);
    expect(q.has(a)).toBe(false);
  });

  it('a failed upload is logged and tried again after twice the wait, up to the background cap', async () => {
    vi.useFakeTimers();
    const log = recordingLog();
    let tries = 0;
    const q = new WriteBackQueue({
      maxBytes: 100,
      due: async () => {
        if (++tries < 4) throw new Error('server down');
      },
      log,
    });
    const first = BACKGROUND_RETRY_MAX_MS / 3;
    q.schedule({ path: '/f', size: 1 }, first);
    await vi.advanceTimersByTimeAsync(first);
    await vi.advanceTimersByTimeAsync(2 * first);
    await vi.advanceTimersByTimeAsync(BACKGROUND_RETRY_MAX_MS);
    expect(tries).toBe(3);
    await vi.advanceTimersByTimeAsync(BACKGROUND_RETRY_MAX_MS);
    expect(tries).toBe(4);
    const seconds = (ms: number): string => String(ms / 1000);
    expect(log.lines.map((l) => /again in (\S+) s/.exec(l)?.[1])).toEqual([seconds(2 * first), seconds(BACKGROUND_RETRY_MAX_MS), seconds(BACKGROUND_RETRY_MAX_MS)]);
  });

  it('roomFor counts what waits besides the item; cancel and cancelAll stop the waits', async () => {
    vi.useFakeTimers();
    const due: string[] = [];
    const q = new WriteBackQueue({ maxBytes: 10, due: async (i: { path: string; size: number }) => void due.push(i.path), log: recordingLog() });
    const [a, b, c] = [{ path: '/a', size: 6 }, { path: '/b', size: 4 }, { path: '/c', size: 1 }];
    q.schedule(a, 10);
    expect(q.roomFor(a)).toBe(true);
    expect(q.roomFor(b)).toBe(true);
    q.schedule(b, 10);
    expect(q.roomFor(c)).toBe(false);
    q.cancel(a);
    expect(q.roomFor(c)).toBe(true);
    q.cancelAll();
    await vi.advanceTimersByTimeAsync(100);
    expect(due).toEqual([]);
  });
});

describe('WriteBackSpool and recoverSpool', () => {
  let dir: string;
  let keyring: Keyring;
  beforeAll(() => {
    dir = mkdtempSync(join(tmpdir(), 'ossencfs-spool-'));
    keyring = keyringOf();
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('keeps ciphertext (0600, in a 0700 dir) and the last state journaled; recovery uploads it decryptable under the last name, then empties the spool', async () => {
    const store = new MemoryStore();
    const bucket = new EncryptedBucket(store, keyring);
    const spoolDir = join(dir, 'one');
    const spool = new WriteBackSpool(spoolDir, bucket);
    const plaintext = Buffer.from('the content of a closed file\n');
    const entry = await spool.keep({ key: 'tmp', meta: { mode: '33188' }, replacing: false }, { buffer: Buffer.from(plaintext) });
    entry.update({ key: 'final', meta: { mode: '33152' }, xattrs: new Map([['user.a', Buffer.from('b')]]), replacing: false });
    expect(statSync(spoolDir).mode & 0o777).toBe(0o700);
    const files = readdirSync(spoolDir);
    for (const f of files) expect(statSync(join(spoolDir, f)).mode & 0o777).toBe(0o600);
    const data = files.filter((f) => !f.endsWith('.jsonl'));
    expect(data).toHaveLength(1);
    expect(readFileSync(join(spoolDir, data[0]!)).equals(plaintext)).toBe(false);
    expect(readFileSync(join(spoolDir, 'spool.jsonl'), 'utf8')).not.toContain('closed file');

    const result = await recoverSpool(spoolDir, bucket, recordingLog());
    expect(result).toEqual({ uploaded: 1, conflicts: 0, kept: 0 });
    expect(await plaintextOf(bucket, 'final')).toBe(plaintext.toString());
    const head = await store.head('final');
    expect(head.meta['mode']).toBe('33152');
    expect([...(await bucket.openXattrs({ key: 'final', meta: head.meta }))]).toEqual([['user.a', Buffer.from('b')]]);
    await expect(bucket.head('tmp')).rejects.toMatchObject({ errno: 'ENOENT' });
    expect(readdirSync(spoolDir).filter((f) => !f.endsWith('.jsonl'))).toEqual([]);
    expect(await recoverSpool(spoolDir, bucket, recordingLog())).toEqual({ uploaded: 0, conflicts: 0, kept: 0 });
  });

  it('a staged file is spooled from disk; dropped entries are not recovered, and the journal goes once none is left', async () => {
    const store = new MemoryStore();
    const bucket = new EncryptedBucket(store, keyring);
    const spoolDir = join(dir, 'two');
    const spool = new WriteBackSpool(spoolDir, bucket);
    const staged = join(dir, 'staged');
    writeFileSync(staged, 'staged content and more bytes past the size');
    const kept = await spool.keep({ key: 'staged', meta: {}, replacing: false }, { path: staged, size: 14 });
    const dropped = await spool.keep({ key: 'dropped', meta: {}, replacing: false }, { buffer: Buffer.from('x') });
    dropped.drop();
    expect(await recoverSpool(spoolDir, bucket, recordingLog())).toEqual({ uploaded: 1, conflicts: 0, kept: 0 });
    expect(await plaintextOf(bucket, 'staged')).toBe('staged content');
    await expect(bucket.head('dropped')).rejects.toMatchObject({ errno: 'ENOENT' });
    kept.drop();
    expect(existsSync(join(spoolDir, 'spool.jsonl'))).toBe(false);
  });

  it('a name another client took meanwhile is not overwritten: the file goes beside it; a replacing rename overwrites', async () => {
    const store = new MemoryStore();
    const bucket = new EncryptedBucket(store, keyring);
    const spoolDir = join(dir, 'three');
    const spool = new WriteBackSpool(spoolDir, bucket);
    await spool.keep({ key: 'taken', meta: {}, replacing: false }, { buffer: Buffer.from('spooled') });
    await spool.keep({ key: 'replaced', meta: {}, replacing: true }, { buffer: Buffer.from('spooled over') });
    await bucket.put('taken', Buffer.from('theirs'));
    await bucket.put('replaced', Buffer.from('old'));
    const log = recordingLog();
    expect(await recoverSpool(spoolDir, bucket, log)).toEqual({ uploaded: 1, conflicts: 1, kept: 0 });
    expect(await plaintextOf(bucket, 'taken')).toBe('theirs');
    expect(await plaintextOf(bucket, 'replaced')).toBe('spooled over');
    const aside = (await bucket.list('taken.ossencfs-conflict-')).objects.map((o) => o.key);
    expect(aside).toHaveLength(1);
    expect(await plaintextOf(bucket, aside[0]!)).toBe('spooled');
    expect(log.lines.filter((l) => l.includes('another client made this object'))).toHaveLength(1);
  });

  it("another key's spool, and one whose upload fails, stay for a later recovery", async () => {
    const store = new MemoryStore();
    const bucket = new EncryptedBucket(store, keyring);
    const spoolDir = join(dir, 'four');
    const spool = new WriteBackSpool(spoolDir, bucket);
    await spool.keep({ key: 'mine', meta: {}, replacing: false }, { buffer: Buffer.from('sealed under the first key') });
    const log = recordingLog();
    expect(await recoverSpool(spoolDir, new EncryptedBucket(store, keyringOf()), log)).toEqual({ uploaded: 0, conflicts: 0, kept: 1 });
    expect(log.lines.join('\n')).toMatch(/mine: sealed under a key this mount does not hold/);
    store.failNext('put', 1, 'denied');
    expect(await recoverSpool(spoolDir, bucket, log)).toEqual({ uploaded: 0, conflicts: 0, kept: 1 });
    expect(await recoverSpool(spoolDir, bucket, log)).toEqual({ uploaded: 1, conflicts: 0, kept: 0 });
    expect(await plaintextOf(bucket, 'mine')).toBe('sealed under the first key');
  });
});
