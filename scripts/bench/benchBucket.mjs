// A bench's key pair and its bucket on a tree server, encrypted through this checkout's library
// (the server may be another build's: see ./tree-server.mjs).
import { generateKeyPairSync } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import OSS from 'ali-oss';
import { BENCH_KEYS } from './tree-server.mjs';
import { LOCAL_REGION, LOCAL_V4 } from './util.mjs';

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
