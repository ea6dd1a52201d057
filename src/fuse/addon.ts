import { createRequire } from 'node:module';
import { dirname } from 'node:path';

/**
 * fuse-native's own addon, the same module instance its mount uses, with whatever
 * scripts/patch-fuse-native.mjs added to it. `has` names a function the patch exports: an addon
 * built without the patch is refused with how to build it.
 */
export function patchedFuseAddon<T>(has: keyof T & string, what: string): T {
  const fuseNative = createRequire(import.meta.url).resolve('fuse-native');
  const binding = createRequire(fuseNative)('node-gyp-build')(dirname(fuseNative)) as Partial<T>;
  if (typeof binding[has] !== 'function') {
    throw new Error(`fuse-native was built without ${what}: run scripts/setup.sh (or node scripts/patch-fuse-native.mjs)`);
  }
  return binding as T;
}
