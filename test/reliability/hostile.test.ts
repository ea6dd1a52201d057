import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EncryptedBucket } from '../../src/secure/index.js';
import type { ObjectMeta } from '../../src/store/ObjectStore.js';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { type Mounted, mountBucket, sh, shStatus } from '../support/mounted.js';
import { encryptedBucket, rawPut, sha256 } from './support.js';

const E = (name: string): string => `client-side-encryption-${name}`;

interface Planted {
  body: Buffer;
  meta: ObjectMeta;
}

/**
 * Objects the mount did not write, planted straight into the bucket: broken or foreign envelopes,
 * bodies that do not match their headers, and keys a filesystem cannot show. Whatever the bucket
 * holds, the mount answers with an errno (never wrong bytes for a whole read), logs the object and
 * the reason, keeps running, and lists only names it can represent.
 */
describe('reliability: hostile objects in the bucket', () => {
  let local: LocalBucket;
  let m: Mounted;
  let bucket: EncryptedBucket;
  let otherKeyFile: string;

  beforeAll(async () => {
    local = await startLocalBucket();
    bucket = encryptedBucket(local);
    const other = generateKeyPairSync('rsa', { modulusLength: 2048 });
    otherKeyFile = join(local.dir, 'other.pem');
    writeFileSync(otherKeyFile, other.privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
    m = await mountBucket(local, { name: 'hostile' });
  });

  afterAll(async () => {
    await m?.unmount();
    await local?.close();
  });

  /** A well-formed object with a fresh data key (so no unwrap is shared with another case): its ciphertext and metadata. */
  async function sealed(data: Buffer, b = bucket): Promise<Planted> {
    const key = `seed/${randomBytes(6).toString('hex')}`;
    await b.put(key, data);
    const head = await local.store.head(key);
    const r = await local.store.get(key);
    const chunks: Buffer[] = [];
    for await (const c of r.body) chunks.push(c as Buffer);
    await local.store.delete(key);
    return { body: Buffer.concat(chunks), meta: head.meta };
  }


  const flip = (body: Buffer, at: number): Buffer => {
    const out = Buffer.from(body);
    out[at]! ^= 0x01;
    return out;
  };

  /** name → how to build the object from a sealed one, and the reason the log must give. */
  const cases: Record<string, { make: (s: Planted, data: Buffer) => Promise<Planted> | Planted; reason: RegExp }> = {
    'no encryption headers (plaintext)': { make: (_s, data) => ({ body: data, meta: {} }), reason: /is not encrypted/ },
    // OSS refuses a V2 object without its start (0005-00000402), so a bucket cannot hold one; the
    // old format's headers are ordinary metadata to OSS, so this one it can.
    'V1 envelope missing its start (counter) header': {
      make: (s) => ({ body: s.body, meta: { 'oss-crypto-key': randomBytes(128).toString('base64'), 'oss-wrap-alg': 'rsa', 'oss-cek-alg': 'AES/GCM/NoPadding' } }),
      reason: /malformed encryption header.*oss-crypto-start is missing/,
    },
    'key header not base64': { make: (s) => ({ ...s, meta: { ...s.meta, [E('key')]: '!!!not base64!!!' } }), reason: /malformed encryption header.*key is not base64/ },
    'matdesc not JSON': { make: (s) => ({ ...s, meta: { ...s.meta, [E('matdesc')]: '{not json' } }), reason: /malformed encryption header.*matdesc/ },
    'unknown wrap algorithm': { make: (s) => ({ ...s, meta: { ...s.meta, [E('wrap-alg')]: 'RSA/NONE/Whatever' } }), reason: /unsupported key wrap algorithm "RSA\/NONE\/Whatever"/ },
    'unknown content algorithm': { make: (s) => ({ ...s, meta: { ...s.meta, [E('cek-alg')]: 'AES/GCM/NoPadding' } }), reason: /unsupported content algorithm "AES\/GCM\/NoPadding"/ },
    'wrapped key is random bytes': { make: (s) => ({ ...s, meta: { ...s.meta, [E('key')]: randomBytes(256).toString('base64') } }), reason: /cannot unwrap the data key/ },
    'wrapped with another RSA key': { make: async (_s, data) => sealed(data, encryptedBucket(local, otherKeyFile)), reason: /cannot unwrap the data key/ },
    'matdesc names a key we do not have': { make: (s) => ({ ...s, meta: { ...s.meta, [E('matdesc')]: '{"key":"someone-else"}' } }), reason: /no key for matdesc \{"key":"someone-else"\}/ },
    'body shorter than its headers say': { make: (s) => ({ ...s, body: s.body.subarray(0, 200_000) }), reason: /plaintext MD5 does not match|length/ },
    'body longer than its headers say': { make: (s) => ({ ...s, body: Buffer.concat([s.body, randomBytes(5000)]) }), reason: /plaintext MD5 does not match|length/ },
    'one byte flipped after upload': { make: (s) => ({ ...s, body: flip(s.body, 1234) }), reason: /plaintext MD5 does not match the object's header/ },
    'last byte flipped after upload': { make: (s) => ({ ...s, body: flip(s.body, s.body.length - 1) }), reason: /plaintext MD5 does not match the object's header/ },
  };

  it.each(Object.keys(cases))('%s: cat fails with EIO, no bytes, one reason in the log; the mount goes on', async (name) => {
    const data = randomBytes(300_000);
    const key = `bad/${name.replace(/[^a-z]+/g, '-')}.bin`;
    const planted = await cases[name]!.make(await sealed(data), data);
    await local.store.put(key, planted.body, { meta: planted.meta });
    const logBefore = m.log().length;

    for (let attempt = 0; attempt < 2; attempt++) {
      const r = shStatus(`cat ${m.mountpoint}/${key} > ${local.dir}/out`);
      expect(r.stderr, `attempt ${attempt}`).toMatch(/Input\/output error/);
      // Nothing reached the app: not the plaintext, not garbage.
      expect(readFileSync(join(local.dir, 'out')).length, `attempt ${attempt}`).toBe(0);
    }
    const lines = m.log().slice(logBefore).split('\n').filter((l) => / (WARN|ERROR) /.test(l));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      // Each names the object and the reason (the kernel may send a failing read more than once).
      expect(line).toContain(`read /${key}: EIO:`);
      expect(line).toContain(JSON.stringify(key));
      expect(line).toMatch(cases[name]!.reason);
    }
    // The mount is alive and serves good files.
    expect(m.process.exitCode).toBeNull();
    writeFileSync(join(m.mountpoint, 'good.txt'), `still fine after ${name}\n`);
    expect(readFileSync(join(m.mountpoint, 'good.txt'), 'utf8')).toBe(`still fine after ${name}\n`);
  });

  it('a flipped byte in a big file: the sequential read ends in EIO (the MD5 covers the whole object)', async () => {
    const data = randomBytes(6 * 1024 * 1024);
    const s = await sealed(data);
    await local.store.put('bad/big-flipped.bin', flip(s.body, 3 * 1024 * 1024 + 5), { meta: s.meta });
    const r = shStatus(`cat ${m.mountpoint}/bad/big-flipped.bin > ${local.dir}/big-out`);
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(/Input\/output error/);
    // Without a per-block MAC in the SDK format the check can only come at the end: bytes before
    // it may have reached the app, but never a whole file and never with a success status.
    expect(readFileSync(join(local.dir, 'big-out')).length).toBeLessThan(data.length);
  });

  it('keys a filesystem cannot show are skipped in listings; odd but valid names are listed and read', async () => {
    const good = await sealed(Buffer.from('fine\n'));
    // Planted with every byte escaped: ali-oss itself cannot send dot segments (see ossStore.ts).
    const hidden = ['names/../up.bin', 'names/./dot.bin', 'names/..', 'names/.', 'names//double.bin', '/leading.bin', `names/${'y'.repeat(300)}`, 'names/sub/../x'];
    const shown = ['names/ok.txt', 'names/ctl\x01char.bin', 'names/new\nline.bin', 'names/tab\there', 'names/back\\slash', 'names/del\x7f'];
    for (const key of [...hidden, ...shown]) expect(await rawPut(local, key, good.body, good.meta), key).toBe(200);

    const listed = readdirSync(join(m.mountpoint, 'names')).sort();
    // 'sub' is the implicit directory of 'names/sub/../x', whose own listing is empty.
    expect(listed).toEqual([...shown.map((k) => k.slice('names/'.length)), 'sub'].sort());
    expect(readdirSync(join(m.mountpoint, 'names', 'sub'))).toEqual([]);
    const root = readdirSync(m.mountpoint);
    expect(root).not.toContain('');
    expect(root).toContain('names');
    for (const key of shown) expect(readFileSync(join(m.mountpoint, key), 'utf8'), JSON.stringify(key)).toBe('fine\n');
    // find walks the whole tree without an error.
    expect(shStatus(`find ${m.mountpoint}/names > /dev/null`).status).toBe(0);
    expect(m.process.exitCode).toBeNull();
  });

  it('a key over 1,023 bytes: the server refuses it, and a mount path that long fails with ENAMETOOLONG', async () => {
    await expect(local.store.put('z'.repeat(1100), Buffer.from('x'), { meta: {} })).rejects.toMatchObject({ errno: 'ENAMETOOLONG' });
    expect(await rawPut(local, 'z'.repeat(1023), Buffer.from('x'))).toBe(200);
    const dirs = Array.from({ length: 4 }, (_, i) => `${i}${'d'.repeat(249)}`).join('/');
    sh(`mkdir -p ${m.mountpoint}/${dirs}`);
    writeFileSync(join(local.dir, 'x'), 'x\n');
    // Refused at create, so even a shell redirection (which ignores close errors) sees it.
    for (const cmd of [`cp ${local.dir}/x ${m.mountpoint}/${dirs}/${'f'.repeat(100)}`, `echo x > ${m.mountpoint}/${dirs}/${'e'.repeat(100)}`, `mkdir ${m.mountpoint}/${dirs}/${'m'.repeat(100)}`]) {
      const r = shStatus(cmd);
      expect(r.status, cmd).not.toBe(0);
      expect(r.stderr, cmd).toMatch(/File name too long/);
    }
    // A rename that would make a key too long is refused before anything is copied.
    sh(`echo moved > ${m.mountpoint}/${dirs}/s`);
    const mv = shStatus(`mv ${m.mountpoint}/${dirs}/s ${m.mountpoint}/${dirs}/${'r'.repeat(100)}`);
    expect(mv.stderr).toMatch(/File name too long/);
    expect(readdirSync(join(m.mountpoint, dirs))).toEqual(['s']);
    sh(`rm ${m.mountpoint}/${dirs}/s`);
    expect(readdirSync(join(m.mountpoint, dirs))).toEqual([]);
    expect(m.process.exitCode).toBeNull();
    sh(`echo ok > ${m.mountpoint}/${dirs}/short`);
    expect(readFileSync(join(m.mountpoint, dirs, 'short'), 'utf8')).toBe('ok\n');
  });

  it('the store refuses to address a dot-segment key instead of sending it as another object', async () => {
    await expect(local.store.head('names/../up.bin')).rejects.toMatchObject({ errno: 'EINVAL' });
    await expect(local.store.put('names/./x', Buffer.from('x'), { meta: {} })).rejects.toMatchObject({ errno: 'EINVAL' });
    // Bulk delete names keys in its XML body, so the leftovers can still be cleaned up.
    await local.store.deleteMany(['names/../up.bin', 'names/./dot.bin', 'names/..', 'names/.']);
    const left = (await local.store.list('names/')).objects.map((o) => o.key);
    expect(left.filter((k) => k.split('/').some((s) => s === '.' || s === '..'))).toEqual(['names/sub/../x']);
    expect(sha256(readFileSync(join(m.mountpoint, 'names/ok.txt')))).toBe(sha256('fine\n'));
  });
});
