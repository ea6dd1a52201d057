import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { BIN, type Mounted, mountBucket, UPLOAD_AT_CLOSE } from '../support/mounted.js';
import { until } from './support.js';

/** Staging files (plaintext of files being edited) under a cache dir: every file below mounts/, the journals aside. */
function stagedBelow(cacheDir: string): string[] {
  try {
    return (readdirSync(join(cacheDir, 'mounts'), { recursive: true, withFileTypes: true }) as import('node:fs').Dirent[])
      .filter((e) => e.isFile() && e.parentPath.endsWith('staging'))
      .map((e) => join(e.parentPath, e.name));
  } catch {
    return [];
  }
}

/**
 * A mount killed while a file is open for editing leaves its plaintext staging file behind. Any
 * later command that uses the cache dir removes it — but never the staging files of a live mount.
 */
describe('reliability: plaintext staging files left by a crash', () => {
  let local: LocalBucket;
  const editors: ReturnType<typeof spawn>[] = [];

  beforeAll(async () => {
    local = await startLocalBucket();
  });
  afterAll(async () => {
    for (const e of editors) e.kill('SIGKILL');
    await local?.close();
  });

  /** Opens `name` in the mount read-write and changes its head, holding it open: the edit lives in a staging file. */
  async function editHeld(m: Mounted, cacheDir: string, name: string): Promise<void> {
    writeFileSync(join(m.mountpoint, name), 'original content\n');
    const editor = spawn('python3', ['-c', `import os, time; fd = os.open('${m.mountpoint}/${name}', os.O_RDWR); os.pwrite(fd, b'CHANGED', 0); time.sleep(120)`], { stdio: 'ignore' });
    editors.push(editor);
    await until('a staging file', () => stagedBelow(cacheDir).length > 0);
  }

  const ls = (cacheDir: string) =>
    new Promise<number | null>((done) => {
      const child = spawn(process.execPath, [BIN, 'ls', `oss://${local.bucket}/`, '--endpoint', local.server.url, '--rsa-key', local.keyFile, '--cache-dir', cacheDir], {
        env: { ...process.env, OSS_ACCESS_KEY_ID: local.credentials.accessKeyId, OSS_ACCESS_KEY_SECRET: local.credentials.accessKeySecret },
        stdio: 'ignore',
      });
      child.on('close', done);
    });

  it('a dead mount’s staging files go at the next command; a live mount’s stay', async () => {
    const deadCache = join(local.dir, 'dead-cache');
    const dead = await mountBucket(local, { name: 'dead', args: UPLOAD_AT_CLOSE });
    await editHeld(dead, deadCache, 'dead.txt');
    const exited = new Promise<void>((r) => dead.process.once('exit', () => r()));
    dead.process.kill('SIGKILL');
    await exited;
    spawnSync('fusermount', ['-uz', dead.mountpoint]);
    expect(stagedBelow(deadCache).length).toBeGreaterThan(0);

    const liveCache = join(local.dir, 'live-cache');
    const live = await mountBucket(local, { name: 'live', args: UPLOAD_AT_CLOSE });
    try {
      await editHeld(live, liveCache, 'live.txt');
      const held = stagedBelow(liveCache);

      expect(await ls(deadCache)).toBe(0);
      expect(stagedBelow(deadCache)).toEqual([]);
      expect(await ls(liveCache)).toBe(0);
      expect(stagedBelow(liveCache)).toEqual(held);
    } finally {
      await Promise.all(editors.map((e) => (e.exitCode !== null || e.signalCode !== null ? undefined : new Promise((r) => (e.once('exit', r), e.kill('SIGKILL'))))));
      await live.unmount();
    }
  });
});
