import { describe, expect, it } from 'vitest';
import type { FuseAddon } from '../../src/fuse/addon.js';
import { nativeAttrMirror } from '../../src/fuse/attrMirror.js';
import type { Logger } from '../../src/log.js';
import type { Attr } from '../../src/vfs/attributes.js';

/**
 * `--attr-mirror`: the C table (native/fuse-native/attr_cache.c) as the attribute cache's mirror,
 * and what becomes of the mode on a fuse-native build without the table (fuse-native as published).
 */

const LIFETIME = { ttlMs: 1000 };
const file: Attr = { kind: 'file', mode: 0o100600, uid: 7, gid: 8, size: 5, mtime: 1000, atime: 1000, ctime: 1000, rdev: 0 };

function recordingLog(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const at = (level: string) => (m: string) => void lines.push(`${level} ${m}`);
  return { lines, error: at('error'), warn: at('warn'), info: at('info'), debug: () => undefined };
}

/** An addon whose table functions record their calls. */
function tableAddon(): Partial<FuseAddon> & { calls: string[] } {
  const calls: string[] = [];
  return {
    calls,
    // The first record's hold: after its path's length and the path, here 4 bytes long.
    ossencfs_attr_cache_put: (records, ttlMs) => void calls.push(`put ${records.length} bytes hold ${records.readUInt32LE(8)} ttl ${ttlMs}`),
    ossencfs_attr_cache_forget: (path) => void calls.push(`forget ${path}`),
    ossencfs_attr_cache_clear: () => void calls.push('clear'),
    ossencfs_attr_cache_stats: () => [1, 0],
  };
}

describe('attribute mirror mode', () => {
  it('unset, on a build without the table: no mirror, and one line saying every getattr goes to JavaScript', () => {
    const log = recordingLog();
    expect(nativeAttrMirror(undefined, LIFETIME, log, {})).toBeUndefined();
    expect(log.lines).toHaveLength(1);
    expect(log.lines[0]).toMatch(/^info .*no attribute table.*--attr-mirror off/);
  });

  it("'on', on a build without the table: refused with the reason and the way out", () => {
    expect(() => nativeAttrMirror('on', LIFETIME, recordingLog(), {})).toThrow(/--attr-mirror on: this fuse-native build has no attribute table.*--attr-mirror off/);
  });

  it("'off': no mirror, and the table is never touched", () => {
    const addon = tableAddon();
    const log = recordingLog();
    expect(nativeAttrMirror('off', LIFETIME, log, addon)).toBeUndefined();
    expect(addon.calls).toEqual([]);
    expect(log.lines).toEqual([]);
  });

  it("on a build with the table: what it holds goes into C a turn later, each with its hold and the cache's TTL; drops and subtrees follow", async () => {
    for (const mode of [undefined, 'on'] as const) {
      const addon = tableAddon();
      const mirror = nativeAttrMirror(mode, LIFETIME, recordingLog(), addon)!;
      expect(mirror.hold('/d/a', file, 12_345)).toBe(true);
      expect(mirror.hold('/d/b', file, 10_000)).toBe(true);
      expect(addon.calls).toEqual([]); // batched per turn of the event loop
      await new Promise((resolve) => setImmediate(resolve));
      expect(addon.calls).toHaveLength(1);
      expect(addon.calls[0]).toMatch(/^put \d+ bytes hold 12345 ttl 1000$/);
      mirror.drop('/d/a');
      mirror.dropTree('/d');
      expect(addon.calls.slice(1)).toEqual(['forget /d/a', 'clear']);
    }
  });

  it('a drop before the batch went into C takes the entry out of the batch', async () => {
    const addon = tableAddon();
    const mirror = nativeAttrMirror('on', LIFETIME, recordingLog(), addon)!;
    mirror.hold('/a', file, 10_000);
    mirror.drop('/a');
    await new Promise((resolve) => setImmediate(resolve));
    expect(addon.calls).toEqual([]);
  });

  it("this checkout's build has the table: unset means on", () => {
    const log = recordingLog();
    expect(nativeAttrMirror(undefined, LIFETIME, log)).toBeDefined();
    expect(log.lines).toEqual([]);
  });
});
