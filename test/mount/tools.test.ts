import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mountedSuite, sh } from '../support/mounted.js';

/** Ordinary programs, unchanged, on the mount: rsync, tar, git, sqlite3, parallel readers. */
describe('mount: everyday tools', () => {
  const suite = mountedSuite();

  it('rsync -a of a 1,000-file tree with symlinks, then a no-op second run, then diff -r', () => {
    const { local, m } = suite;
    const tree = join(local.dir, 'tree');
    for (let d = 0; d < 20; d++) {
      const dir = join(tree, `dir${d}`, `sub${d % 3}`);
      mkdirSync(dir, { recursive: true });
      for (let f = 0; f < 50; f++) writeFileSync(join(dir, `file${f}.dat`), randomBytes(f * 37));
      symlinkSync(`file${d}.dat`, join(dir, 'link'));
    }
    sh(`rsync -a ${tree}/ ${m.mountpoint}/tree/`);
    const second = sh(`rsync -a --stats ${tree}/ ${m.mountpoint}/tree/`);
    expect(second).toMatch(/Number of regular files transferred: 0\b/);
    sh(`diff -r --no-dereference ${tree} ${m.mountpoint}/tree`);
  }, 300_000); // ~4,000 requests: allow for a loaded machine

  it('tar x into the mount', () => {
    const { local, m } = suite;
    const src = join(local.dir, 'tarsrc');
    mkdirSync(join(src, 'a/b'), { recursive: true });
    writeFileSync(join(src, 'a/b/c.txt'), 'inside the tarball\n');
    writeFileSync(join(src, 'big.bin'), randomBytes(3 * 1024 * 1024 + 5));
    sh(`tar cf ${local.dir}/x.tar -C ${src} .`);
    sh(`mkdir ${m.mountpoint}/untar && tar xf ${local.dir}/x.tar -C ${m.mountpoint}/untar`);
    sh(`diff -r ${src} ${m.mountpoint}/untar`);
  });

  it('git init, add, commit, fsck inside the mount', () => {
    const { m } = suite;
    const repo = join(m.mountpoint, 'repo');
    sh(`mkdir ${repo} && cd ${repo} && git init -q && echo hello > README && git add README && git -c user.name=t -c user.email=t@e commit -qm first`);
    sh(`cd ${repo} && echo more >> README && git -c user.name=t -c user.email=t@e commit -qam second && git fsck --strict`);
    expect(sh(`cd ${repo} && git log --oneline | wc -l`).trim()).toBe('2');
  });

  it('sqlite3 create, insert, select', () => {
    const { m } = suite;
    const db = join(m.mountpoint, 'test.db');
    sh(`sqlite3 ${db} "create table t(id integer primary key, v text); insert into t(v) values ('a'),('b'),('c');"`);
    sh(`sqlite3 ${db} "insert into t(v) select v || 'x' from t;"`);
    expect(sh(`sqlite3 ${db} "select count(*), group_concat(v, ',') from t;"`).trim()).toBe('6|a,b,c,ax,bx,cx');
    sh(`sqlite3 ${db} "pragma integrity_check;"`);
  });

  it('parallel readers of one file and of many files get exact content', async () => {
    const { m } = suite;
    const data = randomBytes(8 * 1024 * 1024);
    writeFileSync(join(m.mountpoint, 'shared.bin'), data);
    const sum = sh(`sha256sum ${m.mountpoint}/shared.bin`).split(' ')[0];
    const outputs = sh(`for i in 1 2 3 4 5 6 7 8; do sha256sum ${m.mountpoint}/shared.bin & done; wait`).trim().split('\n');
    expect(outputs).toHaveLength(8);
    for (const line of outputs) expect(line.split(' ')[0]).toBe(sum);
    expect(readFileSync(join(m.mountpoint, 'shared.bin')).equals(data)).toBe(true);
  });
});
