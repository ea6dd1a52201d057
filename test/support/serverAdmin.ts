import { request } from 'node:http';
import { signV4 } from '../server/helpers.js';
import type { LocalBucket } from './localBucket.js';

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
  const headers = signV4('POST', '/?x-ossencfs-faults', { 'Content-Type': 'application/json' }, local.credentials);
  return new Promise((resolve, reject) => {
    // A fresh connection each time: tests block the event loop in spawnSync for seconds, long enough
    // for the server to close an idle kept-alive socket unnoticed ("socket hang up" on reuse).
    const req = request({ host: url.hostname, port: url.port, method: 'POST', path: '/?x-ossencfs-faults', headers, agent: false }, (res) => {
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
