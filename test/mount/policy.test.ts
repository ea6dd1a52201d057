import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { type Mounted, mountBucket, shStatus } from '../support/mounted.js';

const VECTORS = fileURLToPath(new URL('../../../shared/vectors/oss2-rsa', import.meta.url));

interface VectorCase {
  name: string;
  key_pair: string;
  headers: Record<string, string>;
  ciphertext_file: string;
  plaintext_file: string;
}

function vector(name: string): VectorCase {
  return JSON.parse(readFileSync(join(VECTORS, 'cases', `${name}.json`), 'utf8')) as VectorCase;
}

/** Upload a case's exact ciphertext and headers, as the official SDK did. */
async function plantVector(local: LocalBucket, key: string, c: VectorCase): Promise<void> {
  const meta = Object.fromEntries(Object.entries(c.headers).map(([k, v]) => [k.replace(/^x-oss-meta-/, ''), v]));
  await local.store.put(key, readFileSync(join(VECTORS, 'cases', c.ciphertext_file)), { meta });
}

describe('mount: keys, modes and foreign objects', () => {
  let local: LocalBucket;
  const mounts: Mounted[] = [];

  beforeAll(async () => {
    local = await startLocalBucket();
  });

  afterAll(async () => {
    for (const m of mounts) await m.unmount();
    await local?.close();
  });

  it('reads objects written by the official Python SDK, and shows them as 0644 files of the mounting user', async () => {
    const c = vector('put-100000-bytes');
    await plantVector(local, 'sdk/put-100000-bytes', c);
    const keyCopy = join(local.dir, 'rsa-key-a.pem');
    writeFileSync(keyCopy, readFileSync(join(VECTORS, 'keys', `${c.key_pair}.private.pem`)), { mode: 0o600 });
    const m = await mountBucket(local, { name: 'sdk', keyArgs: ['--rsa-key', keyCopy] });
    mounts.push(m);
    const plain = readFileSync(join(VECTORS, 'cases', c.plaintext_file));
    const path = join(m.mountpoint, 'sdk', 'put-100000-bytes');
    expect(readFileSync(path).equals(plain)).toBe(true);
    const st = shStatus(`stat -c '%a %u' ${path}`).stdout.trim();
    expect(st).toBe(`644 ${process.getuid!()}`);
  });

  it('a plaintext object is listed but reads fail with EIO and one log line naming it', async () => {
    await local.store.put('plain/readme.txt', Buffer.from('not encrypted'), { meta: {} });
    const m = await mountBucket(local, { name: 'plain' });
    mounts.push(m);
    const r = shStatus(`ls ${m.mountpoint}/plain && cat ${m.mountpoint}/plain/readme.txt`);
    expect(r.stdout).toContain('readme.txt');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Input\/output error/);
    expect(m.log()).toMatch(/plain\/readme\.txt.*not encrypted|not encrypted.*plain\/readme\.txt/i);
  });

  it('--allow-plaintext reads a plaintext object as it is', async () => {
    const m = await mountBucket(local, { name: 'allowplain', args: ['--allow-plaintext'] });
    mounts.push(m);
    expect(readFileSync(join(m.mountpoint, 'plain/readme.txt'), 'utf8')).toBe('not encrypted');
  });

  it('--read-only refuses writes with EROFS', async () => {
    const m = await mountBucket(local, { name: 'ro', args: ['--read-only'] });
    mounts.push(m);
    const r = shStatus(`echo x > ${m.mountpoint}/nope`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Read-only file system/);
    expect(shStatus(`mkdir ${m.mountpoint}/nodir`).stderr).toMatch(/Read-only file system/);
  });

  it('a public key alone writes, but reads fail with EACCES (encrypt-only)', async () => {
    const full = await mountBucket(local, { name: 'full' });
    mounts.push(full);
    writeFileSync(join(full.mountpoint, 'secret.txt'), 'for the private key only');
    const m = await mountBucket(local, { name: 'pub', keyArgs: ['--rsa-public-key', local.publicKeyFile] });
    mounts.push(m);
    const r = shStatus(`cat ${m.mountpoint}/secret.txt`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
    // What the encrypt-only mount writes, the private key reads.
    writeFileSync(join(m.mountpoint, 'dropbox.txt'), 'write only');
    expect(readFileSync(join(full.mountpoint, 'dropbox.txt'), 'utf8')).toBe('write only');
  });
});
