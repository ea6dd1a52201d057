import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import OSS from 'ali-oss';
import { type RunningServer, startServer } from '../server/index.js';

/** The bucket the embedded default mounts. */
export const EMBEDDED_BUCKET = 'vault';
/** The region requests to the embedded server are signed for: it takes any, and V4 needs one. */
export const EMBEDDED_REGION = 'cn-hangzhou';

export interface Embedded {
  dataDir: string;
  keyFile: string;
  endpoint: string;
  region: string;
  credentials: { accessKeyId: string; accessKeySecret: string };
  /** What was created on this start, for the one line that says so. */
  created: string[];
  server: RunningServer;
}

export function embeddedDataDir(env: NodeJS.ProcessEnv = process.env): string {
  return join(env.XDG_DATA_HOME || join(homedir(), '.local', 'share'), 'ossencfs');
}

/**
 * `ossencfs mount DIR` with no bucket: the bundled OSS-compatible server runs in-process on
 * 127.0.0.1 over a data directory, with an RSA key and server credentials generated there on first
 * use (0600, never printed). Nothing leaves the machine.
 */
export async function startEmbedded(env: NodeJS.ProcessEnv = process.env): Promise<Embedded> {
  const dataDir = embeddedDataDir(env);
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const created: string[] = [];

  const keyFile = join(dataDir, 'master-key.pem');
  if (!existsSync(keyFile)) {
    const { privateKey, publicKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600, flag: 'wx' });
    writeFileSync(`${keyFile}.pub`, publicKey.export({ type: 'spki', format: 'pem' }), { mode: 0o644, flag: 'wx' });
    created.push(`RSA key ${keyFile}`);
  }

  const credentialsFile = join(dataDir, 'server-credentials.json');
  if (!existsSync(credentialsFile)) {
    const fresh = { accessKeyId: `LOCAL${randomBytes(8).toString('hex')}`, accessKeySecret: randomBytes(24).toString('base64url') };
    writeFileSync(credentialsFile, JSON.stringify(fresh), { mode: 0o600, flag: 'wx' });
  }
  const credentials = JSON.parse(readFileSync(credentialsFile, 'utf8')) as Embedded['credentials'];

  const server = await startServer({ dir: join(dataDir, 'server'), host: '127.0.0.1', port: 0, credentials: [credentials] });
  const client = new OSS({ ...credentials, endpoint: server.url, bucket: EMBEDDED_BUCKET, region: `oss-${EMBEDDED_REGION}`, authorizationV4: true } as OSS.Options);
  try {
    await client.getBucketInfo(EMBEDDED_BUCKET);
  } catch {
    await client.putBucket(EMBEDDED_BUCKET);
    created.push(`bucket ${EMBEDDED_BUCKET}`);
  }
  return { dataDir, keyFile, endpoint: server.url, region: EMBEDDED_REGION, credentials, created, server };
}
