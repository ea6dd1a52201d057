// The sealed form of an object's extended attributes: what goes in, comes out; nothing else opens it.
import { randomBytes } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { newDataKey } from '../../src/crypto/index.js';
import { FsError } from '../../src/errors.js';
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
