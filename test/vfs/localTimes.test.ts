import { describe, expect, it } from 'vitest';
import type { Attr } from '../../src/vfs/attributes.js';
import { LocalTimes } from '../../src/vfs/localTimes.js';

const attr = (mtime: number, ctime: number): Attr => ({ kind: 'dir', mode: 0o40755, uid: 0, gid: 0, size: 4096, mtime, atime: mtime, ctime, rdev: 0 });

describe('LocalTimes: times the mount moved and did not write', () => {
  it("a directory's entries changing moves its mtime and ctime over what the bucket says", () => {
    const times = new LocalTimes();
    times.entriesChanged('/d', 5000);
    expect(times.apply('/d', attr(1000, 1000))).toMatchObject({ mtime: 5000, ctime: 5000, atime: 1000 });
    expect(times.apply('/other', attr(1000, 1000))).toMatchObject({ mtime: 1000, ctime: 1000 });
  });

  it('a later time in the bucket wins; a forgotten path shows the bucket again', () => {
    const times = new LocalTimes();
    times.entriesChanged('/d', 5000);
    expect(times.apply('/d', attr(9000, 8000))).toMatchObject({ mtime: 9000, ctime: 8000 });
    times.forget('/d');
    expect(times.apply('/d', attr(1000, 1000))).toMatchObject({ mtime: 1000, ctime: 1000 });
  });

  it('a rename moves only the ctime, and a directory rename carries what is below it', () => {
    const times = new LocalTimes();
    times.entriesChanged('/a', 5000);
    times.entriesChanged('/a/sub', 6000);
    times.entriesChanged('/ab', 7000);
    times.moveTree('/a', '/b');
    times.statusChanged('/b', 8000);
    expect(times.apply('/b', attr(1000, 1000))).toMatchObject({ mtime: 5000, ctime: 8000 });
    expect(times.apply('/b/sub', attr(1000, 1000))).toMatchObject({ mtime: 6000, ctime: 6000 });
    expect(times.apply('/a', attr(1000, 1000))).toMatchObject({ mtime: 1000, ctime: 1000 });
    expect(times.apply('/ab', attr(1000, 1000))).toMatchObject({ mtime: 7000 });
    times.statusChanged('/file', 9000);
    expect(times.apply('/file', attr(1000, 1000))).toMatchObject({ mtime: 1000, ctime: 9000 });
  });
});
