// The read path's pieces (one GET, decrypted on the worker thread) and the block cache that
// recycles evicted blocks' memory: bytes must come out exact whatever the offsets and sizes.
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ctrAt, ctrAtInPlace, ctrAtInWorker, Keyring, rsaMasterKey } from '../../src/crypto/index.js';
import { EncryptedBucket } from '../../src/secure/index.js';
import { MemoryBudget } from '../../src/memory/budget.js';
import { BlockCache } from '../../src/vfs/blockCache.js';
import { CachedReader } from '../../src/vfs/cachedReader.js';
import { startHarness, type Harness } from '../store/harness.js';

const KEYS = fileURLToPath(new URL('../../../shared/vectors/oss2-rsa/keys', import.meta.url));
const KiB = 1024;
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

let h: Harness;
let bucket: EncryptedBucket;
beforeAll(async () => {
  h = await startHarness('pieces');
  const key = rsaMasterKey({ privateKeyPem: readFileSync(join(KEYS, 'rsa-key-a.private.pem'), 'utf8') });
  bucket = new EncryptedBucket(h.store, new Keyring({ writer: key }));
});
afterAll(async () => {
  await h?.close();
});

describe('ctrAtInWorker and ctrAtInPlace', () => {
  it('equal ctrAt at any offset, the worker taking its input without a copy', async () => {
    const dataKey = { key: randomBytes(32), iv: Buffer.alloc(16, 0xff) }; // the counter wraps
    const data = randomBytes(100_000);
    for (const offset of [0, 1, 15, 16, 17, 65_537, 2 ** 40 + 3]) {
      const input = Buffer.allocUnsafeSlow(data.length);
      data.copy(input);
      const out = await ctrAtInWorker(dataKey, offset, input);
      expect(input.length).toBe(0); // transferred, not copied
      expect(out.equals(ctrAt(dataKey, offset, data))).toBe(true);
      const inPlace = Buffer.from(data);
      expect(ctrAtInPlace(dataKey, offset, inPlace)).toBe(inPlace);
      expect(inPlace.equals(ctrAt(dataKey, offset, data))).toBe(true);
    }
  });

  it("over shared memory the worker decrypts the caller's own buffer, which stays usable", async () => {
    const dataKey = { key: randomBytes(32), iv: randomBytes(16) };
    const data = randomBytes(300_000);
    for (const offset of [0, 7, 16, 1_048_593]) {
      const input = Buffer.from(new SharedArrayBuffer(data.length));
      data.copy(input);
      const out = await ctrAtInWorker(dataKey, offset, input);
      expect(out).toBe(input); // the same buffer, neither copied nor detached
      expect(input.equals(ctrAt(dataKey, offset, data))).toBe(true);
    }
  });

  it('while the worker is starting, shared memory is decrypted at once, in place; then the worker takes over', () => {
    // In a child: this process's worker is online already.
    const script = `
      import { createCipheriv } from 'node:crypto';
      import { ctrAtInWorker } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist/crypto/ctrWorker.js')).href)};
      const dataKey = { key: Buffer.alloc(32, 1), iv: Buffer.alloc(16, 2) };
      const plain = Buffer.alloc(1 << 20, 3);
      const want = createCipheriv('aes-256-ctr', dataKey.key, dataKey.iv).update(plain);
      const shared = () => { const b = Buffer.from(new SharedArrayBuffer(plain.length)); plain.copy(b); return b; };
      const first = shared();
      const done = ctrAtInWorker(dataKey, 0, first);
      const atOnce = first.equals(want); // decrypted before the call returned: no thread was waited for
      const same = (await done) === first;
      // Once the worker is online a call returns before the bytes are decrypted (on the worker).
      let tookOver = false;
      let exact = true;
      while (!tookOver) {
        await new Promise((r) => setTimeout(r, 50));
        const next = shared();
        const pending = ctrAtInWorker(dataKey, 0, next);
        tookOver = !next.equals(want);
        exact &&= (await pending).equals(want);
      }
      process.stdout.write(JSON.stringify({ atOnce, same, tookOver, exact }));
      process.exit(0);`;
    const dir = mkdtempSync(join(tmpdir(), 'ossencfs-worker-start-'));
    writeFileSync(join(dir, 'check.mjs'), script);
    const r = spawnSync(process.execPath, [join(dir, 'check.mjs')], { encoding: 'utf8', timeout: 60_000 });
    rmSync(dir, { recursive: true, force: true });
    expect([r.stdout, r.stderr]).toEqual([JSON.stringify({ atOnce: true, same: true, tookOver: true, exact: true }), '']);
  });

  it('the worker loads in a process run with --expose-gc (a global gc of its own)', () => {
    // In a child: the worker thread is made once per process, and this one's is started already.
    const script = `
      import { createCipheriv } from 'node:crypto';
      import { ctrAtInWorker } from ${JSON.stringify(pathToFileURL(join(ROOT, 'dist/crypto/ctrWorker.js')).href)};
      const dataKey = { key: Buffer.alloc(32, 1), iv: Buffer.alloc(16, 2) };
      const plain = Buffer.alloc(3 << 20, 3);
      const out = await ctrAtInWorker(dataKey, 0, Buffer.from(plain));
      const want = createCipheriv('aes-256-ctr', dataKey.key, dataKey.iv).update(plain);
      process.stdout.write(String(out.equals(want) && typeof globalThis.gc === 'function'));
      process.exit(0);`;
    const dir = mkdtempSync(join(tmpdir(), 'ossencfs-worker-gc-'));
    writeFileSync(join(dir, 'check.mjs'), script);
    const r = spawnSync(process.execPath, ['--expose-gc', join(dir, 'check.mjs')], { encoding: 'utf8', timeout: 60_000 });
    rmSync(dir, { recursive: true, force: true });
    expect([r.stdout, r.stderr]).toEqual(['true', '']);
  });
});

