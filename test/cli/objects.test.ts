import { createHash, randomBytes } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { chmodSync, copyFileSync, mkdirSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { spawn } from 'node:child_process';
import { Keyring, rsaMasterKey } from '../../src/crypto/index.js';
import { decodePosixMeta, EncryptedBucket, encodePosixMeta, storedXattrs } from '../../src/secure/index.js';
import { createOssStore } from '../../src/store/index.js';
import { BIN, bucketOfKeyA, type CliWorld, LOCAL_REGION, startWorld } from './harness.js';

const VECTORS = fileURLToPath(new URL('../../../shared/vectors/oss2-rsa', import.meta.url));
const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

let w: CliWorld;
beforeAll(async () => {
  w = await startWorld();
});
afterAll(async () => w?.close());

describe('put / get / cat / cp round trips', () => {
  // 1 MiB parts make 3 MiB + 5 a 4-part upload; 64 MiB goes with the default 8 MiB parts.
  const cases: [string, number, string[]][] = [
    ['0 B', 0, []],
    ['1 B', 1, []],
    ['100000 B single PUT', 100_000, []],
    ['3 MiB + 5 multipart', 3 * 1024 * 1024 + 5, ['--part-size', '1M']],
    ['64 MiB multipart', 64 * 1024 * 1024, []],
  ];
  for (const [name, size, extra] of cases) {
    it(`${name}`, async () => {
      const data = randomBytes(size);
      const src = join(w.dir, `in-${size}`);
      writeFileSync(src, data);
      const put = await w.run(['put', src, `oss://vault/rt/${size}.bin`, ...w.base, ...extra]);
      expect(put.stderr).toBe('');
      expect(put.code).toBe(0);
      // Stored encrypted: the body on the server is not the plaintext.
      const stored = await w.store.head(`rt/${size}.bin`);
      expect(stored.meta['client-side-encryption-key']).toBeDefined();
      expect(stored.size).toBe(size);

      const out = join(w.dir, `out-${size}`);
      const get = await w.run(['get', `oss://vault/rt/${size}.bin`, out, ...w.base]);
      expect(get.code).toBe(0);
      expect(sha(readFileSync(out))).toBe(sha(data));

      const cp = await w.run(['cp', `oss://vault/rt/${size}.bin`, `oss://vault/rt/copy-${size}.bin`, ...w.base]);
      expect(cp.code).toBe(0);
      const copied = await w.store.head(`rt/copy-${size}.bin`);
      // Same bucket: the envelope travels with the ciphertext, nothing is re-encrypted.
      expect(copied.meta['client-side-encryption-key']).toBe(stored.meta['client-side-encryption-key']);
    });
  }

  it('cat writes the exact plaintext bytes', async () => {
    const data = Buffer.from('line one\nline two\n');
    writeFileSync(join(w.dir, 'note.txt'), data);
    expect((await w.run(['put', join(w.dir, 'note.txt'), 'oss://vault/notes/', ...w.base])).code).toBe(0);
    const cat = await w.run(['cat', 'oss://vault/notes/note.txt', ...w.base]);
    expect(cat.code).toBe(0);
    expect(cat.stdout).toBe(data.toString());
  });
});

describe('cp to another bucket', () => {
  it('opens and seals anew the extended attributes, and vouches for an owner only where the source did', async () => {
    expect((await w.run(['mb', 'oss://vault2', ...w.base])).code).toBe(0);
    const source = bucketOfKeyA(w);
    const owned = encodePosixMeta({ mode: 0o100640, uid: 1234, gid: 5678 });
    await source.put('cpx/kept', Buffer.from('kept'), { meta: owned, xattrs: new Map([['user.tag', Buffer.from('value')]]) });
    // A bucket writer's object: root's setuid file, which no key holder vouched for.
    await source.put('cpx/planted', Buffer.from('planted'), { meta: encodePosixMeta({ mode: 0o104755, uid: 0, gid: 0 }), vouched: false });

    for (const name of ['kept', 'planted']) {
      const cp = await w.run(['cp', `oss://vault/cpx/${name}`, `oss://vault2/${name}`, ...w.base]);
      expect(cp.stderr).toBe('');
      expect(cp.code).toBe(0);
    }
    const store = createOssStore({ endpoint: w.server.url, bucket: 'vault2', region: LOCAL_REGION, accessKeyId: w.env.OSS_ACCESS_KEY_ID!, accessKeySecret: w.env.OSS_ACCESS_KEY_SECRET! });
    const dest = new EncryptedBucket(store, new Keyring({ writer: rsaMasterKey({ privateKeyPem: readFileSync(w.keyA, 'utf8') }) }));
    const kept = await store.head('kept');
    expect(dest.attrMac.verified('kept', kept.meta)).toBe(true);
    expect(decodePosixMeta(kept.meta)).toMatchObject({ mode: 0o100640, uid: 1234, gid: 5678 });
    expect((await dest.openXattrs(storedXattrs('kept', kept.meta)!)).get('user.tag')?.toString()).toBe('value');
    const planted = await store.head('planted');
    expect(dest.attrMac.verified('planted', planted.meta)).toBe(false);
    const stat = async (name: string): Promise<string> => (await w.run(['stat', `oss://vault2/${name}`, '--endpoint', w.server.url])).stdout;
    expect(await stat('kept')).toMatch(/^attr-mac +present .*\n[^]*^xattrs +present/m);
    expect(await stat('planted')).toMatch(/^attr-mac +absent/m);
  });
});

describe('-r trees', () => {
  it('put -r, ls, get -r, rm -r', async () => {
    const tree = join(w.dir, 'tree');
    mkdirSync(join(tree, 'a', 'b'), { recursive: true });
    mkdirSync(join(tree, 'empty'));
    const files: Record<string, Buffer> = { 'top.txt': randomBytes(10), 'a/one.bin': randomBytes(5000), 'a/b/two.bin': randomBytes(200_000) };
    for (const [rel, data] of Object.entries(files)) writeFileSync(join(tree, rel), data);
    chmodSync(join(tree, 'a/one.bin'), 0o640);

    const put = await w.run(['put', '-r', '-j', '3', tree, 'oss://vault/trees/', ...w.base]);
    expect(put.code).toBe(0);

    const ls = await w.run(['ls', 'oss://vault/trees/tree/', ...w.base]);
    expect(ls.stdout.split('\n').filter(Boolean).sort()).toEqual(['a/', 'empty/', 'top.txt']);
    const lsr = await w.run(['ls', '-r', '-l', 'oss://vault/trees/tree', ...w.base]);
    expect(lsr.stdout).toMatch(/200000 .* a\/b\/two\.bin/);

    const out = join(w.dir, 'tree-out');
    const get = await w.run(['get', '-r', 'oss://vault/trees/tree', out, ...w.base]);
    expect(get.code).toBe(0);
    for (const [rel, data] of Object.entries(files)) expect(readFileSync(join(out, rel)).equals(data)).toBe(true);
    expect(readdirSync(join(out, 'empty'))).toEqual([]);
    expect(statSync(join(out, 'a/one.bin')).mode & 0o777).toBe(0o640);

    const rmWithoutR = await w.run(['rm', 'oss://vault/trees/tree/', ...w.base]);
    expect(rmWithoutR.code).toBe(2);
    const rm = await w.run(['rm', '-r', 'oss://vault/trees/tree', ...w.base]);
    expect(rm.code).toBe(0);
    expect((await w.store.list('trees/')).objects).toEqual([]);
  });
});

describe('objects written by the official SDK', () => {
  it('get of an oss2 RSA vector object (headers as the SDK sent them)', async () => {
    const c = JSON.parse(readFileSync(join(VECTORS, 'cases/put-1000-bytes.json'), 'utf8'));
    const meta: Record<string, string> = {};
    for (const [h, v] of Object.entries(c.headers as Record<string, string>)) meta[h.replace(/^x-oss-meta-/, '')] = v;
    await w.store.put('sdk/put-1000-bytes', readFileSync(join(VECTORS, 'cases', c.ciphertext_file)), { meta });
    const key = join(w.dir, 'vector-a.pem');
    copyFileSync(join(VECTORS, 'keys/rsa-key-a.private.pem'), key);
    chmodSync(key, 0o600);
    const out = join(w.dir, 'vector.out');
    const r = await w.run(['get', 'oss://vault/sdk/put-1000-bytes', out, '--endpoint', w.server.url, '--rsa-key', key]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(sha(readFileSync(out))).toBe(c.plaintext_sha256);

    const stat = await w.run(['stat', 'oss://vault/sdk/put-1000-bytes', '--endpoint', w.server.url]);
    expect(stat.stdout).toMatch(/wrap-alg\s+RSA\/NONE\/PKCS1Padding/);
    expect(stat.stdout).toMatch(/plaintext-md5\s+absent/);
    expect(stat.stdout).not.toContain(meta['client-side-encryption-key']);
  });
});

describe('keys and exit codes', () => {
  it('refuses a group-readable private key unless --insecure-key-perms', async () => {
    const loose = join(w.dir, 'loose.pem');
    copyFileSync(w.keyA, loose);
    chmodSync(loose, 0o644);
    writeFileSync(join(w.dir, 'k.txt'), 'k');
    const refused = await w.run(['put', join(w.dir, 'k.txt'), 'oss://vault/k.txt', '--endpoint', w.server.url, '--rsa-key', loose]);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain(`chmod 600 ${loose}`);
    const allowed = await w.run(['put', join(w.dir, 'k.txt'), 'oss://vault/k.txt', '--endpoint', w.server.url, '--rsa-key', loose, '--insecure-key-perms']);
    expect(allowed.code).toBe(0);
  });

  it('exit 2 for usage errors, 1 for failures, with one line naming the object', async () => {
    expect((await w.run(['get', 'vault/x', 'y', ...w.base])).code).toBe(2);
    expect((await w.run(['cat', 'oss://Bad_Bucket/x', ...w.base])).code).toBe(2);
    expect((await w.run(['cat', ...w.base])).code).toBe(2);
    expect((await w.run(['put', '--part-size', '1000', 'a', 'oss://vault/a', ...w.base])).code).toBe(2);
    const missing = await w.run(['cat', 'oss://vault/no/such', ...w.base]);
    expect(missing.code).toBe(1);
    expect(missing.stderr.trim().split('\n')).toHaveLength(1);
    expect(missing.stderr).toContain('oss://vault/no/such');
    const noKey = await w.run(['cat', 'oss://vault/k.txt', '--endpoint', w.server.url]);
    expect(noKey.code).toBe(2);
    expect(noKey.stderr).toMatch(/no key given/);
  });

  it('a public key alone is encrypt-only: put works, get says what is missing', async () => {
    writeFileSync(join(w.dir, 'pub.txt'), 'secret');
    const pub = ['--endpoint', w.server.url, '--rsa-public-key', `${w.keyA}.pub`];
    expect((await w.run(['put', join(w.dir, 'pub.txt'), 'oss://vault/pub.txt', ...pub])).code).toBe(0);
    const get = await w.run(['cat', 'oss://vault/pub.txt', ...pub]);
    expect(get.code).toBe(1);
    expect(get.stderr).toMatch(/public key only.*oss:\/\/vault\/pub\.txt|oss:\/\/vault\/pub\.txt.*public key only/);
    const read = await w.run(['cat', 'oss://vault/pub.txt', ...w.base]);
    expect(read.stdout).toBe('secret');
  });
});

describe('progress', () => {
  it('draws size, rate and ETA on a terminal, and nothing when output is not one', async () => {
    const src = join(w.dir, 'progress.bin');
    writeFileSync(src, randomBytes(24 * 1024 * 1024));
    // script(1) runs the command on a pseudo-terminal, as a person at a shell would.
    const command = ['node', BIN, 'put', src, 'oss://vault/progress.bin', ...w.base].map((a) => `'${a}'`).join(' ');
    const child = spawn('script', ['-qec', command, '/dev/null'], { env: { ...process.env, ...w.env } });
    let screen = '';
    child.stdout.on('data', (d: Buffer) => (screen += d.toString()));
    expect(await new Promise((r) => child.on('close', r))).toBe(0);
    expect(screen).toMatch(/100% \| 24(\.0)? MiB\/24(\.0)? MiB \| [\d.]+ [KMG]?i?B\/s \| ETA/);
    const piped = await w.run(['put', src, 'oss://vault/progress2.bin', ...w.base]);
    expect(piped.code).toBe(0);
    expect(piped.stderr).toBe('');
  });
});
