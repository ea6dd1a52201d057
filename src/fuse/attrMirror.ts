import { FsError } from '../errors.js';
import type { Logger } from '../log.js';
import type { AttrMirror } from '../vfs/attrCache.js';
import type { FuseAddon } from './addon.js';
import { NativeAttrCache } from './nativeAttrCache.js';
import { toStat } from './stat.js';

/**
 * `--attr-mirror`: whether fuse-native's C table (native/fuse-native/attr_cache.c) mirrors the
 * attributes held for a listing's names, answering the kernel's getattr of them without waking
 * JavaScript (`ls -l`, rsync's compare). Off, every getattr goes to JavaScript, which answers the same.
 */
export const ATTR_MIRROR_MODES = ['on', 'off'] as const;
export type AttrMirrorMode = (typeof ATTR_MIRROR_MODES)[number];

/**
 * The C table as the attribute cache's mirror, or none. `mode` unset: on where the fuse-native
 * build has the table, else off, with a line saying so; 'on' on a build without it is refused.
 * `addon`: the fuse-native build's addon (a test's stand-in).
 */
export function nativeAttrMirror(
  mode: AttrMirrorMode | undefined,
  lifetime: { ttlMs: number },
  log: Logger,
  addon?: Partial<FuseAddon>,
): AttrMirror | undefined {
  if (mode === 'off') return undefined;
  const table = NativeAttrCache.load(lifetime, log, addon);
  if (!table) {
    const why = 'this fuse-native build has no attribute table (native/fuse-native/attr_cache.c; scripts/setup.sh builds it)';
    if (mode === 'on') throw new FsError('EINVAL', `--attr-mirror on: ${why}; mount with --attr-mirror off to go without`);
    log.info(`${why}: every getattr is answered in JavaScript (--attr-mirror off)`);
    return undefined;
  }
  return { hold: (path, attr, holdMs) => table.put(path, toStat(attr), holdMs), drop: (path) => table.forget(path), dropTree: () => table.clear() };
}
