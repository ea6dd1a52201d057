#!/usr/bin/env node
// The Node half of bin/mount.ossencfs (a shell shim, because Node will not load an ES module
// from a file without an extension): translates `SOURCE MOUNTPOINT -o OPTS` (src/cli/fstab.ts)
// into `ossencfs mount …` and runs it in this process, which starts the mount itself from bin/ossencfs.js.
import { main } from '../dist/cli/main.js';
import { MountArgsError, translateMountArgs } from '../dist/cli/fstab.js';

let invocation;
try {
  invocation = translateMountArgs(process.argv.slice(2));
} catch (err) {
  if (!(err instanceof MountArgsError)) throw err;
  process.stderr.write(`mount.ossencfs: ${err.message}\nusage: mount.ossencfs oss://BUCKET[/PREFIX] MOUNTPOINT [-o OPTIONS]\n`);
  process.exit(2);
}
if (invocation.verbose || invocation.fake) process.stderr.write(`ossencfs ${invocation.args.join(' ')}\n`);
if (!invocation.fake) await main(invocation.args);
