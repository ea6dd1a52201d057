import { afterEach, describe, expect, it, vi } from 'vitest';
import type { Attr } from '../../src/vfs/attributes.js';
import { AttrCache, type AttrMirror, type AttrOverlay } from '../../src/vfs/attrCache.js';
import { CONFIRMED_HEADS_BYTES, PREFETCH_HOLD_MS, PREFETCH_HOLD_PER_NAME_MS } from '../../src/tuning.js';

const attr = { kind: 'file', size: 3 } as unknown as Attr;
const at = (iso: string) => ({ key: 'k', etag: '"e"', size: 3, lastModified: new Date(iso), meta: {}, contentType: '' });
const file = (size: number): Attr => ({ kind: 'file', mode: 0o100644, uid: 0, gid: 0, size, mtime: 0, atime: 0, ctime: 0, rdev: 0 });
const TTL = 1000;
const HOLD = 10_000;

/** An overlay with nothing in it but what a test puts in `local` (open files, pending changes). */
function overlay(local = new Map<string, Attr>(), open = new Set<string>()): AttrOverlay {
  return { attr: (p) => local.get(p), isOpen: (p) => open.has(p), openNames: () => [] };
}

/** The cache's clock on vitest's fake timers (lru-cache also keeps a reading for 1 ms of timers). */
function fakeClock(): { now(): number; advance(ms: number): void } {
  vi.useFakeTimers();
  return { now: () => Date.now(), advance: (ms) => vi.advanceTimersByTime(ms) };
}

/** A mirror that takes everything (or nothing) and records what it is told, and each hold it is offered. */
function recordingMirror(takes = true): AttrMirror & { held: Map<string, Attr>; holds: Map<string, number>; events: string[] } {
  const held = new Map<string, Attr>();
  const holds = new Map<string, number>();
  const events: string[] = [];
  return {
    held,
    holds,
    events,
    hold: (p, a, ms) => (holds.set(p, ms), takes ? (held.set(p, a), events.push(`hold ${p}`), true) : false),
    drop: (p) => (held.delete(p), events.push(`drop ${p}`)),
    dropTree: (d) => events.push(`dropTree ${d}`),
  };
}

describe('AttrCache: a listing vouches for attributes it can tie to the same object', () => {
  it("a HEAD's second must match the listing's exactly", () => {
    const cache = new AttrCache(TTL, overlay());
    cache.confirm('/f', at('2026-12-06T10:00:05Z'), attr);
    expect(cache.unchanged('/f', at('2026-12-06T10:00:05.700Z'))).toBe(attr);
    expect(cache.unchanged('/f', at('2026-12-06T10:00:04Z'))).toBeUndefined();
    expect(cache.unchanged('/f', at('2026-12-06T10:00:06Z'))).toBeUndefined();
  });

  it('a write dated by its answer may be a second late: the listing may show the second before, never after', () => {
    const cache = new AttrCache(TTL, overlay());
    cache.confirm('/f', at('2026-12-06T10:00:05Z'), attr, 1);
    expect(cache.unchanged('/f', at('2026-12-06T10:00:04.900Z'))).toBe(attr);
    expect(cache.unchanged('/f', at('2026-12-06T10:00:05Z'))).toBe(attr);
    expect(cache.unchanged('/f', at('2026-12-06T10:00:03Z'))).toBeUndefined();
    expect(cache.unchanged('/f', at('2026-12-06T10:00:06Z'))).toBeUndefined();
    expect(cache.unchanged('/f', { ...at('2026-12-06T10:00:05Z'), etag: '"other"' })).toBeUndefined();
  });
});

afterEach(() => {
  vi.useRealTimers();
});

