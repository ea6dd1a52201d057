import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN, type Result, runCli } from '../cli/harness.js';

/**
 * The CLI on the embedded default's data, with no endpoint, credentials or key given: through the
 * running mount's server, or through `ossencfs server` over the same data. And `ossencfs server`'s
 * access key: from the environment, else a file it makes, never a flag and never its secret printed.
 */
const dir = mkdtempSync(join(tmpdir(), 'ossencfs-embedded-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** No OSS_* and no region: nothing names a bucket but the embedded default. */
const env = {
  PATH: process.env.PATH ?? '',
  HOME: join(dir, 'home'),
  XDG_CACHE_HOME: join(dir, 'cache'),
  XDG_DATA_HOME: join(dir, 'data'),
  XDG_RUNTIME_DIR: join(dir, 'run'),
  XDG_CONFIG_HOME: join(dir, 'config'),
};
const dataDir = join(dir, 'data', 'ossencfs');
const ossencfs = (args: string[], extra: Record<string, string> = {}): Promise<Result> => runCli(args, { ...env, ...extra }, dir);

/** `ossencfs server ARGS` until its `listening on` line: its stdout so far, and a stop. */
async function server(args: string[], extra: Record<string, string> = {}): Promise<{ stdout: string; url: string; stop(): Promise<void> }> {
  const child: ChildProcess = spawn(process.execPath, [BIN, 'server', ...args], { env: { ...env, ...extra }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const url = await new Promise<string>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => {
      stdout += d.toString();
      const m = /^listening on (\S+)$/m.exec(stdout);
      if (m) resolve(m[1]!);
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${stdout}${stderr}`)));
  });
  return {
    stdout,
    url,
    stop: async () => {
      child.kill('SIGTERM');
      await exited;
    },
  };
}

describe('the CLI on the embedded default', () => {
  it('while it is mounted, ls, cat and put reach oss://vault with nothing given; once unmounted, one line says how', async () => {
    const mnt = join(dir, 'vault');
    const mounted = await ossencfs(['mount', mnt]);
    expect(mounted.code).toBe(0);
    expect(mounted.stdout).toMatch(/ossencfs ls oss:\/\/vault/);
    try {
      writeFileSync(join(mnt, 'note.txt'), 'written through the mount\n');
      // Other clients see a new file once its write-back wait is over.
      let ls = await ossencfs(['ls', '-l', 'oss://vault']);
      for (const deadline = Date.now() + 15_000; !ls.stdout.includes('note.txt') && Date.now() < deadline; ) {
        await new Promise((r) => setTimeout(r, 200));
        ls = await ossencfs(['ls', '-l', 'oss://vault']);
      }
      expect(ls.stderr).toBe('');
      expect(ls.stdout).toMatch(/^\s+26\s+\S+\s+note\.txt$/m);
      const cat = await ossencfs(['cat', 'oss://vault/note.txt']);
      expect(cat.stdout).toBe('written through the mount\n');
      const local = join(dir, 'from-cli.txt');
      writeFileSync(local, 'put by the CLI\n');
      expect((await ossencfs(['put', '-q', local, 'oss://vault/'])).code).toBe(0);
      expect(readFileSync(join(mnt, 'from-cli.txt'), 'utf8')).toBe('put by the CLI\n');
      // Keys for another endpoint do not get in the way: they would not open this server.
      const withOtherKeys = await ossencfs(['ls', 'oss://vault'], { OSS_ACCESS_KEY_ID: 'someone', OSS_ACCESS_KEY_SECRET: 'else' });
      expect(withOtherKeys.stdout.split('\n').sort()).toEqual(['', 'from-cli.txt', 'note.txt']);
      // An endpoint named wins: the fallback is only for when none is.
      const named = await ossencfs(['ls', 'oss://vault', '--endpoint', 'http://127.0.0.1:9', '--region', 'cn-hangzhou'], { OSS_ACCESS_KEY_ID: 'a', OSS_ACCESS_KEY_SECRET: 'b' });
      expect(named.code).toBe(1);
    } finally {
      expect((await ossencfs(['umount', mnt])).code).toBe(0);
    }
    const after = await ossencfs(['ls', 'oss://vault']);
    expect(after.code).toBe(2);
    expect(after.stderr).toMatch(/^ossencfs: no OSS endpoint — .*embedded default answers without one while it is mounted.*\n$/);
  }, 180_000);

  it('`ossencfs server` with no --dir serves the embedded data, to the CLI too, with the access key of its file', async () => {
    const s = await server([]);
    try {
      const file = join(dataDir, 'server-credentials.json');
      const { accessKeyId, accessKeySecret } = JSON.parse(readFileSync(file, 'utf8')) as { accessKeyId: string; accessKeySecret: string };
      expect(s.stdout).toContain(`access key ${accessKeyId}: ${file} (mode 600) holds it and its secret`);
      expect(s.stdout).not.toContain(accessKeySecret);
      const cat = await ossencfs(['cat', 'oss://vault/note.txt']);
      expect(cat.stdout).toBe('written through the mount\n');
      // The data directory is held: a mount of the embedded default is refused while the server runs.
      const mount = await ossencfs(['mount', join(dir, 'second')]);
      expect(mount.code).toBe(1);
      expect(mount.stderr).toMatch(/served by ossencfs server \(process \d+\): stop it first/);
    } finally {
      await s.stop();
    }
    expect(existsSync(join(dataDir, 'server.json'))).toBe(false);
  }, 120_000);
});

describe('ossencfs server --dir: its access key', () => {
  it('without OSS_ACCESS_KEY_*: made once in DIR (mode 600), its id printed, its secret not, and it opens the server', async () => {
    const data = join(dir, 'scratch');
    const first = await server(['--dir', data]);
    const file = join(data, 'server-credentials.json');
    let keys: { accessKeyId: string; accessKeySecret: string };
    try {
      expect(statSync(file).mode & 0o777).toBe(0o600);
      keys = JSON.parse(readFileSync(file, 'utf8')) as typeof keys;
      expect(first.stdout).toContain(`access key ${keys.accessKeyId}: created ${file}`);
      expect(first.stdout).not.toContain(keys.accessKeySecret);
      const creds = { OSS_ACCESS_KEY_ID: keys.accessKeyId, OSS_ACCESS_KEY_SECRET: keys.accessKeySecret, OSS_REGION: 'cn-hangzhou' };
      expect((await ossencfs(['mb', 'oss://scratch', '--endpoint', first.url], creds)).code).toBe(0);
      expect((await ossencfs(['ls', 'oss://'], { ...creds, OSS_ENDPOINT: first.url })).stdout).toBe('oss://scratch\n');
    } finally {
      await first.stop();
    }
    // The next start takes the same key.
    const again = await server(['--dir', data]);
    await again.stop();
    expect(again.stdout).toContain(`access key ${keys.accessKeyId}: ${file}`);
  }, 120_000);

  it('with OSS_ACCESS_KEY_*: those, and no file', async () => {
    const data = join(dir, 'from-env');
    mkdirSync(data);
    const s = await server(['--dir', data], { OSS_ACCESS_KEY_ID: 'ENVKEY', OSS_ACCESS_KEY_SECRET: 'env-secret' });
    try {
      expect(existsSync(join(data, 'server-credentials.json'))).toBe(false);
      expect(s.stdout).not.toMatch(/access key/);
      const creds = { OSS_ACCESS_KEY_ID: 'ENVKEY', OSS_ACCESS_KEY_SECRET: 'env-secret', OSS_REGION: 'cn-hangzhou' };
      expect((await ossencfs(['mb', 'oss://from-env', '--endpoint', s.url], creds)).code).toBe(0);
    } finally {
      await s.stop();
    }
  });

  it('takes no access key as a flag', async () => {
    const r = await ossencfs(['server', '--dir', join(dir, 'flags'), '--access-key-id', 'X', '--access-key-secret', 'Y']);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('ossencfs: unknown option --access-key-id (see ossencfs --help)\n');
  });
});
