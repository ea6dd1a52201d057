import type { CommandModule } from 'yargs';
import { activeMounts } from '../mountRegistry.js';

/** The active mounts of this user, as `mount` lists filesystems: source, mountpoint, and where the bucket is. */
const mounts: CommandModule<object, object> = {
  command: 'mounts',
  describe: 'list the active ossencfs mounts with their endpoint',
  handler: () => {
    for (const m of activeMounts()) process.stdout.write(`${m.source} on ${m.mountpoint} via ${m.endpoint} (pid ${m.pid})\n`);
  },
};

export default mounts;
