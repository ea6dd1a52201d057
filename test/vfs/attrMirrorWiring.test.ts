import { generateKeyPairSync } from 'node:crypto';
import { constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyring, rsaMasterKey } from '../../src/crypto/index.js';
import type { Logger } from '../../src/log.js';
import { MemoryStore } from '../../src/store/memoryStore.js';
import type { Attr } from '../../src/vfs/attributes.js';
import { buildFilesystem } from '../../src/vfs/buildFilesystem.js';
import type { Filesystem } from '../../src/vfs/filesystem.js';

/**
 * The filesystem keeps a mirror of held attributes (fuse-native's C table, in the mount) honest by
 * itself: once an operation resolves, the mirror holds nothing of the paths it changed, with no
 * help from the FUSE adapter. Here on the in-memory store, with a mirror that holds whatever it is
 * offered, as the C table does. (Most operations look the path up first, which drops it as a use;
 * test/vfs/attrCache.test.ts checks that each change drops it too.)
 */

let keyring: Keyring;
let cacheRoot: string;
beforeAll(() => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  keyring = new Keyring({ writer: rsaMasterKey({ privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }) as string }) });
  cacheRoot = mkdtempSync(join(tmpdir(), 'ossencfs-mirror-'));
});
afterAll(() => rmSync(cacheRoot, { recursive: true, force: true }));

const silent: Logger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
const me = { uid: 1000, gid: 1000 };

/** A filesystem on `store` whose mirror holds whatever it is offered, in `held`. */
function mounted(store: MemoryStore): { fs: Filesystem; held: Map<string, Attr> } {
  const { fs } = buildFilesystem(store, keyring, {
    prefix: '',
    ownership: { owner: me, umask: 0o022, forced: {}, rootPerms: 0o755 },
    attrTtlMs: 60_000,
    writeBackMs: 0,
    cacheDir: join(cacheRoot, String(mounts++)),
    cacheSize: 4 * 1024 * 1024,
    readOnly: false,
    log: silent,
    bucket: {},
  });
  const held = new Map<string, Attr>();
  fs.mirrorAttrs({
    hold: (path, attr) => (held.set(path, attr), true),
    drop: (path) => held.delete(path),
    dropTree: (dir) => {
      for (const path of held.keys()) if (path === dir || path.startsWith(`${dir}/`)) held.delete(path);
    },
  });
  return { fs, held };
}
let mounts = 0;

async function write(fs: Filesystem, path: string, data: string): Promise<void> {
  const fh = await fs.create(path, 0o644, me);
  await fs.write(fh, 0, Buffer.from(data));
  await fs.flush(fh);
  await fs.release(fh);
}

describe('the filesystem tells the mirror of its changes', () => {
  it('listed names are held; a change to one drops it from the mirror before the change resolves; the rest stay', async () => {
    const store = new MemoryStore();
    const writer = mounted(store);
    await writer.fs.mkdir('/d', 0o755, me);
    await writer.fs.mkdir('/d/sub', 0o755, me);
    const names = ['chmod', 'open', 'trunc', 'renamed', 'gone', 'xattr', 'kept'];
    for (const name of names) await write(writer.fs, `/d/${name}`, name);
    await write(writer.fs, '/d/sub/x', 'x');
    await writer.fs.flushAll();

    const { fs, held } = mounted(store);
    await fs.readdir('/d');
    await until(() => names.every((n) => held.has(`/d/${n}`)) && held.has('/d/sub'));

    await fs.chmod('/d/chmod', 0o600);
    expect(held.has('/d/chmod')).toBe(false);
    const fh = await fs.open('/d/open', constants.O_WRONLY);
    expect(held.has('/d/open')).toBe(false);
    await fs.release(fh);
    await fs.truncate('/d/trunc', 1);
    expect(held.has('/d/trunc')).toBe(false);
    await fs.rename('/d/renamed', '/d/renamed-to');
    expect(held.has('/d/renamed')).toBe(false);
    await fs.unlink('/d/gone');
    expect(held.has('/d/gone')).toBe(false);
    await fs.setxattr('/d/xattr', 'user.a', Buffer.from('1'), 0);
    expect(held.has('/d/xattr')).toBe(false);
    expect(held.has('/d/kept')).toBe(true);
    expect(held.has('/d/sub')).toBe(true);

    // One the filesystem answered itself: that was its first use, which the mirror must not count again.
    await fs.getattr('/d/kept');
    expect(held.has('/d/kept')).toBe(false);

    // The directory's own times moved with its entries: nothing of it is held either.
    held.set('/d', await fs.getattr('/d'));
    await write(fs, '/d/new', 'n');
    expect(held.has('/d')).toBe(false);

    held.set('/d/sub/x', held.get('/d/sub')!); // as if held: a subtree's rename drops it all
    await fs.rename('/d/sub', '/d/sub2');
    expect(held.has('/d/sub')).toBe(false);
    expect(held.has('/d/sub/x')).toBe(false);
    await fs.flushAll();
  });
});

async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 500 && !done(); i++) await new Promise((resolve) => setTimeout(resolve, 5));
  expect(done()).toBe(true);
}
