import { lstatSync, readlinkSync, renameSync, symlinkSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandModule } from 'yargs';
import { FsError } from '../../errors.js';
import { errnoOf } from '../../fuse/errno.js';

interface InstallHelperArgs {
  dir: string;
}

/** The mount(8) helper of this package, which the link points at. */
const HELPER = fileURLToPath(new URL('../../../bin/mount.ossencfs', import.meta.url));

/** mount(8) runs /sbin/mount.TYPE for a line of type TYPE: `fuse.ossencfs` in fstab. */
const LINK_NAME = 'mount.fuse.ossencfs';

/** What is at the link's path now. */
type Found =
  | { kind: 'nothing' }
  | { kind: 'ours' }
  /** A link to the helper of another copy of ossencfs (another npm prefix, a checkout). */
  | { kind: 'other-copy'; target: string }
  | { kind: 'foreign'; what: string };

const installHelper: CommandModule<object, InstallHelperArgs> = {
  command: 'install-helper',
  describe: `link /sbin/${LINK_NAME} to this package's mount helper, so fstab lines of type fuse.ossencfs mount (as root)`,
  builder: (y) =>
    y
      .option('dir', { type: 'string', default: '/sbin', describe: 'where mount(8) looks for helpers (another directory for a staged package root)' })
      .example('sudo $0 install-helper', `link /sbin/${LINK_NAME} -> ${HELPER}`),
  handler: (argv) => {
    const link = join(argv.dir, LINK_NAME);
    const found = inspect(link);
    switch (found.kind) {
      case 'ours':
        process.stdout.write(`${link} already links to ${HELPER}\n`);
        return;
      case 'foreign':
        throw new FsError('EEXIST', `${link} is ${found.what}, not a link to an ossencfs mount helper: refusing to replace it (remove it first)`);
      case 'nothing':
        createLink(link);
        process.stdout.write(`linked ${link} -> ${HELPER}\n`);
        return;
      case 'other-copy':
        // Replaced in one rename, so mount(8) never finds the link missing.
        createLink(`${link}.${process.pid}`);
        renameSync(`${link}.${process.pid}`, link);
        process.stdout.write(`linked ${link} -> ${HELPER} (was -> ${found.target})\n`);
    }
  },
};

export default installHelper;

function inspect(link: string): Found {
  let stat;
  try {
    stat = lstatSync(link);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return { kind: 'nothing' };
    throw new FsError(errnoOf(err), `cannot inspect ${link}: ${(err as Error).message}`, { cause: err });
  }
  if (!stat.isSymbolicLink()) return { kind: 'foreign', what: stat.isDirectory() ? 'a directory' : stat.isFile() ? 'a file' : 'a special file' };
  const target = readlinkSync(link);
  if (resolve(dirname(link), target) === HELPER) return { kind: 'ours' };
  if (basename(target) === 'mount.ossencfs') return { kind: 'other-copy', target };
  return { kind: 'foreign', what: `a link to ${target}` };
}

function createLink(path: string): void {
  try {
    symlinkSync(HELPER, path);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason = e.code === 'EACCES' || e.code === 'EPERM' ? 'permission denied (run as root)' : e.message;
    throw new FsError(errnoOf(err), `cannot create ${path}: ${reason}`, { cause: err });
  }
}
