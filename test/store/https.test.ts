import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createServer, type Server } from 'node:tls';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { shAsync } from '../reliability/support.js';
import { forwardProxy } from './forwardProxy.js';
import { LOCAL_REGION, startHarness, type Harness } from './harness.js';

// OSS is HTTPS. Every request kind through an https endpoint — a TLS relay in front of the local
// server, with a certificate made here — in a child process, which alone can be told to trust it.

let h: Harness;
let dir: string;
let relay: Server;
let port: number;
const sockets = new Set<Socket>();

beforeAll(async () => {
  h = await startHarness('test-bucket');
  dir = mkdtempSync(join(tmpdir(), 'ossencfs-tls-'));
  // An IP and a name: both endpoints are addressed path-style, so the certificate must bear
  // the endpoint's own host (undici checks it as Node's tls does).
  execFileSync('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=ossencfs test',
    '-keyout', join(dir, 'key.pem'), '-out', join(dir, 'cert.pem'),
    '-addext', 'subjectAltName=DNS:localhost,IP:127.0.0.1',
  ], { stdio: 'ignore' });
  relay = createServer({ key: readFileSync(join(dir, 'key.pem')), cert: readFileSync(join(dir, 'cert.pem')) }, (client) => {
    const upstream = connect(h.server.port, h.server.host);
    sockets.add(client).add(upstream);
    client.pipe(upstream).pipe(client);
    client.on('error', () => upstream.destroy()).on('close', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  port = (relay.address() as AddressInfo).port;
});
afterAll(async () => {
  for (const s of sockets) s.destroy();
  await new Promise<void>((resolve) => (relay ? relay.close(() => resolve()) : resolve()));
  await h?.close();
  rmSync(dir, { recursive: true, force: true });
});

async function callsOver(endpoint: string, trust: boolean, httpsProxy?: string): Promise<Record<string, unknown>> {
  const child = fileURLToPath(new URL('./overTls.mjs', import.meta.url));
  const options = { endpoint, bucket: h.bucket, region: LOCAL_REGION, ...h.credentials };
  const env = (trust ? `NODE_EXTRA_CA_CERTS=${join(dir, 'cert.pem')} ` : '') + (httpsProxy ? `HTTPS_PROXY=${httpsProxy} ` : '');
  const { status, stdout, stderr } = await shAsync(`${env}${process.execPath} ${child} '${JSON.stringify(options)}'`);
  expect(stderr).toBe('');
  expect(status).toBe(0);
  return JSON.parse(stdout) as Record<string, unknown>;
}

const ANSWERS = { put: 34, head: '1', get: 'tls', list: ['tls/a'], copy: 34, headCopy: 8, delete: 0 };

describe('over HTTPS', () => {
  it('an IP endpoint (path-style, the IP in the certificate): every kind of request', async () => {
    expect(await callsOver(`https://127.0.0.1:${port}`, true)).toEqual(ANSWERS);
  });

  it('a named endpoint, path-style (localhost): every kind of request', async () => {
    expect(await callsOver(`https://localhost:${port}`, true)).toEqual(ANSWERS);
  });

  it('through HTTPS_PROXY: a CONNECT tunnel to the endpoint, TLS inside it, every kind of request', async () => {
    const proxy = await forwardProxy();
    try {
      expect(await callsOver(`https://localhost:${port}`, true, proxy.url)).toEqual(ANSWERS);
      expect(proxy.tunnels.length).toBeGreaterThanOrEqual(1);
      expect(new Set(proxy.tunnels)).toEqual(new Set([`localhost:${port}`]));
    } finally {
      await proxy.close();
    }
  });

  it('a certificate not trusted: each request fails with EIO naming the cause, HEADs as every other', async () => {
    const results = await callsOver(`https://127.0.0.1:${port}`, false);
    for (const name of ['put', 'head', 'get', 'list']) {
      expect(results[name]).toMatchObject({ errno: 'EIO', message: expect.stringMatching(/self[- ]signed certificate/i) });
    }
  });
});
