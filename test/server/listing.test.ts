import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestServer, type TestServer } from './helpers.js';
import { Layout } from '../../src/server/storage/layout.js';
import { mkdir, writeFile } from 'node:fs/promises';
import { join } from 'node:path';

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
  await t.client().putBucket('bkt');
  // Byte order of UTF-8 differs from JS string order for astral vs U+E000..U+FFFF characters.
  const keys = ['a/1', 'a/2', 'a/b/1', 'a/b/2', 'a/c/1', 'b', 'c/x', 'ab', '\u{ff61}', '\u{1f600}', 'z'];
  for (const k of keys) await t.client().put(k, Buffer.from(k));
});
afterAll(async () => t.close());

type Listed = { objects?: { name: string }[]; prefixes?: string[] | null; nextMarker?: string; isTruncated: boolean };
const names = (r: Listed): string[] => (r.objects ?? []).map((o) => o.name);

describe('ListObjects', () => {
  it('lists in UTF-8 byte order', async () => {
    const r = (await t.client().list({ 'max-keys': 1000 }, {})) as Listed;
    expect(names(r)).toEqual(['a/1', 'a/2', 'a/b/1', 'a/b/2', 'a/c/1', 'ab', 'b', 'c/x', 'z', '\u{ff61}', '\u{1f600}']);
  });

  it('groups by delimiter into CommonPrefixes', async () => {
    const r = (await t.client().list({ prefix: 'a/', delimiter: '/' }, {})) as Listed;
    expect(names(r)).toEqual(['a/1', 'a/2']);
    expect(r.prefixes).toEqual(['a/b/', 'a/c/']);
    const top = (await t.client().list({ delimiter: '/' }, {})) as Listed;
    expect(top.prefixes).toEqual(['a/', 'c/']);
    expect(names(top)).toEqual(['ab', 'b', 'z', '\u{ff61}', '\u{1f600}']);
  });

  it('pages with max-keys and NextMarker, counting common prefixes', async () => {
    const seen: string[] = [];
    let marker: string | undefined;
    for (;;) {
      const r = (await t.client().list({ delimiter: '/', 'max-keys': 2, ...(marker ? { marker } : {}) }, {})) as Listed;
      seen.push(...(r.prefixes ?? []), ...names(r));
      if (!r.isTruncated) break;
      marker = r.nextMarker;
    }
    expect(seen.sort()).toEqual(['a/', 'ab', 'b', 'c/', 'z', '\u{ff61}', '\u{1f600}'].sort());
  });

  it('url-encodes keys with encoding-type=url and rejects max-keys over 1000', async () => {
    const r = (await t.client().list({ prefix: '\u{1f600}', 'encoding-type': 'url' } as never, {})) as Listed;
    expect(names(r)).toEqual([encodeURIComponent('\u{1f600}')]);
    await expect(t.client().list({ 'max-keys': 1001 }, {})).rejects.toMatchObject({ status: 400, code: 'InvalidArgument' });
  });
});

describe('ListObjectsV2', () => {
  it('pages with continuation tokens, start-after, key-count and fetch-owner', async () => {
    const c = t.client();
    const first = await c.listV2({ prefix: 'a/', 'max-keys': 3, 'fetch-owner': true } as never, {});
    expect(first.objects.map((o: { name: string }) => o.name)).toEqual(['a/1', 'a/2', 'a/b/1']);
    expect(first.keyCount).toBe(3);
    expect(first.isTruncated).toBe(true);
    expect(first.objects[0]?.owner).toBeTruthy();
    const second = await c.listV2({ prefix: 'a/', 'max-keys': 3, 'continuation-token': first.nextContinuationToken } as never, {});
    expect(second.objects.map((o: { name: string }) => o.name)).toEqual(['a/b/2', 'a/c/1']);
    expect(second.isTruncated).toBe(false);
    expect(second.objects[0]?.owner).toBeNull();
    const after = await c.listV2({ 'start-after': 'b', delimiter: '/' } as never, {});
    expect(after.prefixes).toEqual(['c/']);
    expect(after.objects.map((o: { name: string }) => o.name)).toEqual(['z', '\u{ff61}', '\u{1f600}']);
  });
});

describe('100k keys under one prefix', () => {
  it('lists every key once, 1000 per page', async () => {
    // 100k signed, fsynced PUTs would take minutes: write the metadata files of the on-disk layout
    // directly (bodies are not needed to list), then let the server load them and list over HTTP.
    await t.client().putBucket('big');
    await t.restart(async () => {
    const layout = new Layout(t.dir);
    for (let shard = 0; shard < 256; shard++) await mkdir(join(layout.metaDir('big'), shard.toString(16).padStart(2, '0')), { recursive: true });
    const write = async (i: number): Promise<void> => {
      const key = `p/${String(i).padStart(6, '0')}`;
      const file = layout.metaFile('big', key);
      const record = { key, data: 'absent', contentType: 'text/plain', headers: {}, meta: {}, size: 1, etag: '"X"', crc64: '0', type: 'Normal', lastModified: Date.now() };
      await writeFile(file, JSON.stringify(record));
    };
    for (let i = 0; i < 100_000; i += 100) await Promise.all(Array.from({ length: 100 }, (_, j) => write(i + j)));
    });
    const c = t.client({ bucket: 'big' });
    let token: string | undefined;
    let count = 0;
    let pages = 0;
    let previous = '';
    for (;;) {
      const r = await c.listV2({ prefix: 'p/', 'max-keys': 1000, ...(token ? { 'continuation-token': token } : {}) } as never, {});
      for (const o of r.objects as { name: string }[]) {
        expect(o.name > previous).toBe(true);
        previous = o.name;
      }
      count += r.objects.length;
      pages += 1;
      if (!r.isTruncated) break;
      token = r.nextContinuationToken;
    }
    expect([count, pages]).toEqual([100_000, 100]);
    const grouped = await c.list({ delimiter: '/' }, {});
    expect(grouped.prefixes).toEqual(['p/']);
  }, 120_000);
});
