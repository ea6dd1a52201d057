import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { FsError } from '../../src/errors.js';
import { MemoryStore } from '../../src/store/memoryStore.js';
import type { ObjectStore } from '../../src/store/ObjectStore.js';
import { readAll, startHarness, type Harness } from '../store/harness.js';

/**
 * The in-memory store answers as the bundled strict server does, through the OSS store over HTTP:
 * the same operations on both, the same answers (ETags, sizes, metadata, bytes, listings page by
 * page, errnos). Only times differ (two clocks), and are not compared.
 */

let h: Harness;
beforeAll(async () => {
  h = await startHarness('memory-twin');
});
afterAll(async () => h?.close());

type Op =
  | { op: 'put'; key: string; size: number; meta: string }
  | { op: 'head'; key: string }
  | { op: 'get'; key: string; start: number; end: number | undefined }
  | { op: 'copy'; from: string; to: string; ifMatch: boolean }
  | { op: 'delete'; key: string }
  | { op: 'list'; prefix: string; delimiter: boolean; maxKeys: number };

const key = fc.constantFrom('a', 'a/b', 'a/c', 'a/b/c', 'ab', 'b/', 'b/x', 'é', 'a b');
const ops: fc.Arbitrary<Op> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ op: fc.constant('put' as const), key, size: fc.nat({ max: 40 }), meta: fc.constantFrom('', 'x', 'y') }) },
  fc.record({ op: fc.constant('head' as const), key }),
  fc.record({ op: fc.constant('get' as const), key, start: fc.nat({ max: 45 }), end: fc.option(fc.nat({ max: 45 }), { nil: undefined }) }),
  fc.record({ op: fc.constant('copy' as const), from: key, to: key, ifMatch: fc.boolean() }),
  fc.record({ op: fc.constant('delete' as const), key }),
  { weight: 3, arbitrary: fc.record({ op: fc.constant('list' as const), prefix: fc.constantFrom('', 'a', 'a/', 'b/'), delimiter: fc.boolean(), maxKeys: fc.integer({ min: 1, max: 4 }) }) },
);

const body = (key: string, size: number): Buffer => Buffer.from(`${key}:`.repeat(size + 1)).subarray(0, size);

/** What an operation answered, without the times. */
async function answer(store: ObjectStore, prefix: string, o: Op): Promise<unknown> {
  try {
    switch (o.op) {
      case 'put':
        return { etag: (await store.put(prefix + o.key, body(o.key, o.size), { meta: o.meta ? { m: o.meta } : {} })).etag };
      case 'head': {
        const { etag, size, meta } = await store.head(prefix + o.key);
        return { etag, size, meta };
      }
      case 'get': {
        const r = await store.get(prefix + o.key, { range: { start: o.start, ...(o.end === undefined ? {} : { end: o.end }) } });
        return { start: r.start, size: r.head.size, bytes: (await readAll(r.body)).toString('hex') };
      }
      case 'copy': {
        const ifMatch = o.ifMatch ? '"0123456789ABCDEF0123456789ABCDEF"' : undefined;
        return { etag: (await store.copy(prefix + o.from, prefix + o.to, ifMatch ? { ifMatch } : {})).etag };
      }
      case 'delete':
        return store.delete(prefix + o.key);
      case 'list': {
        const pages: unknown[] = [];
        let after: string | undefined;
        do {
          const page = await store.list(prefix + o.prefix, { ...(o.delimiter ? { delimiter: '/' } : {}), maxKeys: o.maxKeys, ...(after ? { after } : {}) });
          const strip = (k: string): string => k.slice(prefix.length);
          pages.push({ objects: page.objects.map((x) => [strip(x.key), x.size, x.etag]), prefixes: page.prefixes.map(strip) });
          after = page.next;
        } while (after !== undefined);
        return pages;
      }
    }
  } catch (err) {
    if (err instanceof FsError) return { errno: err.errno };
    throw err;
  }
}

describe('MemoryStore answers as the strict server does', () => {
  let run = 0;
  it('random puts, heads, ranged gets, copies, deletes and paged listings: the same answers', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(ops, { minLength: 1, maxLength: 25 }), async (sequence) => {
        // Each run under its own prefix of the one server bucket, and in a fresh memory store.
        const prefix = `run${run++}/`;
        const memory = new MemoryStore();
        for (const o of sequence) {
          const [real, twin] = [await answer(h.store, prefix, o), await answer(memory, prefix, o)];
          expect(twin, JSON.stringify(o)).toEqual(real);
        }
      }),
      { numRuns: 40 },
    );
  });

  it('an encrypted multipart upload: parts must repeat the Initiate’s CSE headers, and the ETag is the parts’', async () => {
    const cse = { 'client-side-encryption-key': 'k', 'client-side-encryption-start': 's', 'client-side-encryption-data-size': String(100 * 1024 + 5), 'client-side-encryption-part-size': String(100 * 1024) };
    const parts = [Buffer.alloc(100 * 1024, 1), Buffer.alloc(5, 2)];
    for (const store of [h.store, new MemoryStore()]) {
      const id = await store.initiateMultipart('mp', { meta: cse });
      await expect(store.uploadPart('mp', id, 1, parts[0]!, {})).rejects.toMatchObject({ errno: 'EINVAL' });
      await expect(store.uploadPart('mp', id, 2, Buffer.alloc(6), cse)).rejects.toMatchObject({ errno: 'EINVAL' });
      const done = [await store.uploadPart('mp', id, 1, parts[0]!, cse), await store.uploadPart('mp', id, 2, parts[1]!, cse)];
      expect((await store.listMultipartUploads('mp')).map((u) => u.uploadId)).toEqual([id]);
      const { etag } = await store.completeMultipart('mp', id, done);
      expect(etag).toMatch(/^"[0-9A-F]{32}-2"$/);
      expect((await store.head('mp')).meta).toMatchObject(cse);
      // A client-side encrypted object's metadata is kept by copy, and its ETag too.
      expect((await store.copy('mp', 'mp2')).etag).toBe(etag);
      await expect(store.uploadPart('mp', id, 1, parts[0]!, cse)).rejects.toMatchObject({ errno: 'ENOENT' });
    }
  });
});

describe('MemoryStore fault hooks', () => {
  it('the next N requests of a kind fail with the errno the OSS store gives once its retries are spent; then it answers again', async () => {
    const store = new MemoryStore();
    await store.put('k', Buffer.from('v'), { meta: {} });
    store.failNext('head', 2, 'reset');
    await expect(store.head('k')).rejects.toMatchObject({ errno: 'EIO', message: expect.stringContaining('connection reset') });
    await expect(store.get('k')).resolves.toBeDefined(); // another kind is not hit
    await expect(store.head('k')).rejects.toMatchObject({ errno: 'EIO' });
    await expect(store.head('k')).resolves.toMatchObject({ size: 1 });
    store.failNext('any', 1, 'unavailable');
    await expect(store.list('')).rejects.toMatchObject({ errno: 'EIO', message: expect.stringContaining('HTTP 503') });
    store.failNext('put', 1, 'timeout');
    await expect(store.put('k', Buffer.from('w'), { meta: {} })).rejects.toMatchObject({ errno: 'ETIMEDOUT' });
    store.failNext('copy', 1, 'denied');
    await expect(store.copy('k', 'k2')).rejects.toMatchObject({ errno: 'EACCES' });
    expect(store.keys()).toEqual(['k']);
    expect(store.raw('k')?.toString()).toBe('v');
    expect(store.calls).toMatchObject({ head: 3, get: 1, list: 1, put: 2, copy: 1 });
  });
});
