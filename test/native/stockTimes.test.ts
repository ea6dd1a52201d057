import { describe, expect, it } from 'vitest';
import { FsError } from '../../src/errors.js';
import { stockTimes } from '../../src/fuse/stockFuse.js';

/**
 * utimens on stock fuse-native (src/fuse/stockFuse.ts) arrives as the access time twice: kept only
 * as touch's "now" (both times), refused otherwise. Through a mount: test/mount/stockFuse.test.ts.
 */
describe('stock fuse-native times', () => {
  const now = 1_800_000_000_000;
  const outcome = (atime: number): string => {
    try {
      stockTimes(atime, now);
      return 'kept';
    } catch (err) {
      return (err as FsError).errno;
    }
  };

  it('a time up to two seconds old is the kernel\'s now: both times are set to it', () => {
    expect(stockTimes(now, now)).toEqual([now, now]);
    expect(stockTimes(now - 2000, now)).toEqual([now - 2000, now - 2000]);
  });

  it('an older or a future time is refused with EOPNOTSUPP, never guessed', () => {
    expect([outcome(now - 2001), outcome(now + 1), outcome(978_307_200_000)]).toEqual(['EOPNOTSUPP', 'EOPNOTSUPP', 'EOPNOTSUPP']);
  });
});
