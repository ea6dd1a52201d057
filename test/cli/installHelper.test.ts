import { spawnSync } from 'node:child_process';
import { lstatSync, mkdtempSync, readFileSync, readlinkSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { BIN } from './harness.js';

const HELPER = fileURLToPath(new URL('../../bin/mount.ossencfs', import.meta.url));
const made: string[] = [];
afterAll(() => made.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

/** A directory standing in for /sbin (`--dir`), and what `install-helper` does there. */
function sbin(): { dir: string; link: string; install(): { status: number | null; stdout: string; stderr: string } } {
  const dir = mkdtempSync(join(tmpdir(), 'ossencfs-sbin-'));
  made.push(dir);
  return {
    dir,
    link: join(dir, 'mount.fuse.ossencfs'),
    install: () => {
      const r = spawnSync(process.execPath, [BIN, 'install-helper', '--dir', dir], { encoding: 'utf8' });
      return { status: r.status, stdout: r.stdout, stderr: r.stderr };
    },
  };
}

describe('ossencfs install-helper', () => {
  it('links mount.fuse.ossencfs to the package helper, which mount(8) can run; a second run leaves it', () => {
    const s = sbin();
    const first = s.install();
    expect(first).toEqual({ status: 0, stdout: `linked ${s.link} -> ${HELPER}\n`, stderr: '' });
    expect(readlinkSync(s.link)).toBe(HELPER);
    // Through the link, as mount(8) runs it: -f (fake) prints the translation and mounts nothing.
    const fake = spawnSync(s.link, ['oss://vault/records', '/mnt/vault', '-f', '-o', 'rw,ro,_netdev,profile=prod'], { encoding: 'utf8' });
    expect(fake.stderr).toBe('ossencfs mount oss://vault/records /mnt/vault --read-only --profile prod\n');
    expect(fake.status).toBe(0);

    const second = s.install();
    expect(second).toEqual({ status: 0, stdout: `${s.link} already links to ${HELPER}\n`, stderr: '' });
    expect(readlinkSync(s.link)).toBe(HELPER);
  });

  it("relinks another copy's helper (another npm prefix or checkout)", () => {
    const s = sbin();
    symlinkSync('/usr/lib/node_modules/ossencfs/bin/mount.ossencfs', s.link);
    const r = s.install();
    expect(r).toEqual({ status: 0, stdout: `linked ${s.link} -> ${HELPER} (was -> /usr/lib/node_modules/ossencfs/bin/mount.ossencfs)\n`, stderr: '' });
    expect(readlinkSync(s.link)).toBe(HELPER);
  });

  it('refuses, in one line, to replace a file or a link that is not an ossencfs helper, and leaves it', () => {
    const file = sbin();
    writeFileSync(file.link, '#!/bin/sh\n');
    const onFile = file.install();
    expect(onFile.status).toBe(1);
    expect(onFile.stderr).toBe(`ossencfs: ${file.link} is a file, not a link to an ossencfs mount helper: refusing to replace it (remove it first)\n`);
    expect(lstatSync(file.link).isFile()).toBe(true);
    expect(readFileSync(file.link, 'utf8')).toBe('#!/bin/sh\n');

    const other = sbin();
    symlinkSync('/usr/bin/true', other.link);
    const onLink = other.install();
    expect(onLink.status).toBe(1);
    expect(onLink.stderr).toBe(`ossencfs: ${other.link} is a link to /usr/bin/true, not a link to an ossencfs mount helper: refusing to replace it (remove it first)\n`);
    expect(readlinkSync(other.link)).toBe('/usr/bin/true');
  });

  it('says which path it could not create', () => {
    const s = sbin();
    const r = spawnSync(process.execPath, [BIN, 'install-helper', '--dir', join(s.dir, 'missing')], { encoding: 'utf8' });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^ossencfs: cannot create ${join(s.dir, 'missing', 'mount.fuse.ossencfs')}: ENOENT`));
  });
});