describe('ObjectReader.pieces', () => {
  it('cuts any range into pieces of any size, byte-exact, with one GET', async () => {
    const body = randomBytes(300 * KiB + 7);
    await bucket.put('p/obj', body);
    const reader = await bucket.openReader('p/obj');
    for (const [start, end, size] of [
      [0, body.length, 64 * KiB],
      [5, body.length, 100_003],
      [17, 40_000, 16],
      [body.length - 3, body.length + 100, 1024],
    ] as const) {
      const pieces = reader.pieces(start, end, size);
      const want = body.subarray(start, Math.min(end, body.length));
      expect(pieces.length).toBe(Math.ceil(want.length / size));
      const got = await Promise.all(pieces);
      got.forEach((p, i) => expect(p.equals(want.subarray(i * size, (i + 1) * size)), `piece ${i} of ${start}-${end}/${size}`).toBe(true));
    }
    expect(reader.pieces(10, 10, 16)).toEqual([]);
  });

  it('an object replaced under the reader fails every piece (ESTALE), none is returned as data', async () => {
    await bucket.put('p/stale', randomBytes(64 * KiB));
    const reader = await bucket.openReader('p/stale');
    await bucket.put('p/stale', randomBytes(64 * KiB));
    const results = await Promise.allSettled(reader.pieces(0, 64 * KiB, 16 * KiB));
    expect(results.map((r) => r.status)).toEqual(['rejected', 'rejected', 'rejected', 'rejected']);
    expect((results[0] as PromiseRejectedResult).reason.errno).toBe('ESTALE');
  });
});

describe('CachedReader over a cache that recycles evicted blocks', () => {
  it('sequential and concurrent random reads through a cache of 16 blocks (of 40) return exact bytes', async () => {
    const bs = 16 * KiB;
    const body = randomBytes(40 * bs + 123);
    await bucket.put('p/big', body);
    // Read-ahead and concurrent reads stay within the cache, so no fetch is evicted in flight.
    const reader = new CachedReader(await bucket.openReader('p/big'), new BlockCache(bs, new MemoryBudget(16 * bs)), 4, () => undefined);
    // Sequential in kernel-sized reads, some of them crossing block boundaries.
    for (let at = 0; at < body.length; at += 5 * KiB) {
      const got = await reader.read(at, 5 * KiB);
      expect(got.equals(body.subarray(at, at + 5 * KiB)), `read at ${at}`).toBe(true);
    }
    // A few at once, as the kernel sends them, over blocks being evicted and reused meanwhile.
    for (let round = 0; round < 20; round++) {
      const offsets = [0, 1, 2].map((i) => ((round * 3 + i) * 7919 * 13) % body.length);
      const reads = await Promise.all(offsets.map((at) => reader.read(at, 3 * bs)));
      reads.forEach((got, i) => expect(got.equals(body.subarray(offsets[i]!, offsets[i]! + 3 * bs)), `read at ${offsets[i]}`).toBe(true));
    }
  });
});

