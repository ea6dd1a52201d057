import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { resolveSettings } from '../../src/cli/options.js';
import { translateMountArgs } from '../../src/cli/fstab.js';
import { describeSetting, defaultOf, SETTINGS, type SettingName, type SettingSpec } from '../../src/cli/settings.js';
import { parseSize } from '../../src/util/size.js';
import { runCli, type Result } from './harness.js';

/**
 * The settings table (src/cli/settings.ts) is the single source of every setting: what `mount
 * --help` lists, which keys a config profile takes, which fstab options become flags, what
 * resolveSettings returns, and what README's options table, environment list and fstab options say.
 */

const table = Object.entries(SETTINGS) as [SettingName, SettingSpec][];
const README = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

const home = mkdtempSync(join(tmpdir(), 'ossencfs-table-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));
const env = { PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: join(home, 'config'), XDG_CACHE_HOME: join(home, 'cache'), XDG_DATA_HOME: join(home, 'data') };
const run = (args: string[], more: Record<string, string> = {}): Promise<Result> => runCli(args, { ...env, ...more }, home);

/** The option names a help text lists (`--name`, first on a line or after a short alias), examples aside. */
const listed = (help: string): string[] => [...help.split('\nExamples:')[0]!.matchAll(/^\s+(?:-\w, )?(--?[a-z][a-z-]*)/gm)].map((m) => m[1]!);
const dashed = (flag: string): string => (flag.length === 1 ? `-${flag}` : `--${flag}`);
const collapse = (text: string): string => text.replace(/\s+/g, ' ');

/** A valid TOML value for a setting of this kind, and what resolveSettings makes of it. */
function sample(name: SettingName, s: SettingSpec, dir: string): { toml: string; resolved: unknown } {
  if (s.choices) return { toml: JSON.stringify(s.choices[s.choices.length - 1]), resolved: s.choices[s.choices.length - 1] };
  switch (s.kind) {
    case 'path':
      return { toml: `"rel/${name}"`, resolved: join(dir, 'rel', name) };
    case 'size':
      return { toml: '"3M"', resolved: 3 * 2 ** 20 };
    case 'seconds':
      return { toml: '7', resolved: 7 };
    case 'matdesc':
      return { toml: '{ key = "v9" }', resolved: { key: 'v9' } };
    case 'keys':
      return { toml: '["old.pem"]', resolved: [{ file: join(dir, 'old.pem') }] };
    default:
      return name === 'location' ? { toml: '"oss://vault/records"', resolved: { bucket: 'vault', prefix: 'records' } } : { toml: `"value-${name}"`, resolved: `value-${name}` };
  }
}

describe('the settings table is the one source', () => {
  it('mount --help lists every flag of the table the mount reads, each with its env, config key and default as the table says', async () => {
    const r = await run(['mount', '--help']);
    expect(r.code).toBe(0);
    const names = listed(r.stdout);
    const help = collapse(r.stdout);
    for (const [, s] of table) {
      if (s.flag === undefined) continue;
      const shown = names.includes(dashed(s.flag));
      // The mount's own settings and those of every bucket command are always listed.
      if (s.readBy === 'mount' || s.readBy === 'bucket') expect(shown, `mount --help lacks ${dashed(s.flag)}`).toBe(true);
      if (shown) expect(help, `${dashed(s.flag)}'s help line`).toContain(collapse(describeSetting(s)));
    }
    // And nothing the table does not hold, but yargs' own --help and --version.
    const flags = new Set(table.flatMap(([, s]) => (s.flag ? [dashed(s.flag)] : [])));
    expect(names.filter((n) => !flags.has(n))).toEqual(['--version', '--help']);
  });

  it('every config key of the table reaches resolveSettings, and only those keys are accepted', () => {
    const dir = mkdtempSync(join(home, 'cfg-'));
    const lines = ['[profiles.all]'];
    const expected: Partial<Record<string, unknown>> = {};
    for (const [name, s] of table) {
      if (s.configKey === undefined) continue;
      const { toml, resolved } = sample(name, s, dir);
      lines.push(`${s.configKey} = ${toml}`);
      expected[name] = resolved;
    }
    const path = join(dir, 'config.toml');
    writeFileSync(path, `${lines.join('\n')}\n`);
    chmodSync(path, 0o600);
    const got = resolveSettings({ config: path, profile: 'all', 'insecure-key-perms': true }, {}) as unknown as Record<string, unknown>;
    const { accessKeyId, accessKeySecret, securityToken, ...rest } = expected;
    expect(got.credentials).toEqual({ accessKeyId, accessKeySecret, securityToken });
    for (const [name, value] of Object.entries(rest)) expect(got[name], name).toEqual(value);

    writeFileSync(path, '[profiles.all]\ncache_sise = "1G"\n');
    expect(() => resolveSettings({ config: path, profile: 'all' }, {})).toThrow(`config ${path} [profiles.all] cache_sise: unknown setting`);
  });

  it('an unknown config key is refused by the CLI with one line and exit 1', async () => {
    const path = join(home, 'bad.toml');
    writeFileSync(path, 'default_profile = "p"\n[profiles.p]\nattr_tll = 5\n');
    const r = await run(['ls', 'oss://vault'], { OSSENCFS_CONFIG: path });
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ossencfs: config ${path} [profiles.p] attr_tll: unknown setting\n`);
  });

  it('flag > env > profile > default, for the settings the table gives a default', () => {
    const path = join(home, 'order.toml');
    writeFileSync(path, '[profiles.p]\ncache_size = "64M"\nattr_ttl = 3\nendpoint = "https://profile.example"\n');
    const none = { XDG_CONFIG_HOME: '/nonexistent' };
    const d = resolveSettings({}, none);
    expect([d.cacheSize, d.attrTtl, d.writeBack, d.logLevel, d.xattrs]).toEqual([256 * 2 ** 20, SETTINGS.attrTtl.default, SETTINGS.writeBack.default, SETTINGS.logLevel.default, true]);
    const p = resolveSettings({}, { OSSENCFS_CONFIG: path, OSSENCFS_PROFILE: 'p' });
    expect([p.cacheSize, p.attrTtl, p.endpoint]).toEqual([64 * 2 ** 20, 3, 'https://profile.example']);
    const e = resolveSettings({}, { OSSENCFS_CONFIG: path, OSSENCFS_PROFILE: 'p', OSS_ENDPOINT: 'https://env.example' });
    expect(e.endpoint).toBe('https://env.example');
    const f = resolveSettings({ 'cache-size': '1G', 'attr-ttl': 0, endpoint: 'https://flag.example' }, { OSSENCFS_CONFIG: path, OSSENCFS_PROFILE: 'p', OSS_ENDPOINT: 'https://env.example' });
    expect([f.cacheSize, f.attrTtl, f.endpoint]).toEqual([2 ** 30, 0, 'https://flag.example']);
    expect(d.partSize).toBe(8 * 2 ** 20);
    // Where the help states a size default in words, it is the value used.
    for (const [name, s] of table) if (s.kind === 'size' && s.defaultText !== undefined) expect(parseSize(s.defaultText), name).toBe(s.default);
    expect(() => resolveSettings({ 'cache-size': 'lots' }, none)).toThrow('--cache-size: "lots" is not a size');
    expect(() => resolveSettings({ 'attr-ttl': -1 }, none)).toThrow('--attr-ttl -1: must be a number of seconds ≥ 0');
  });

  it('every fstab option of the table becomes its flag', () => {
    for (const [, s] of table) {
      if (s.fstab === undefined) continue;
      const option = s.kind === 'boolean' ? s.fstab : `${s.fstab}=x`;
      const { args } = translateMountArgs(['oss://vault', '/mnt', '-o', option]);
      expect(args.slice(3), s.fstab).toEqual(s.kind === 'boolean' ? [`--${s.flag}`] : [`--${s.flag}`, 'x']);
    }
  });
});

describe("README's options agree with the table", () => {
  const section = (from: string): string => README.slice(README.indexOf(from)).split('\n\n')[0]!;

  it("the Mount options table names exactly the flags mount --help lists, with the table's defaults", async () => {
    const rows = section('### Mount options').split('\n').filter((l) => l.startsWith('| `'));
    const inReadme = new Set(rows.flatMap((row) => [...row.matchAll(/(?<![\w-])(--[a-z][a-z-]*)/g)].map((m) => m[1]!.replace(/^--no-/, '--'))));
    const help = await run(['mount', '--help']);
    const inHelp = new Set(listed(help.stdout).filter((n) => n.startsWith('--') && n !== '--help' && n !== '--version'));
    expect([...inReadme].sort()).toEqual([...inHelp].sort());
    for (const row of rows) {
      // A row is about the flag it starts with; the -o rows are libfuse's.
      const flag = /^\| `--(?:no-)?([a-z][a-z-]*)/.exec(row)?.[1];
      if (flag === undefined) continue;
      const s = table.find(([, spec]) => spec.flag === flag)![1];
      const stated = /\(default ([^:;,)]+)/.exec(row.replaceAll('`', ''));
      if (stated) expect(stated[1], `README's default of --${flag}`).toBe(defaultOf(s)!.split(/[,;:]/)[0]);
    }
  });

  it('the environment list and the profile keys are the table’s', () => {
    const envList = /Environment:\n?([^.]*)\./.exec(README)![1]!;
    const envs = [...envList.matchAll(/`([A-Z_]+)`/g)].map((m) => m[1]!);
    expect(envs.sort()).toEqual(table.flatMap(([, s]) => (s.env ? [s.env] : [])).sort());
    const keys = [...section('A profile takes these keys:').matchAll(/`([a-z_]+)`/g)].map((m) => m[1]!);
    expect(keys.sort()).toEqual(table.flatMap(([, s]) => (s.configKey ? [s.configKey] : [])).sort());
  });

  it("the fstab options a line takes are the table's, plus libfuse's suid and dev", () => {
    const text = section('Options of a line:').split('are for mount(8)')[0]!;
    const options = [...text.matchAll(/`([a-z_]+)=?`/g)].map((m) => m[1]!);
    const fromTable = table.flatMap(([, s]) => [s.fstab, s.mountOption].filter((o): o is string => o !== undefined));
    expect(options.filter((o) => !['_netdev', 'nofail', 'noauto', 'comment'].includes(o)).sort()).toEqual([...fromTable, 'suid', 'dev'].sort());
  });
});
