import { spawn } from 'node:child_process';
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMounted } from '../../src/fuse/mount.js';
import { type Result, runCli, writeKey } from '../cli/harness.js';
import { type LocalBucket, LOCAL_REGION, startLocalBucket } from '../support/localBucket.js';

/** A newcomer's mistakes with `mount` (issue #31): one line each, and nothing left behind. */
let local: LocalBucket;
beforeAll(async () => {
  local = await startLocalBucket();
});
afterAll(async () => {
  await local?.close();
});

const lines = (r: Result): string[] => r.stderr.split('\n').filter((l) => l !== '');

/** `ossencfs ARGS` against the local bucket, in the background unless ARGS say --foreground. */
function ossencfs(args: string[], extraEnv: Record<string, string> = {}): Promise<Result> {
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: join(local.dir, 'home'),
    XDG_CACHE_HOME: join(local.dir, 'cache'),
    XDG_DATA_HOME: join(local.dir, 'data'),
    // The mount registry of these tests alone: `mounts` lists only theirs.
    XDG_RUNTIME_DIR: join(local.dir, 'run'),
    OSS_ACCESS_KEY_ID: local.credentials.accessKeyId,
    OSS_ACCESS_KEY_SECRET: local.credentials.accessKeySecret,
    OSS_REGION: LOCAL_REGION,
    ...extraEnv,
  };
  return runCli(args, env, local.dir);
}

const bucketArgs = (): string[] => ['--endpoint', local.server.url, '--rsa-key', local.keyFile];

describe('mount failures leave nothing behind', () => {
  it('-o with an option libfuse refuses: one line naming it, and no dead mount', async () => {
    const mnt = join(local.dir, 'bogus');
    mkdirSync(mnt);
    for (const mode of [[], ['--foreground']]) {
      const r = await ossencfs(['mount', `oss://${local.bucket}`, mnt, ...bucketArgs(), '-o', 'bogusopt', ...mode]);
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/cannot mount on .*bogus: fuse failed/);
      expect(isMounted(mnt)).toBe(false);
      // A dead mount would fail this with ENOTCONN.
      expect(readdirSync(mnt)).toEqual([]);
    }
    const background = await ossencfs(['mount', `oss://${local.bucket}`, mnt, ...bucketArgs(), '-o', 'bogusopt']);
    expect(lines(background)).toEqual([`ossencfs: cannot mount on ${mnt}: fuse failed (libfuse: unknown option \`bogusopt')`]);
  });

  it('a mountpoint no directory can be made at (/proc/foo) fails with one line, and the process exits', async () => {
    for (const mode of [[], ['--foreground']]) {
      const r = await ossencfs(['mount', `oss://${local.bucket}`, '/proc/ossencfs-newcomer', ...bucketArgs(), ...mode]);
      expect(r.code).toBe(1);
      expect(lines(r)).toEqual(['ossencfs: cannot mount on /proc/ossencfs-newcomer: cannot create /proc/ossencfs-newcomer: ENOENT']);
    }
  });
});

