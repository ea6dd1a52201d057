import { mkdirSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { type Mounted, mountBucket, sh, UPLOAD_AT_CLOSE } from '../support/mounted.js';

/**
 * df on a mount: always 1 TiB free, and as used what the mount has seen of the bucket — the bytes
 * and objects it listed, looked at or wrote — as rclone shows a backend without a quota.
 */
const BLOCK = 4096;
const FREE_BLOCKS = 2 ** 40 / BLOCK;
/** Inodes in all: the most fuse-native's 32-bit statfs fields carry. */
const FILES = 2 ** 32 - 1;

/** stat -f of the mountpoint: block size, total and free blocks, total and free inodes. */
function statfs(dir: string): { bsize: number; blocks: number; bfree: number; files: number; ffree: number } {
  const [bsize, blocks, bfree, files, ffree] = sh(`stat -f -c '%S %b %f %c %d' ${dir}`).trim().split(' ').map(Number) as [number, number, number, number, number];
  return { bsize, blocks, bfree, files, ffree };
}

/** What df reports as used and free, in bytes, and as inodes used. */
function usage(dir: string): { used: number; free: number; inodes: number } {
  const s = statfs(dir);
  return { used: (s.blocks - s.bfree) * s.bsize, free: s.bfree * s.bsize, inodes: s.files - s.ffree };
}

const usedFor = (bytes: number): number => Math.ceil(bytes / BLOCK) * BLOCK;

describe('df on a mount', () => {
  let local: LocalBucket;
  let m: Mounted | undefined;
  beforeAll(async () => {
    local = await startLocalBucket();
  });
  afterAll(async () => {
    await m?.unmount();
    await local?.close();
  });

  it('shows what the mount wrote, then after a remount what it listed, with 1 TiB always free', async () => {
    m = await mountBucket(local, { prefix: 'df', args: UPLOAD_AT_CLOSE });
    const at = (p: string): string => join(m!.mountpoint, p);
    expect(usage(m.mountpoint)).toEqual({ used: 0, free: FREE_BLOCKS * BLOCK, inodes: 0 });
    expect(statfs(m.mountpoint)).toMatchObject({ files: FILES, ffree: FILES });
    // df itself reads the same numbers.
    expect(sh(`df -B1 --output=used,avail ${m.mountpoint}`).split('\n')[1]!.trim().split(/\s+/).map(Number)).toEqual([0, FREE_BLOCKS * BLOCK]);

    writeFileSync(at('a.bin'), Buffer.alloc(100_000, 1));
    expect(usage(m.mountpoint)).toMatchObject({ used: usedFor(100_000), inodes: 1 });
    writeFileSync(at('b.bin'), Buffer.alloc(50_000, 2));
    mkdirSync(at('sub'));
    writeFileSync(at('sub/c.bin'), Buffer.alloc(7_000, 3));
    // Three files and the directory's marker.
    expect(usage(m.mountpoint)).toEqual({ used: usedFor(157_000), free: FREE_BLOCKS * BLOCK, inodes: 4 });
    // A file written again counts once, at its new size; a deleted one not at all.
    writeFileSync(at('a.bin'), Buffer.alloc(10_000, 4));
    unlinkSync(at('b.bin'));
    expect(usage(m.mountpoint)).toMatchObject({ used: usedFor(17_000), inodes: 3 });
    // A rename moves the bytes: the same total.
    sh(`mv ${at('sub')} ${at('moved')}`);
    expect(usage(m.mountpoint)).toMatchObject({ used: usedFor(17_000), inodes: 3 });

    await m.unmount();
    m = await mountBucket(local, { prefix: 'df', args: UPLOAD_AT_CLOSE });
    // A new mount has seen nothing yet; a listing of the tree shows it all.
    expect(usage(m.mountpoint)).toMatchObject({ used: 0, inodes: 0 });
    sh(`ls -R ${m.mountpoint} > /dev/null`);
    expect(usage(m.mountpoint)).toEqual({ used: usedFor(17_000), free: FREE_BLOCKS * BLOCK, inodes: 3 });
  }, 180_000);
});
