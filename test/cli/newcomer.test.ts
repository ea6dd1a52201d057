import { existsSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createOssStore } from '../../src/store/index.js';
import { type CliWorld, LOCAL_REGION, type Result, startWorld } from './harness.js';

/** A newcomer's mistakes (issue #31): each is one line, with the exit status the kind of mistake calls for. */
let w: CliWorld;
beforeAll(async () => {
  w = await startWorld();
});
afterAll(async () => {
  await w?.close();
});

const lines = (r: Result): string[] => r.stderr.split('\n').filter((l) => l !== '');

describe('the command line itself', () => {
  it('`ossencfs version` prints the version', async () => {
    const r = await w.run(['version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ossencfs \d+\.\d+\.\d+\n$/);
  });

  it('bare `ossencfs` says once, in one line, to name a command', async () => {
    const r = await w.run([]);
    expect(r.code).toBe(2);
    expect(lines(r)).toHaveLength(1);
    expect(r.stderr.match(/--help/g)).toHaveLength(1);
  });

  it('an unknown option is named, even where it swallowed the url', async () => {
    for (const args of [['ls', '--bogus', 'oss://vault'], ['ls', 'oss://vault', '--bogus']]) {
      const r = await w.run(args);
      expect(r.code).toBe(2);
      expect(lines(r)).toEqual(['ossencfs: unknown option --bogus (see ossencfs --help)']);
    }
  });
});

describe('mount with the mountpoint forgotten', () => {
  it('refuses a single oss:// argument, and a url as the mountpoint, without creating anything', async () => {
    for (const args of [['mount', 'oss://bkt', '--rsa-key', w.keyA], ['mount', 'oss://bkt', '--rsa-key', w.keyA, '--foreground'], ['mount', 'mnt', 'oss://bkt']]) {
      const r = await w.run(args, { env: { XDG_DATA_HOME: join(w.dir, 'data') } });
      expect(r.code).toBe(2);
      expect(lines(r)).toHaveLength(1);
      expect(r.stderr).toMatch(/oss:\/\/bkt/);
    }
    expect(existsSync(join(w.dir, 'oss:'))).toBe(false);
    // No embedded server was started over a data directory either.
    expect(existsSync(join(w.dir, 'data'))).toBe(false);
  });
});

describe('one clear line', () => {
  it('ls of a bucket that does not exist says so', async () => {
    const r = await w.run(['ls', 'oss://nosuchbucket', ...w.base]);
    expect(r.code).toBe(1);
    expect(lines(r)).toEqual(['ossencfs: bucket nosuchbucket does not exist (make it with: ossencfs mb oss://nosuchbucket)']);
  });

  it('rm of a "directory" without -r points at -r, and deletes nothing', async () => {
    writeFileSync(join(w.dir, 'inside.txt'), 'inside');
    expect((await w.run(['put', 'inside.txt', 'oss://vault/folder/inside.txt', ...w.base])).code).toBe(0);
    const r = await w.run(['rm', 'oss://vault/folder', ...w.base]);
    expect(r.code).toBe(2);
    expect(lines(r)).toEqual(['ossencfs: oss://vault/folder is a directory — pass -r to delete everything under it (see ossencfs --help)']);
    expect((await w.store.head('folder/inside.txt')).size).toBe(6);
    // A name with nothing under it is still a missing object.
    expect((await w.run(['rm', 'oss://vault/nothing', ...w.base])).stderr).toMatch(/NoSuchKey/);
  });

  it('a key file that is not PEM says so, without OpenSSL decoder words', async () => {
    const garbage = join(w.dir, 'garbage.pem');
    writeFileSync(garbage, 'this is not a key\n', { mode: 0o600 });
    const r = await w.run(['cat', 'oss://vault/folder/inside.txt', '--endpoint', w.server.url, '--rsa-key', garbage]);
    expect(r.code).toBe(1);
    expect(lines(r)).toEqual([`ossencfs: ${garbage} is not a PEM private key (no -----BEGIN … KEY----- line); make a key pair with: ossencfs keygen --out FILE`]);
  });
});

describe('keygen', () => {
  it('--out in a directory that does not exist makes it, private (0700)', async () => {
    const r = await w.run(['keygen', '--out', 'new/sub/key.pem', '--bits', '2048']);
    expect(r.code).toBe(0);
    expect(statSync(join(w.dir, 'new')).mode & 0o777).toBe(0o700);
    expect(statSync(join(w.dir, 'new', 'sub')).mode & 0o777).toBe(0o700);
    expect(statSync(join(w.dir, 'new', 'sub', 'key.pem')).mode & 0o777).toBe(0o600);
  });
});

describe('buckets: mb, rb, ls oss://', () => {
  it('mb makes a bucket that ls oss:// lists; rb refuses it while it holds objects or uploads, then removes it', async () => {
    expect((await w.run(['mb', 'oss://fresh-bucket', ...w.base])).code).toBe(0);
    const again = await w.run(['mb', 'oss://fresh-bucket', ...w.base]);
    expect(again.code).toBe(1);
    expect(lines(again)).toEqual([`ossencfs: bucket fresh-bucket already exists (names are shared by every OSS account: it may be someone else's)`]);
    expect((await w.run(['ls', 'oss://', ...w.base])).stdout).toBe('oss://fresh-bucket\noss://vault\n');
    expect((await w.run(['ls', '-l', 'oss://', ...w.base])).stdout).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ +\S+ +oss:\/\/fresh-bucket\n/);

    writeFileSync(join(w.dir, 'kept.txt'), 'kept');
    expect((await w.run(['put', 'kept.txt', 'oss://fresh-bucket/kept.txt', ...w.base])).code).toBe(0);
    const full = await w.run(['rb', 'oss://fresh-bucket', ...w.base]);
    expect(full.code).toBe(1);
    expect(lines(full)).toEqual(['ossencfs: bucket fresh-bucket is not empty — delete its objects first (ossencfs rm -r oss://fresh-bucket/)']);
    expect((await w.run(['rm', '-r', 'oss://fresh-bucket/', ...w.base, '-q'])).code).toBe(0);

    const fresh = createOssStore({ endpoint: w.server.url, region: LOCAL_REGION, bucket: 'fresh-bucket', accessKeyId: w.env.OSS_ACCESS_KEY_ID!, accessKeySecret: w.env.OSS_ACCESS_KEY_SECRET! });
    await fresh.initiateMultipart('half.bin', { meta: {} });
    const uploading = await w.run(['rb', 'oss://fresh-bucket', ...w.base]);
    expect(uploading.code).toBe(1);
    expect(lines(uploading)).toEqual(['ossencfs: bucket fresh-bucket still holds unfinished multipart uploads — ossencfs uploads abort oss://fresh-bucket']);
    expect((await w.run(['uploads', 'abort', 'oss://fresh-bucket', ...w.base, '-q'])).code).toBe(0);

    expect((await w.run(['rb', 'oss://fresh-bucket', ...w.base])).code).toBe(0);
    expect((await w.run(['ls', 'oss://', ...w.base])).stdout).toBe('oss://vault\n');
    const gone = await w.run(['rb', 'oss://fresh-bucket', ...w.base]);
    expect(gone.code).toBe(1);
    expect(lines(gone)).toEqual(['ossencfs: bucket fresh-bucket does not exist']);
  }, 180_000);

  it('mb and rb take a bucket alone', async () => {
    const r = await w.run(['mb', 'oss://vault/sub', ...w.base]);
    expect(r.code).toBe(2);
    expect(lines(r)).toEqual(['ossencfs: oss://vault/sub names objects in a bucket; give the bucket alone (oss://vault) (see ossencfs --help)']);
  });
});
