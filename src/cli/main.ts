import yargs, { type Argv, type CommandModule } from 'yargs';
import { FsError } from '../errors.js';
import { tuneAllocator } from '../util/allocator.js';
import { UsageError } from './options.js';
import mountCommand from './commands/mount.js';
import serverCommand from './commands/server.js';
import umountCommand from './commands/umount.js';
import keygenCommand from './commands/keygen.js';
import lsCommand from './commands/ls.js';
import catCommand from './commands/cat.js';
import getCommand from './commands/get.js';
import putCommand from './commands/put.js';
import cpCommand from './commands/cp.js';
import rmCommand from './commands/rm.js';
import statCommand from './commands/stat.js';
import verifyCommand from './commands/verify.js';
import rekeyCommand from './commands/rekey.js';
import uploadsCommand from './commands/uploads.js';
import installHelperCommand from './commands/installHelper.js';

/** Every subcommand; each file in ./commands exports one yargs CommandModule as default. */
const commands: CommandModule<CliContext, any>[] = [mountCommand, umountCommand, serverCommand, keygenCommand, lsCommand, catCommand, getCommand, putCommand, cpCommand, rmCommand, statCommand, verifyCommand, rekeyCommand, uploadsCommand, installHelperCommand];

/** What every command's handler finds in its arguments besides its options (yargs' parse context). */
export interface CliContext {
  /** The arguments main() was given: the mount command runs them again in the background. */
  cliArgs: readonly string[];
}

/** Exit codes: 0 success, 1 the operation failed, 2 the command line was wrong. */
export async function main(argv: string[]): Promise<void> {
  // Before any command moves data: every one of them streams through buffers (util/allocator.ts).
  tuneAllocator();
  // parseAsync below hands every handler the context: typed here, as yargs' types cannot follow it.
  const parser = (yargs(argv) as Argv<CliContext>)
    .scriptName('ossencfs')
    .command(commands)
    .demandCommand(1, 'name a command; see ossencfs --help')
    .strict()
    .recommendCommands()
    .completion('completion', 'print a shell completion script (bash/zsh)')
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) throw err;
      process.stderr.write(`ossencfs: ${msg}\n(see ossencfs --help)\n`);
      process.exit(2);
    });
  try {
    const context: CliContext = { cliArgs: argv };
    await parser.parseAsync(argv, context);
  } catch (err) {
    // A mistake on the command line found by a handler is reported like yargs' own: exit 2.
    const usage = err instanceof UsageError;
    process.stderr.write(`ossencfs: ${describe(err)}\n${usage ? '(see ossencfs --help)\n' : ''}`);
    process.exitCode = usage ? 2 : 1;
  }
}

/** One line, no stack: the message users act on. */
function describe(err: unknown): string {
  if (err instanceof FsError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
