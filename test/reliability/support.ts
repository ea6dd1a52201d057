import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { request } from 'node:http';
import { Keyring, rsaMasterKey } from '../../src/crypto/index.js';
import { EncryptedBucket } from '../../src/secure/index.js';
import type { LocalBucket } from '../support/localBucket.js';
import { signV1 } from '../server/helpers.js';

/** One request the server saw, as its admin endpoint reports it (`{"action":"requests"}`). */
export interface SeenRequest {
  method: string;
  path: string;
  query: string;
  range?: string;
  status: number;
}

/** A signed admin request (`POST /?x-ossencfs-faults`) to the local server process. */
export async function admin(local: LocalBucket, spec: Record<string, unknown>): Promise<{ status: number; body: string }> {
  const url = new URL(local.server.url);
  const body = JSON.stringify(spec);
  const headers = signV1('POST', '/?x-ossencfs-faults', { 'Content-Type': 'application/json' }, {
    credentials: local.credentials,
    resource: '/?x-ossencfs-faults',
  });
  return new Promise((resolve, reject) => {
    const req = request({ host: url.hostname, port: url.port, method: 'POST', path: '/?x-ossencfs-faults', headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
      res.on('error', reject);
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Arms a fault; throws unless the server took it. */
export async function fault(local: LocalBucket, spec: Record<string, unknown>): Promise<void> {
  const r = await admin(local, spec);
  if (r.status !== 204) throw new Error(`fault ${JSON.stringify(spec)} refused: ${r.status} ${r.body}`);
}

/** The requests the server saw matching method/path since the last reset; `reset` forgets them after. */
export async function seen(local: LocalBucket, target: { method?: string; path?: string } = {}, reset = false): Promise<SeenRequest[]> {
  const r = await admin(local, { action: 'requests', ...target, reset });
  if (r.status !== 200) throw new Error(`requests: ${r.status} ${r.body}`);
  return (JSON.parse(r.body) as { requests: SeenRequest[] }).requests;
}

export async function resetSeen(local: LocalBucket): Promise<void> {
  await seen(local, {}, true);
}

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
