import type { Operations } from '@ossencfs/fuse-native';
import type { Logger } from '../log.js';
import type { Filesystem } from '../vfs/filesystem.js';
import { failureCode } from './operations.js';

/**
 * Listings through fuse-native's own readdir op, for a build without
 * native/fuse-native/readdir_stream.c (./listingStream.ts): the whole listing in one answer, so a
 * program reading a big directory sees its first name only once the last LIST page is in. libfuse
 * keeps the answer for the open directory, so seekdir and a rewind read the same names.
 */
export function wholeListings(fs: Filesystem, log: Logger): Pick<Operations, 'readdir'> {
  return {
    readdir: (path, cb) => {
      fs.readdir(path).then(
        (names) => cb(0, ['.', '..', ...names]),
        (err: unknown) => cb(failureCode(log, 'readdir', path, err)),
      );
    },
  };
}
