import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import OSS from 'ali-oss';
import { startServer } from '../server/index.js';
import { alive } from './dataDirLock.js';

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
  stop(): Promise<void>;
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

  const { credentials } = localCredentials(dataDir);
  const server = await startServer({ dir: join(dataDir, 'server'), host: '127.0.0.1', port: 0, credentials: [credentials] });
  const client = new OSS({ ...credentials, endpoint: server.url, bucket: EMBEDDED_BUCKET, region: `oss-${EMBEDDED_REGION}`, authorizationV4: true } as OSS.Options);
  try {
    await client.getBucketInfo(EMBEDDED_BUCKET);
  } catch {
    await client.putBucket(EMBEDDED_BUCKET);
    created.push(`bucket ${EMBEDDED_BUCKET}`);
  }
  const withdraw = announceServer(dataDir, server.url);
  const stop = async (): Promise<void> => {
    withdraw();
    await server.stop();
  };
  return { dataDir, keyFile, endpoint: server.url, region: EMBEDDED_REGION, credentials, created, stop };
}

/** The access key a local server over `dir` accepts, as a file there (0600); made on first use. */
export function localCredentials(dir: string): { file: string; credentials: Embedded['credentials']; created: boolean } {
  const file = join(dir, 'server-credentials.json');
  let created = false;
  if (!existsSync(file)) {
    const fresh = { accessKeyId: `LOCAL${randomBytes(8).toString('hex')}`, accessKeySecret: randomBytes(24).toString('base64url') };
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(file, JSON.stringify(fresh), { mode: 0o600, flag: 'wx' });
    created = true;
  }
  return { file, credentials: JSON.parse(readFileSync(file, 'utf8')) as Embedded['credentials'], created };
}

/** Where the embedded default's server says it listens while it runs. */
const SERVER_FILE = 'server.json';

/**
 * Tells the CLI where the embedded default's server listens (its port changes with every start),
 * so `ossencfs ls oss://vault` works without an endpoint while it runs. Returns the withdrawal.
 */
export function announceServer(dataDir: string, endpoint: string): () => void {
  const file = join(dataDir, SERVER_FILE);
  writeFileSync(file, JSON.stringify({ pid: process.pid, endpoint }), { mode: 0o600 });
  return () => {
    if (readRecord(file)?.pid === process.pid) rmSync(file, { force: true });
  };
}

/** The embedded default as the CLI reaches it: its running server, credentials and key; undefined when it is not running. */
export interface RunningEmbedded {
  endpoint: string;
  region: string;
  credentials: Embedded['credentials'];
  keyFile: string;
}

export function runningEmbedded(env: NodeJS.ProcessEnv = process.env): RunningEmbedded | undefined {
  const dataDir = embeddedDataDir(env);
  const record = readRecord(join(dataDir, SERVER_FILE));
  if (!record || !alive(record.pid)) return undefined;
  try {
    const credentials = JSON.parse(readFileSync(join(dataDir, 'server-credentials.json'), 'utf8')) as Embedded['credentials'];
    return { endpoint: record.endpoint, region: EMBEDDED_REGION, credentials, keyFile: join(dataDir, 'master-key.pem') };
  } catch {
    return undefined;
  }
}

function readRecord(file: string): { pid: number; endpoint: string } | undefined {
  try {
    return JSON.parse(readFileSync(file, 'utf8')) as { pid: number; endpoint: string };
  } catch {
    return undefined;
  }
}
