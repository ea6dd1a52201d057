import { readFileSync } from 'node:fs';
import type { CommandModule } from 'yargs';

/** The package's version, as `--version` prints it: from the package.json this build ships with. */
export function packageVersion(): string {
  const pkg = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };
  return pkg.version;
}

/** `ossencfs version`, which ossutil and rclone users type before they try `--version`. */
const version: CommandModule<object, object> = {
  command: 'version',
  describe: 'print the version',
  handler: () => {
    process.stdout.write(`ossencfs ${packageVersion()}\n`);
  },
};

export default version;