describe('a sequential reader keeps at most half the cache of what it has read', () => {
  const bs = 16 * KiB;

  /** A reader over `key` that counts its ranged GETs (each call of pieces() is one). */
  async function countingReader(cache: BlockCache, key: string): Promise<{ reader: CachedReader; gets: () => number }> {
    const source = await bucket.openReader(key);
    let gets = 0;
    const pieces = source.pieces.bind(source);
    source.pieces = (...args) => (gets++, pieces(...args));
    return { reader: new CachedReader(source, cache, 4, () => undefined, 4), gets: () => gets };
  }

  async function readSequentially(reader: CachedReader, body: Buffer, after?: () => void): Promise<void> {
    for (let at = 0; at < body.length; at += 4 * KiB) {
      const got = await reader.read(at, 4 * KiB);
      expect(got.equals(body.subarray(at, at + 4 * KiB)), `read at ${at}`).toBe(true);
      after?.();
    }
  }

  it('reads the kernel sends out of order, a block behind, stay sequential: read-ahead goes on in runs', async () => {
    const cache = new BlockCache(bs, new MemoryBudget(40 * bs));
    const blocks = 60;
    const body = randomBytes(blocks * bs);
    await bucket.put('p/swapped', body);
    const { reader, gets } = await countingReader(cache, 'p/swapped');
    // Blocks 1, 0, 3, 2, 5, 4, ...: each second read lands a block behind the furthest point read.
    for (let pair = 0; pair < blocks; pair += 2) {
      for (const i of [pair + 1, pair]) {
        const got = await reader.read(i * bs, bs);
        expect(got.equals(body.subarray(i * bs, (i + 1) * bs)), `block ${i}`).toBe(true);
      }
    }
    // Taken as random reads, every block would be a GET of its own.
    expect(gets()).toBeLessThanOrEqual(blocks / 2);
  });

  it('a file three times the cache streams through half of it, and what other files read stays cached', async () => {
    const cache = new BlockCache(bs, new MemoryBudget(40 * bs));
    const other = randomBytes(8 * bs);
    const half = randomBytes(20 * bs);
    const big = randomBytes(120 * bs + 7);
    await bucket.put('p/scan-other', other);
    await bucket.put('p/scan-half', half);
    await bucket.put('p/scan-big', big);
    await readSequentially((await countingReader(cache, 'p/scan-other')).reader, other);

    let peak = 0;
    await readSequentially((await countingReader(cache, 'p/scan-big')).reader, big, () => (peak = Math.max(peak, cache.budget.usage.cache)));
    // Without recycling the stream fills the cache (40 blocks less the spares' headroom) and
    // pushes out the other file's blocks.
    expect(peak).toBeLessThanOrEqual((8 + 20 + 4 + 1) * bs); // other file + half the cache + read-ahead + the block being read
    const again = await countingReader(cache, 'p/scan-other');
    await readSequentially(again.reader, other);
    expect(again.gets()).toBe(0);

    // A file of half the cache is kept whole for the next reader.
    await readSequentially((await countingReader(cache, 'p/scan-half')).reader, half);
    await new Promise((r) => setTimeout(r, 100));
    const second = await countingReader(cache, 'p/scan-half');
    await readSequentially(second.reader, half);
    expect(second.gets()).toBe(0);
  });
});

