// The sealed form of an object's extended attributes: what goes in, comes out; nothing else opens it.
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyring, newDataKey, rsaMasterKey } from '../../src/crypto/index.js';
import { FsError } from '../../src/errors.js';
import { EncryptedBucket, storedXattrs } from '../../src/secure/index.js';
import { startHarness, type Harness } from '../store/harness.js';
import {
  decodeXattrs,
  encodeXattrs,
  metaBytes,
  openXattrs,
  sealedXattrsBytes,
  sealXattrs,
  withSealedXattrs,
  XATTR_META,
} from '../../src/secure/xattrs.js';

const errnoOf = (f: () => unknown): string => {
  try {
    f();
    return 'ok';
  } catch (err) {
    return err instanceof FsError ? err.errno : String(err);
  }
};

describe('extended attribute sets, sealed', () => {
  const set = new Map<string, Buffer>([
    ['user.mime', Buffer.from('text/plain')],
    ['user.empty', Buffer.alloc(0)],
    ['user.binary', Buffer.from([0, 255, 0, 10])],
    ['user.ünïcode', randomBytes(3000)],
  ]);

  it('encode and decode are inverse, order kept', () => {
    const back = decodeXattrs(encodeXattrs(set));
    expect([...back.keys()]).toEqual([...set.keys()]);
    for (const [name, value] of set) expect(back.get(name)!.equals(value)).toBe(true);
    expect(decodeXattrs(encodeXattrs(new Map())).size).toBe(0);
  });

  it('a truncated or unknown encoding is EIO, never a wrong value', () => {
    const encoded = encodeXattrs(set);
    expect(errnoOf(() => decodeXattrs(encoded.subarray(0, encoded.length - 1)))).toBe('EIO');
    expect(errnoOf(() => decodeXattrs(Buffer.concat([Buffer.of(9), encoded.subarray(1)])))).toBe('EIO');
  });

  it('opens with the data key it was sealed under and no other; every seal differs (fresh nonce)', () => {
    const dataKey = newDataKey();
    const sealed = sealXattrs(dataKey, set);
    expect(sealXattrs(dataKey, set)).not.toBe(sealed);
    const opened = openXattrs(dataKey, sealed, 'k');
    expect(opened.get('user.binary')).toEqual(set.get('user.binary'));
    expect(errnoOf(() => openXattrs(newDataKey(), sealed, 'k'))).toBe('EIO');
    // The same key with another IV is another object's key.
    expect(errnoOf(() => openXattrs({ key: dataKey.key, iv: newDataKey().iv }, sealed, 'k'))).toBe('EIO');
  });

  it('an altered byte anywhere fails authentication', () => {
    const dataKey = newDataKey();
    const raw = Buffer.from(sealXattrs(dataKey, set), 'base64');
    for (const at of [0, 12, raw.length >> 1, raw.length - 1]) {
      const altered = Buffer.from(raw);
      altered[at]! ^= 1;
      expect(errnoOf(() => openXattrs(dataKey, altered.toString('base64'), 'k'))).toBe('EIO');
    }
    expect(errnoOf(() => openXattrs(dataKey, 'c2hvcnQ=', 'k'))).toBe('EIO');
  });

  it('neither names nor values appear in the sealed text', () => {
    const sealed = sealXattrs(newDataKey(), new Map([['user.findme', Buffer.from('secretvalue')]]));
    const decoded = Buffer.from(sealed, 'base64').toString('latin1');
    for (const text of [sealed, decoded]) {
      expect(text).not.toContain('findme');
      expect(text).not.toContain('secretvalue');
    }
  });

  it('sealedXattrsBytes is what the entry takes in metadata; an empty set takes no entry', () => {
    const dataKey = newDataKey();
    const meta = withSealedXattrs({ mode: '33188' }, dataKey, set);
    expect(metaBytes(meta) - metaBytes({ mode: '33188' })).toBe(sealedXattrsBytes(set));
    expect(withSealedXattrs(meta, dataKey, new Map())).toEqual({ mode: '33188' });
    expect(XATTR_META in withSealedXattrs({}, dataKey, new Map())).toBe(false);
    expect(sealedXattrsBytes(new Map())).toBe(0);
  });

  it('names longer than Linux allows are refused', () => {
    expect(errnoOf(() => encodeXattrs(new Map([[`user.${'n'.repeat(251)}`, Buffer.alloc(1)]])))).toBe('ERANGE');
    expect(errnoOf(() => encodeXattrs(new Map([[`user.${'n'.repeat(250)}`, Buffer.alloc(1)]])))).toBe('ok');
  });
});

describe('EncryptedBucket: sets sealed under the key of the object that carries them', () => {
  const KEYS = fileURLToPath(new URL('../../../shared/vectors/oss2-rsa/keys', import.meta.url));
  let h: Harness;
  let bucket: EncryptedBucket;
  beforeAll(async () => {
    h = await startHarness('xattrs');
    bucket = new EncryptedBucket(h.store, new Keyring({ writer: rsaMasterKey({ privateKeyPem: readFileSync(join(KEYS, 'rsa-key-a.private.pem'), 'utf8') }) }));
  });
  afterAll(async () => {
    await h?.close();
  });
  const opened = async (key: string) => bucket.openXattrs(storedXattrs(key, (await h.store.head(key)).meta)!);

  it('put seals them under the new data key; a sealed entry handed in with the metadata (another key) is dropped', async () => {
    await bucket.put('a', Buffer.from('one'), { meta: { [XATTR_META]: 'c3RhbGU=' }, xattrs: new Map([['user.a', Buffer.from('1')]]) });
    expect((await opened('a')).get('user.a')).toEqual(Buffer.from('1'));
    await bucket.put('b', Buffer.from('two'), { meta: { [XATTR_META]: (await h.store.head('a')).meta[XATTR_META]!, note: 'kept' } });
    const b = await h.store.head('b');
    expect(b.meta[XATTR_META]).toBeUndefined();
    expect(b.meta.note).toBe('kept');
  });

  it('a copy keeps the entry as it is (same data key); one with new sets re-seals; past 8 KiB is E2BIG (found here, not by the server) and the object stays as it was', async () => {
    await bucket.put('c', Buffer.from('three'), { xattrs: new Map([['user.c', Buffer.from('3')]]) });
    await bucket.copy('c', 'd');
    expect((await opened('d')).get('user.c')).toEqual(Buffer.from('3'));
    await bucket.patchMeta('d', {}, new Map([['user.c', Buffer.from('4')]]));
    expect((await opened('d')).get('user.c')).toEqual(Buffer.from('4'));
    const before = await h.store.head('d');
    const err = await bucket.patchMeta('d', {}, new Map([['user.big', randomBytes(6000)]])).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(FsError);
    expect((err as FsError).errno).toBe('E2BIG');
    const after = await h.store.head('d');
    expect(after.lastModified).toEqual(before.lastModified);
    expect(after.meta).toEqual(before.meta);
  });
});
