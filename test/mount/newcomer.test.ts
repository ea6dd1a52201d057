import { mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { isMounted } from '../../src/fuse/mount.js';
import { type Result, runCli } from '../cli/harness.js';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';

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
function ossencfs(args: string[]): Promise<Result> {
  const env = {
    PATH: process.env.PATH ?? '',
    HOME: join(local.dir, 'home'),
    XDG_CACHE_HOME: join(local.dir, 'cache'),
    XDG_DATA_HOME: join(local.dir, 'data'),
    OSS_ACCESS_KEY_ID: local.credentials.accessKeyId,
    OSS_ACCESS_KEY_SECRET: local.credentials.accessKeySecret,
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
