import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { fillDirectory, type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { mountBucket, type Mounted, sh } from '../support/mounted.js';
import { fault, resetSeen, seen } from '../support/serverAdmin.js';

/** Three LIST pages (the store's pages hold 1,000 keys). */
const FILES = 2_100;
const nameOf = (i: number): string => `f${String(i).padStart(5, '0')}`;
const sizeOf = (i: number): number => 1 + (i % 97);

/** Pages of listings of the directory `dir` (GETs of the bucket with its prefix; not a lookup's one-key LIST). */
const listsOf = async (local: LocalBucket, dir: string): Promise<string[]> =>
  (await seen(local, { method: 'GET' })).map((r) => r.query).filter((q) => new RegExp(`prefix=${dir}(%2F|/)`).test(q) && !/max-keys=1(&|$)/.test(q));

/**
 * A big directory is handed to the kernel page by page as the bucket lists it
 * (src/fuse/listingStream.ts, native/fuse-native/readdir_stream.c): a reader gets the first names
 * while the next pages are still coming, and every name exactly once, with its attributes.
 */
describe('mount: listings served as they arrive', () => {
  let local: LocalBucket;
  let m: Mounted;

  beforeAll(async () => {
    local = await startLocalBucket();
    await fillDirectory(local, 'big', FILES, nameOf);
    m = await mountBucket(local, { name: 'listing' });
  }, 300_000);

  afterAll(async () => {
    await m?.unmount();
    await local?.close();
  });

  it('a reader gets the first names before the last page is listed, then every name once, in order', async () => {
    await resetSeen(local);
    // Each GET waits, so the listing's pages come in one after another, slowly.
    await fault(local, { action: 'latency', ms: 700, method: 'GET' });
    try {
      const reader = spawn('python3', ['-u', '-c', 'import os,sys\nit = os.scandir(sys.argv[1])\nprint(next(it).name, flush=True)\nsys.stdin.readline()\nfor e in it: print(e.name)', join(m.mountpoint, 'big')], { stdio: ['pipe', 'pipe', 'pipe'] });
      let out = '';
      const first = new Promise<void>((resolve) => reader.stdout.on('data', (d: Buffer) => (out += d).includes('\n') && resolve()));
      const exited = new Promise<number>((resolve) => reader.on('close', (code) => resolve(code ?? -1)));
      await first;
      const listedBeforeFirstName = await listsOf(local, 'big');
      reader.stdin.end('\n');
      expect(await exited).toBe(0);
      expect(listedBeforeFirstName.length, listedBeforeFirstName.join('\n')).toBeLessThan(3);
      expect(out.trim().split('\n')).toEqual(Array.from({ length: FILES }, (_, i) => nameOf(i)));
      expect(await listsOf(local, 'big')).toHaveLength(3);
    } finally {
      await fault(local, { action: 'clear' });
    }
  }, 120_000);

  it('ls -l shows every name with its size and mode, again at once and after the listing expired', async () => {
    for (const pause of [0, 1500]) {
      await new Promise((resolve) => setTimeout(resolve, pause));
      const lines = sh(`ls -l ${m.mountpoint}/big`).trim().split('\n').slice(1);
      expect(lines).toHaveLength(FILES);
      lines.forEach((line, i) => {
        const [mode, , , , size, , , , name] = line.split(/\s+/);
        expect([mode, Number(size), name]).toEqual(['-rw-r-----', sizeOf(i), nameOf(i)]);
      });
    }
  }, 120_000);
});
