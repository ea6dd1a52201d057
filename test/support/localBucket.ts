import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import OSS from 'ali-oss';
import { type ChildProcess, spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { EncryptedBucket, encodePosixMeta, Keyring, rsaMasterKey } from '../../src/index.js';
import { createOssStore } from '../../src/store/index.js';
import type { ObjectStore } from '../../src/store/ObjectStore.js';

/** A local OSS server with one bucket, its raw store, and a fresh RSA key pair on disk (0600). */
export interface LocalBucket {
  dir: string;
  server: ServerProcess;
  bucket: string;
  store: ObjectStore;
  credentials: { accessKeyId: string; accessKeySecret: string };
  keyFile: string;
  publicKeyFile: string;
  /** The server's data directory: everything the bucket holds, on disk. */
  dataDir: string;
  /** A key of the KMS endpoint the server also is (`--kms-endpoint server.url`). */
  kmsKeyId: string;
  close(): Promise<void>;
}

/** The server runs as its own process (`ossencfs server`): tests block their own thread with
 *  spawnSync while the mount talks to it, and a real deployment never shares a thread with it either. */
export interface ServerProcess {
  url: string;
  /** The key `--kms-create-key` made, when asked for. */
  kmsKeyId?: string;
  process: ChildProcess;
  stop(): Promise<void>;
}

/** The region requests to the local server are signed for: it takes any, and V4 needs one. */
export const LOCAL_REGION = 'cn-hangzhou';

const BIN = fileURLToPath(new URL('../../bin/ossencfs.js', import.meta.url));

export async function startServerProcess(
  dataDir: string,
  credentials: { accessKeyId: string; accessKeySecret: string },
  port = 0,
  extraArgs: string[] = [],
): Promise<ServerProcess> {
  const child = spawn(process.execPath, [BIN, 'server', '--dir', dataDir, '--port', String(port), ...extraArgs], {
    env: { ...process.env, OSS_ACCESS_KEY_ID: credentials.accessKeyId, OSS_ACCESS_KEY_SECRET: credentials.accessKeySecret },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let output = '';
  const url = await new Promise<string>((resolve, reject) => {
    const onData = (d: Buffer): void => {
      output += d.toString();
      const m = /listening on (http:\/\/\S+)/.exec(output);
      if (m) resolve(m[1]!);
    };
    child.stdout!.on('data', onData);
    child.stderr!.on('data', onData);
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${output}`)));
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const kmsKeyId = /^kms key (\S+)$/m.exec(output)?.[1];
  return {
    url,
    ...(kmsKeyId ? { kmsKeyId } : {}),
    process: child,
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

export async function startLocalBucket(bucket = 'test-bucket'): Promise<LocalBucket> {
  const dir = mkdtempSync(join(tmpdir(), 'ossencfs-test-'));
  const credentials = { accessKeyId: 'TESTKEY', accessKeySecret: randomBytes(16).toString('hex') };
  const dataDir = join(dir, 'server');
  const server = await startServerProcess(dataDir, credentials, 0, ['--kms-create-key']);
  await new OSS({ ...credentials, endpoint: server.url, bucket, region: `oss-${LOCAL_REGION}`, authorizationV4: true } as OSS.Options).putBucket(bucket);
  // The CLI and mounts the tests spawn inherit this environment: V4 signs for a region, which an
  // endpoint on 127.0.0.1 does not name (the local server takes any).
  process.env.OSS_REGION ??= LOCAL_REGION;

  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyFile = join(dir, 'key.pem');
  const publicKeyFile = join(dir, 'key.pem.pub');
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(publicKeyFile, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });

  const store = createOssStore({ endpoint: server.url, bucket, region: LOCAL_REGION, ...credentials });
  return {
    dir,
    server,
    bucket,
    store,
    credentials,
    keyFile,
    publicKeyFile,
    dataDir,
    kmsKeyId: server.kmsKeyId!,
    close: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * Writes `count` encrypted files into `dir` of the bucket, 16 at a time, under the bucket's key:
 * file i is named `nameOf(i)`, holds 1 + (i % 97) bytes and has mode 0640 and a distinct mtime.
 */
export async function fillDirectory(local: LocalBucket, dir: string, count: number, nameOf: (i: number) => string): Promise<void> {
  const bucket = new EncryptedBucket(local.store, new Keyring({ writer: rsaMasterKey({ privateKeyPem: readFileSync(local.keyFile, 'utf8') }) }), {});
  let next = 0;
  await Promise.all(Array.from({ length: 16 }, async () => {
    for (let i = next++; i < count; i = next++) {
      await bucket.put(`${dir}/${nameOf(i)}`, Buffer.alloc(1 + (i % 97), 'x'), { meta: encodePosixMeta({ mode: 0o100640, mtime: 1_700_000_000 + i }) });
    }
  }));
}
