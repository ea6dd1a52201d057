import { spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import OSS from 'ali-oss';
import { Keyring, rsaMasterKey } from '../../src/crypto/index.js';
import { EncryptedBucket } from '../../src/secure/index.js';
import { type RunningServer, startServer } from '../../src/server/index.js';
import { createKmsEndpoint } from '../../src/server/kms/index.js';
import { createOssStore } from '../../src/store/index.js';
import type { ObjectStore } from '../../src/store/ObjectStore.js';

/** The region requests to the local server are signed for: it takes any, and V4 needs one. */
export const LOCAL_REGION = 'cn-hangzhou';

/** The built CLI (`npx tsc -p .` first): the tests drive it exactly as a user would. */
export const BIN = fileURLToPath(new URL('../../bin/ossencfs.js', import.meta.url));

export interface Result {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** A local OSS server (in this process) with bucket `vault`, a scratch dir and two RSA keys. */
export interface CliWorld {
  dir: string;
  server: RunningServer;
  store: ObjectStore;
  env: Record<string, string>;
  keyA: string;
  keyB: string;
  /** A key of the local KMS the server also answers as. */
  kmsKeyId: string;
  /** `--endpoint URL --rsa-key A` */
  base: string[];
  run(args: string[], options?: { env?: Record<string, string | undefined>; onSpawn?(child: ChildProcess): void }): Promise<Result>;
  close(): Promise<void>;
}

export function writeKey(path: string): string {
  const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  writeFileSync(path, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  writeFileSync(`${path}.pub`, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644 });
  return path;
}

/** Runs the CLI as a child without blocking this thread (the server lives in it). */
export function runCli(args: string[], env: Record<string, string | undefined>, cwd: string, onSpawn?: (c: ChildProcess) => void): Promise<Result> {
  const child = spawn(process.execPath, [BIN, ...args], { env: env as NodeJS.ProcessEnv, cwd, stdio: ['ignore', 'pipe', 'pipe'] });
  onSpawn?.(child);
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) => child.on('close', (code) => resolve({ code, stdout, stderr })));
}

export async function startWorld(): Promise<CliWorld> {
  const dir = mkdtempSync(join(tmpdir(), 'ossencfs-cli-'));
  const credentials = { accessKeyId: 'CLITEST', accessKeySecret: randomBytes(12).toString('hex') };
  const kms = createKmsEndpoint({ dir: join(dir, 'kms'), credentials: [credentials] });
  const kmsKeyId = await kms.createKey();
  const server = await startServer({ dir: join(dir, 'server'), credentials: [credentials], port: 0, kms });
  await new OSS({ ...credentials, endpoint: server.url, bucket: 'vault', region: `oss-${LOCAL_REGION}`, authorizationV4: true } as OSS.Options).putBucket('vault');
  const work = join(dir, 'work');
  mkdirSync(work);
  const env: Record<string, string> = {
    PATH: process.env.PATH ?? '',
    HOME: join(dir, 'home'),
    XDG_CONFIG_HOME: join(dir, 'config'),
    XDG_CACHE_HOME: join(dir, 'cache'),
    OSS_ACCESS_KEY_ID: credentials.accessKeyId,
    OSS_ACCESS_KEY_SECRET: credentials.accessKeySecret,
    // V4 signs for a region; the local server takes any.
    OSS_REGION: LOCAL_REGION,
  };
  const keyA = writeKey(join(dir, 'a.pem'));
  const keyB = writeKey(join(dir, 'b.pem'));
  return {
    dir: work,
    server,
    store: createOssStore({ endpoint: server.url, bucket: 'vault', region: LOCAL_REGION, ...credentials }),
    env,
    keyA,
    keyB,
    kmsKeyId,
    base: ['--endpoint', server.url, '--rsa-key', keyA],
    run: (args, o = {}) => runCli(args, { ...env, ...o.env }, work, o.onSpawn),
    close: async () => {
      await server.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** The world's bucket as the library sees it, writing under key A: for planting objects. */
export function bucketOfKeyA(w: CliWorld): EncryptedBucket {
  return new EncryptedBucket(w.store, new Keyring({ writer: rsaMasterKey({ privateKeyPem: readFileSync(w.keyA) }) }));
}
