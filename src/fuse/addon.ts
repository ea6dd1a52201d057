import { createRequire } from 'node:module';
import type * as Binding from '@ossencfs/fuse-native/binding';

/** The functions our C adds to fuse-native's addon (native/fuse-native). */
export type FuseAddon = typeof Binding;

/**
 * The addon of our fuse-native build (native/fuse-native), the same module instance its mount
 * uses. `has` names a function our C exports: an addon built before it existed is refused with
 * how to rebuild it.
 */
export function patchedFuseAddon(has: keyof FuseAddon, what: string): FuseAddon {
  const binding = fuseAddon();
  if (typeof binding[has] !== 'function') {
    throw new Error(`native/fuse-native was built without ${what}: run scripts/setup.sh`);
  }
  return binding as FuseAddon;
}

/** The addon of whatever fuse-native build is installed: our C's functions only where it was built with them. */
export function fuseAddon(): Partial<FuseAddon> {
  return createRequire(import.meta.url)('@ossencfs/fuse-native/binding') as Partial<FuseAddon>;
}
