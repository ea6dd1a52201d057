import { spawnSync } from 'node:child_process';
import { constants, createDecipheriv, createPrivateKey, privateDecrypt, randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ObjectMeta } from '../../src/store/ObjectStore.js';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { type Mounted, mountBucket, rekeyToFreshKey, sh, shStatus } from '../support/mounted.js';
import { resetSeen, seen } from '../support/serverAdmin.js';

/** The value of `name` on `path`, as bytes (getfattr's hex, so binary values come through whole). */
function getx(path: string, name: string): Buffer {
  const out = sh(`getfattr --absolute-names -e hex -n ${name} '${path}'`);
  const m = new RegExp(`^${name.replace('.', '\\.')}=0x([0-9a-f]*)$`, 'm').exec(out);
  if (!m) throw new Error(`getfattr of ${name}: ${out}`);
  return Buffer.from(m[1]!, 'hex');
}

function setx(path: string, name: string, value: Buffer | string): void {
  sh(`setfattr -n ${name} -v 0x${Buffer.from(value).toString('hex')} '${path}'`);
}

/** The user.* names on `path`, sorted. */
function names(path: string): string[] {
  return sh(`getfattr --absolute-names -m '^user\\.' '${path}' | grep -v '^#' || true`)
    .split('\n')
    .filter(Boolean)
    .sort();
}

/**
 * Runs a python3 script with `attempt(f)` (the errno name f's OSError carries, or 'ok') and libc
 * through ctypes (for buffer sizes os.getxattr does not let one choose); returns its stdout lines.
 */
function py(script: string, ...args: string[]): string[] {
  const prelude = `import ctypes, ctypes.util, errno, os, sys
libc = ctypes.CDLL(ctypes.util.find_library('c'), use_errno=True)
def attempt(f):
    try:
        f()
        return 'ok'
    except OSError as e:
        # the same number as ENOTSUP on Linux, which errorcode names
        return 'EOPNOTSUPP' if e.errno == errno.EOPNOTSUPP else errno.errorcode[e.errno]
`;
  const r = spawnSync('python3', ['-c', prelude + script, ...args], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`python3 exited ${r.status}: ${r.stderr}`);
  return r.stdout.trim().split('\n');
}

/** An independent reader of the SDK format (FORMAT.md §1–4): unwrap key and IV with RSA PKCS#1 v1.5, AES-256-CTR. */
async function sdkDecrypt(local: LocalBucket, key: string, keyFile = local.keyFile): Promise<Buffer> {
  const { head, body } = await local.store.get(key);
  const chunks: Buffer[] = [];
  for await (const c of body) chunks.push(c as Buffer);
  const rsa = createPrivateKey(readFileSync(keyFile));
  const unwrap = (b64: string): Buffer => {
    const block = privateDecrypt({ key: rsa, padding: constants.RSA_NO_PADDING }, Buffer.from(b64, 'base64'));
    return block.subarray(block.indexOf(0, 2) + 1);
  };
  const decipher = createDecipheriv('aes-256-ctr', unwrap(head.meta['client-side-encryption-key']!), unwrap(head.meta['client-side-encryption-start']!));
  return Buffer.concat([decipher.update(Buffer.concat(chunks)), decipher.final()]);
}

/** Every header value and name of `meta`, and the files of the server's data directory, hold none of `secrets`. */
function expectNowhere(local: LocalBucket, meta: ObjectMeta, secrets: string[]): void {
  const headers = JSON.stringify(meta);
  for (const secret of secrets) {
    expect(headers).not.toContain(secret);
    expect(shStatus(`grep -rlF -- '${secret}' '${local.dataDir}'`).stdout).toBe('');
  }
}

