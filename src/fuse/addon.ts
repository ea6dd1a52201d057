import { createRequire } from 'node:module';

/**
 * The addon of our fuse-native build (native/fuse-native), the same module instance its mount
 * uses. `has` names a function our C exports: an addon built before it existed is refused with
 * how to rebuild it.
 */
export function patchedFuseAddon<T>(has: keyof T & string, what: string): T {
  const binding = createRequire(import.meta.url)('@ossencfs/fuse-native/binding') as Partial<T>;
  if (typeof binding[has] !== 'function') {
    throw new Error(`native/fuse-native was built without ${what}: run scripts/setup.sh`);
  }
  return binding as T;
}
