import { spawn, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
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
    await until('a staging file', () => filesBelow(staging).some((f) => f !== 'uploads.jsonl' && f !== 'owner'));
    await killMount(m);
    editor.kill('SIGKILL');

    m = await mountBucket(local, { name: 'edit', args: UPLOAD_AT_CLOSE });
    try {
      expect(filesBelow(staging).filter((f) => f !== 'uploads.jsonl' && f !== 'owner')).toEqual([]);
      expect(readFileSync(join(m.mountpoint, 'edit.txt'), 'utf8')).toBe(original.toString());
    } finally {
      await m.unmount();
    }
  });

  /**
   * A python process that streams 24 MiB into each of `names` (O_TRUNC), then writes into the
   * second 8 MiB part, which went up already: the mount completes each upload early and goes on
   * with a staging file (OpenFile.stage). It touches `ready`, then holds the files open until it
   * reads a line on stdin; it prints the outcome of each close.
   */
  function streamAndPatchHeld(dir: string, names: string[], ready: string) {
    const script = `import os, sys
fds = []
for name in ${JSON.stringify(names)}:
    fd = os.open(os.path.join('${dir}', name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC)
    for i in range(24): os.write(fd, os.urandom(1 << 20))
    os.pwrite(fd, b'PATCHED', 9 * (1 << 20) + 3)
    fds.append(fd)
open('${ready}', 'w').close()
sys.stdin.readline()
for fd in fds:
    try:
        os.close(fd)
        print('closed', flush=True)
    except OSError as e:
        print('close failed', e.strerror, flush=True)
`;
    const child = spawn('python3', ['-c', script], { stdio: ['pipe', 'pipe', 'ignore'] });
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    const exited = new Promise<void>((r) => child.once('exit', () => r()));
    return { child, output: () => out, close: () => (child.stdin.end('\n'), exited) };
  }

  const keptObjects = async (): Promise<string[]> => (await local.store.list('.ossencfs/')).objects.map((o) => o.key);

  it('a streamed overwrite completed early (a write into a part sent already): a crash before close puts the previous version back at remount; a new file so completed goes', async () => {
    const original = randomBytes(300_000);
    let m = await mountBucket(local, { name: 'early', args: UPLOAD_AT_CLOSE });
    writeFileSync(join(m.mountpoint, 'kept.bin'), original);
    const ready = join(local.dir, 'early-ready');
    const writer = streamAndPatchHeld(m.mountpoint, ['kept.bin', 'fresh.bin'], ready);
    await until('the writes', () => existsSync(ready), 40);
    // The partial new content is in the bucket under both names; the old version aside.
    const bucket = encryptedBucket(local);
    expect((await plaintextOf(bucket, 'kept.bin')).length).toBe(24 * 1024 * 1024);
    expect((await local.store.head('fresh.bin')).size).toBeGreaterThan(0);
    expect(await keptObjects()).toHaveLength(1);
    await killMount(m);
    writer.child.kill('SIGKILL');

    m = await mountBucket(local, { name: 'early', args: UPLOAD_AT_CLOSE });
    try {
      expect(readFileSync(join(m.mountpoint, 'kept.bin')).equals(original)).toBe(true);
      expect(readdirSync(m.mountpoint)).not.toContain('fresh.bin');
      expect(await keptObjects()).toEqual([]);
      expect(m.log()).toMatch(/kept\.bin: put back the version from before a write that never finished/);
      expect(m.log()).toMatch(/fresh\.bin: removed the partial content of a new file whose write never finished/);
    } finally {
      await m.unmount();
    }
  });

  it('a streamed overwrite completed early whose close cannot upload: close fails and the previous version goes back at once', async () => {
    const original = randomBytes(300_000);
    const m = await mountBucket(local, { name: 'early-eio', args: UPLOAD_AT_CLOSE });
    try {
      writeFileSync(join(m.mountpoint, 'doc.bin'), original);
      const ready = join(local.dir, 'early-eio-ready');
      const writer = streamAndPatchHeld(m.mountpoint, ['doc.bin'], ready);
      await until('the writes', () => existsSync(ready), 40);
      // The staged file (24 MiB) goes up as a multipart upload: refuse its Initiate (AccessDenied,
      // which is not retried: close fails at once with EACCES).
      await fault(local, { action: 'fail', status: 403, method: 'POST', path: '/doc.bin', count: 1000 });
      await writer.close();
      expect(writer.output()).toMatch(/close failed Permission denied/);
      await until('the release to give up', () => /doc\.bin: put back the version from before a write that never finished/.test(m.log()), 20);
      await fault(local, { action: 'clear' });
      expect((await plaintextOf(encryptedBucket(local), 'doc.bin')).equals(original)).toBe(true);
      expect(await keptObjects()).toEqual([]);
    } finally {
      await fault(local, { action: 'clear' });
      await m.unmount();
    }
  });
});