describe('mount refuses what cannot work', () => {
  it('a wrong secret says access denied, not "cannot reach"', async () => {
    const mnt = join(local.dir, 'denied');
    const r = await ossencfs(['mount', `oss://${local.bucket}`, mnt, ...bucketArgs()], { OSS_ACCESS_KEY_SECRET: 'not-the-secret' });
    expect(r.code).toBe(1);
    expect(lines(r)).toHaveLength(1);
    expect(r.stderr).toMatch(/^ossencfs: access denied to oss:\/\/test-bucket at http:\/\/127\.0\.0\.1:\d+: check OSS_ACCESS_KEY_ID/);
    expect(r.stderr).not.toMatch(/cannot reach/);
  });

  it('a key that cannot open the objects already there is refused unless --skip-key-check says so', async () => {
    const file = join(local.dir, 'plain.txt');
    writeFileSync(file, 'written under the first key\n');
    const put = await ossencfs(['put', file, `oss://${local.bucket}/keyed/f.txt`, ...bucketArgs()]);
    expect(put.code).toBe(0);
    const otherKey = writeKey(join(local.dir, 'other.pem'));
    const source = `oss://${local.bucket}/keyed`;
    const mnt = join(local.dir, 'keyed');

    const refused = await ossencfs(['mount', source, mnt, '--endpoint', local.server.url, '--rsa-key', otherKey]);
    expect(refused.code).toBe(1);
    expect(lines(refused)).toEqual([
      `ossencfs: this key does not open oss://${local.bucket}/keyed/f.txt; pass the key that wrote it or --decrypt-key (--skip-key-check mounts anyway, and new files then use a key the old ones do not)`,
    ]);
    expect(isMounted(mnt)).toBe(false);

    // The old key as a reader beside a new writer opens it: that is how a bucket moves to a new key.
    const withReader = await ossencfs(['mount', source, mnt, '--endpoint', local.server.url, '--rsa-key', otherKey, '--decrypt-key', local.keyFile]);
    expect(withReader.code).toBe(0);
    expect(readFileSync(join(mnt, 'f.txt'), 'utf8')).toBe('written under the first key\n');
    expect((await ossencfs(['umount', mnt])).code).toBe(0);

    const forced = await ossencfs(['mount', source, mnt, '--endpoint', local.server.url, '--rsa-key', otherKey, '--skip-key-check']);
    expect(forced.code).toBe(0);
    expect(readdirSync(mnt)).toEqual(['f.txt']);
    expect((await ossencfs(['umount', mnt])).code).toBe(0);
  }, 180_000);
});

describe('the embedded default', () => {
  it('says once where its new key is and to back it up; a second mount of the same data directory is refused while the first runs', async () => {
    const first = join(local.dir, 'vault1');
    const second = join(local.dir, 'vault2');
    const key = join(local.dir, 'data', 'ossencfs', 'master-key.pem');
    const made = await ossencfs(['mount', first]);
    expect(made.code).toBe(0);
    expect(made.stdout.split('\n').filter((l) => l.includes('back it up'))).toEqual([
      `the vault's key is ${key}: back it up, for without it nothing in the vault can be read`,
    ]);
    try {
      const refused = await ossencfs(['mount', second]);
      expect(refused.code).toBe(1);
      expect(lines(refused)).toHaveLength(1);
      expect(refused.stderr).toMatch(
        new RegExp(`^ossencfs: the embedded default in ${join(local.dir, 'data', 'ossencfs')} is already mounted on ${first} \\(process \\d+\\): use that mount, or ossencfs umount ${first} first\n$`),
      );
      expect(isMounted(second)).toBe(false);
    } finally {
      expect((await ossencfs(['umount', first])).code).toBe(0);
    }
    // Released with the first mount's server.
    const again = await ossencfs(['mount', second]);
    expect(again.code).toBe(0);
    expect(again.stdout).not.toMatch(/back it up/);
    expect((await ossencfs(['umount', second])).code).toBe(0);
  }, 180_000);
});

describe('mounts and umount', () => {
  it('`mounts` lists the active mounts with their endpoint; a busy umount names fuser once', async () => {
    const mnt = join(local.dir, 'listed');
    expect((await ossencfs(['mount', `oss://${local.bucket}/listed`, mnt, ...bucketArgs()])).code).toBe(0);
    const listed = await ossencfs(['mounts']);
    expect(listed.code).toBe(0);
    expect(listed.stdout).toMatch(new RegExp(`^oss://${local.bucket}/listed on ${mnt} via ${local.server.url} \\(pid \\d+\\)\n$`));

    // A shell sitting in the mount keeps it busy.
    const sitter = spawn('sleep', ['600'], { cwd: mnt, stdio: 'ignore' });
    try {
      const busy = await ossencfs(['umount', mnt]);
      expect(busy.code).toBe(1);
      expect(lines(busy)).toEqual([`ossencfs: cannot unmount ${mnt}: it is in use (a file open or a working directory there); fuser -vm ${mnt} shows by whom`]);
      expect(isMounted(mnt)).toBe(true);
    } finally {
      sitter.kill();
      await new Promise((r) => sitter.once('exit', r));
    }
    expect((await ossencfs(['umount', mnt])).code).toBe(0);
    expect((await ossencfs(['mounts'])).stdout).toBe('');
  }, 180_000);
});
