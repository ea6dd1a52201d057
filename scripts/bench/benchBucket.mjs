// A bench's key pair, its bucket on a tree server (encrypted through this checkout's library; the
// server may be another build's: see ./tree-server.mjs), and a mount of it through the delay relay.
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OSS from 'ali-oss';
import { startDelayRelay } from './delayRelay.mjs';
import { BENCH_KEYS } from './tree-server.mjs';
import { fusermountU, LOCAL_REGION, LOCAL_V4, spawnUntil } from './util.mjs';

const library = await import(new URL('../../dist/index.js', import.meta.url).href);

/** A fresh RSA key pair; its private key written 0600 to DIR/key.pem. */
export function benchKey(dir) {
  const keyPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  const keyFile = join(dir, 'key.pem');
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  return { keyPem, keyFile };
}

/** Makes bucket `name` on the server at `url` and opens it, encrypting under `keyPem`. */
export async function benchBucket(url, name, keyPem) {
  await new OSS({ ...LOCAL_V4, endpoint: url, bucket: name, ...BENCH_KEYS }).putBucket(name);
  const store = library.createOssStore({ region: LOCAL_REGION, endpoint: url, bucket: name, ...BENCH_KEYS });
  return new library.EncryptedBucket(store, new library.Keyring({ writer: library.rsaMasterKey({ privateKeyPem: keyPem }) }), {});
}

export const { encodePosixMeta } = library;

/**
 * Mounts `source` (oss://…) of the server at `url` on `mnt` with the CLI at `bin`, its traffic
 * delayed `rtt` ms round trip; runs `use(mountProcess)`, then unmounts. `nodeArgs` go to node,
 * `args` to the mount; its cache and log go under `work`.
 */
export async function withBenchMount({ bin, url, rtt, source, mnt, keyFile, work, round, nodeArgs = [], args = [] }, use) {
  const relay = await startDelayRelay(url, rtt / 2);
  mkdirSync(mnt, { recursive: true });
  const { child, ready, exited } = spawnUntil(process.execPath, [
    ...nodeArgs, bin, 'mount', source, mnt, '--foreground', '--endpoint', relay.url,
    '--rsa-key', keyFile, '--cache-dir', join(work, `cache-${round}`), '--log-file', join(work, 'mount.log'), ...args,
  ], /mounted /, { env: { ...process.env, OSS_ACCESS_KEY_ID: BENCH_KEYS.accessKeyId, OSS_ACCESS_KEY_SECRET: BENCH_KEYS.accessKeySecret, OSS_REGION: LOCAL_REGION } });
  try {
    await ready;
    return await use(child);
  } finally {
    await fusermountU(mnt);
    await exited;
    await relay.close();
  }
}
