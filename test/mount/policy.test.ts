import { constants, createDecipheriv, createPrivateKey, privateDecrypt } from 'node:crypto';
import { appendFileSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { type Mounted, mountBucket, sh, shStatus, UPLOAD_AT_CLOSE } from '../support/mounted.js';

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

  /** The bucket holds the SDK's objects under the vectors' key, which the other mounts' key cannot open. */
  const SDK_OBJECTS_HERE = ['--skip-key-check'];

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
    const m = await mountBucket(local, { name: 'plain', args: SDK_OBJECTS_HERE });
    mounts.push(m);
    const r = shStatus(`ls ${m.mountpoint}/plain && cat ${m.mountpoint}/plain/readme.txt`);
    expect(r.stdout).toContain('readme.txt');
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Input\/output error/);
    expect(m.log()).toMatch(/plain\/readme\.txt.*not encrypted|not encrypted.*plain\/readme\.txt/i);
  });

  it('--allow-plaintext reads a plaintext object as it is', async () => {
    const m = await mountBucket(local, { name: 'allowplain', args: [...SDK_OBJECTS_HERE, '--allow-plaintext'] });
    mounts.push(m);
    expect(readFileSync(join(m.mountpoint, 'plain/readme.txt'), 'utf8')).toBe('not encrypted');
  });

  it('--read-only refuses writes with EROFS', async () => {
    const m = await mountBucket(local, { name: 'ro', args: [...SDK_OBJECTS_HERE, '--read-only'] });
    mounts.push(m);
    const r = shStatus(`echo x > ${m.mountpoint}/nope`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Read-only file system/);
    expect(shStatus(`mkdir ${m.mountpoint}/nodir`).stderr).toMatch(/Read-only file system/);
  });

  it('a public key alone writes, but reads fail with EACCES (encrypt-only)', async () => {
    const full = await mountBucket(local, { name: 'full', args: [...SDK_OBJECTS_HERE, ...UPLOAD_AT_CLOSE] });
    mounts.push(full);
    writeFileSync(join(full.mountpoint, 'secret.txt'), 'for the private key only');
    const m = await mountBucket(local, { name: 'pub', args: [...SDK_OBJECTS_HERE, ...UPLOAD_AT_CLOSE], keyArgs: ['--rsa-public-key', local.publicKeyFile] });
    mounts.push(m);
    const r = shStatus(`cat ${m.mountpoint}/secret.txt`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Permission denied/);
    // What the encrypt-only mount writes, the private key reads.
    writeFileSync(join(m.mountpoint, 'dropbox.txt'), 'write only');
    expect(readFileSync(join(full.mountpoint, 'dropbox.txt'), 'utf8')).toBe('write only');
  });

  it('what the mount writes is the official SDK format: headers, RSA PKCS#1 v1.5 wrap, AES-256-CTR body', async () => {
    const m = await mountBucket(local, { name: 'format', args: [...SDK_OBJECTS_HERE, ...UPLOAD_AT_CLOSE] });
    mounts.push(m);
    const plain = Buffer.from('x'.repeat(1000) + ' format check');
    writeFileSync(join(m.mountpoint, 'format.bin'), plain);
    const { head, body } = await local.store.get('format.bin');
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    const ciphertext = Buffer.concat(chunks);
    expect(ciphertext.equals(plain)).toBe(false);
    expect(head.meta['client-side-encryption-cek-alg']).toBe('AES/CTR/NoPadding');
    expect(head.meta['client-side-encryption-wrap-alg']).toBe('RSA/NONE/PKCS1Padding');
    expect(head.meta['client-side-encryption-unencrypted-content-length']).toBe(String(plain.length));
    // An independent reader, as FORMAT.md describes the SDKs: unwrap key and IV, CTR from the IV.
    const key = createPrivateKey(readFileSync(local.keyFile));
    const unwrap = (b64: string): Buffer => {
      const block = privateDecrypt({ key, padding: constants.RSA_NO_PADDING }, Buffer.from(b64, 'base64'));
      expect(block[0]).toBe(0);
      expect(block[1]).toBe(2);
      return block.subarray(block.indexOf(0, 2) + 1);
    };
    const cek = unwrap(head.meta['client-side-encryption-key']!);
    const iv = unwrap(head.meta['client-side-encryption-start']!);
    expect(cek.length).toBe(32);
    expect(iv.subarray(8, 12)).toEqual(Buffer.alloc(4));
    const decipher = createDecipheriv('aes-256-ctr', cek, iv);
    expect(Buffer.concat([decipher.update(ciphertext), decipher.final()]).equals(plain)).toBe(true);
  });

  it('lists a directory of 2,500 entries, more than one LIST page (1,000 keys) holds', async () => {
    const names = Array.from({ length: 2500 }, (_, i) => `e${String(i).padStart(5, '0')}`);
    for (let i = 0; i < names.length; i += 100) {
      await Promise.all(names.slice(i, i + 100).map((n) => local.store.put(`big/${n}`, Buffer.alloc(0), { meta: {} })));
    }
    const m = await mountBucket(local, { name: 'bigdir', args: [...SDK_OBJECTS_HERE, '--allow-plaintext'] });
    mounts.push(m);
    expect(readdirSync(join(m.mountpoint, 'big')).sort()).toEqual(names);
  });

  it('--no-xattrs: setxattr, getxattr and removexattr fail with ENOTSUP, listxattr is empty', async () => {
    const m = await mountBucket(local, { name: 'xattr', args: [...SDK_OBJECTS_HERE, '--no-xattrs'] });
    mounts.push(m);
    writeFileSync(join(m.mountpoint, 'x.txt'), 'x');
    const r = shStatus(`python3 -c "import os; os.setxattr('${m.mountpoint}/x.txt', 'user.k', b'v')"`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Operation not supported/);
    expect(sh(`python3 -c "import os; print(os.listxattr('${m.mountpoint}/x.txt'))"`).trim()).toBe('[]');
    for (const call of [`os.getxattr('${m.mountpoint}/x.txt', 'user.k')`, `os.removexattr('${m.mountpoint}/x.txt', 'user.k')`]) {
      const again = shStatus(`python3 -c "import os; ${call}"`);
      expect(again.status).not.toBe(0);
      expect(again.stderr).toMatch(/Operation not supported/);
    }
    // Writes still work once the kernel has stopped asking for security.capability.
    appendFileSync(join(m.mountpoint, 'x.txt'), 'y');
    expect(readFileSync(join(m.mountpoint, 'x.txt'), 'utf8')).toBe('xy');
  });

  it('a body altered on the server is caught by the plaintext MD5 on a whole read: EIO, never the wrong bytes', async () => {
    const m = await mountBucket(local, { name: 'tamper', args: SDK_OBJECTS_HERE });
    mounts.push(m);
    writeFileSync(join(m.mountpoint, 'ledger.bin'), Buffer.alloc(3 * 1024 * 1024 + 7, 'L'));
    await m.unmount();
    const { head, body } = await local.store.get('ledger.bin');
    const chunks: Buffer[] = [];
    for await (const c of body) chunks.push(c as Buffer);
    const altered = Buffer.concat(chunks);
    altered[2 * 1024 * 1024 + 5]! ^= 0x01;
    await local.store.put('ledger.bin', altered, { meta: head.meta });

    const again = await mountBucket(local, { name: 'tamper2', args: SDK_OBJECTS_HERE });
    mounts.push(again);
    const r = shStatus(`cat ${again.mountpoint}/ledger.bin > /dev/null`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Input\/output error/);
    expect(again.log()).toMatch(/ledger\.bin.*MD5 does not match/);
  });
});