describe('AttrCache: what a path is, and for how long', () => {
  it('a fetched attribute lives for the TTL on the given clock', () => {
    const clock = fakeClock();
    const cache = new AttrCache(TTL, overlay(), { clock });
    cache.fetched('/f', cache.fetching('/f'), file(1));
    clock.advance(TTL - 1);
    expect(cache.lookup('/f')).toEqual(file(1));
    clock.advance(2);
    expect(cache.lookup('/f')).toBeUndefined();
  });

  it('one fetched ahead for a listing is held until its first use, then lives for at most the TTL from there', () => {
    const clock = fakeClock();
    const cache = new AttrCache(TTL, overlay(), { clock });
    cache.fetched('/f', cache.fetching('/f'), file(1), 0);
    clock.advance(HOLD / 2);
    expect(cache.known('/f')).toEqual(file(1)); // known() is no use: the hold goes on
    expect(cache.lookup('/f')).toEqual(file(1)); // the first use
    clock.advance(TTL - 1);
    expect(cache.lookup('/f')).toEqual(file(1));
    clock.advance(2);
    expect(cache.lookup('/f')).toBeUndefined();
  });

  it('an unused hold ends after 10 s', () => {
    const clock = fakeClock();
    const cache = new AttrCache(TTL, overlay(), { clock });
    cache.hold('/f', file(1));
    clock.advance(HOLD + 1);
    expect(cache.lookup('/f')).toBeUndefined();
  });

  it("a fresh listing that lacks a name says it is missing; once it expires, nothing is said", () => {
    const clock = fakeClock();
    const cache = new AttrCache(TTL, overlay(), { clock });
    cache.setListing('/d', new Map([['a', 'object']]));
    expect(cache.lookup('/d/b')).toBe('missing');
    expect(cache.lookup('/d/a')).toBeUndefined(); // listed, but its attributes take a HEAD
    cache.removed('/d/a');
    expect(cache.lookup('/d/a')).toBe('missing');
    cache.added('/d/c', file(2));
    expect(cache.listing('/d')).toEqual(new Map([['c', 'object']]));
    clock.advance(TTL + 1);
    expect(cache.lookup('/d/b')).toBeUndefined();
    expect(cache.staleListing('/d')?.has('c')).toBe(true);
  });

  it('a TTL of 0 keeps nothing', () => {
    const cache = new AttrCache(0, overlay());
    cache.added('/f', file(1));
    cache.setListing('/d', new Map());
    expect(cache.lookup('/f')).toBeUndefined();
    expect(cache.lookup('/d/x')).toBeUndefined();
  });
});

describe('AttrCache: a directory of 100,000 entries', () => {
  const identity = (i: number) => ({ etag: `"${i}"`, size: i, lastModifiedS: 1_700_000_000, slackS: 0 });
  const listed = (i: number) => ({ key: `d/f${i}`, etag: `"${i}"`, size: i, lastModified: new Date(1_700_000_000_000) });

  it('remembers what its whole index said of every entry, so a second listing asks no HEAD', () => {
    const cache = new AttrCache(TTL, overlay());
    for (let i = 0; i < 100_000; i++) cache.confirmIndexed(`/d/f${i}`, identity(i), file(i));
    for (const i of [0, 1, 49_999, 50_000, 99_999]) expect(cache.unchanged(`/d/f${i}`, listed(i))).toEqual(file(i));
  });

  it("keeps HEADs' metadata for the next index only up to its byte bound, the latest first", () => {
    const cache = new AttrCache(TTL, overlay());
    const meta = { 'client-side-encryption-key': 'k'.repeat(1000) };
    const heads = Math.ceil(CONFIRMED_HEADS_BYTES / 1000);
    for (let i = 0; i < heads; i++) cache.confirm(`/d/f${i}`, { ...at('2023-11-14T22:13:20Z'), etag: `"${i}"`, size: i, meta }, file(i));
    expect(cache.confirms(`/d/f${heads - 1}`)).toBe(true);
    expect(cache.confirms('/d/f0')).toBe(false);
  });

  it("holds a name late in a listing longer, by the names before it, here and in the mirror", () => {
    const clock = fakeClock();
    const mirror = recordingMirror(false);
    const cache = new AttrCache(TTL, overlay(), { clock });
    cache.mirrorTo(mirror);
    cache.hold('/d/first', file(1), 0);
    cache.hold('/d/last', file(2), 99_999);
    const lateHold = PREFETCH_HOLD_MS + 99_999 * PREFETCH_HOLD_PER_NAME_MS;
    expect(mirror.holds.get('/d/last')).toBe(lateHold);
    clock.advance(PREFETCH_HOLD_MS + 1);
    expect(cache.known('/d/first')).toBeUndefined();
    expect(cache.known('/d/last')).toEqual(file(2));
    clock.advance(lateHold - PREFETCH_HOLD_MS);
    expect(cache.known('/d/last')).toBeUndefined();
  });
});

