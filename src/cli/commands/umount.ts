import { spawnSync } from 'node:child_process';
import { resolve } from 'node:path';
import type { CommandModule } from 'yargs';
import { FsError } from '../../errors.js';
import { mountProcess } from '../mountRegistry.js';

interface UmountArgs {
  mountpoint: string;
  timeout: number;
}

/**
 * Unmounts like `fusermount -u` (refused while files are open there: their uploads happen at
 * close), then waits for the mount process to finish and exit, so a script can rely on it.
 */
const umount: CommandModule<object, UmountArgs> = {
  command: 'umount <mountpoint>',
  describe: 'unmount an ossencfs mount once its pending uploads are done',
  builder: (y) =>
    y
      .positional('mountpoint', { type: 'string', demandOption: true, describe: 'where it is mounted' })
      .option('timeout', { type: 'number', default: 120, describe: 'seconds to wait for the mount process to exit' })
      .example('$0 umount ~/vault', 'unmount ~/vault'),
  handler: async (argv) => {
    const mountpoint = resolve(argv.mountpoint);
    const pid = mountProcess(mountpoint);
    const result = spawnSync('fusermount', ['-u', mountpoint], { encoding: 'utf8' });
    if (result.status !== 0) {
      const reason = (result.stderr || result.error?.message || 'fusermount failed').trim().replace(/^fusermount: /, '');
      if (/resource busy/i.test(reason)) {
        throw new FsError('EBUSY', `cannot unmount ${mountpoint}: it is in use (a file open or a working directory there); fuser -vm ${mountpoint} shows by whom`);
      }
      throw new FsError('EBUSY', `cannot unmount ${mountpoint}: ${reason.replace(/^failed to unmount [^:]*: /, '')}`);
    }
    if (pid === undefined) return;
    const deadline = Date.now() + argv.timeout * 1000;
    while (mountProcess(mountpoint) !== undefined) {
      if (Date.now() > deadline) throw new FsError('ETIMEDOUT', `unmounted ${mountpoint}, but its process ${pid} has not exited after ${argv.timeout}s`);
      await new Promise((r) => setTimeout(r, 100));
    }
  },
};

export default umount;
