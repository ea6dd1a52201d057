import type { Logger } from '../log.js';
import type { Filesystem } from '../vfs/filesystem.js';
import { patchedFuseAddon } from './addon.js';
import { failureCode } from './operations.js';

/** ossencfs_readdir_push's `end` while more names are to come. */
const MORE = -1;

/** The names as ossencfs_readdir_push reads them: each NUL-terminated. */
const encodeNames = (names: readonly string[]): Buffer => Buffer.from(names.map((name) => `${name}\0`).join(''));

/**
 * Serves the mount's directory listings to native/fuse-native/readdir_stream.c page by page, so a
 * program reading a big directory (`ls -l`, `find`, rsync) gets its first names — and looks them
 * up, from attributes already held in C — while the next pages are still on the wire. Call before
 * mounting: the mount then answers opendir, readdir and releasedir in C.
 */
export function serveListings(fs: Filesystem, log: Logger): void {
  const binding = patchedFuseAddon('ossencfs_readdir_serve', 'listings handed over as they arrive');
  binding.ossencfs_readdir_serve((id, path) => {
    let pushed = 0;
    // Deferred to the next turn of the event loop: a page's attributes go to C then too
    // (NativeAttrCache batches its puts there, queued earlier), so they are in before the names.
    let queued = Promise.resolve();
    const push = (fresh: readonly string[], end: number): void => {
      pushed += fresh.length;
      queued = queued.then(() => new Promise((resolve) => setImmediate(() => {
        binding.ossencfs_readdir_push(id, encodeNames(fresh), end);
        resolve();
      })));
    };
    // The last names (files open here, not uploaded yet) come only with the whole listing.
    fs.readdir(path, (added) => push(added, MORE)).then(
      (names) => push(names.slice(pushed), 0),
      (err: unknown) => push([], -failureCode(log, 'readdir', path, err)),
    );
  });
}
