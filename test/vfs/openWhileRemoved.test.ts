// A handle open on a file keeps reading what it opened after the name is gone (unlink, or another
// file renamed over it), as POSIX has it, even where the content was still only in the bucket.
// Through a mount libfuse hides such a file instead (.fuse_hidden…); the Filesystem holds it too.
import { describe, expect, it } from 'vitest';
import { constants } from 'node:fs';
import { MemoryStore } from '../../src/store/memoryStore.js';
import { memoryMount, ME } from '../support/memoryMount.js';

/** A store holding `/old.txt` (and `/new.txt`), written and closed by another mount. */
async function storeWith(files: Record<string, string>): Promise<MemoryStore> {
  const store = new MemoryStore();
  const { fs } = memoryMount(store);
  for (const [path, text] of Object.entries(files)) {
    const fh = await fs.create(path, 0o644, ME);
    await fs.write(fh, 0, Buffer.from(text));
    await fs.release(fh);
  }
  await fs.flushAll();
  return store;
}

describe('a handle on a file whose name is gone', () => {
  it('reads the content it opened after an unlink, though nothing of it had been read', async () => {
    const store = await storeWith({ '/old.txt': 'what was opened' });
    const { fs } = memoryMount(store);
    const fh = await fs.open('/old.txt', constants.O_RDONLY);
    await fs.unlink('/old.txt');
    expect((await fs.read(fh, 0, 100)).toString()).toBe('what was opened');
    await fs.release(fh);
    expect(await store.list('')).toMatchObject({ objects: [] });
  });

  it('reads the content it opened after another file is renamed over the name', async () => {
    const store = await storeWith({ '/old.txt': 'what was opened', '/new.txt': 'what replaced it' });
    const { fs } = memoryMount(store);
    const fh = await fs.open('/old.txt', constants.O_RDONLY);
    await fs.rename('/new.txt', '/old.txt');
    expect((await fs.read(fh, 0, 100)).toString()).toBe('what was opened');
    await fs.release(fh);
    const fresh = await fs.open('/old.txt', constants.O_RDONLY);
    expect((await fs.read(fresh, 0, 100)).toString()).toBe('what replaced it');
  });

  it('fails the unlink, removing nothing, when the content cannot be fetched first', async () => {
    const store = await storeWith({ '/old.txt': 'what was opened' });
    const { fs } = memoryMount(store);
    const fh = await fs.open('/old.txt', constants.O_RDONLY);
    store.failNext('get', 10, 'reset');
    await expect(fs.unlink('/old.txt')).rejects.toMatchObject({ errno: 'EIO' });
    expect((await store.list('')).objects.map((o) => o.key)).toEqual(['old.txt']);
    await fs.release(fh);
  });
});
