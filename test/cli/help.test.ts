import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runCli, type Result } from './harness.js';

/**
 * `ossencfs COMMAND --help` lists the options that command reads and no others. What each command does is stated once below; which options
 * follow from that is stated once per option, so no help text is copied here.
 */
type Does =
  /** Talks to a bucket: endpoint, region, credentials. */
  | 'bucket'
  /** Opens objects (decrypts): the private keys. */
  | 'reads'
  /** Writes objects (encrypts): the key, matdesc and KMS header form new objects get. */
  | 'writes'
  /** Moves many objects or parts at once. */
  | 'parallel'
  /** Uploads files through the resumable put. */
  | 'uploads'
  /** Downloads objects through the resumable get. */
  | 'downloads';

const COMMANDS: Record<string, Does[]> = {
  mount: ['bucket', 'reads', 'writes'],
  umount: [],
  mounts: [],
  server: [],
  keygen: [],
  version: [],
  'install-helper': [],
  ls: ['bucket'],
  stat: ['bucket'],
  rm: ['bucket'],
  uploads: ['bucket'],
  mb: ['bucket'],
  rb: ['bucket'],
  cat: ['bucket', 'reads'],
  get: ['bucket', 'reads', 'parallel', 'downloads'],
  put: ['bucket', 'writes', 'parallel', 'uploads'],
  cp: ['bucket', 'reads', 'writes', 'parallel', 'uploads', 'downloads'],
  verify: ['bucket', 'reads', 'parallel'],
  rekey: ['bucket', 'reads', 'parallel'],
};

/** Each shared option, and what a command must do to read it (any one of). */
const OPTIONS: [option: string, readBy: Does[]][] = [
  ['--endpoint', ['bucket']],
  ['--region', ['bucket']],
  ['--credential-source', ['bucket']],
  ['--profile', ['bucket']],
  ['--rsa-key', ['reads', 'writes']],
  ['--kms-key-id', ['reads', 'writes']],
  ['--decrypt-key', ['reads']],
  ['--rsa-public-key', ['writes']],
  ['--matdesc', ['writes']],
  ['--kms-form', ['writes']],
  ['--jobs', ['parallel']],
];

const home = mkdtempSync(join(tmpdir(), 'ossencfs-help-'));
afterAll(() => rmSync(home, { recursive: true, force: true }));
const env = { PATH: process.env.PATH, HOME: home, XDG_CONFIG_HOME: join(home, 'config'), XDG_CACHE_HOME: join(home, 'cache'), XDG_DATA_HOME: join(home, 'data') };
const run = (args: string[]): Promise<Result> => runCli(args, env, home);

/** The option names a help text lists (`--name`, first on a line or after a short alias), examples aside. */
function listed(help: string): string[] {
  return [...help.split('\nExamples:')[0]!.matchAll(/^\s+(?:-\w, )?(--[a-z][a-z-]*)/gm)].map((m) => m[1]!);
}

describe('each command lists only the options it reads', () => {
  for (const [command, does] of Object.entries(COMMANDS)) {
    it(`${command} --help`, async () => {
      const r = await run([command, '--help']);
      expect(r.code).toBe(0);
      const names = listed(r.stdout);
      expect(names.length).toBeGreaterThan(0);
      // No option twice, as when every command repeated the same group.
      expect(new Set(names).size).toBe(names.length);
      for (const [option, readBy] of OPTIONS) {
        const reads = readBy.some((d) => does.includes(d));
        expect(names.includes(option), `${command} --help ${reads ? 'lacks' : 'lists'} ${option}`).toBe(reads);
      }
      // The resumable put is told of where an upload happens, and only there.
      expect(/interrupted put/.test(r.stdout), `${command} --help about checkpoints`).toBe(does.includes('uploads'));
      expect(/interrupted get/.test(r.stdout), `${command} --help about part files`).toBe(does.includes('downloads'));
    });
  }

  it('a shared option a command does not list is still accepted (one set of flags serves every command), an unknown one is not', async () => {
    const unlisted = await run(['mb', 'oss://some-bucket', '--rsa-key', 'k.pem', '--jobs', '2', '--endpoint', 'http://127.0.0.1:9', '--region', 'cn-hangzhou']);
    expect(unlisted.stderr).not.toMatch(/unknown option/);
    expect(unlisted.code).toBe(1);
    const unknown = await run(['mb', 'oss://some-bucket', '--bogus']);
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toBe('ossencfs: unknown option --bogus (see ossencfs --help)\n');
  });
});
