// Open files' new content held in memory is counted in the memory budget's `staging` account, by a
// lease named after the file, from its first byte until the content is dropped.
import { describe, expect, it } from 'vitest';
import { memoryMount as mounted, ME as me } from '../support/memoryMount.js';

const KiB = 1024;

const staging = (m: ReturnType<typeof mounted>) => m.memory.holders().filter((h) => h.account === 'staging');

describe("the memory budget's staging account", () => {
  it('counts what an open file holds in memory, under its name, until the file is closed and retired', async () => {
    const m = mounted();
    const fh = await m.fs.create('/a.txt', 0o644, me);
    for (let i = 0; i < 3; i++) await m.fs.write(fh, i * 10 * KiB, Buffer.alloc(10 * KiB, i));
    expect(m.memory.usage.staging).toBe(30 * KiB);
    expect(staging(m)).toEqual([{ account: 'staging', owner: 'open file /a.txt', bytes: 30 * KiB }]);

    await m.fs.flush(fh, true); // uploaded, but still held in memory: still counted
    expect(m.memory.usage.staging).toBe(30 * KiB);
    await m.fs.unlink('/a.txt'); // an unlinked file is not held after close: its release retires it
    await m.fs.release(fh);
    await m.fs.idle();
    expect(m.memory.usage.staging).toBe(0);
    expect(staging(m)).toEqual([]);
  });

  it('lets go once the content moves to a staging file, or is truncated away', async () => {
    const m = mounted();
    const fh = await m.fs.create('/big.bin', 0o644, me);
    await m.fs.write(fh, 0, Buffer.alloc(60 * KiB, 1));
    expect(m.memory.usage.staging).toBe(60 * KiB);
    await m.fs.write(fh, 60 * KiB, Buffer.alloc(10 * KiB, 2)); // past the 64 KiB limit: staged on disk
    expect(m.memory.usage.staging).toBe(0);

    const small = await m.fs.create('/small.txt', 0o644, me);
    await m.fs.write(small, 0, Buffer.alloc(5 * KiB, 3));
    await m.fs.ftruncate(small, 0);
    expect(m.memory.usage.staging).toBe(0);
    await m.fs.write(small, 0, Buffer.alloc(2 * KiB, 4));
    expect(staging(m)).toEqual([{ account: 'staging', owner: 'open file /small.txt', bytes: 2 * KiB }]);
  });
});