describe('AttrCache: open files and pending changes overlay it', () => {
  it('what the overlay says wins over the cache and a listing, and goes when the overlay lets go', () => {
    const local = new Map<string, Attr>();
    const cache = new AttrCache(TTL, overlay(local));
    cache.added('/f', file(1));
    cache.setListing('/', new Map([['f', 'object']]));
    local.set('/f', file(9)).set('/new', file(4));
    expect(cache.lookup('/f')).toEqual(file(9));
    expect(cache.lookup('/new')).toEqual(file(4)); // not in the listing yet: open, not uploaded
    local.clear();
    expect(cache.lookup('/f')).toEqual(file(1));
    expect(cache.lookup('/new')).toBe('missing');
  });

  it('nothing the overlay knows is handed to the mirror', () => {
    const local = new Map([['/open', file(9)]]);
    const mirror = recordingMirror();
    const cache = new AttrCache(TTL, overlay(local));
    cache.mirrorTo(mirror);
    cache.hold('/open', file(1));
    cache.hold('/closed', file(1));
    cache.hold('/gone', 'missing');
    expect([...mirror.held.keys()]).toEqual(['/closed']);
  });
});

describe('AttrCache: invalidation', () => {
  it('invalidate(path) forgets its attributes and what a HEAD confirmed, not its siblings', () => {
    const cache = new AttrCache(TTL, overlay());
    cache.added('/d/f', file(1));
    cache.added('/d/g', file(2));
    cache.confirm('/d/f', at('2026-12-06T10:00:05Z'), file(1));
    cache.invalidate('/d/f');
    expect(cache.lookup('/d/f')).toBeUndefined();
    expect(cache.confirms('/d/f')).toBe(false);
    expect(cache.lookup('/d/g')).toEqual(file(2));
  });

  it('invalidateTree(dir) forgets everything at and below dir and the parent listing, nothing beside it', () => {
    const cache = new AttrCache(TTL, overlay());
    for (const p of ['/a', '/a/x', '/a/b/y', '/ab', '/c']) cache.added(p, file(1));
    cache.setListing('/a', new Map([['x', 'object']]));
    cache.setListing('/a/b', new Map([['y', 'object']]));
    cache.setListing('/', new Map([['a', 'dir'], ['ab', 'object'], ['c', 'object']]));
    cache.confirm('/a/x', at('2026-12-06T10:00:05Z'), file(1));
    cache.invalidateTree('/a');
    for (const p of ['/a', '/a/x', '/a/b/y']) expect(cache.lookup(p)).toBeUndefined();
    expect(cache.listing('/a')).toBeUndefined();
    expect(cache.listing('/a/b')).toBeUndefined();
    expect(cache.listing('/')).toBeUndefined();
    expect(cache.confirms('/a/x')).toBe(false);
    expect(cache.lookup('/ab')).toEqual(file(1));
    expect(cache.lookup('/c')).toEqual(file(1));
  });

  it('a fetch under way when its path changes is not kept', () => {
    const cache = new AttrCache(TTL, overlay());
    const before = cache.fetching('/f');
    const inTree = cache.fetching('/d/g');
    cache.added('/f', file(2)); // the mount wrote it while the HEAD was out
    cache.invalidateTree('/d');
    expect(before.stale).toBe(true);
    expect(inTree.stale).toBe(true);
    cache.fetched('/f', before, file(1));
    cache.fetched('/d/g', inTree, file(1), 0);
    expect(cache.lookup('/f')).toEqual(file(2));
    expect(cache.lookup('/d/g')).toBeUndefined();
    const after = cache.fetching('/f');
    expect(after.stale).toBe(false);
  });

  it('the mirror is told of every change, of every use here, and of a path the overlay takes over', () => {
    const mirror = recordingMirror();
    const cache = new AttrCache(TTL, overlay());
    cache.mirrorTo(mirror);
    cache.hold('/d/f', file(1));
    cache.added('/d/a', file(1));
    cache.removed('/d/b');
    cache.retime('/d', (a) => a);
    cache.invalidate('/d/c');
    cache.overlaid('/d/e');
    cache.invalidateTree('/x');
    cache.lookup('/d/f');
    expect(mirror.events).toEqual(['hold /d/f', 'drop /d/a', 'drop /d/b', 'drop /d', 'drop /d/c', 'drop /d/e', 'dropTree /x', 'drop /d/f']);
  });

  it("one the mirror takes lives here for the TTL only: its first use is the mirror's", () => {
    const clock = fakeClock();
    const cache = new AttrCache(TTL, overlay(), { clock });
    cache.mirrorTo(recordingMirror());
    cache.hold('/f', file(1));
    clock.advance(TTL + 1);
    expect(cache.lookup('/f')).toBeUndefined();
  });

  it('one the mirror refuses is held here', () => {
    const clock = fakeClock();
    const cache = new AttrCache(TTL, overlay(), { clock });
    cache.mirrorTo(recordingMirror(false));
    cache.hold('/f', file(1));
    clock.advance(TTL + 1);
    expect(cache.lookup('/f')).toEqual(file(1));
  });
});
