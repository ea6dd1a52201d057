import { describe, expect, it } from 'vitest';
import type { Attr } from '../../src/vfs/attributes.js';
import { MetadataCache } from '../../src/vfs/metadataCache.js';

const attr = { kind: 'file', size: 3 } as unknown as Attr;
const at = (iso: string) => ({ key: 'k', etag: '"e"', size: 3, lastModified: new Date(iso) });

describe('MetadataCache: a listing vouches for attributes it can tie to the same object', () => {
  it("a HEAD's second must match the listing's exactly", () => {
    const cache = new MetadataCache(1000);
    cache.confirm('/f', at('2026-12-06T10:00:05Z'), attr);
    expect(cache.unchanged('/f', at('2026-12-06T10:00:05.700Z'))).toBe(attr);
    expect(cache.unchanged('/f', at('2026-12-06T10:00:04Z'))).toBeUndefined();
    expect(cache.unchanged('/f', at('2026-12-06T10:00:06Z'))).toBeUndefined();
  });

  it('a write dated by its answer may be a second late: the listing may show the second before, never after', () => {
    const cache = new MetadataCache(1000);
    cache.confirm('/f', at('2026-12-06T10:00:05Z'), attr, 1);
    expect(cache.unchanged('/f', at('2026-12-06T10:00:04.900Z'))).toBe(attr);
    expect(cache.unchanged('/f', at('2026-12-06T10:00:05Z'))).toBe(attr);
    expect(cache.unchanged('/f', at('2026-12-06T10:00:03Z'))).toBeUndefined();
    expect(cache.unchanged('/f', at('2026-12-06T10:00:06Z'))).toBeUndefined();
    expect(cache.unchanged('/f', { ...at('2026-12-06T10:00:05Z'), etag: '"other"' })).toBeUndefined();
  });
});
