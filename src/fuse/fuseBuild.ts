import { createRequire } from 'node:module';
import { dirname } from 'node:path';
import type Fuse from '@ossencfs/fuse-native';
import { FsError } from '../errors.js';
import type { FuseAddon } from './addon.js';

/**
 * Which fuse-native the mount runs on: `ossencfs`, our build (native/fuse-native, with its patches
 * and C), or `stock`, fuse-native as npm ships it (the fork's own dependency, so always installed),
 * with the degradations src/fuse/stockFuse.ts states.
 */
export const FUSE_BUILDS = ['ossencfs', 'stock'] as const;
export type FuseBuildName = (typeof FUSE_BUILDS)[number];

export interface FuseBuild {
  name: FuseBuildName;
  Fuse: typeof Fuse;
  /** The build's addon: our C's functions only where it was built with them. */
  addon: Partial<FuseAddon>;
  /** Why the stock build runs although none was asked for: our build could not be loaded. */
  fallbackReason?: string;
}

const require = createRequire(import.meta.url);

/**
 * The build `asked` for; unset, ours where it is built, else stock with the reason. Ours asked
 * for and not loadable is refused with the reason (it names scripts/setup.sh).
 */
export function loadFuseBuild(asked: FuseBuildName | undefined): FuseBuild {
  if (asked !== undefined && !FUSE_BUILDS.includes(asked)) throw new FsError('EINVAL', `fuse-native build ${JSON.stringify(asked)}: must be ${FUSE_BUILDS.join(' or ')}`);
  if (asked === 'stock') return stockBuild();
  try {
    const addon = require('@ossencfs/fuse-native/binding') as Partial<FuseAddon>;
    return { name: 'ossencfs', Fuse: require('@ossencfs/fuse-native') as typeof Fuse, addon };
  } catch (err) {
    const reason = (err as Error).message;
    if (asked === 'ossencfs') throw new FsError('EINVAL', `--fuse-build ossencfs: ${reason}`, { cause: err });
    try {
      return { ...stockBuild(), fallbackReason: reason };
    } catch (stockErr) {
      throw new FsError('EIO', `no fuse-native to mount on: ${reason}; stock fuse-native: ${(stockErr as Error).message}`, { cause: stockErr });
    }
  }
}

/**
 * fuse-native as npm installed it for our fork (its dependency, resolved from the fork's
 * directory): its Fuse class and the addon that class loads (Node keeps one instance of an addon
 * per path, so this is the one the class mounts with).
 */
function stockBuild(): FuseBuild {
  const fromFork = createRequire(require.resolve('@ossencfs/fuse-native'));
  const Stock = fromFork('fuse-native') as typeof Fuse;
  const addon = fromFork('node-gyp-build')(dirname(fromFork.resolve('fuse-native'))) as Partial<FuseAddon>;
  return { name: 'stock', Fuse: Stock, addon };
}
