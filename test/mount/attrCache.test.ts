import { appendFileSync, chmodSync, readdirSync, renameSync, statSync, truncateSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { encryptedBucket, sleep, until } from '../reliability/support.js';
import { mountedSuite, UPLOAD_AT_CLOSE } from '../support/mounted.js';
import { fault, resetSeen, seen } from '../support/serverAdmin.js';

const TTL_S = 1;
const FILES = 30;
/** Past 2^32 ms, so the time's high word matters. */
const MTIME_S = 1_600_000_000.25;

/**
 * The attributes a listing fetched ahead are handed to fuse-native's C side
 * (native/fuse-native/attr_cache.c), which answers the kernel's lookups of those names without a
 * trip into JavaScript. Seen from outside: the mount's debug log has a line per getattr that
 * reached JavaScript.
 */
describe('mount: attributes answered in C', () => {
  const suite = mountedSuite({ name: 'attrs', args: ['--attr-ttl', String(TTL_S), ...UPLOAD_AT_CLOSE] });

  /** getattr lines for `dir`'s children that reached JavaScript, logged once `marker` (a lookup JavaScript answers) is. */
  async function getattrsInJs(dir: string, marker: string): Promise<string[]> {
    expect(() => statSync(join(suite.m.mountpoint, marker))).toThrow(/ENOENT/);
    await until('the marker lookup in the log', () => suite.m.log().includes(`getattr /${marker}:`), 10);
    return suite.m.log().split('\n').filter((l) => l.includes(`getattr /${dir}/`));
  }

  /** Another client's directory of FILES objects (mode 0600, 7 bytes, mtime MTIME_S each), listed by the mount with every HEAD done. */
  async function listed(dir: string): Promise<string> {
    const bucket = encryptedBucket(suite.local);
    await Promise.all(Array.from({ length: FILES }, (_, i) => bucket.put(`${dir}/f${i}`, Buffer.from('7 bytes'), { meta: { mode: String(0o100600), mtime: String(MTIME_S) } })));
    await sleep(TTL_S * 1000 + 200); // the root's listing has expired, so the new directory shows
    await resetSeen(suite.local);
    const path = join(suite.m.mountpoint, dir);
    expect(readdirSync(path)).toHaveLength(FILES); // getdents alone: no lookup of any name yet
    await until('the prefetch', async () => (await seen(suite.local, { method: 'HEAD', path: `/${dir}/f` })).length >= FILES, 10);
    await until('the attributes handed to C', () => suite.m.log().includes(`native attribute cache: `) && heldIn(suite.m.log()) >= FILES, 10);
    return path;
  }

  it("a listing's names are looked up without JavaScript, with the attributes their HEADs gave", async () => {
    const dir = await listed('quiet');
    const before = await getattrsInJs('quiet', 'marker-1');
    for (let i = 0; i < FILES; i++) {
      const st = statSync(join(dir, `f${i}`));
      // Every field the C side keeps: fuse-native's stat array, times in ms with 64-bit words.
      expect({ mode: st.mode & 0o7777, size: st.size, file: st.isFile(), mtimeMs: st.mtimeMs, nlink: st.nlink, blksize: st.blksize, uid: st.uid })
        .toEqual({ mode: 0o600, size: 7, file: true, mtimeMs: MTIME_S * 1000, nlink: 1, blksize: 1024 * 1024, uid: process.getuid!() });
    }
    expect(await getattrsInJs('quiet', 'marker-2')).toEqual(before);
  });

  it('a change made through the mount shows at once over what C holds', async () => {
    const dir = await listed('changed');
    appendFileSync(join(dir, 'f1'), ' more');
    chmodSync(join(dir, 'f2'), 0o640);
    truncateSync(join(dir, 'f3'), 2);
    renameSync(join(dir, 'f4'), join(dir, 'f4-moved'));
    unlinkSync(join(dir, 'f5'));
    expect(statSync(join(dir, 'f1')).size).toBe(12);
    expect(statSync(join(dir, 'f2')).mode & 0o7777).toBe(0o640);
    expect(statSync(join(dir, 'f3')).size).toBe(2);
    expect(() => statSync(join(dir, 'f4'))).toThrow(/ENOENT/);
    expect(statSync(join(dir, 'f4-moved')).size).toBe(7);
    expect(() => statSync(join(dir, 'f5'))).toThrow(/ENOENT/);
    // The names nothing changed are still answered right.
    expect(statSync(join(dir, 'f6')).mode & 0o7777).toBe(0o600);
  });

  it('what C holds expires with the TTL after its first use: a change by another client then shows', async () => {
    const dir = await listed('theirs');
    expect(statSync(join(dir, 'f0')).mode & 0o7777).toBe(0o600); // first use: the TTL starts
    await encryptedBucket(suite.local).patchMeta('theirs/f0', { mode: String(0o100604) });
    await sleep(TTL_S * 1000 + 300); // past the TTL of the kernel's copy and C's
    expect(statSync(join(dir, 'f0')).mode & 0o7777).toBe(0o604);
  });

  it('a name JavaScript answered first (its lookup joined the HEAD in flight) is not held in C for another first use', async () => {
    await encryptedBucket(suite.local).put('joined/f', Buffer.from('x'), { meta: { mode: String(0o100600) } });
    await sleep(TTL_S * 1000 + 200);
    await fault(suite.local, { action: 'latency', ms: 500, count: 1, method: 'HEAD', path: '/joined/f' });
    const dir = join(suite.m.mountpoint, 'joined');
    expect(readdirSync(dir)).toEqual(['f']); // the listing's prefetch HEAD waits 500 ms
    expect(statSync(join(dir, 'f')).mode & 0o7777).toBe(0o600); // joins it: the first use
    await encryptedBucket(suite.local).patchMeta('joined/f', { mode: String(0o100604) });
    await sleep(TTL_S * 1000 + 300);
    expect(statSync(join(dir, 'f')).mode & 0o7777).toBe(0o604);
  });
});

/** The largest "N held" the mount has logged. */
function heldIn(log: string): number {
  return Math.max(0, ...[...log.matchAll(/native attribute cache: \d+ put, (\d+) held/g)].map((match) => Number(match[1])));
}

/**
 * `--attr-mirror off`, as on a fuse-native build without the C table: every getattr goes to
 * JavaScript, whose attribute cache answers the same, and nothing is handed to C.
 */
describe('mount: attributes with --attr-mirror off', () => {
  const suite = mountedSuite({ name: 'attrs-off', args: ['--attr-ttl', String(TTL_S), '--attr-mirror', 'off', ...UPLOAD_AT_CLOSE] });

  it("a listing's names are answered in JavaScript from what was fetched ahead, changes through the mount show at once, another client's after the TTL", async () => {
    const bucket = encryptedBucket(suite.local);
    await Promise.all(Array.from({ length: FILES }, (_, i) => bucket.put(`off/f${i}`, Buffer.from('7 bytes'), { meta: { mode: String(0o100600), mtime: String(MTIME_S) } })));
    await sleep(TTL_S * 1000 + 200);
    const dir = join(suite.m.mountpoint, 'off');
    expect(readdirSync(dir)).toHaveLength(FILES);
    await until('the prefetch', async () => (await seen(suite.local, { method: 'HEAD', path: '/off/f' })).length >= FILES, 10);
    await resetSeen(suite.local);
    for (let i = 0; i < FILES; i++) expect(statSync(join(dir, `f${i}`)).mode & 0o7777).toBe(0o600);
    expect(await seen(suite.local, { method: 'HEAD', path: '/off/f' })).toEqual([]); // held until this first use
    await until('the getattrs in the log', () => suite.m.log().split('\n').filter((l) => l.includes('getattr /off/f')).length >= FILES, 10);
    expect(suite.m.log()).not.toContain('native attribute cache');

    appendFileSync(join(dir, 'f1'), ' more');
    chmodSync(join(dir, 'f2'), 0o640);
    renameSync(join(dir, 'f4'), join(dir, 'f4-moved'));
    unlinkSync(join(dir, 'f5'));
    expect(statSync(join(dir, 'f1')).size).toBe(12);
    expect(statSync(join(dir, 'f2')).mode & 0o7777).toBe(0o640);
    expect(() => statSync(join(dir, 'f4'))).toThrow(/ENOENT/);
    expect(statSync(join(dir, 'f4-moved')).size).toBe(7);
    expect(() => statSync(join(dir, 'f5'))).toThrow(/ENOENT/);

    // A listing since (the rename's lookup) holds f0 anew until its first use in JavaScript: this
    // one, once the kernel's own copy has expired.
    await sleep(TTL_S * 1000 + 300);
    expect(statSync(join(dir, 'f0')).mode & 0o7777).toBe(0o600);
    await bucket.patchMeta('off/f0', { mode: String(0o100604) });
    await sleep(TTL_S * 1000 + 300);
    expect(statSync(join(dir, 'f0')).mode & 0o7777).toBe(0o604);
  });
});
