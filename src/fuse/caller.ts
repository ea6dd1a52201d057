import type { Owner } from '../vfs/attributes.js';
import { patchedFuseAddon } from './addon.js';

/**
 * The process whose request is being dispatched into JavaScript (native/fuse-native/caller.c).
 * Valid only synchronously at the start of an operation's handler: fuse-native calls the handler
 * from the dispatch, and the next dispatch publishes the next operation's caller.
 */
export type CallerOf = () => Owner;

export function loadCaller(): CallerOf {
  const binding = patchedFuseAddon('ossencfs_caller', "the caller's identity");
  return () => {
    const [uid, gid] = binding.ossencfs_caller();
    return { uid, gid };
  };
}
