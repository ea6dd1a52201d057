import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import OSS from 'ali-oss';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOssStore } from '../../src/store/index.js';

// A rename reaches the disk with its directory, not with the file it names: the server must
// fsync each directory it renamed or linked into (and removed from) before it answers. Nothing
// short of a power cut shows that from outside, so the server runs under strace and the test reads
// the order of its file-system calls.
const ROOT = join(import.meta.dirname, '..', '..');
const KEYS = { accessKeyId: 'dur-id', accessKeySecret: 'dur-secret' };

interface Call {
  name: string;
  /** rename/link: the target path; fsync: the synced file's path; unlink: the removed path. */
  path: string;
  /** rename/link: the source path. */
  from?: string;
}

let work: string;
let calls: Call[] = [];
/** strace's process group (strace and the server): killed whole if the test stops half-way. */
let group: number | undefined;

beforeAll(async () => {
  work = mkdtempSync(join(tmpdir(), 'ossencfs-durability-'));
  const data = join(work, 'data');
  const trace = join(work, 'trace');
  const proc = spawn(
    'strace',
    ['-f', '-qq', '-y', '-e', 'trace=fsync,rename,renameat,renameat2,link,linkat,unlink,unlinkat', '-o', trace,
      // The project's store (createOssStore) writes here too, and may still sign V1.
      process.execPath, join(ROOT, 'bin/ossencfs.js'), 'server', '--dir', data, '--port', '0', '--signature', 'any'],
    { env: { ...process.env, OSS_ACCESS_KEY_ID: KEYS.accessKeyId, OSS_ACCESS_KEY_SECRET: KEYS.accessKeySecret }, stdio: ['ignore', 'pipe', 'inherit'], detached: true },
  );
  group = proc.pid;
  const exited = new Promise((resolve) => proc.on('exit', resolve));
  const url = await new Promise<string>((resolve, reject) => {
    let out = '';
    proc.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolve(m[1]!);
    });
    proc.on('exit', () => reject(new Error(`server exited: ${out}`)));
  });
  try {
    const client = new OSS({ ...KEYS, endpoint: url, bucket: 'dur' });
    await client.putBucket('dur');
    await client.put('simple', Buffer.from('hello'));
    await client.put('medium', Buffer.alloc(100 * 1024, 5));
    await client.put('large', Buffer.alloc(300 * 1024, 7));
    const store = createOssStore({ ...KEYS, endpoint: url, bucket: 'dur', region: 'cn-hangzhou' });
    const uploadId = await store.initiateMultipart('multi', { meta: {} });
    const parts = [];
    for (const n of [1, 2, 3]) parts.push(await store.uploadPart('multi', uploadId, n, Buffer.alloc(100 * 1024, n), {}));
    await store.completeMultipart('multi', uploadId, parts);
    await client.delete('simple');
  } finally {
    // The server itself, not strace (which, signalled, would detach and leave it running).
    process.kill(Number(execFileSync('pgrep', ['-P', String(proc.pid)], { encoding: 'utf8' }).trim()), 'SIGTERM');
    await exited;
    group = undefined;
  }
  // `1234  rename("a", "b") = 0`, `1234  fsync(21</a/dir>) = 0`, or the first half of a call
  // another thread interrupted (`<unfinished ...>`), which still shows its arguments.
  calls = readFileSync(trace, 'utf8')
    .split('\n')
    .flatMap((line): Call[] => {
      const m = /^\d+\s+(\w+)\((.*)$/.exec(line);
      if (!m) return [];
      const [, name, args] = m as unknown as [string, string, string];
      const paths = [...args.matchAll(/"([^"]*)"/g)].map((p) => p[1]!);
      if (name === 'fsync') return [{ name, path: /^\d+<([^>]*)>/.exec(args)?.[1] ?? '' }];
      return [{ name: name.replace(/at2?$/, ''), path: paths.at(-1) ?? '', from: paths.length > 1 ? paths[0] : undefined }];
    })
    // The server's files: its temporary directory (files written there are renamed in) and its buckets.
    .filter((c) => c.path.startsWith(data));
}, 120_000);

afterAll(() => {
  if (group !== undefined) process.kill(-group, 'SIGKILL');
  rmSync(work, { recursive: true, force: true });
});

/** A path in the bucket's data directory (the server's own directory is also called data). */
const DATA = /\/buckets\/dur\/data\//;
const indexOf = (name: string, path: RegExp, from = 0): number => calls.findIndex((c, i) => i >= from && c.name === name && path.test(c.path));
const syncedBetween = (dir: string, from: number, to = calls.length): boolean => calls.slice(from + 1, to).some((c) => c.name === 'fsync' && c.path === dir);
/** Whether the file renamed in by call `at` was synced, under its temporary name, before. */
const sourceSynced = (at: number): boolean => calls.slice(0, at).some((c) => c.name === 'fsync' && c.path === calls[at]!.from);

describe('the server syncs directories before it answers', () => {
  it('a small PUT: its bytes are in the metadata, synced under a temporary name, renamed in and its directory synced, and no data file is written', () => {
    const metaRename = indexOf('rename', /\/meta\/.*\.json$/);
    expect(metaRename).toBeGreaterThanOrEqual(0);
    expect(sourceSynced(metaRename)).toBe(true);
    expect(syncedBetween(dirname(calls[metaRename]!.path), metaRename, metaRename + 2)).toBe(true);
    expect(calls.slice(0, metaRename).some((c) => DATA.test(c.path))).toBe(false);
  });

  it('a PUT held in memory but too big to inline: its data file written and synced in place, then its directory, before the metadata', () => {
    const dataSync = indexOf('fsync', DATA);
    expect(dataSync).toBeGreaterThanOrEqual(0);
    const metaRename = indexOf('rename', /\/meta\/.*\.json$/, dataSync);
    expect(syncedBetween(dirname(calls[dataSync]!.path), dataSync, metaRename)).toBe(true);
    expect(syncedBetween(dirname(calls[metaRename]!.path), metaRename)).toBe(true);
  });

  it('a large PUT: the data file\'s directory before the metadata is renamed in, then the metadata\'s', () => {
    const metaRename = indexOf('rename', /\/meta\/.*\.json$/, indexOf('rename', DATA));
    const dataRename = calls.slice(0, metaRename).findLastIndex((c) => c.name === 'rename' && DATA.test(c.path));
    expect(dataRename).toBeGreaterThanOrEqual(0);
    expect(syncedBetween(dirname(calls[dataRename]!.path), dataRename, metaRename)).toBe(true);
    expect(syncedBetween(dirname(calls[metaRename]!.path), metaRename)).toBe(true);
  });

  it('a completed multipart upload: every part linked in is synced before the metadata', () => {
    const firstLink = indexOf('link', DATA);
    expect(firstLink).toBeGreaterThanOrEqual(0);
    const metaRename = indexOf('rename', /\/meta\/.*\.json$/, firstLink);
    const links = calls.slice(firstLink, metaRename).filter((c) => c.name === 'link');
    expect(links).toHaveLength(3);
    for (const dir of new Set(links.map((l) => dirname(l.path)))) expect(syncedBetween(dir, firstLink, metaRename)).toBe(true);
    expect(syncedBetween(dirname(calls[metaRename]!.path), metaRename)).toBe(true);
  });

  it('a DELETE: the metadata\'s directory after it is removed', () => {
    const unlink = indexOf('unlink', /\/meta\/.*\.json$/);
    expect(unlink).toBeGreaterThanOrEqual(0);
    expect(syncedBetween(dirname(calls[unlink]!.path), unlink)).toBe(true);
  });
});
