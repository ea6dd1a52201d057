import { UsageError } from './options.js';
import { mountOptionNames } from './settings.js';

/** What `--uid`, `--gid`, `--umask` (or `-o uid=,gid=,umask=`, as ossfs and s3fs take them) ask for. */
export interface OwnershipArgs {
  uid?: number;
  gid?: number;
  umask?: number;
}

/** uid, gid, umask: the settings the table lets the mount's -o list give. */
const NAMES = mountOptionNames();

/**
 * The ownership options among `-o` options (they are ours, not libfuse's: its own uid=/gid=/umask=
 * would override every entry, vouched for or not), taken out of the list, over the flags'.
 */
export function takeOwnershipOptions(flags: { uid?: string; gid?: string; umask?: string }, options: string[]): { ownership: OwnershipArgs; rest: string[] } {
  const given: Record<string, string> = {};
  for (const name of NAMES) {
    const flag = flags[name as keyof typeof flags];
    if (flag !== undefined) given[name] = flag;
  }
  const rest: string[] = [];
  for (const option of options) {
    const [name, value] = splitOption(option);
    if (NAMES.includes(name) && value !== undefined) given[name] = value;
    else rest.push(option);
  }
  const ownership: OwnershipArgs = {};
  if (given.uid !== undefined) ownership.uid = parseId('uid', given.uid);
  if (given.gid !== undefined) ownership.gid = parseId('gid', given.gid);
  if (given.umask !== undefined) ownership.umask = parseUmask(given.umask);
  return { ownership, rest };
}

function splitOption(option: string): [string, string | undefined] {
  const eq = option.indexOf('=');
  return eq < 0 ? [option, undefined] : [option.slice(0, eq), option.slice(eq + 1)];
}

/** 0 to 4294967294: (uid_t)-1 means "no change" to chown(2) and is nobody's id. */
function parseId(name: string, value: string): number {
  const id = /^\d{1,10}$/.test(value) ? Number(value) : NaN;
  if (!(id <= 0xfffffffe)) throw new UsageError(`${name}=${value}: a ${name} is a whole number from 0 to 4294967294`);
  return id;
}

function parseUmask(value: string): number {
  if (!/^[0-7]{1,4}$/.test(value)) throw new UsageError(`umask=${value}: a umask is octal, e.g. 022 or 077`);
  return parseInt(value, 8) & 0o777;
}
