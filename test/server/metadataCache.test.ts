import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rename } from 'node:fs/promises';
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { startTestServer, headersOf, type TestOss, type TestServer } from './helpers.js';

// HEAD is answered from records kept in memory (see src/server/storage/store.ts). Each test first
// HEADs the object so its record is cached, then changes the object through another operation and
// checks that HEAD and GET see the change.

let t: TestServer;
beforeAll(async () => {
  t = await startTestServer();
  await t.client().putBucket('bkt');
});
afterAll(async () => t.close());

async function headMeta(c: TestOss, key: string): Promise<Record<string, string>> {
  return (await c.head(key)).meta as unknown as Record<string, string>;
}

function metaFile(key: string): string {
  const h = createHash('sha256').update(key).digest('hex');
  return join(t.dir, 'buckets', 'bkt', 'meta', h.slice(0, 2), `${h}.json`);
}

describe('metadata cache', () => {
  it('answers HEAD from memory once the record is known (the metadata file is not read)', async () => {
    const c = t.client();
    await c.put('cached', Buffer.from('x'), { meta: { mode: '1' } as never });
    await rename(metaFile('cached'), `${metaFile('cached')}.aside`);
    try {
      expect(await headMeta(c, 'cached')).toEqual({ mode: '1' });
    } finally {
      await rename(`${metaFile('cached')}.aside`, metaFile('cached'));
    }
  });

  it('a PUT over a cached object: HEAD sees the new metadata, size and ETag', async () => {
    const c = t.client();
    await c.put('put', Buffer.from('first'), { meta: { mode: '1' } as never });
    const before = await c.head('put');
    await c.put('put', Buffer.from('second version'), { meta: { mode: '2', uid: '7' } as never });
    const after = await c.head('put');
    expect(after.meta).toEqual({ mode: '2', uid: '7' });
    expect(headersOf(after)['content-length']).toBe('14');
    expect(headersOf(after)['etag']).not.toBe(headersOf(before)['etag']);
  });

  it('CopyObject with REPLACE onto itself: HEAD sees the replaced metadata', async () => {
    const c = t.client();
    await c.put('self', Buffer.from('same'), { meta: { mode: '33188' } as never });
    expect(await headMeta(c, 'self')).toEqual({ mode: '33188' });
    await c.copy('self', 'self', 'bkt', { meta: { mode: '33261', mtime: '5' } as never });
    expect(await headMeta(c, 'self')).toEqual({ mode: '33261', mtime: '5' });
  });

  it('CopyObject onto a cached destination: HEAD sees the source', async () => {
    const c = t.client();
    await c.put('dst', Buffer.from('old'), { meta: { mode: '1' } as never });
    await c.put('src', Buffer.from('source'), { meta: { mode: '2' } as never });
    expect(await headMeta(c, 'dst')).toEqual({ mode: '1' });
    await c.copy('dst', 'src');
    expect(await headMeta(c, 'dst')).toEqual({ mode: '2' });
    expect(Buffer.from((await c.get('dst')).content).toString()).toBe('source');
  });

  it('DELETE of a cached object: HEAD answers 404', async () => {
    const c = t.client();
    await c.put('gone', Buffer.from('x'));
    await c.head('gone');
    await c.delete('gone');
    await expect(c.head('gone')).rejects.toMatchObject({ status: 404 });
    await c.put('gone', Buffer.from('back'), { meta: { mode: '3' } as never });
    expect(await headMeta(c, 'gone')).toEqual({ mode: '3' });
  });

  it('DeleteMultipleObjects of cached objects: HEAD answers 404', async () => {
    const c = t.client();
    await c.put('multi-a', Buffer.from('a'));
    await c.put('multi-b', Buffer.from('b'));
    await c.head('multi-a');
    await c.head('multi-b');
    await c.deleteMulti(['multi-a', 'multi-b']);
    await expect(c.head('multi-a')).rejects.toMatchObject({ status: 404 });
    await expect(c.head('multi-b')).rejects.toMatchObject({ status: 404 });
  });

  it('CompleteMultipartUpload over a cached object: HEAD sees the upload’s metadata and size', async () => {
    const c = t.client();
    await c.put('mp', Buffer.from('small'), { meta: { mode: '1' } as never });
    expect(await headMeta(c, 'mp')).toEqual({ mode: '1' });
    const init = await c.initMultipartUpload('mp', { meta: { mode: '9' } } as never);
    const part = Buffer.alloc(1000, 7);
    const { etag } = await c.uploadPart('mp', init.uploadId, 1, part, 0, part.length);
    await c.completeMultipartUpload('mp', init.uploadId, [{ number: 1, etag }]);
    const head = await c.head('mp');
    expect(head.meta).toEqual({ mode: '9' });
    expect(headersOf(head)['content-length']).toBe('1000');
    expect(headersOf(head)['x-oss-object-type']).toBe('Multipart');
  });

  it('concurrent writers and readers: once the writes settle, HEAD shows the last PUT', async () => {
    const c = t.client();
    await c.put('race', Buffer.from('0'), { meta: { n: '0' } as never });
    // PUTs one after another on one lane, HEADs storming on others; each HEAD sees some whole version.
    let writing = true;
    const writer = (async () => {
      for (let n = 1; n <= 30; n++) await c.put('race', Buffer.from(String(n)), { meta: { n: String(n) } as never });
      writing = false;
    })();
    const seen: number[] = [];
    const readers = Array.from({ length: 8 }, async () => {
      while (writing) {
        const h = await c.head('race');
        const n = Number((h.meta as unknown as Record<string, string>).n);
        expect(headersOf(h)['content-length']).toBe(String(String(n).length));
        seen.push(n);
      }
    });
    await Promise.all([writer, ...readers]);
    expect(seen.length).toBeGreaterThan(0);
    expect(await headMeta(c, 'race')).toEqual({ n: '30' });
    expect(Buffer.from((await c.get('race')).content).toString()).toBe('30');
  });

  it('concurrent PUTs of one key: HEAD and GET agree on the winner', async () => {
    const c = t.client();
    await c.put('both', Buffer.from('start'));
    await c.head('both');
    await Promise.all(Array.from({ length: 10 }, (_, i) => c.put('both', Buffer.from(`writer ${i}`), { meta: { writer: String(i) } as never })));
    const winner = (await headMeta(c, 'both')).writer;
    expect(Buffer.from((await c.get('both')).content).toString()).toBe(`writer ${winner}`);
  });

  it('a restart: HEAD sees every object’s last metadata', async () => {
    const c = t.client();
    await c.put('restart', Buffer.from('x'), { meta: { mode: '1' } as never });
    await c.copy('restart', 'restart', 'bkt', { meta: { mode: '2' } as never });
    await t.restart();
    expect(await headMeta(t.client(), 'restart')).toEqual({ mode: '2' });
  });
});
