import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Keyring, rsaMasterKey } from '../../src/crypto/index.js';
import type { Logger } from '../../src/log.js';
import { MemoryStore } from '../../src/store/memoryStore.js';
import { buildFilesystem, type FilesystemSettings } from '../../src/vfs/buildFilesystem.js';

const KiB = 1024;
const silent: Logger = { error: () => {}, warn: () => {}, info: () => {}, debug: () => {} };
export const ME = { uid: 1000, gid: 1000 };

let keyring: Keyring | undefined;
let cacheRoot: string | undefined;
/** The cache directories of the test file's Filesystems, removed when its process ends. */
function cacheDir(): string {
  if (!cacheRoot) {
    const root = mkdtempSync(join(tmpdir(), 'ossencfs-memory-mount-'));
    process.on('exit', () => rmSync(root, { recursive: true, force: true }));
    cacheRoot = root;
  }
  return mkdtempSync(join(cacheRoot, 'mount-'));
}

/** One RSA key for every Filesystem of the test file: a remount over the same store reads what the last one wrote. */
function testKeyring(): Keyring {
  if (!keyring) {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    keyring = new Keyring({ writer: rsaMasterKey({ privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }) as string }) });
  }
  return keyring;
}

/**
 * A Filesystem over `store` as a mount builds it, without FUSE: close uploads (write-back 0), open
 * files keep up to 64 KiB in memory, and its cache directory is its own.
 */
export function memoryMount(store = new MemoryStore(), options: Partial<FilesystemSettings> = {}): ReturnType<typeof buildFilesystem> {
  return buildFilesystem(store, testKeyring(), {
    prefix: '',
    ownership: { owner: ME, umask: 0o022, forced: {}, rootPerms: 0o755 },
    attrTtlMs: 60_000,
    writeBackMs: 0,
    cacheDir: cacheDir(),
    cacheSize: 4 * 1024 * KiB,
    memoryLimit: 64 * KiB,
    readOnly: false,
    log: silent,
    bucket: {},
    ...options,
  });
}
