import { FsError } from '../errors.js';
import type { EncryptedBucket, Xattrs } from '../secure/index.js';
import type { ObjectHead } from '../store/ObjectStore.js';
import { type Attr, posixMetaOf } from './attributes.js';
import type { Namespace } from './namespace.js';

export const ROOT_HAS_NO_OBJECT = (): FsError => new FsError('EPERM', 'the mount root has no object to keep attributes in');

/**
 * Writes a directory's attributes (and extended attributes) into its marker object; an implicit
 * directory gets a marker to hold them. Resolves as `patchMeta` when it patched one.
 */
export async function writeDirAttr(bucket: EncryptedBucket, ns: Namespace, path: string, attr: Attr, xattrs?: Xattrs): Promise<ObjectHead | undefined> {
  if (path === '/') throw ROOT_HAS_NO_OBJECT();
  const posix = posixMetaOf(attr);
  const key = ns.dirKey(path);
  return bucket.patchMeta(key, posix, xattrs).catch(async (err: unknown) => {
    if (!(err instanceof FsError && err.errno === 'ENOENT')) throw err;
    await bucket.put(key, Buffer.alloc(0), { meta: posix, ...(xattrs ? { xattrs } : {}) });
    return undefined;
  });
}
