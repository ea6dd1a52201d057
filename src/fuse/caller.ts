import type { Owner } from '../vfs/attributes.js';
import type { FuseAddon } from './addon.js';

/**
 * The process whose request is being dispatched into JavaScript (native/fuse-native/caller.c).
 * Valid only synchronously at the start of an operation's handler: fuse-native calls the handler
 * from the dispatch, and the next dispatch publishes the next operation's caller.
 */
export type CallerOf = () => Owner;

/** The caller as `addon` (the mount's fuse-native build) reports it; undefined for a build without caller.c. */
export function loadCaller(addon: Partial<FuseAddon>): CallerOf | undefined {
  const caller = addon.ossencfs_caller;
  if (typeof caller !== 'function') return undefined;
  return () => {
    const [uid, gid] = caller();
    return { uid, gid };
  };
}

/**
 * Without caller.c, the mounting user: right for every request of a mount without allow_other or
 * allow_root, which the kernel lets only processes of that user's uid and gid through (the mount
 * refuses those options on such a build).
 */
export function mountingUser(): CallerOf {
  const owner = { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 };
  return () => owner;
}
