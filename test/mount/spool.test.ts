import { spawnSync } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, renameSync, statSync, utimesSync, writeFileSync, chmodSync, openSync, fsyncSync, closeSync, existsSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePosixMeta } from '../../src/secure/index.js';
import { encryptedBucket, plaintextOf } from '../reliability/support.js';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { type Mounted, mountBucket } from '../support/mounted.js';

/** Long enough that nothing uploads on its own before the test kills the mount. */
const WAITING = ['--write-back', '600'];

function killMount(m: Mounted): Promise<void> {
  const exited = new Promise<void>((r) => m.process.once('exit', () => r()));
  m.process.kill('SIGKILL');
  return exited.then(() => {
    spawnSync('fusermount', ['-uz', m.mountpoint]);
  });
}

const present = (local: LocalBucket, key: string): Promise<boolean> =>
  local.store.head(key).then(
    () => true,
    () => false,
  );

/** The spool directory of the mount named `name` (one per source and mountpoint). */
function spoolOf(local: LocalBucket, name: string): string {
  const mounts = join(local.dir, `${name}-cache`, 'mounts');
  const [id] = readdirSync(mounts);
  return join(mounts, id!, 'spool');
}

const spooledFiles = (dir: string): string[] => (existsSync(dir) ? readdirSync(dir).filter((f) => !f.endsWith('.jsonl')) : []);

/** Files the spool's journal keeps (a `keep` line, no `drop` yet): its data file is written before the line, so only these survive a crash. */
function journaledFiles(dir: string): number {
  const journal = join(dir, 'spool.jsonl');
  if (!existsSync(journal)) return 0;
  const live = new Set<string>();
  for (const line of readFileSync(journal, 'utf8').split('\n').filter(Boolean)) {
    const { op, id } = JSON.parse(line) as { op: string; id: string };
    if (op === 'keep') live.add(id);
    if (op === 'drop') live.delete(id);
  }
  return live.size;
}

