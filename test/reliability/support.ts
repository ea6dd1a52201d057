import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { Keyring, rsaMasterKey } from '../../src/crypto/index.js';
import { EncryptedBucket } from '../../src/secure/index.js';
import type { LocalBucket } from '../support/localBucket.js';
import { signV4 } from '../server/helpers.js';

/** The bucket as the mount sees it, in this process: for planting and checking objects without the mount's caches. */
export function encryptedBucket(local: LocalBucket, keyFile = local.keyFile): EncryptedBucket {
  return new EncryptedBucket(local.store, new Keyring({ writer: rsaMasterKey({ privateKeyPem: readFileSync(keyFile) }) }));
}

/** The whole plaintext of an object, read straight from the bucket (MD5-checked). */
export async function plaintextOf(bucket: EncryptedBucket, key: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of await bucket.get(key)) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

export const sha256 = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');

export async function until(what: string, check: () => Promise<boolean> | boolean, seconds = 30): Promise<void> {
  const deadline = Date.now() + seconds * 1000;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** Seconds a synchronous call took, and its result. */
export function timed<T>(work: () => T): { seconds: number; result: T } {
  const started = performance.now();
  const result = work();
  return { seconds: (performance.now() - started) / 1000, result };
}

/** Single-quotes a string for bash. */
export const q = (s: string): string => `'${s.replace(/'/g, `'\\''`)}'`;

/** The black-hole proxy (blackholeProxy.mjs) as a child process in front of the server. */
export interface Proxy {
  url: string;
  /** Sends one command (freeze, blackhole, heal, count) and resolves with its answer line. */
  command(line: string): Promise<string>;
  stop(): Promise<void>;
}

export async function startProxy(target: string): Promise<Proxy> {
  const { hostname, port } = new URL(target);
  const script = fileURLToPath(new URL('./blackholeProxy.mjs', import.meta.url));
  const child = spawn(process.execPath, [script, hostname, port], { stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = createInterface({ input: child.stdout! });
  const waiting: ((line: string) => void)[] = [];
  const early: string[] = [];
  lines.on('line', (line) => {
    const next = waiting.shift();
    if (next) next(line);
    else early.push(line);
  });
  const nextLine = (): Promise<string> =>
    early.length > 0 ? Promise.resolve(early.shift()!) : new Promise((resolve) => waiting.push(resolve));
  const listening = await nextLine();
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  return {
    url: `http://127.0.0.1:${listening.split(' ')[1]}`,
    command: (line) => {
      const answer = nextLine();
      child.stdin!.write(`${line}\n`);
      return answer;
    },
    stop: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
      await exited;
    },
  };
}

export interface AsyncResult {
  status: number;
  stdout: string;
  stderr: string;
  seconds: number;
}

/** Runs a bash command without blocking this thread (for commands that must run side by side). */
export function shAsync(command: string): Promise<AsyncResult> {
  const started = performance.now();
  const child = spawn('bash', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
  return new Promise((resolve) =>
    child.once('close', (code) => resolve({ status: code ?? -1, stdout, stderr, seconds: (performance.now() - started) / 1000 })),
  );
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/**
 * PUT straight to the server with every byte of the key percent-encoded, dots included: the way
 * to store keys (`a/../b`, `a/./b`) that ali-oss cannot address, since its URL handling folds dot
 * segments before sending. Metadata names go without their `x-oss-meta-` prefix.
 */
export async function rawPut(local: LocalBucket, key: string, body: Buffer, meta: Record<string, string> = {}): Promise<number> {
  const url = new URL(local.server.url);
  const encoded = [...Buffer.from(key)].map((b) => `%${b.toString(16).padStart(2, '0').toUpperCase()}`).join('');
  const path = `/${local.bucket}/${encoded}`;
  const given: Record<string, string> = { 'Content-Type': 'application/octet-stream', 'Content-Length': String(body.length) };
  for (const [name, value] of Object.entries(meta)) given[`x-oss-meta-${name}`] = value;
  const headers = signV4('PUT', path, given, local.credentials);
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method: 'PUT', path, headers }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(body);
  });
}
