import { mkdirSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs';
import { lstat, readFile, readlink } from 'node:fs/promises';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliWorld, startWorld } from '../cli/harness.js';

/** `put -r` keeps a tree's symlinks as the mount stores them (mode S_IFLNK|0777, the target as the body); -L follows them. */
let w: CliWorld;
let tree: string;
beforeAll(async () => {
  w = await startWorld();
  tree = join(w.dir, 'tree');
  mkdirSync(join(tree, 'sub'), { recursive: true });
  writeFileSync(join(tree, 'file.txt'), 'the file\n');
  writeFileSync(join(tree, 'sub', 'inner.txt'), 'inside sub\n');
  symlinkSync('file.txt', join(tree, 'to-file'));
  symlinkSync('../file.txt', join(tree, 'sub', 'up'));
  symlinkSync('/nowhere/at/all', join(tree, 'dangling'));
  symlinkSync('sub', join(tree, 'to-dir'));
  symlinkSync('.', join(tree, 'loop'));
});
afterAll(async () => {
  await w?.close();
});

const LINKS: Record<string, string> = { 'to-file': 'file.txt', 'sub/up': '../file.txt', dangling: '/nowhere/at/all', 'to-dir': 'sub', loop: '.' };

describe('put -r and symlinks', () => {
  it('stores each link, dangling ones too, as a symlink object; stat, a mount and get -r show links with their targets', async () => {
    const put = await w.run(['put', '-r', '-q', tree, 'oss://vault/kept/', ...w.base]);
    expect(put.stderr).toBe('');
    expect(put.code).toBe(0);
    for (const [rel, target] of Object.entries(LINKS)) {
      const stat = await w.run(['stat', `oss://vault/kept/tree/${rel}`, ...w.base]);
      expect(stat.stdout).toMatch(/^mode\s+0120777$/m);
      expect(stat.stdout).toMatch(new RegExp(`^size\\s+${Buffer.byteLength(target)}$`, 'm'));
    }
    // Nothing was followed: the loop did not walk the tree again, to-dir's files are not copied.
    const ls = await w.run(['ls', '-r', 'oss://vault/kept/tree/', ...w.base]);
    expect(ls.stdout.split('\n').filter(Boolean).sort()).toEqual(['dangling', 'file.txt', 'loop', 'sub/', 'sub/inner.txt', 'sub/up', 'to-dir', 'to-file']);

    const mnt = join(w.dir, 'mnt');
    const mount = await w.run(['mount', 'oss://vault/kept', mnt, ...w.base]);
    expect(mount.code).toBe(0);
    // Asynchronous calls only: the server answering the mount runs in this process.
    try {
      for (const [rel, target] of Object.entries(LINKS)) {
        expect((await lstat(join(mnt, 'tree', rel))).isSymbolicLink()).toBe(true);
        expect(await readlink(join(mnt, 'tree', rel))).toBe(target);
      }
      expect(await readFile(join(mnt, 'tree', 'to-file'), 'utf8')).toBe('the file\n');
    } finally {
      expect((await w.run(['umount', mnt])).code).toBe(0);
    }

    const out = join(w.dir, 'back');
    const get = await w.run(['get', '-r', '-q', 'oss://vault/kept/tree', out, ...w.base]);
    expect(get.code).toBe(0);
    for (const [rel, target] of Object.entries(LINKS)) expect(readlinkSync(join(out, rel))).toBe(target);
  }, 240_000);

  it('--copy-links (-L) uploads what the links point at, skipping the dangling one and the loop with a line each', async () => {
    const put = await w.run(['put', '-r', '-L', '-q', tree, 'oss://vault/followed/', ...w.base]);
    expect(put.code).toBe(0);
    expect(put.stderr.split('\n').filter(Boolean).sort()).toEqual([
      `ossencfs: skipping ${join(tree, 'dangling')} (a symlink to nothing, and --copy-links follows links)`,
      `ossencfs: skipping ${join(tree, 'loop')} (a symlink to a directory above it)`,
    ]);
    const ls = await w.run(['ls', '-r', 'oss://vault/followed/tree/', ...w.base]);
    expect(ls.stdout.split('\n').filter(Boolean).sort()).toEqual(['file.txt', 'sub/', 'sub/inner.txt', 'sub/up', 'to-dir/', 'to-dir/inner.txt', 'to-dir/up', 'to-file']);
    const cat = await w.run(['cat', 'oss://vault/followed/tree/to-dir/up', ...w.base]);
    expect(cat.stdout).toBe('the file\n');
    const stat = await w.run(['stat', 'oss://vault/followed/tree/to-file', ...w.base]);
    expect(stat.stdout).toMatch(/^mode\s+0100\d{3}$/m);
  }, 120_000);
});
