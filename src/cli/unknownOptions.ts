import yargs, { type CommandModule } from 'yargs';

/**
 * The first option on the command line that neither the command nor the CLI knows, as typed
 * (`--bogus`, `-x`), or undefined. yargs reports a missing positional before an unknown option,
 * and `ls --bogus oss://b` has swallowed its positional as the unknown option's value: the
 * unknown option is the mistake to name.
 */
export function unknownOption(argv: readonly string[], commands: readonly CommandModule<any, any>[], globalNames: readonly string[]): string | undefined {
  const name = argv.find((a) => !a.startsWith('-'));
  const command = commands.find((c) => commandNames(c).includes(name ?? ''));
  const known = new Set([...globalNames, ...(command ? optionNames(command) : [])]);
  for (const arg of argv) {
    if (arg === '--') break;
    const m = /^(--?)([^=]+)/.exec(arg);
    if (!m || /^-\d/.test(arg)) continue;
    const long = m[1] === '--';
    // `-abc` is three short flags; `--no-x` negates a boolean `x`; `--logLevel` is `--log-level`.
    const kebab = m[2]!.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
    const names = long ? [kebab, kebab.replace(/^no-/, '')] : [...m[2]!];
    if (long ? !names.some((n) => known.has(n)) : names.some((n) => !known.has(n))) return arg.split('=')[0];
  }
  return undefined;
}

function commandNames(c: CommandModule<any, any>): string[] {
  const first = [c.command].flat()[0] ?? '';
  return [first.split(' ')[0]!, ...[c.aliases ?? []].flat()];
}

/** Every option name and alias the command's builder declares. */
function optionNames(c: CommandModule<any, any>): string[] {
  const y = yargs([]);
  if (typeof c.builder === 'function') c.builder(y as never);
  else if (c.builder) y.options(c.builder);
  const { key, alias } = (y as unknown as { getOptions(): { key: Record<string, unknown>; alias: Record<string, string[]> } }).getOptions();
  return [...Object.keys(key), ...Object.values(alias).flat()];
}