describe('the block cache bounds every block buffer of the read path (issue #6)', () => {
  /** Checks the budget after every read and every turn of the event loop while `work` runs. */
  async function watched(cache: BlockCache, work: () => Promise<void>): Promise<number> {
    let peak = 0;
    const check = (): void => {
      const m = cache.budget.usage;
      expect(m.total).toBe(m.cache + m.readAhead + m.writeParts + m.spare);
      peak = Math.max(peak, m.total);
    };
    let running = true;
    const ticker = (async () => {
      while (running) {
        check();
        await new Promise((r) => setImmediate(r));
      }
    })();
    try {
      await work();
    } finally {
      running = false;
      await ticker;
    }
    check();
    return peak;
  }

  it('cached, in-flight and spare buffers together stay within the cache size, and reads stay exact', async () => {
    const bs = 16 * KiB;
    const body = randomBytes(64 * bs + 5);
    await bucket.put('p/budget', body);
    const cache = new BlockCache(bs, new MemoryBudget(10 * bs));
    // Without the accounting, the read-ahead run in flight and the spares come on top of a full cache.
    const reader = new CachedReader(await bucket.openReader('p/budget'), cache, 8, () => undefined);
    const peak = await watched(cache, async () => {
      for (let at = 0; at < body.length; at += 4 * KiB) {
        const got = await reader.read(at, 4 * KiB);
        expect(got.equals(body.subarray(at, at + 4 * KiB)), `read at ${at}`).toBe(true);
      }
      for (let round = 0; round < 10; round++) {
        const offsets = [0, 1, 2, 3].map((i) => ((round * 4 + i) * 7919 * 13) % body.length);
        const reads = await Promise.all(offsets.map((at) => reader.read(at, 2 * bs)));
        reads.forEach((got, i) => expect(got.equals(body.subarray(offsets[i]!, offsets[i]! + 2 * bs)), `read at ${offsets[i]}`).toBe(true));
      }
    });
    expect(peak).toBeLessThanOrEqual(10 * bs);
    expect(peak).toBeGreaterThan(5 * bs); // the cache was used, not bypassed
    // Let the last read-ahead land: nothing stays counted as loading.
    await new Promise((r) => setTimeout(r, 200));
    expect(cache.budget.usage.readAhead).toBe(0);
  });

  it("at the process's memory target the cache stops growing and recycles, down to half its size", async () => {
    const bs = 16 * KiB;
    const body = randomBytes(48 * bs);
    await bucket.put('p/rss-target', body);
    /** Reads every block once, out of order, and returns the most the cache held. */
    async function fill(cache: BlockCache): Promise<number> {
      const reader = new CachedReader(await bucket.openReader('p/rss-target'), cache, 4, () => undefined);
      return watched(cache, async () => {
        for (let i = 0; i < 48; i++) {
          const at = ((i * 7) % 48) * bs;
          expect((await reader.read(at, bs)).equals(body.subarray(at, at + bs)), `block ${(i * 7) % 48}`).toBe(true);
        }
      });
    }
    // A target this process is past already: the cache keeps to half its size.
    const inUse = (): number => process.memoryUsage.rss();
    const over = new BlockCache(bs, new MemoryBudget(40 * bs, { rss: inUse() - 1024 * KiB, inUse }));
    expect(await fill(over)).toBeLessThanOrEqual(20 * bs);
    expect(over.budget.usage.allowance).toBe(20 * bs);
    // Room to spare: the whole cache size.
    const under = new BlockCache(bs, new MemoryBudget(40 * bs, { rss: inUse() + 1024 * 1024 * KiB, inUse }));
    expect(await fill(under)).toBeGreaterThan(30 * bs);
    expect(under.budget.usage.allowance).toBe(40 * bs);
  });

  it('failed fetches, random and read-ahead, leave nothing counted as loading', async () => {
    const bs = 16 * KiB;
    await bucket.put('p/budget-stale', randomBytes(20 * bs));
    const cache = new BlockCache(bs, new MemoryBudget(8 * bs));
    const errors: unknown[] = [];
    const reader = new CachedReader(await bucket.openReader('p/budget-stale'), cache, 4, (err) => errors.push(err));
    await reader.read(0, bs); // block 0 cached
    await bucket.put('p/budget-stale', randomBytes(20 * bs)); // every later GET fails (ESTALE)
    // A random read (one block), then sequential ones whose read-ahead runs fail too.
    await expect(reader.read(10 * bs, bs)).rejects.toMatchObject({ errno: 'ESTALE' });
    await expect(reader.read(11 * bs, 3 * bs)).rejects.toMatchObject({ errno: 'ESTALE' });
    await expect(reader.read(14 * bs, bs)).rejects.toMatchObject({ errno: 'ESTALE' });
    await new Promise((r) => setTimeout(r, 200));
    expect(errors.length).toBeGreaterThan(0); // read-ahead ran, and failed
    expect(cache.budget.usage.readAhead).toBe(0);
    expect(cache.budget.usage.total).toBeLessThanOrEqual(8 * bs);
  });

  describe("a staged file's upload borrows its parts from the same budget", () => {
    const PART = 112 * KiB; // a multiple of 16, over the 100 KiB minimum
    const bs = 16 * KiB;
    const writerBucket = () => new EncryptedBucket(h.store, bucket.keyring, { partSize: PART, concurrency: 2 });
    let dir: string;
    beforeAll(() => {
      dir = mkdtempSync(join(tmpdir(), 'ossencfs-pieces-'));
    });
    afterAll(() => rmSync(dir, { recursive: true, force: true }));

    /** A cache of 40 blocks, filled by reading an object through it. */
    async function fullCache(): Promise<BlockCache> {
      const cache = new BlockCache(bs, new MemoryBudget(40 * bs));
      const body = randomBytes(48 * bs);
      await bucket.put('p/fill', body);
      const reader = new CachedReader(await bucket.openReader('p/fill'), cache, 4, () => undefined);
      // Out of order: a sequential reader would keep only half the cache of what it read.
      for (let i = 0; i < 48; i++) await reader.read(((i * 7) % 48) * bs, bs);
      await new Promise((r) => setTimeout(r, 100));
      expect(cache.budget.usage.cache).toBeGreaterThan(30 * bs);
      return cache;
    }

    function staged(name: string, data: Buffer): string {
      const path = join(dir, name);
      writeFileSync(path, data);
      return path;
    }

    it('the upload shrinks the cache by its parts, stays within the budget, and gives them all back', async () => {
      const cache = await fullCache();
      const data = randomBytes(10 * PART + 777);
      let lent = 0;
      const peak = await watched(cache, async () => {
        const sampler = setInterval(() => (lent = Math.max(lent, cache.budget.usage.writeParts)), 1);
        try {
          await writerBucket().putFile('p/written', staged('written', data), { buffers: cache.budget.lease('writeParts', 'test upload') });
        } finally {
          clearInterval(sampler);
        }
      });
      expect(lent).toBeGreaterThanOrEqual(2 * PART); // parts in flight were counted
      expect(peak).toBeLessThanOrEqual(40 * bs);
      expect(cache.budget.usage.writeParts).toBe(0);
      expect((await (await bucket.openReader('p/written')).read(0, data.length)).equals(data)).toBe(true);
    });

    it("a writer refills its sent parts' buffers rather than taking new ones", async () => {
      const cache = new BlockCache(bs, new MemoryBudget(4 * bs)); // smaller than a part: every buffer given back would be dropped
      let taken = 0;
      const parts = cache.budget.lease('writeParts', 'test upload');
      const counting = { give: parts.give.bind(parts), lost: parts.lost.bind(parts), take: (size: number) => (taken++, parts.take(size)) };
      const data = randomBytes(12 * PART);
      await writerBucket().putFile('p/refilled', staged('refilled', data), { buffers: counting });
      // The window: 2 parts in flight, 1 filling; the 12 parts reuse those buffers.
      expect(taken).toBeLessThanOrEqual(4);
      expect(cache.budget.usage.writeParts).toBe(0);
      expect((await (await bucket.openReader('p/refilled')).read(0, data.length)).equals(data)).toBe(true);
    });

    it('a failed upload leaves nothing counted as writing', async () => {
      const cache = await fullCache();
      h.server.faults.failNext(1000, { status: 500, method: 'PUT', path: 'p/failed' });
      try {
        await expect(writerBucket().putFile('p/failed', staged('failed', randomBytes(4 * PART)), { buffers: cache.budget.lease('writeParts', 'test upload') })).rejects.toBeInstanceOf(Error);
      } finally {
        h.server.faults.clear();
      }
      expect(cache.budget.usage.writeParts).toBe(0);
      expect(cache.budget.usage.total).toBeLessThanOrEqual(40 * bs);
    });
  });
});
