import { spawnSync } from 'node:child_process';
import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptedBucket, encodePosixMeta, Keyring, rsaMasterKey } from '../../src/index.js';
import { DirectoryIndexes, indexed } from '../../src/secure/index.js';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { BIN, mountBucket, sh, shStatus, withEnv } from '../support/mounted.js';
import { resetSeen, seen, type SeenRequest } from '../support/serverAdmin.js';

const FILES = 240;
const mtimeOf = (i: number): number => 1_700_000_000 + i;
const nameOf = (i: number): string => `f${String(i).padStart(4, '0')}`;
const bodyOf = (i: number): Buffer => Buffer.from(`file ${i} `.repeat(1 + (i % 7)));

/** HEADs of objects (not directory markers) under `/dir/`. */
const headsUnder = (requests: SeenRequest[], dir: string): SeenRequest[] => requests.filter((r) => r.method === 'HEAD' && r.path.includes(`/${dir}/`) && !r.path.endsWith('/'));

/**
 * A fresh mount learns a directory's attributes from its index (one GET beside the LIST) instead
 * of a HEAD per file; the index is only ever a hint checked against the listing.
 */
describe('mount: per-directory attribute indexes', () => {
  let local: LocalBucket;
  let bucket: EncryptedBucket;
  const cli = (...args: string[]): void => {
    const r = spawnSync(process.execPath, [BIN, ...args, '--endpoint', local.server.url, '--rsa-key', local.keyFile], {
      env: withEnv({ OSS_ACCESS_KEY_ID: local.credentials.accessKeyId, OSS_ACCESS_KEY_SECRET: local.credentials.accessKeySecret }),
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
  };

  beforeAll(async () => {
    local = await startLocalBucket();
    bucket = new EncryptedBucket(local.store, new Keyring({ writer: rsaMasterKey({ privateKeyPem: readFileSync(local.keyFile, 'utf8') }) }), {});
  });

  afterAll(async () => {
    await local?.close();
  });

  it("put -r writes each directory's index; a fresh mount's no-op rsync then asks no HEAD per file and still sends the one file another client changed", async () => {
    const src = join(local.dir, 'tree');
    mkdirSync(join(src, 'sub'), { recursive: true });
    for (let i = 0; i < FILES; i++) {
      const path = join(src, i % 3 === 0 ? 'sub' : '', nameOf(i));
      writeFileSync(path, bodyOf(i), { mode: 0o640 });
      utimesSync(path, mtimeOf(i), mtimeOf(i));
    }
    cli('put', '-r', '-q', src, 'oss://test-bucket/');
    const keys = (await local.store.list('tree/')).objects.map((o) => o.key);
    expect(keys).toContain('tree/.ossencfs-index');
    expect(keys).toContain('tree/sub/.ossencfs-index');

    // Another client replaces one object after the index was written: same size, another mtime.
    const changed = 4;
    await bucket.put(`tree/${nameOf(changed)}`, bodyOf(changed), { meta: encodePosixMeta({ mode: 0o100640, mtime: mtimeOf(changed) + 60 }) });

    const m = await mountBucket(local, { name: 'rsync' });
    try {
      await resetSeen(local);
      const itemized = sh(`rsync -a --dry-run --out-format='%i %n' ${src}/ ${m.mountpoint}/tree/`).trim().split('\n');
      const sent = itemized.filter((line) => line.startsWith('>f')).map((line) => line.split(' ')[1]);
      expect(sent).toEqual([nameOf(changed)]);
      // Only the names rsync reached before the walk's listing and the index were in, and the changed file.
      expect(headsUnder(await seen(local), 'tree').length).toBeLessThan(FILES / 4);

      // The index is the mount's own: not shown, not a name a program may make.
      expect(sh(`ls -a ${m.mountpoint}/tree`)).not.toContain('.ossencfs-index');
      expect(shStatus(`touch ${m.mountpoint}/tree/.ossencfs-index`).stderr).toMatch(/Operation not permitted/);
      expect(shStatus(`cat ${m.mountpoint}/tree/.ossencfs-index`).stderr).toMatch(/No such file/);
    } finally {
      await m.unmount();
    }
  });

  it('the mount writes the index of a directory it had to ask file by file, and the next fresh mount lists it without a HEAD per file', async () => {
    for (let i = 0; i < 120; i++) await bucket.put(`plain/${nameOf(i)}`, bodyOf(i), { meta: encodePosixMeta({ mode: 0o100600, mtime: mtimeOf(i) }) });
    const first = await mountBucket(local, { name: 'first' });
    let listed: string;
    try {
      await resetSeen(local);
      listed = sh(`ls -l --time-style=+%s ${first.mountpoint}/plain`);
      expect(headsUnder(await seen(local), 'plain').length).toBeGreaterThanOrEqual(120);
    } finally {
      await first.unmount(); // writes the indexes due
    }
    expect((await local.store.list('plain/')).objects.map((o) => o.key)).toContain('plain/.ossencfs-index');

    const second = await mountBucket(local, { name: 'second' });
    try {
      await resetSeen(local);
      expect(sh(`ls -l --time-style=+%s ${second.mountpoint}/plain`)).toBe(listed);
      expect(headsUnder(await seen(local), 'plain')).toEqual([]);
    } finally {
      await second.unmount();
    }

    // Another client rewrites a quarter: the next mount asks for those alone, and its new index
    // keeps the rest from the old one (which it never held a copy of).
    for (let i = 0; i < 120; i += 4) await bucket.put(`plain/${nameOf(i)}`, bodyOf(i + 1), { meta: encodePosixMeta({ mode: 0o100600, mtime: mtimeOf(i) + 5 }) });
    for (const [name, heads] of [['third', 30], ['fourth', 0]] as const) {
      const m = await mountBucket(local, { name });
      try {
        await resetSeen(local);
        sh(`ls -l ${m.mountpoint}/plain`);
        expect(headsUnder(await seen(local), 'plain')).toHaveLength(heads);
      } finally {
        await m.unmount();
      }
    }
  });

  it('an index vouches for nothing: a forged owner and setuid bit are shown as unvouched, and one made for another directory is not used', async () => {
    await bucket.put('forged/tool', Buffer.from('#!/bin/sh\n'), { meta: encodePosixMeta({ mode: 0o100755, mtime: mtimeOf(1) }) });
    await bucket.put('forged/other', Buffer.from('other'), { meta: encodePosixMeta({ mode: 0o100644, mtime: mtimeOf(2) }) });
    const [tool, other] = await Promise.all([local.store.head('forged/tool'), local.store.head('forged/other')]);
    // A bucket writer's index: the real object's identity and MAC, with root as owner, setuid and another mtime.
    const forged = encodePosixMeta({ mode: 0o104755, uid: 0, gid: 0, mtime: mtimeOf(99) });
    const indexes = new DirectoryIndexes(bucket);
    await indexes.write('forged/', [indexed('tool', { ...tool, meta: { ...tool.meta, ...forged } }, 0), indexed('other', other, 0)]);
    // And another directory's index, whose entry would match this one's object.
    await indexes.write('elsewhere/', [indexed('other', { ...other, meta: { ...other.meta, ...encodePosixMeta({ mode: 0o100777 }) } }, 0)]);
    const shown = (mountpoint: string): string[] => sh(`ls -l --time-style=+%s ${mountpoint}/forged`).trim().split('\n').slice(1).map((l) => l.split(/\s+/).filter((_, i) => [0, 2, 5, 6].includes(i)).join(' '));
    const me = sh('id -un').trim();

    const m = await mountBucket(local, { name: 'forged' });
    try {
      await resetSeen(local);
      // The index was used (its mtime, no HEAD), but could not vouch: the mounting user, no setuid.
      expect(shown(m.mountpoint)).toEqual([`-rw-r--r-- ${me} ${mtimeOf(2)} other`, `-rwxr-xr-x ${me} ${mtimeOf(99)} tool`]);
      expect(headsUnder(await seen(local), 'forged')).toEqual([]);
    } finally {
      await m.unmount();
    }

    await local.store.copy('elsewhere/.ossencfs-index', 'forged/.ossencfs-index');
    const again = await mountBucket(local, { name: 'forged-again' });
    try {
      await resetSeen(local);
      expect(shown(again.mountpoint)).toEqual([`-rw-r--r-- ${me} ${mtimeOf(2)} other`, `-rwxr-xr-x ${me} ${mtimeOf(1)} tool`]);
      expect(headsUnder(await seen(local), 'forged')).toHaveLength(2);
      expect(again.log()).toMatch(/index of \/forged not used: .*made for "elsewhere\/"/);
    } finally {
      await again.unmount();
    }
  });
});
