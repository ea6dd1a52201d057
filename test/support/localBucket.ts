import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OSS from 'ali-oss';
import { type RunningServer, startServer } from '../../src/server/index.js';
import { createOssStore } from '../../src/store/index.js';
import type { ObjectStore } from '../../src/store/ObjectStore.js';

/** A local OSS server with one bucket, its raw store, and a fresh RSA key pair on disk (0600). */
export interface LocalBucket {
  dir: string;
  server: RunningServer;
  bucket: string;
  store: ObjectStore;
  credentials: { accessKeyId: string; accessKeySecret: string };
  keyFile: string;
  publicKeyFile: string;
  /** The server's data directory: everything the bucket holds, on disk. */
  dataDir: string;
  close(): Promise<void>;
}

export async function startLocalBucket(bucket = 'test-bucket'): Promise<LocalBucket> {
  const dir = mkdtempSync(join(tmpdir(), 'ossencfs-test-'));
  const credentials = { accessKeyId: 'TESTKEY', accessKeySecret: randomBytes(16).toString('hex') };
  const dataDir = join(dir, 'server');
  const server = await startServer({ dir: dataDir, port: 0, credentials: [credentials] });
  await new OSS({ ...credentials, endpoint: server.url, bucket }).putBucket(bucket);

  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyFile = join(dir, 'key.pem');
  const publicKeyFile = join(dir, 'key.pem.pub');
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });

  const store = createOssStore({ endpoint: server.url, bucket, ...credentials });
  return {
    dir,
    server,
    bucket,
    store,
    credentials,
    keyFile,
    publicKeyFile,
    dataDir,
    close: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
