/**
 * mount(8) runs `mount.fuse.ossencfs SOURCE MOUNTPOINT [-sfnv] [-o OPTS] [-t TYPE]` for an fstab
 * line of type fuse.ossencfs; this turns that into `ossencfs mount` arguments. Pure, so the whole
 * mapping is tested without mounting.
 */
import { fstabOptions } from './settings.js';

/** Options that mean something to mount(8), systemd or the kernel's generic flags, not to us. */
const DROPPED = new Set(['_netdev', 'nofail', 'noauto', 'auto', 'user', 'users', 'nouser', 'rw', 'defaults']);

/** Options with a flag of their own, from the settings table: `name=value` ones and bare ones. */
const { valued: VALUED, bare: FLAGS } = fstabOptions();

export interface MountInvocation {
  /** Arguments for `ossencfs`, starting with `mount`. */
  args: string[];
  /** mount -f: check and report, but do not mount. */
  fake: boolean;
  verbose: boolean;
}

export class MountArgsError extends Error {
  override name = 'MountArgsError';
}

export function translateMountArgs(argv: string[]): MountInvocation {
  const positional: string[] = [];
  const options: string[] = [];
  let fake = false;
  let verbose = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '-o' || arg === '-t') {
      const value = argv[++i];
      if (value === undefined) throw new MountArgsError(`${arg} needs a value`);
      if (arg === '-o') options.push(...splitOptions(value));
    } else if (arg.startsWith('-o') && arg.length > 2) {
      options.push(...splitOptions(arg.slice(2)));
    } else if (/^-[sfnvt]+$/.test(arg)) {
      // -s sloppy, -n no mtab: nothing to do for a FUSE mount.
      fake ||= arg.includes('f');
      verbose ||= arg.includes('v');
    } else if (arg.startsWith('-')) {
      throw new MountArgsError(`unknown mount option ${arg}`);
    } else {
      positional.push(arg);
    }
  }
  if (positional.length !== 2) {
    throw new MountArgsError(`expected SOURCE and MOUNTPOINT, got ${positional.length} argument(s)`);
  }
  const args = ['mount', ...positional];
  for (const option of options) args.push(...translateOption(option));
  return { args, fake, verbose };
}

/** Splits `a,b=c,d`; a value cannot contain a comma (fstab has no escape for it either). */
function splitOptions(list: string): string[] {
  return list.split(',').filter((o) => o !== '');
}

function translateOption(option: string): string[] {
  const eq = option.indexOf('=');
  const name = eq < 0 ? option : option.slice(0, eq);
  const value = eq < 0 ? undefined : option.slice(eq + 1);
  // x-systemd.*, x-gvfs-* and comment= are for other programs reading fstab.
  if (DROPPED.has(option) || name.startsWith('x-') || name === 'comment') return [];
  const flag = FLAGS.get(option);
  if (flag) return [flag];
  const valued = VALUED.get(name);
  if (valued) {
    if (value === undefined || value === '') throw new MountArgsError(`option ${name} needs a value (${name}=…)`);
    return [valued, value];
  }
  return ['-o', option];
}