describe('mount: extended attributes', () => {
  let local: LocalBucket;
  let m: Mounted;

  beforeAll(async () => {
    local = await startLocalBucket();
    m = await mountBucket(local);
  });

  afterAll(async () => {
    await m?.unmount();
    await local?.close();
  });

  it('user.* set, listed, read (binary values too), removed; kept across a remount', async () => {
    const file = join(m.mountpoint, 'tagged.txt');
    writeFileSync(file, 'content');
    const binary = Buffer.from([0, 1, 2, 0xff, 0, 10, 13, 0x80]);
    setx(file, 'user.mime', 'text/plain');
    setx(file, 'user.blob', binary);
    setx(file, 'user.empty', '');
    expect(names(file)).toEqual(['user.blob', 'user.empty', 'user.mime']);
    expect(getx(file, 'user.mime').toString()).toBe('text/plain');
    expect(getx(file, 'user.blob')).toEqual(binary);
    expect(getx(file, 'user.empty')).toEqual(Buffer.alloc(0));
    sh(`setfattr -x user.empty '${file}'`);
    expect(names(file)).toEqual(['user.blob', 'user.mime']);
    expect(shStatus(`getfattr -n user.empty '${file}'`).stderr).toMatch(/No such attribute/);

    await m.unmount();
    m = await mountBucket(local);
    expect(names(file)).toEqual(['user.blob', 'user.mime']);
    expect(getx(file, 'user.blob')).toEqual(binary);
    expect(readFileSync(file, 'utf8')).toBe('content');
  });

  it('directories carry them (an implicit one gets a marker); the mount root has no object for them: EOPNOTSUPP', async () => {
    const dir = join(m.mountpoint, 'labelled');
    mkdirSync(dir);
    setx(dir, 'user.label', 'red');
    expect(getx(dir, 'user.label').toString()).toBe('red');
    // A directory only a key's prefix makes (another tool wrote the file, no marker).
    sh(`mkdir '${m.mountpoint}/implicit' && echo x > '${m.mountpoint}/implicit/f'`);
    await local.store.delete('implicit/');
    setx(join(m.mountpoint, 'implicit'), 'user.label', 'blue');
    expect((await local.store.head('implicit/')).meta['ossencfs-xattrs']).toBeDefined();
    expect(getx(join(m.mountpoint, 'implicit'), 'user.label').toString()).toBe('blue');
    expect(py(`print(attempt(lambda: os.setxattr(sys.argv[1], 'user.x', b'1')))`, m.mountpoint)).toEqual(['EOPNOTSUPP']);
    expect(py(`print(os.listxattr(sys.argv[1]))`, m.mountpoint)).toEqual(['[]']);
  });

  it('XATTR_CREATE and XATTR_REPLACE, missing names, size queries and short buffers answer as on a local disk', () => {
    const file = join(m.mountpoint, 'flags.txt');
    writeFileSync(file, 'x');
    const out = py(
      `p = sys.argv[1]
print(attempt(lambda: os.setxattr(p, 'user.a', b'1', os.XATTR_REPLACE)))
print(attempt(lambda: os.setxattr(p, 'user.a', b'1', os.XATTR_CREATE)))
print(attempt(lambda: os.setxattr(p, 'user.a', b'2', os.XATTR_CREATE)))
print(attempt(lambda: os.setxattr(p, 'user.a', b'3', os.XATTR_REPLACE)))
print(os.getxattr(p, 'user.a'))
print(attempt(lambda: os.getxattr(p, 'user.missing')))
print(attempt(lambda: os.removexattr(p, 'user.missing')))
os.setxattr(p, 'user.long', b'0123456789')
print(libc.getxattr(p.encode(), b'user.long', None, 0))
buf = ctypes.create_string_buffer(4)
print(libc.getxattr(p.encode(), b'user.long', buf, 4), errno.errorcode[ctypes.get_errno()])
print(libc.listxattr(p.encode(), buf, 4), errno.errorcode[ctypes.get_errno()])
big = ctypes.create_string_buffer(64)
n = libc.getxattr(p.encode(), b'user.long', big, 64)
print(n, big.raw[:n])`,
      file,
    );
    expect(out).toEqual(['ENODATA', 'ok', 'EEXIST', 'ok', "b'3'", 'ENODATA', 'ENODATA', '10', '-1 ERANGE', '-1 ERANGE', "10 b'0123456789'"]);
  });

  it('security.*, trusted.* and POSIX ACLs are not kept (EOPNOTSUPP on set, ENODATA on get)', () => {
    const file = join(m.mountpoint, 'namespaces.txt');
    writeFileSync(file, 'x');
    // An ACL that grants user 1234 rw- beside the mode: version 2, then (tag, perm, id) entries.
    const out = py(
      `import struct
p = sys.argv[1]
acl = struct.pack('<I', 2) + b''.join(struct.pack('<HHI', tag, perm, i) for tag, perm, i in
    [(0x01, 6, 0xffffffff), (0x02, 6, 1234), (0x04, 4, 0xffffffff), (0x10, 6, 0xffffffff), (0x20, 4, 0xffffffff)])
for name, value in [('security.selinux', b'v'), ('security.test', b'v'), ('trusted.t', b'v'),
                    ('system.posix_acl_access', acl), ('system.posix_acl_default', acl)]:
    print(name, attempt(lambda: os.setxattr(p if 'default' not in name else os.path.dirname(p), name, value)),
          attempt(lambda: os.getxattr(p, name)))
print('security.capability', attempt(lambda: os.getxattr(p, 'security.capability')))`,
      file,
    );
    expect(out).toEqual([
      'security.selinux EOPNOTSUPP ENODATA',
      'security.test EOPNOTSUPP ENODATA',
      'trusted.t EOPNOTSUPP ENODATA',
      'system.posix_acl_access EOPNOTSUPP ENODATA',
      'system.posix_acl_default EOPNOTSUPP ENODATA',
      'security.capability ENODATA',
    ]);
    expect(names(file)).toEqual([]);
  });

  it('are stored encrypted: neither a name nor a value in the headers or anywhere on the server; the SDK format still decrypts the content', async () => {
    const file = join(m.mountpoint, 'secret.txt');
    const content = Buffer.from('the content the SDKs must still read\n');
    writeFileSync(file, content);
    const name = `user.name${randomBytes(6).toString('hex')}`;
    const value = `value${randomBytes(6).toString('hex')}`;
    setx(file, name, value);
    expect(getx(file, name).toString()).toBe(value);
    const head = await local.store.head('secret.txt');
    expect(head.meta['ossencfs-xattrs']).toMatch(/^[A-Za-z0-9+/]+=*$/);
    expectNowhere(local, head.meta, [name, value, Buffer.from(value).toString('base64').slice(0, 12)]);
    expect((await sdkDecrypt(local, 'secret.txt')).equals(content)).toBe(true);
  });

  it('metadata past OSS 8 KiB is E2BIG and loses nothing: the object, its content and its earlier attributes stay', async () => {
    const file = join(m.mountpoint, 'full.txt');
    writeFileSync(file, 'keep me');
    setx(file, 'user.first', 'one');
    const before = await local.store.head('full.txt');
    const out = py(
      `p = sys.argv[1]
print(attempt(lambda: os.setxattr(p, 'user.huge', os.urandom(7000))))
for i in range(8):
    r = attempt(lambda: os.setxattr(p, 'user.part%d' % i, os.urandom(900)))
    print(r)
    if r != 'ok': break`,
      file,
    );
    expect(out[0]).toBe('E2BIG');
    expect(out.slice(1)).toContain('E2BIG');
    expect(out[out.length - 1]).toBe('E2BIG');
    const kept = out.slice(1).filter((r) => r === 'ok').length;
    expect(kept).toBeGreaterThan(3);
    expect(names(file)).toEqual(['user.first', ...Array.from({ length: kept }, (_, i) => `user.part${i}`)].sort());
    expect(getx(file, 'user.first').toString()).toBe('one');
    expect(readFileSync(file, 'utf8')).toBe('keep me');
    // The refused set never reached the bucket; the accepted ones each replaced the object.
    const after = await local.store.head('full.txt');
    expect(after.etag).toBe(before.etag); // same ciphertext re-sent
    expect(after.meta['client-side-encryption-key']).toBe(before.meta['client-side-encryption-key']);
    // A file with content still to upload judges the set the same way, and keeps its content.
    const fresh = join(m.mountpoint, 'fresh.txt');
    expect(
      py(
        `f = open(sys.argv[1], 'w'); f.write('fresh'); f.flush()
print(attempt(lambda: os.setxattr(sys.argv[1], 'user.huge', os.urandom(7000))))
print(attempt(lambda: os.setxattr(sys.argv[1], 'user.ok', b'fine')))
f.close()`,
        fresh,
      ),
    ).toEqual(['E2BIG', 'ok']);
    expect(readFileSync(fresh, 'utf8')).toBe('fresh');
    expect(names(fresh)).toEqual(['user.ok']);
    // Replacing an existing file's content, the old envelope is not counted beside the new one.
    expect(
      py(
        `f = open(sys.argv[1], 'w'); f.write('fresher'); f.flush()
print(attempt(lambda: os.setxattr(sys.argv[1], 'user.v', b'v' * 4200)))
f.close()`,
        fresh,
      ),
    ).toEqual(['ok']);
    expect(getx(fresh, 'user.v').length).toBe(4200);
    expect(readFileSync(fresh, 'utf8')).toBe('fresher');
  });

  it('kept by a rename of the file and of its directory, and by content written anew (O_TRUNC, cp over it, truncate)', async () => {
    const dir = join(m.mountpoint, 'moving');
    mkdirSync(dir);
    const file = join(dir, 'a.txt');
    writeFileSync(file, 'first');
    setx(file, 'user.k', 'v1');
    setx(dir, 'user.d', 'dir');
    renameSync(file, join(dir, 'b.txt'));
    expect(getx(join(dir, 'b.txt'), 'user.k').toString()).toBe('v1');
    renameSync(dir, join(m.mountpoint, 'moved'));
    const moved = join(m.mountpoint, 'moved', 'b.txt');
    expect(getx(join(m.mountpoint, 'moved'), 'user.d').toString()).toBe('dir');
    expect(getx(moved, 'user.k').toString()).toBe('v1');

    const keyBefore = (await local.store.head('moved/b.txt')).meta['client-side-encryption-key'];
    writeFileSync(moved, 'second, written anew'); // open O_TRUNC, write, close
    const src = join(local.dir, 'over.txt');
    writeFileSync(src, 'third, by cp');
    sh(`cp '${src}' '${moved}'`);
    sh(`truncate -s 3 '${moved}'`);
    sh(`printf more >> '${moved}'`);

    await m.unmount();
    m = await mountBucket(local);
    expect(readFileSync(moved, 'utf8')).toBe('thimore');
    expect(getx(moved, 'user.k').toString()).toBe('v1');
    const head = await local.store.head('moved/b.txt');
    expect(head.meta['client-side-encryption-key']).not.toBe(keyBefore); // a new data key sealed them anew
    expect((await sdkDecrypt(local, 'moved/b.txt')).toString()).toBe('thimore');
  });

  it('set on a file still open with new content, they go up with it (one PutObject, or a multipart upload past 8 MiB)', async () => {
    const file = join(m.mountpoint, 'open.txt');
    const big = join(m.mountpoint, 'open-big.bin');
    const bigData = randomBytes(9 * 1024 * 1024 + 5);
    writeFileSync(join(local.dir, 'big.src'), bigData);
    py(
      `fd = os.open(sys.argv[1], os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, b'written while open')
os.setxattr(fd, 'user.during', b'yes')
os.close(fd)
fd = os.open(sys.argv[2], os.O_CREAT | os.O_WRONLY, 0o644)
os.write(fd, open(sys.argv[3], 'rb').read())
os.setxattr(fd, 'user.big', b'multipart')
os.close(fd)`,
      file,
      big,
      join(local.dir, 'big.src'),
    );
    await m.unmount();
    m = await mountBucket(local);
    expect(getx(file, 'user.during').toString()).toBe('yes');
    expect(readFileSync(file, 'utf8')).toBe('written while open');
    expect((await local.store.head('open-big.bin')).meta['client-side-encryption-part-size']).toBeDefined();
    expect(getx(big, 'user.big').toString()).toBe('multipart');
    expect(readFileSync(big).equals(bigData)).toBe(true);
  });

  it('rsync -X and cp --preserve=xattr keep them, both ways', () => {
    const src = join(local.dir, 'xsrc');
    mkdirSync(join(src, 'sub'), { recursive: true });
    writeFileSync(join(src, 'one'), 'one');
    writeFileSync(join(src, 'sub', 'two'), 'two');
    setx(join(src, 'one'), 'user.origin', 'local');
    setx(join(src, 'sub', 'two'), 'user.bin', Buffer.from([0, 255, 7]));
    setx(join(src, 'sub'), 'user.dir', 'yes');

    sh(`rsync -aX '${src}/' '${m.mountpoint}/rsynced/'`);
    expect(getx(join(m.mountpoint, 'rsynced', 'one'), 'user.origin').toString()).toBe('local');
    expect(getx(join(m.mountpoint, 'rsynced', 'sub', 'two'), 'user.bin')).toEqual(Buffer.from([0, 255, 7]));
    expect(getx(join(m.mountpoint, 'rsynced', 'sub'), 'user.dir').toString()).toBe('yes');
    // A second run finds nothing to change.
    expect(sh(`rsync -aXi '${src}/' '${m.mountpoint}/rsynced/'`).trim()).toBe('');

    sh(`cp -r --preserve=xattr '${src}' '${m.mountpoint}/copied'`);
    expect(getx(join(m.mountpoint, 'copied', 'sub', 'two'), 'user.bin')).toEqual(Buffer.from([0, 255, 7]));

    const back = join(local.dir, 'xback');
    sh(`rsync -aX '${m.mountpoint}/rsynced/' '${back}/'`);
    expect(getx(join(back, 'one'), 'user.origin').toString()).toBe('local');
    sh(`cp --preserve=xattr '${m.mountpoint}/copied/sub/two' '${back}/two-cp'`);
    expect(getx(join(back, 'two-cp'), 'user.bin')).toEqual(Buffer.from([0, 255, 7]));
  });

  it('reading the attributes of objects without any costs no request, and security.capability never reaches JavaScript', async () => {
    const file = join(m.mountpoint, 'plain.txt');
    writeFileSync(file, 'no attributes');
    sh(`stat '${file}' > /dev/null`);
    await resetSeen(local);
    expect(names(file)).toEqual([]);
    expect(shStatus(`getfattr -n user.none '${file}'`).stderr).toMatch(/No such attribute/);
    expect(await seen(local)).toEqual([]);

    const logged = (): number => (m.log().match(/\bgetxattr \/plain\.txt\b/g) ?? []).length;
    const before = logged();
    sh(`for i in $(seq 20); do echo line >> '${file}'; done`);
    expect(logged()).toBe(before);
  });

  it('--no-xattrs refuses them as the kernel then does (EOPNOTSUPP), and loses none it finds: a chmod there keeps them', async () => {
    const file = join(m.mountpoint, 'shared.txt');
    writeFileSync(file, 'both mounts');
    setx(file, 'user.keep', 'me');
    const plain = await mountBucket(local, { name: 'noxattrs', args: ['--no-xattrs'] });
    try {
      const there = join(plain.mountpoint, 'shared.txt');
      expect(
        py(
          `p = sys.argv[1]
print(attempt(lambda: os.setxattr(p, 'user.new', b'1')), attempt(lambda: os.getxattr(p, 'user.keep')), os.listxattr(p))
os.chmod(p, 0o600)`,
          there,
        ),
      ).toEqual(["EOPNOTSUPP EOPNOTSUPP []"]);
      await plain.unmount(); // lands the chmod, which waits a moment
    } finally {
      await plain.unmount();
    }
    await m.unmount();
    m = await mountBucket(local);
    expect(sh(`stat -c %a '${file}'`).trim()).toBe('600');
    expect(getx(file, 'user.keep').toString()).toBe('me');
  });

  it('a rekey carries them: the same data key, wrapped anew, still opens the sealed set', async () => {
    const file = join(m.mountpoint, 'rekeyed.txt');
    writeFileSync(file, 'rotate');
    setx(file, 'user.kept', 'through the rekey');
    const sealed = (await local.store.head('rekeyed.txt')).meta['ossencfs-xattrs'];
    await m.unmount();
    const { keyFile: keyB, rekey } = rekeyToFreshKey(local);
    expect(rekey.status, rekey.stderr).toBe(0);
    const head = await local.store.head('rekeyed.txt');
    expect(head.meta['ossencfs-xattrs']).toBe(sealed);
    m = await mountBucket(local, { keyArgs: ['--rsa-key', keyB] });
    expect(getx(file, 'user.kept').toString()).toBe('through the rekey');
    expect((await sdkDecrypt(local, 'rekeyed.txt', keyB)).toString()).toBe('rotate');
  }, 120_000);

  it('with a KMS key as with RSA: the set opens with the data key KMS unwraps, after a remount', async () => {
    const kmsArgs = ['--kms-key-id', local.kmsKeyId, '--kms-endpoint', local.server.url, '--region', 'cn-hangzhou', '--skip-key-check'];
    let kms = await mountBucket(local, { name: 'kms', keyArgs: kmsArgs });
    try {
      mkdirSync(join(kms.mountpoint, 'kms'));
      const file = join(kms.mountpoint, 'kms', 'f.txt');
      writeFileSync(file, 'under kms');
      setx(file, 'user.wrapped', 'by kms');
      await kms.unmount();
      kms = await mountBucket(local, { name: 'kms', keyArgs: kmsArgs });
      expect(getx(file, 'user.wrapped').toString()).toBe('by kms');
      expect((await local.store.head('kms/f.txt')).meta['client-side-encryption-wrap-alg']).toBe('KMS/ALICLOUD');
    } finally {
      await kms.unmount();
    }
  });
});
