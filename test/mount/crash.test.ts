import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { type Mounted, mountBucket, UPLOAD_AT_CLOSE } from '../support/mounted.js';
import { fault } from '../support/serverAdmin.js';
import { encryptedBucket, plaintextOf } from '../reliability/support.js';

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

  it('a big overwrite and a big new file: a crash while they upload at close leaves the old version and no new file; the leftover uploads are aborted and the staging files removed at remount', async () => {
    const original = randomBytes(1024 * 1024);
    let m = await mountBucket(local, { name: 'crash', args: UPLOAD_AT_CLOSE });
    writeFileSync(join(m.mountpoint, 'doc.bin'), original);

    // Big writes wait in staging files (plaintext, 0600) until close uploads them as multipart
    // uploads of known size; slowed parts keep those uploads in flight when the mount dies.
    await fault(local, { action: 'latency', ms: 500, method: 'PUT', count: 1000 });
    const writers = [
      // dd opens its output itself (a shell redirection would close a dup first: a real close).
      spawn('dd', ['if=/dev/urandom', `of=${m.mountpoint}/doc.bin`, 'bs=1M', 'count=40'], { stdio: 'ignore' }),
      spawn('dd', ['if=/dev/urandom', `of=${m.mountpoint}/new.bin`, 'bs=1M', 'count=40'], { stdio: 'ignore' }),
    ];
    const staging = join(local.dir, 'crash-cache', 'mounts');
    await until('two multipart uploads in flight', async () => (await local.store.listMultipartUploads('')).length >= 2);
    expect(filesBelow(staging).filter((f) => f !== 'uploads.jsonl').length).toBe(2);
    await killMount(m);
    for (const w of writers) w.kill('SIGKILL');
    await fault(local, { action: 'clear' });

    expect((await local.store.listMultipartUploads('')).length).toBeGreaterThanOrEqual(2);
    m = await mountBucket(local, { name: 'crash', args: UPLOAD_AT_CLOSE });
    try {
      expect(readFileSync(join(m.mountpoint, 'doc.bin')).equals(original)).toBe(true);
      expect(readdirSync(m.mountpoint)).not.toContain('new.bin');
      expect(await local.store.listMultipartUploads('')).toEqual([]);
      expect(m.log()).toMatch(/aborted upload .* left unfinished by an earlier run/);
      expect(filesBelow(staging).filter((f) => f !== 'uploads.jsonl')).toEqual([]);
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

  it('a big overwrite whose close cannot upload: close fails, nothing was sent before it, and the previous version stays', async () => {
    const original = randomBytes(300_000);
    const m = await mountBucket(local, { name: 'staged-eio', args: UPLOAD_AT_CLOSE });
    try {
      writeFileSync(join(m.mountpoint, 'doc.bin'), original);
      // The 24 MiB go up at close as a multipart upload: refuse its Initiate (AccessDenied, which
      // is not retried: close fails at once with EACCES).
      await fault(local, { action: 'fail', status: 403, method: 'POST', path: '/doc.bin', count: 1000 });
      const closed = spawnSync('python3', ['-c', `import os
fd = os.open('${m.mountpoint}/doc.bin', os.O_WRONLY | os.O_TRUNC)
for i in range(24): os.write(fd, os.urandom(1 << 20))
os.pwrite(fd, b'PATCHED', 9 * (1 << 20) + 3)
try:
    os.close(fd)
    print('closed')
except OSError as e:
    print('close failed', e.strerror)
`], { encoding: 'utf8' });
      expect(closed.stdout).toMatch(/close failed Permission denied/);
      // FUSE's release comes after close(2) and tries the upload once more, refused as well.
      await until('the release to give up', () => /doc\.bin: closed with changes that were never uploaded/.test(m.log()), 20);
      await fault(local, { action: 'clear' });
      expect((await plaintextOf(encryptedBucket(local), 'doc.bin')).equals(original)).toBe(true);
      expect(await local.store.listMultipartUploads('')).toEqual([]);
    } finally {
      await fault(local, { action: 'clear' });
      await m.unmount();
    }
  });
});
