import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMounted } from '../../src/fuse/mount.js';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { BIN } from '../support/mounted.js';

function cli(args: string[], env: NodeJS.ProcessEnv): { status: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

describe('mount lifecycle: background start, umount, signals, the embedded default', () => {
  let local: LocalBucket;
  let creds: NodeJS.ProcessEnv;

  beforeAll(async () => {
    local = await startLocalBucket();
    creds = { OSS_ACCESS_KEY_ID: local.credentials.accessKeyId, OSS_ACCESS_KEY_SECRET: local.credentials.accessKeySecret };
  });

  afterAll(async () => {
    await local?.close();
  });

  it('without --foreground it returns once mounted; umount waits for the mount process to exit', () => {
    const mnt = join(local.dir, 'bg');
    const r = cli(['mount', `oss://${local.bucket}`, mnt, '--endpoint', local.server.url, '--rsa-key', local.keyFile, '--cache-dir', join(local.dir, 'bg-cache')], creds);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`mounted oss://${local.bucket} on ${mnt}`);
    expect(isMounted(mnt)).toBe(true);
    writeFileSync(join(mnt, 'kept.txt'), 'survives umount');
    const u = cli(['umount', mnt], {});
    expect(u.status).toBe(0);
    expect(isMounted(mnt)).toBe(false);
  });

  it('in the background, --log-file names where the mount process logs (and says it runs with the tuned allocator)', () => {
    const mnt = join(local.dir, 'bg-log');
    const logFile = join(local.dir, 'bg-log.txt');
    const r = cli(['mount', `oss://${local.bucket}`, mnt, '--endpoint', local.server.url, '--rsa-key', local.keyFile, '--cache-dir', join(local.dir, 'bg-log-cache'), '--log-file', logFile, '--log-level', 'debug'], creds);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(cli(['umount', mnt], {}).status).toBe(0);
    const log = readFileSync(logFile, 'utf8');
    expect(log).toMatch(/mounted/);
    expect(log).toMatch(/allocator: glibc malloc with mmap threshold 32 MiB, trim threshold 16 MiB/);
  });

  it('a mount that cannot start says why in one line and exits non-zero', () => {
    const mnt = join(local.dir, 'bad');
    const wrongPort = cli(['mount', `oss://${local.bucket}`, mnt, '--endpoint', 'http://127.0.0.1:9', '--rsa-key', local.keyFile, '--cache-dir', join(local.dir, 'bad-cache')], creds);
    expect(wrongPort.status).toBe(1);
    expect(wrongPort.stderr).toMatch(/^ossencfs: cannot reach oss:\/\/test-bucket at http:\/\/127\.0\.0\.1:9/);
    expect(isMounted(mnt)).toBe(false);
    const noKey = cli(['mount', `oss://${local.bucket}`, mnt, '--endpoint', local.server.url], creds);
    expect(noKey.status).not.toBe(0);
    expect(noKey.stderr).toMatch(/no key given/);
    // An option that would make libfuse call the mount without a path (it died on the first close).
    const hardRemove = cli(['mount', `oss://${local.bucket}`, mnt, '--endpoint', local.server.url, '--rsa-key', local.keyFile, '--cache-dir', join(local.dir, 'bad-cache'), '-o', 'hard_remove'], creds);
    expect(hardRemove.status).toBe(1);
    expect(hardRemove.stderr).toMatch(/^ossencfs: -o hard_remove is not supported: libfuse would then call the mount without a path/);
    expect(isMounted(mnt)).toBe(false);
  });

  it('SIGTERM in the foreground uploads what is pending, unmounts and exits 0', async () => {
    const mnt = join(local.dir, 'fg');
    const child = spawn(process.execPath, [BIN, 'mount', `oss://${local.bucket}`, mnt, '--foreground', '--endpoint', local.server.url, '--rsa-key', local.keyFile, '--cache-dir', join(local.dir, 'fg-cache')], {
      env: { ...process.env, ...creds },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    while (!out.includes('mounted')) await new Promise((r) => setTimeout(r, 50));
    // A writer that has written but not closed when the signal arrives.
    const writer = spawn('bash', ['-c', `exec 3>${mnt}/pending.txt; printf 'written before SIGTERM' >&3; sleep 30`]);
    const written = (): boolean => existsSync(join(mnt, 'pending.txt')) && statSync(join(mnt, 'pending.txt')).size > 0;
    while (!written()) await new Promise((r) => setTimeout(r, 50));
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    writer.kill();
    expect(isMounted(mnt)).toBe(false);
    const head = await local.store.head('pending.txt');
    expect(head.size).toBe('written before SIGTERM'.length);
  });

  it('the embedded default: a local server, a generated 0600 key, data that survives a remount', () => {
    const home = mkdtempSync(join(tmpdir(), 'ossencfs-home-'));
    const env = { XDG_DATA_HOME: join(home, 'data'), XDG_CACHE_HOME: join(home, 'cache'), OSS_ACCESS_KEY_ID: '', OSS_ACCESS_KEY_SECRET: '' };
    const mnt = join(home, 'vault');
    try {
      const first = cli(['mount', mnt], env);
      expect(first.status).toBe(0);
      expect(first.stdout).toMatch(/embedded default: local OSS server on http:\/\/127\.0\.0\.1:\d+ .*created RSA key/);
      const key = join(home, 'data', 'ossencfs', 'master-key.pem');
      expect(statSync(key).mode & 0o777).toBe(0o600);
      writeFileSync(join(mnt, 'hello.txt'), 'hello, vault');
      expect(cli(['umount', mnt], {}).status).toBe(0);

      const second = cli(['mount', mnt], env);
      expect(second.status).toBe(0);
      expect(second.stdout).not.toMatch(/created/);
      expect(readFileSync(join(mnt, 'hello.txt'), 'utf8')).toBe('hello, vault');
      // What is on disk is ciphertext.
      expect(spawnSync('grep', ['-rl', 'hello, vault', join(home, 'data')]).status).toBe(1);
      expect(cli(['umount', mnt], {}).status).toBe(0);
    } finally {
      if (isMounted(mnt)) spawnSync('fusermount', ['-u', mnt]);
      rmSync(home, { recursive: true, force: true });
    }
  });
});
