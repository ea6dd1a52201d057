import { describe, expect, it } from 'vitest';
import { loadFuseBuild } from '../../src/fuse/fuseBuild.js';

/** Which fuse-native the mount runs on (src/fuse/fuseBuild.ts); mounting on each: test/mount/stockFuse.test.ts. */
describe('fuse-native build', () => {
  it('stock is fuse-native as npm ships it: its own addon, none of our functions', () => {
    const stock = loadFuseBuild('stock');
    expect(stock.name).toBe('stock');
    expect(typeof stock.addon.ossencfs_caller).toBe('undefined');
    expect(typeof stock.addon.ossencfs_readdir_serve).toBe('undefined');
    expect(typeof (stock.addon as Record<string, unknown>).fuse_native_mount).toBe('function');
    expect(stock.Fuse).not.toBe(loadFuseBuild('ossencfs').Fuse);
  });

  it('unset, ours where it is built (setup.sh builds it), with our functions', () => {
    const ours = loadFuseBuild(undefined);
    expect([ours.name, ours.fallbackReason]).toEqual(['ossencfs', undefined]);
    expect(typeof ours.addon.ossencfs_caller).toBe('function');
  });

  it('an unknown name is refused', () => {
    expect(() => loadFuseBuild('patched' as never)).toThrow('fuse-native build "patched": must be ossencfs or stock');
  });
});