describe('write-back spool: a crash of the mount loses no closed file', () => {
  let local: LocalBucket;

  beforeAll(async () => {
    local = await startLocalBucket();
  });

  afterAll(async () => {
    await local?.close();
  });

  it('closed new files (in memory, and staged past 8 MiB) survive kill -9 with their mode, times and xattrs, spooled as ciphertext (0600 in 0700), and go up at the next mount', async () => {
    const small = Buffer.from(`spooled plaintext marker ${randomBytes(8).toString('hex')}\n`);
    const big = randomBytes(12 * 1024 * 1024);
    const m = await mountBucket(local, { name: 'crash', args: WAITING });
    writeFileSync(join(m.mountpoint, 'small.txt'), small);
    writeFileSync(join(m.mountpoint, 'big.bin'), big);
    chmodSync(join(m.mountpoint, 'small.txt'), 0o640);
    utimesSync(join(m.mountpoint, 'small.txt'), new Date('2021-03-04T05:06:07Z'), new Date('2021-03-04T05:06:07Z'));
    expect(spawnSync('setfattr', ['-n', 'user.origin', '-v', 'spooled', join(m.mountpoint, 'small.txt')]).status).toBe(0);

    const spool = spoolOf(local, 'crash');
    expect(statSync(spool).mode & 0o777).toBe(0o700);
    expect(spooledFiles(spool)).toHaveLength(2);
    for (const f of readdirSync(spool)) expect(statSync(join(spool, f)).mode & 0o777).toBe(0o600);
    // Ciphertext only: neither file's plaintext is anywhere in the spool.
    expect(spawnSync('grep', ['-rlF', small.toString().trim(), spool]).status).toBe(1);
    const bigSpooled = spooledFiles(spool).map((f) => readFileSync(join(spool, f))).find((b) => b.length === big.length);
    expect(bigSpooled).toBeDefined();
    expect(bigSpooled!.subarray(0, 4096).equals(big.subarray(0, 4096))).toBe(false);
    expect(await present(local, 'small.txt')).toBe(false);

    await killMount(m);
    expect(await present(local, 'small.txt')).toBe(false);

    const again = await mountBucket(local, { name: 'crash' });
    try {
      const bucket = encryptedBucket(local);
      expect((await plaintextOf(bucket, 'small.txt')).equals(small)).toBe(true);
      expect((await plaintextOf(bucket, 'big.bin')).equals(big)).toBe(true);
      const posix = decodePosixMeta((await local.store.head('small.txt')).meta);
      expect(posix.mode! & 0o7777).toBe(0o640);
      expect(posix.mtime).toBe(Date.parse('2021-03-04T05:06:07Z') / 1000);
      // Shown as vouched for (the MAC was made for the name it landed under) and with its xattr.
      expect(statSync(join(again.mountpoint, 'small.txt')).mode & 0o7777).toBe(0o640);
      expect(spawnSync('getfattr', ['--only-values', '-n', 'user.origin', join(again.mountpoint, 'small.txt')], { encoding: 'utf8' }).stdout).toBe('spooled');
      expect(again.log()).toMatch(/spool: the last mount ended with 2 closed file\(s\) not uploaded: 2 uploaded now, 0 under a conflict name, 0 kept/);
      expect(spooledFiles(spool)).toEqual([]);
    } finally {
      await again.unmount();
    }
  });

  it('a waiting file renamed before the crash lands under its new name only; one unlinked lands nowhere; an empty one (touch) lands too', async () => {
    const m = await mountBucket(local, { name: 'rename', args: WAITING });
    writeFileSync(join(m.mountpoint, '.tmp.XYZ'), 'renamed before the crash\n');
    renameSync(join(m.mountpoint, '.tmp.XYZ'), join(m.mountpoint, 'final.txt'));
    writeFileSync(join(m.mountpoint, 'gone.txt'), 'unlinked before the crash\n');
    spawnSync('rm', [join(m.mountpoint, 'gone.txt')]);
    // An empty file is spooled at its release (no write, so its close had nothing to keep yet).
    expect(spawnSync('touch', [join(m.mountpoint, 'empty.txt')]).status).toBe(0);
    const deadline = Date.now() + 5000;
    while (journaledFiles(spoolOf(local, 'rename')) < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(journaledFiles(spoolOf(local, 'rename'))).toBe(2);
    await killMount(m);

    const again = await mountBucket(local, { name: 'rename' });
    try {
      expect(readFileSync(join(again.mountpoint, 'final.txt'), 'utf8')).toBe('renamed before the crash\n');
      expect(await present(local, '.tmp.XYZ')).toBe(false);
      expect(await present(local, 'gone.txt')).toBe(false);
      expect(statSync(join(again.mountpoint, 'empty.txt')).size).toBe(0);
    } finally {
      await again.unmount();
    }
  });

  it('an object another client made under the name while the mount was down is not overwritten; the spooled file goes up beside it, with one log line', async () => {
    const m = await mountBucket(local, { name: 'conflict', args: WAITING });
    writeFileSync(join(m.mountpoint, 'shared.txt'), 'the crashed mount\'s version\n');
    await killMount(m);
    await encryptedBucket(local).put('shared.txt', Buffer.from('the other client\'s version\n'));

    const again = await mountBucket(local, { name: 'conflict' });
    try {
      expect(readFileSync(join(again.mountpoint, 'shared.txt'), 'utf8')).toBe('the other client\'s version\n');
      const aside = readdirSync(again.mountpoint).filter((n) => n.startsWith('shared.txt.ossencfs-conflict-'));
      expect(aside).toHaveLength(1);
      expect(readFileSync(join(again.mountpoint, aside[0]!), 'utf8')).toBe('the crashed mount\'s version\n');
      expect(again.log().match(/another client made this object while the mount was down/g)).toHaveLength(1);
    } finally {
      await again.unmount();
    }
  });

  it('a spool sealed under another key stays in the spool (one log line), a read-only mount names it, and a mount with that key uploads it', async () => {
    const m = await mountBucket(local, { name: 'rekeyed', prefix: 'rekeyed', args: WAITING });
    writeFileSync(join(m.mountpoint, 'mine.txt'), 'sealed under the first key\n');
    await killMount(m);

    const otherKey = join(local.dir, 'spool-other.pem');
    writeFileSync(otherKey, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs1', format: 'pem' }), { mode: 0o600 });
    const other = await mountBucket(local, { name: 'rekeyed', prefix: 'rekeyed', keyArgs: ['--rsa-key', otherKey, '--skip-key-check'] });
    try {
      expect(await present(local, 'rekeyed/mine.txt')).toBe(false);
      expect(other.log()).toMatch(/spool: rekeyed\/mine\.txt: sealed under a key this mount does not hold/);
    } finally {
      await other.unmount();
    }
    expect(spooledFiles(spoolOf(local, 'rekeyed'))).toHaveLength(1);

    const readOnly = await mountBucket(local, { name: 'rekeyed', prefix: 'rekeyed', args: ['--read-only'] });
    try {
      expect(await present(local, 'rekeyed/mine.txt')).toBe(false);
      expect(readOnly.log()).toMatch(/spool: 1 closed file\(s\) the last mount did not upload \(rekeyed\/mine\.txt\) wait for a mount that is not read-only/);
    } finally {
      await readOnly.unmount();
    }

    const back = await mountBucket(local, { name: 'rekeyed', prefix: 'rekeyed' });
    try {
      expect(readFileSync(join(back.mountpoint, 'mine.txt'), 'utf8')).toBe('sealed under the first key\n');
      expect(spooledFiles(spoolOf(local, 'rekeyed'))).toEqual([]);
    } finally {
      await back.unmount();
    }
  });

  it('the default mode spools and uploads after its wait; fsync uploads at once and empties the spool; unmount drains it', async () => {
    const m = await mountBucket(local, { name: 'default', prefix: 'default', defaultWriteBack: true });
    const spool = (): string => spoolOf(local, 'default');
    writeFileSync(join(m.mountpoint, 'later.txt'), 'after the wait\n');
    expect(spooledFiles(spool())).toHaveLength(1);
    const fd = openSync(join(m.mountpoint, 'synced.txt'), 'w');
    writeFileSync(fd, 'fsync is durable\n');
    fsyncSync(fd);
    expect(await present(local, 'default/synced.txt')).toBe(true);
    closeSync(fd);
    const deadline = Date.now() + 15_000;
    while (!(await present(local, 'default/later.txt')) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(await present(local, 'default/later.txt')).toBe(true);
    while (spooledFiles(spool()).length > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(spooledFiles(spool())).toEqual([]);

    writeFileSync(join(m.mountpoint, 'drained.txt'), 'uploaded at unmount\n');
    await m.unmount();
    expect(await present(local, 'default/drained.txt')).toBe(true);
    expect(spooledFiles(spool())).toEqual([]);
  });
});
