import { FsError, toFsError } from '../errors.js';
import { type Lister, listPages } from '../store/listPages.js';
import type { ObjectInfo } from '../store/ObjectStore.js';

/** Every object under `prefix`, recursively. */
export async function* listObjects(lister: Lister, prefix: string): AsyncGenerator<ObjectInfo> {
  for await (const page of listPages(lister, prefix)) yield* page.objects;
}

/** `photos` → `photos/`: a prefix named on the command line means a directory. */
export function dirPrefix(prefix: string): string {
  return prefix === '' || prefix.endsWith('/') ? prefix : `${prefix}/`;
}

/**
 * One line naming the object as the user wrote it (oss://bucket/key) and the cause. Lower layers
 * name objects as "key" (crypto) or bucket/key (store); both become the url.
 */
export function objectError(err: unknown, bucket: string, key: string): FsError {
  const e = toFsError(err);
  const url = `oss://${bucket}/${key}`;
  const quoted = JSON.stringify(key);
  let message = e.message.includes(quoted) ? e.message.split(quoted).join(url) : e.message.split(`${bucket}/${key}`).join(url);
  if (!message.includes(url)) message = `${url}: ${message}`;
  return new FsError(e.errno, message, { cause: err });
}

/**
 * The objects a url names for a sweep (rm -r, verify, rekey): the object itself if the url has
 * no trailing '/', and everything under it as a directory — `oss://b/photos` never takes in
 * `photos2/`.
 */
export async function objectsAt(lister: Lister & { head(key: string): Promise<ObjectInfo> }, prefix: string): Promise<ObjectInfo[]> {
  const found: ObjectInfo[] = [];
  if (prefix !== '' && !prefix.endsWith('/')) {
    const self = await lister.head(prefix).catch((err: unknown) => {
      if (err instanceof FsError && err.errno === 'ENOENT') return undefined;
      throw err;
    });
    if (self) found.push({ key: self.key, size: self.size, etag: self.etag, lastModified: self.lastModified });
  }
  for await (const object of listObjects(lister, dirPrefix(prefix))) found.push(object);
  return found;
}

/** A failure's cause without the object name, for `FAIL oss://b/k: <reason>` lines. */
export function reasonOf(err: unknown, bucket: string, key: string): string {
  const url = `oss://${bucket}/${key}`;
  return objectError(err, bucket, key)
    .message.replace(`${url}: `, '')
    .replace(` of ${url}`, '')
    .replace(` on ${url}`, '')
    .replace(`${url} `, '');
}
