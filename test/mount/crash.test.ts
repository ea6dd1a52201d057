import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { type Mounted, mountBucket, UPLOAD_AT_CLOSE } from '../support/mounted.js';

async function until(what: string, check: () => Promise<boolean> | boolean, seconds = 30): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

function killMount(m: Mounted): Promise<void> {
  const exited = new Promise<void>((r) => m.process.once('exit', () => r()));
  m.process.kill('SIGKILL');
  return exited.then(() => {
    // The kernel side is left dangling ("Transport endpoint is not connected"): detach it.
    spawnSync('fusermount', ['-uz', m.mountpoint]);
  });
}

function filesBelow(dir: string): string[] {
  try {
    return readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile()).map((e) => e.name);
  } catch {
    return [];
  }
}

describe('crash safety: kill -9 of the mount mid-write', () => {
  let local: LocalBucket;

  beforeAll(async () => {
    local = await startLocalBucket();
  });

  afterAll(async () => {
    await local?.close();
  });

  it('a streamed overwrite and a new file: the old version survives, nothing partial appears, the leftover upload is aborted at remount', async () => {
    const original = randomBytes(1024 * 1024);
    let m = await mountBucket(local, { name: 'crash', args: UPLOAD_AT_CLOSE });
    writeFileSync(join(m.mountpoint, 'doc.bin'), original);

    // Big writes stream as multipart uploads while the app writes; kill the mount in the middle.
    const writers = [
      // dd opens its output itself (a shell redirection would close a dup first: a real close).
      spawn('dd', ['if=/dev/urandom', `of=${m.mountpoint}/doc.bin`, 'bs=1M', 'count=200'], { stdio: 'ignore' }),
      spawn('dd', ['if=/dev/urandom', `of=${m.mountpoint}/new.bin`, 'bs=1M', 'count=200'], { stdio: 'ignore' }),
    ];
    await until('two multipart uploads in flight', async () => (await local.store.listMultipartUploads('')).length >= 2);
    await killMount(m);
    for (const w of writers) w.kill('SIGKILL');

    expect((await local.store.listMultipartUploads('')).length).toBeGreaterThanOrEqual(2);
    m = await mountBucket(local, { name: 'crash', args: UPLOAD_AT_CLOSE });
    try {
      expect(readFileSync(join(m.mountpoint, 'doc.bin')).length).toBe(original.length);
      expect(readFileSync(join(m.mountpoint, 'doc.bin')).equals(original)).toBe(true);
      expect(readdirSync(m.mountpoint)).not.toContain('new.bin');
      expect(await local.store.listMultipartUploads('')).toEqual([]);
      expect(m.log()).toMatch(/aborted upload .* left unfinished by an earlier run/);
    } finally {
      await m.unmount();
    }
  });

  it('an in-place edit: the staging file (plaintext) is removed at remount and the object is unchanged', async () => {
    const original = Buffer.from('original content, edited in place\n');
    let m = await mountBucket(local, { name: 'edit', args: UPLOAD_AT_CLOSE });
    writeFileSync(join(m.mountpoint, 'edit.txt'), original);
    const staging = join(local.dir, 'edit-cache', 'mounts');
    // Hold the file open after a write in the middle, so the edit lives only in the staging file.
    const editor = spawn('python3', ['-c', `import os, time; fd = os.open('${m.mountpoint}/edit.txt', os.O_RDWR); os.pwrite(fd, b'CHANGED', 0); time.sleep(60)`], { stdio: 'ignore' });
    await until('a staging file', () => filesBelow(staging).some((f) => f !== 'uploads.jsonl'));
    await killMount(m);
    editor.kill('SIGKILL');

    m = await mountBucket(local, { name: 'edit', args: UPLOAD_AT_CLOSE });
    try {
      expect(filesBelow(staging).filter((f) => f !== 'uploads.jsonl')).toEqual([]);
      expect(readFileSync(join(m.mountpoint, 'edit.txt'), 'utf8')).toBe(original.toString());
    } finally {
      await m.unmount();
    }
  });
});
