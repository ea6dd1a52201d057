import yargs, { type Argv, type CommandModule } from 'yargs';
import { FsError } from '../errors.js';
import { tuneAllocator } from '../util/allocator.js';
import { hardenProcess } from '../util/hardening.js';
import { printable } from '../util/printable.js';
import { UsageError } from './options.js';
import { endStatus } from './progress.js';
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
import versionCommand from './commands/version.js';
import mountsCommand from './commands/mounts.js';
import mbCommand from './commands/mb.js';
import rbCommand from './commands/rb.js';
import { unknownOption } from './unknownOptions.js';

/** Every subcommand; each file in ./commands exports one yargs CommandModule as default. */
const commands: CommandModule<CliContext, any>[] = [mountCommand, umountCommand, serverCommand, keygenCommand, lsCommand, catCommand, getCommand, putCommand, cpCommand, rmCommand, statCommand, verifyCommand, rekeyCommand, uploadsCommand, installHelperCommand, versionCommand, mountsCommand, mbCommand, rbCommand];

/** What every command's handler finds in its arguments besides its options (yargs' parse context). */
export interface CliContext {
  /** The arguments main() was given: the mount command runs them again in the background. */
  cliArgs: readonly string[];
}

/** The options of the CLI itself, valid with every command. */
const GLOBAL_OPTIONS = ['help', 'h', 'version', 'get-yargs-completions'];

/** Ends a usage error's line: every mistake is one line. */
const USAGE_HINT = '(see ossencfs --help)';

/** Exit codes: 0 success, 1 the operation failed, 2 the command line was wrong. */
export async function main(argv: string[]): Promise<void> {
  // Before any command moves data: every one of them streams through buffers (util/allocator.ts).
  tuneAllocator();
  // Before any command reads a key, a secret or plaintext (util/hardening.ts).
  hardenProcess();
  // parseAsync below hands every handler the context: typed here, as yargs' types cannot follow it.
  const parser = (yargs(argv) as Argv<CliContext>)
    .scriptName('ossencfs')
    .command(commands)
    .demandCommand(1, 'name a command')
    .strict()
    .recommendCommands()
    .completion('completion', 'print a shell completion script (bash/zsh)')
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(100, process.stdout.columns || 100))
    .fail((msg, err) => {
      if (err) throw err;
      const unknown = unknownOption(argv, commands, GLOBAL_OPTIONS);
      process.stderr.write(`ossencfs: ${unknown ? `unknown option ${unknown}` : msg} ${USAGE_HINT}\n`);
      process.exit(2);
    });
  try {
    const context: CliContext = { cliArgs: argv };
    await parser.parseAsync(argv, context);
  } catch (err) {
    // A mistake on the command line found by a handler is reported like yargs' own: exit 2.
    const usage = err instanceof UsageError;
    endStatus();
    process.stderr.write(`ossencfs: ${printable(describe(err))}${usage ? ` ${USAGE_HINT}` : ''}\n`);
    process.exitCode = usage ? 2 : 1;
  }
}

/** One line, no stack: the message users act on. */
function describe(err: unknown): string {
  if (err instanceof FsError) return err.message;
  if (err instanceof Error) return err.message;
  return String(err);
}
