import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { type Result, runCli } from './harness.js';

/** Commands that need no server. */
const dir = mkdtempSync(join(tmpdir(), 'ossencfs-cli-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const env = { PATH: process.env.PATH ?? '', HOME: dir, XDG_CONFIG_HOME: join(dir, 'config') };
const run = (args: string[], extraEnv: Record<string, string> = {}): Promise<Result> => runCli(args, { ...env, ...extraEnv }, dir);

describe('keygen', () => {
  it('writes a 0600 private key and a 0644 .pub, and refuses to overwrite either', async () => {
    const r = await run(['keygen', '--out', 'master.pem', '--bits', '2048']);
    expect(r.code).toBe(0);
    expect(statSync(join(dir, 'master.pem')).mode & 0o777).toBe(0o600);
    expect(statSync(join(dir, 'master.pem.pub')).mode & 0o777).toBe(0o644);
    expect(readFileSync(join(dir, 'master.pem'), 'utf8')).toMatch(/^-----BEGIN PRIVATE KEY-----/);
    expect(readFileSync(join(dir, 'master.pem.pub'), 'utf8')).toMatch(/^-----BEGIN PUBLIC KEY-----/);
    expect(r.stdout).not.toContain('PRIVATE KEY');
    const before = readFileSync(join(dir, 'master.pem'));
    const again = await run(['keygen', '--out', 'master.pem', '--bits', '2048']);
    expect(again.code).toBe(2);
    expect(again.stderr).toMatch(/master\.pem already exists/);
    expect(readFileSync(join(dir, 'master.pem')).equals(before)).toBe(true);
    writeFileSync(join(dir, 'other.pem.pub'), 'x');
    expect((await run(['keygen', '--out', 'other.pem', '--bits', '2048'])).code).toBe(2);
  });

  it('writes PKCS#1 on request and encrypts with a passphrase', async () => {
    writeFileSync(join(dir, 'pass'), 'correct horse\n');
    const r = await run(['keygen', '--out', 'p1.pem', '--bits', '2048', '--format', 'pkcs1', '--key-passphrase-file', 'pass']);
    expect(r.code).toBe(0);
    expect(readFileSync(join(dir, 'p1.pem'), 'utf8')).toMatch(/BEGIN RSA PRIVATE KEY[\s\S]*ENCRYPTED/);
  });
});

describe('completion', () => {
  it('prints a bash completion script, and the completions it asks for list the commands', async () => {
    const script = await run(['completion']);
    expect(script.code).toBe(0);
    expect(script.stdout).toContain('complete -o bashdefault -o default -F _ossencfs_yargs_completions ossencfs');
    const words = (await run(['--get-yargs-completions', 'ossencfs', ''])).stdout.split('\n');
    for (const c of ['keygen', 'ls', 'cat', 'get', 'put', 'cp', 'rm', 'stat', 'verify', 'rekey', 'uploads']) expect(words).toContain(c);
    const putOptions = (await run(['--get-yargs-completions', 'ossencfs', 'put', '--'])).stdout;
    expect(putOptions).toContain('--part-size');
  });
});

describe('mount.ossencfs helper', () => {
  const helper = fileURLToPath(new URL('../../bin/mount.ossencfs', import.meta.url));
  const runHelper = (args: string[]): Promise<Result> =>
    new Promise((resolve) => {
      const child = spawn(helper, args, { env });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
      child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
      child.on('close', (code) => resolve({ code, stdout, stderr }));
    });

  it('is executable and, with -f, shows the ossencfs command it would run', async () => {
    expect(statSync(helper).mode & 0o111).not.toBe(0);
    const r = await runHelper(['oss://vault/records', '/mnt/vault', '-f', '-o', '_netdev,profile=prod,allow_other,ro']);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('ossencfs mount oss://vault/records /mnt/vault --profile prod --allow-other --read-only\n');
  });

  it('exits 2 on a bad invocation', async () => {
    const r = await runHelper(['oss://vault']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/usage: mount\.ossencfs/);
  });
});
