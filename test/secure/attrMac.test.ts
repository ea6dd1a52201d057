import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyring, kmsMasterKey, rsaMasterKey } from '../../src/crypto/index.js';
import { ATTR_MAC, AttrMac, attrMacInput } from '../../src/secure/attrMac.js';
import { EncryptedBucket } from '../../src/secure/index.js';
import type { ObjectMeta } from '../../src/store/ObjectStore.js';
import { startHarness, type Harness } from '../store/harness.js';

const KEYS = fileURLToPath(new URL('../../../shared/vectors/oss2-rsa/keys', import.meta.url));
const pem = (name: string) => readFileSync(join(KEYS, `${name}.pem`), 'utf8');
const keyA = () => rsaMasterKey({ privateKeyPem: pem('rsa-key-a.private') });
const keyB = () => rsaMasterKey({ privateKeyPem: pem('rsa-key-b.private') });
const publicA = () => rsaMasterKey({ publicKeyPem: pem('rsa-key-a.public') });

const META: ObjectMeta = {
  'client-side-encryption-key': 'd3JhcHBlZCBrZXk=',
  'client-side-encryption-start': 'd3JhcHBlZCBpdg==',
  'client-side-encryption-cek-alg': 'AES/CTR/NoPadding',
  'client-side-encryption-wrap-alg': 'RSA/NONE/PKCS1Padding',
  mode: String(0o100600),
  uid: '1000',
  gid: '1000',
  mtime: '1700000000',
};

describe('attribute MAC: what it covers', () => {
  const input = (key: string, meta: ObjectMeta) => attrMacInput(key, meta)!.toString('hex');
  const base = input('dir/file', META);

  it.each([
    ['the object key', 'dir/other', {}],
    ['the wrapped data key', 'dir/file', { 'client-side-encryption-key': 'b3RoZXI=' }],
    ['the mode', 'dir/file', { mode: String(0o100644) }],
    ['the uid', 'dir/file', { uid: '0' }],
    ['the gid', 'dir/file', { gid: '0' }],
    ['the rdev', 'dir/file', { rdev: '259' }],
  ])('changes with %s', (_what, key, change) => {
    expect(input(key, { ...META, ...change })).not.toBe(base);
  });

  it('does not change with what it does not vouch for (times, other metadata), nor with how a number is spelled', () => {
    expect(input('dir/file', { ...META, mtime: '1', atime: '2', 'other-tool': 'x' })).toBe(base);
    expect(input('dir/file', { ...META, uid: ' 1000' })).toBe(base);
  });

  it('is unambiguous where one item ends and the next begins', () => {
    expect(input('dir/file', { ...META, uid: '1', gid: '23' })).not.toBe(input('dir/file', { ...META, uid: '12', gid: '3' }));
  });

  it('covers nothing on an object without an envelope', () => {
    expect(attrMacInput('plain', { mode: '33188' })).toBeUndefined();
  });
});

describe('attribute MAC: who can make and check one', () => {
  const signed = new AttrMac(new Keyring({ writer: keyA() })).sign('dir/file', META);

  it('the private key holder signs, and verifies what it signed', () => {
    expect(signed[ATTR_MAC]).toMatch(/^[A-Za-z0-9+/]{43}=$/);
    expect(new AttrMac(new Keyring({ readers: [keyA()] })).verified('dir/file', signed)).toBe(true);
  });

  it('fails for any change to what it covers, and under another key', () => {
    const mac = new AttrMac(new Keyring({ writer: keyA() }));
    expect(mac.verified('dir/other', signed)).toBe(false);
    expect(mac.verified('dir/file', { ...signed, uid: '0' })).toBe(false);
    expect(mac.verified('dir/file', { ...signed, mode: String(0o104755) })).toBe(false);
    expect(mac.verified('dir/file', { ...signed, [ATTR_MAC]: 'garbage' })).toBe(false);
    expect(new AttrMac(new Keyring({ writer: keyB() })).verified('dir/file', signed)).toBe(false);
  });

  it('a keyring holding the old key among others still verifies (a re-key in progress)', () => {
    expect(new AttrMac(new Keyring({ writer: keyB(), readers: [keyA()] })).verified('dir/file', signed)).toBe(true);
  });

  it('a public key alone cannot make one, nor check one', () => {
    const mac = new AttrMac(new Keyring({ writer: publicA() }));
    expect(mac.canSign).toBe(false);
    expect(mac.sign('dir/file', signed)[ATTR_MAC]).toBeUndefined();
    expect(mac.verified('dir/file', signed)).toBe(false);
  });

  it('a KMS key has no local secret: nothing is signed or verified', () => {
    const mac = new AttrMac(new Keyring({ writer: kmsMasterKey({ keyId: 'k', endpoint: '127.0.0.1:1', accessKeyId: 'a', accessKeySecret: 'b' }) }));
    expect(mac.canSign).toBe(false);
    expect(mac.verified('dir/file', signed)).toBe(false);
  });
});

describe('attribute MAC through EncryptedBucket: copies never launder, re-keys re-sign', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness('attr-mac');
  });
  afterAll(async () => {
    await h?.close();
  });
  const bucket = (keyring: Keyring) => new EncryptedBucket(h.store, keyring);
  const verifiedAt = async (b: EncryptedBucket, key: string) => b.attrMac.verified(key, (await h.store.head(key)).meta);
  const attrs = { mode: String(0o100640), uid: '1000', gid: '1000' };

  it('a put by the key holder is vouched for; a copy of it is vouched for at its new name', async () => {
    const b = bucket(new Keyring({ writer: keyA() }));
    await b.put('m/a', Buffer.from('x'), { meta: attrs });
    expect(await verifiedAt(b, 'm/a')).toBe(true);
    await b.copy('m/a', 'm/b');
    expect(await verifiedAt(b, 'm/b')).toBe(true);
  });

  it("a copy of what a public-key writer stored stays unvouched, unless the copier states every attribute", async () => {
    await bucket(new Keyring({ writer: publicA() })).put('m/planted', Buffer.from('x'), { meta: attrs });
    const b = bucket(new Keyring({ writer: keyA() }));
    expect(await verifiedAt(b, 'm/planted')).toBe(false);
    await b.copy('m/planted', 'm/copied');
    expect(await verifiedAt(b, 'm/copied')).toBe(false);
    await b.copy('m/planted', 'm/copied', { patch: { mtime: '5' } });
    expect(await verifiedAt(b, 'm/copied')).toBe(false);
    await b.copy('m/planted', 'm/stated', { patch: { mode: String(0o100600), uid: '0', gid: '0' } });
    expect(await verifiedAt(b, 'm/stated')).toBe(true);
  });

  it('a re-key signs anew for the new envelope what was vouched for, and only that', async () => {
    const a = bucket(new Keyring({ writer: keyA() }));
    await a.put('m/rekeyed', Buffer.from('x'), { meta: attrs });
    await bucket(new Keyring({ writer: publicA() })).put('m/rekeyed-planted', Buffer.from('x'), { meta: attrs });
    const b = bucket(new Keyring({ writer: keyB(), readers: [keyA()] }));
    await b.rewrap('m/rekeyed');
    await b.rewrap('m/rekeyed-planted');
    const onlyB = bucket(new Keyring({ writer: keyB() }));
    expect(await verifiedAt(onlyB, 'm/rekeyed')).toBe(true);
    expect(await verifiedAt(onlyB, 'm/rekeyed-planted')).toBe(false);
  });
});
