import { describe, expect, it } from 'vitest';
import { decodePosixMeta, encodePosixMeta } from '../../src/secure/index.js';

describe('POSIX metadata: what the bucket says, read with suspicion', () => {
  it('ctime and rdev go round trip with the rest', () => {
    const p = { mode: 0o20644, uid: 1, gid: 2, mtime: 1.5, atime: 2.25, ctime: 3.125, rdev: 0x10307 };
    expect(decodePosixMeta(encodePosixMeta(p))).toEqual(p);
  });

  it('a device number that is no 32-bit number, negative or fractional, reads as absent', () => {
    for (const rdev of [String(2 ** 32), String(2 ** 40), '-1', '1.5', 'x', '']) {
      expect(decodePosixMeta({ rdev }).rdev, rdev).toBeUndefined();
    }
    expect(decodePosixMeta({ rdev: String(2 ** 32 - 1) }).rdev).toBe(2 ** 32 - 1);
  });

  it('times may be fractional or before 1970; garbage reads as absent', () => {
    expect(decodePosixMeta({ ctime: '-12.5', mtime: 'soon' })).toEqual({ ctime: -12.5 });
  });
});
