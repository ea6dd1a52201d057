import { describe, expect, it } from 'vitest';
import { DirectoryWalks } from '../../src/vfs/directoryWalks.js';
import type { Listing } from '../../src/vfs/attrCache.js';

const listing = (n: number): Listing => new Map(Array.from({ length: n }, (_, i) => [`f${String(i).padStart(4, '0')}`, 'object' as const]));
const names = (entries: [string, unknown][]): string[] => entries.map(([name]) => name);

describe('directory walks', () => {
  it('a second miss within the sign makes a walk; the names ahead come once, in listing order', () => {
    const walks = new DirectoryWalks();
    expect(walks.missed('/d', 0)).toBe(false);
    expect(walks.missed('/d', 5_000)).toBe(true);
    walks.listed('/d', listing(1000));
    const first = names(walks.ahead('/d', 'f0002'));
    expect(first).toHaveLength(256);
    expect(first[0]).toBe('f0002');
    // The walker moves on within the window: only what is new past its end.
    expect(names(walks.ahead('/d', 'f0003'))).toEqual(['f0258']);
  });

  it('names the listing vouched for (the index or an earlier HEAD still holds) are not fetched ahead', () => {
    const walks = new DirectoryWalks();
    const vouched = new Set([...listing(1000).keys()].filter((name) => name !== 'f0010' && name !== 'f0100'));
    walks.listed('/d', listing(1000), vouched);
    expect(names(walks.ahead('/d', 'f0000'))).toEqual(['f0010', 'f0100']);
    expect(names(walks.ahead('/d', 'f0001'))).toEqual([]);
  });
});
