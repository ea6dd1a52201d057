import { type ChildProcess, spawn, spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, readFileSync, readlinkSync, rmdirSync, symlinkSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { mountProcess } from '../../src/cli/mountRegistry.js';
import { isMounted } from '../../src/fuse/mount.js';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { BIN } from '../support/mounted.js';

/**
 * fstab and systemd as the README has them, through util-linux mount(8) and umount(8): mount(8)
 * finds the helper as /sbin/mount.fuse.ossencfs (put there by `ossencfs install-helper`), which
 * translates the line and starts the mount in the background. Scratch fstab files (`-T FILE`).
 */

const HELPER_LINK = '/sbin/mount.fuse.ossencfs';
const HELPER = fileURLToPath(new URL('../../bin/mount.ossencfs', import.meta.url));
const README = readFileSync(fileURLToPath(new URL('../../README.md', import.meta.url)), 'utf8');

/** The README's fstab line and its systemd unit's commands, exactly as written there. */
const README_FSTAB_LINE = /^oss:\/\/\S+\s+\S+\s+fuse\.ossencfs\s.*$/m.exec(README)![0];
const README_MOUNTPOINT = README_FSTAB_LINE.split(/\s+/)[1]!;
const EXEC_START = /^ExecStart=(.*)$/m.exec(README)![1]!;
const EXEC_STOP = /^ExecStop=(.*)$/m.exec(README)![1]!;

interface Run {
  status: number | null;
  stdout: string;
  stderr: string;
}

function run(argv: string[], env: NodeJS.ProcessEnv): Run {
  const r = spawnSync(argv[0]!, argv.slice(1), { env, encoding: 'utf8', timeout: 60_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** Waits until the process that served `mountpoint` has exited (umount(8) does not wait for it). */
async function mountProcessGone(mountpoint: string): Promise<boolean> {
  const deadline = Date.now() + 30_000;
  while (mountProcess(mountpoint) !== undefined && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
  return mountProcess(mountpoint) === undefined;
}

function errorCode(action: () => void): string | undefined {
  try {
    action();
    return undefined;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code;
  }
}

describe('fstab and systemd through util-linux mount(8) and umount(8)', () => {
  let local: LocalBucket;
  /** mount(8)'s environment: no access keys (the profile or the next env has them), a private config and cache. */
  let env: NodeJS.ProcessEnv;
  /** The same, with the access keys, for lines that name no profile. */
  let keyEnv: NodeJS.ProcessEnv;
  let installedHelper = false;
  let createdMountpoint = false;
  const mountpoints: string[] = [];
  let unit: ChildProcess | undefined;

  function scratch(name: string): string {
    const dir = join(local.dir, name);
    mkdirSync(dir, { recursive: true });
    mountpoints.push(dir);
    return dir;
  }

  function fstab(name: string, lines: string[]): string {
    const path = join(local.dir, name);
    writeFileSync(path, `${lines.join('\n')}\n`);
    return path;
  }

  beforeAll(async () => {
    const bucket = /^oss:\/\/([^/\s]+)/.exec(README_FSTAB_LINE)![1]!;
    local = await startLocalBucket(bucket);
    const base = Object.fromEntries(Object.entries(process.env).filter(([k]) => !/^(OSS_|OSSENCFS_)/.test(k)));
    env = { ...base, XDG_CONFIG_HOME: join(local.dir, 'config'), XDG_CACHE_HOME: join(local.dir, 'cache') };
    keyEnv = { ...env, OSS_ACCESS_KEY_ID: local.credentials.accessKeyId, OSS_ACCESS_KEY_SECRET: local.credentials.accessKeySecret };

    // The README's profile "prod": endpoint, key and access keys from the default config file, 0600.
    const configDir = join(local.dir, 'config', 'ossencfs');
    mkdirSync(configDir, { recursive: true });
    const config = join(configDir, 'config.toml');
    writeFileSync(
      config,
      [
        '[profiles.prod]',
        `endpoint = "${local.server.url}"`,
        `rsa_key = "${local.keyFile}"`,
        `access_key_id = "${local.credentials.accessKeyId}"`,
        `access_key_secret = "${local.credentials.accessKeySecret}"`,
      ].join('\n'),
    );
    chmodSync(config, 0o600);

    let target: string | undefined;
    try {
      target = readlinkSync(HELPER_LINK);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'EINVAL') throw new Error(`${HELPER_LINK} exists and is not a link: remove it to run these tests`);
      if (code !== 'ENOENT') throw err;
    }
    if (target === undefined) {
      const r = run([process.execPath, BIN, 'install-helper'], env);
      expect(r.stderr).toBe('');
      expect(r.stdout).toBe(`linked ${HELPER_LINK} -> ${HELPER}\n`);
      installedHelper = true;
    } else if (target !== HELPER) {
      throw new Error(`${HELPER_LINK} links to ${target}, not to this checkout's ${HELPER}: remove it to run these tests`);
    }

    if (existsSync(README_MOUNTPOINT)) {
      if (isMounted(README_MOUNTPOINT)) throw new Error(`${README_MOUNTPOINT} is mounted already`);
    } else {
      mkdirSync(README_MOUNTPOINT, { recursive: true });
      createdMountpoint = true;
    }
    mountpoints.push(README_MOUNTPOINT);

    // A file under the README's prefix, put with the profile.
    const plain = join(local.dir, 'hello.txt');
    writeFileSync(plain, 'hello from fstab');
    const put = run([process.execPath, BIN, 'put', plain, 'oss://vault/records/hello.txt', '--profile', 'prod', '--quiet'], env);
    expect(put.stderr).toBe('');
    expect(put.status).toBe(0);
  });

  afterAll(async () => {
    unit?.kill('SIGTERM');
    for (const dir of mountpoints) if (isMounted(dir)) spawnSync('umount', [dir]);
    for (const dir of mountpoints) await mountProcessGone(dir);
    if (installedHelper && readlinkSync(HELPER_LINK) === HELPER) unlinkSync(HELPER_LINK);
    if (createdMountpoint) rmdirSync(README_MOUNTPOINT);
    await local?.close();
  });

  it('install-helper again: the link is in place and is left as it is', () => {
    const r = run([process.execPath, BIN, 'install-helper'], env);
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(r.stdout).toBe(`${HELPER_LINK} already links to ${HELPER}\n`);
    expect(readlinkSync(HELPER_LINK)).toBe(HELPER);
  });

  it("the README's fstab line (profile from a 0600 config, ro, allow_other, _netdev, nofail): mount DIR, reads, writes fail EROFS, umount", async () => {
    const table = fstab('fstab-readme', [README_FSTAB_LINE]);
    const m = run(['mount', '-T', table, README_MOUNTPOINT], env);
    expect(m.stderr).toBe('');
    expect(m.status).toBe(0);
    const [fstype, source, options] = run(['findmnt', '-n', '-o', 'FSTYPE,SOURCE,OPTIONS', README_MOUNTPOINT], env).stdout.trim().split(/\s+/);
    expect([fstype, source]).toEqual(['fuse.ossencfs', 'oss://vault/records']);
    expect(options!.split(',')).toEqual(expect.arrayContaining(['ro', 'allow_other']));
    expect(readFileSync(join(README_MOUNTPOINT, 'hello.txt'), 'utf8')).toBe('hello from fstab');
    expect(errorCode(() => writeFileSync(join(README_MOUNTPOINT, 'new.txt'), 'x'))).toBe('EROFS');
    expect(errorCode(() => unlinkSync(join(README_MOUNTPOINT, 'hello.txt')))).toBe('EROFS');

    const u = run(['umount', README_MOUNTPOINT], env);
    expect(u.stderr).toBe('');
    expect(u.status).toBe(0);
    expect(isMounted(README_MOUNTPOINT)).toBe(false);
    expect(await mountProcessGone(README_MOUNTPOINT)).toBe(true);
  });

  it('options only, access keys from mount(8)\'s environment: mount -t fuse.ossencfs writes, a noauto fstab line with x-systemd.* options reads back', async () => {
    const dir = scratch('opts');
    const options = `endpoint=${local.server.url},rsa_key=${local.keyFile}`;
    const m = run(['mount', '-t', 'fuse.ossencfs', 'oss://vault/opts', dir, '-o', `${options},_netdev`], keyEnv);
    expect(m.stderr).toBe('');
    expect(m.status).toBe(0);
    writeFileSync(join(dir, 'note.txt'), 'written through mount -t');
    expect(run(['umount', dir], keyEnv).status).toBe(0);
    expect(await mountProcessGone(dir)).toBe(true);

    const head = await local.store.head('opts/note.txt');
    expect(head.meta['client-side-encryption-key']).toBeTruthy();
    expect(spawnSync('grep', ['-rl', 'written through mount -t', local.dataDir]).status).toBe(1);

    const table = fstab('fstab-opts', [`oss://vault/opts  ${dir}  fuse.ossencfs  noauto,nofail,_netdev,x-systemd.automount,x-systemd.mount-timeout=30,${options}  0  0`]);
    const again = run(['mount', '--fstab', table, dir], keyEnv);
    expect(again.stderr).toBe('');
    expect(again.status).toBe(0);
    expect(readFileSync(join(dir, 'note.txt'), 'utf8')).toBe('written through mount -t');
    expect(run(['umount', dir], keyEnv).status).toBe(0);
    expect(isMounted(dir)).toBe(false);
  });

  it('mount -a: a line with a bad key path fails with one line naming it and leaves nothing mounted; the nofail line does not block the next; noauto is skipped', async () => {
    const bad = scratch('badkey');
    const good = scratch('good');
    const skipped = scratch('skipped');
    const missingKey = join(local.dir, 'no-such-key.pem');
    const table = fstab('fstab-all', [
      `oss://vault/bad   ${bad}   fuse.ossencfs  _netdev,nofail,endpoint=${local.server.url},rsa_key=${missingKey}  0  0`,
      `oss://vault/good  ${good}  fuse.ossencfs  _netdev,endpoint=${local.server.url},rsa_key=${local.keyFile}  0  0`,
      `oss://vault/skip  ${skipped}  fuse.ossencfs  noauto,endpoint=${local.server.url},rsa_key=${local.keyFile}  0  0`,
    ]);
    const all = run(['mount', '-a', '-T', table], keyEnv);
    expect(all.status).not.toBe(0);
    const lines = all.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^ossencfs: cannot read key file ${missingKey}: ENOENT`));
    expect(isMounted(good)).toBe(true);
    expect(isMounted(bad)).toBe(false);
    expect(mountProcess(bad)).toBeUndefined();
    expect(isMounted(skipped)).toBe(false);

    // Alone, without -a: the same one line, and mount's own status for a failed mount.
    const one = run(['mount', '-T', table, bad], keyEnv);
    expect(one.status).not.toBe(0);
    expect(one.stderr.trim().split('\n')).toEqual([lines[0]]);
    expect(isMounted(bad)).toBe(false);

    expect(run(['umount', good], keyEnv).status).toBe(0);
    expect(await mountProcessGone(good)).toBe(true);
  });

  it("the README's systemd unit: its ExecStart line as written (systemd is not PID 1 here) mounts, its ExecStop line unmounts", async () => {
    // `/usr/bin/env ossencfs`: the CLI as npm installs it, on PATH.
    const binDir = join(local.dir, 'path');
    mkdirSync(binDir, { recursive: true });
    symlinkSync(BIN, join(binDir, 'ossencfs'));
    const unitEnv = { ...env, PATH: `${binDir}:${process.env.PATH ?? ''}` };
    const [command, ...args] = EXEC_START.split(/\s+/);
    unit = spawn(command!, args, { env: unitEnv, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    unit.stdout!.on('data', (d: Buffer) => (output += d.toString()));
    unit.stderr!.on('data', (d: Buffer) => (output += d.toString()));
    const exited = new Promise<number | null>((r) => unit!.once('exit', (code) => r(code)));
    const deadline = Date.now() + 30_000;
    while (!output.includes('mounted ') && unit.exitCode === null && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(output).toBe(`mounted oss://vault/records on ${README_MOUNTPOINT}\n`);

    expect(readFileSync(join(README_MOUNTPOINT, 'hello.txt'), 'utf8')).toBe('hello from fstab');
    writeFileSync(join(README_MOUNTPOINT, 'from-unit.txt'), 'written under the unit');
    const stop = run(EXEC_STOP.split(/\s+/), unitEnv);
    expect(stop.stderr).toBe('');
    expect(stop.status).toBe(0);
    expect(await exited).toBe(0);
    expect(isMounted(README_MOUNTPOINT)).toBe(false);
    expect((await local.store.head('records/from-unit.txt')).size).toBe('written under the unit'.length);
  });
});
