#!/usr/bin/env node
// Throughput of the OSS-compatible server over loopback against a bare Node http server that streams
// the same bytes from memory (GET) or discards them (PUT), measured in the same run.
// Usage: npx tsc -p . && node scripts/bench-server.mjs [--quick] [--dist DIR]
// (--dist: the compiled tree to load server/index.js from, default dist/, to compare two builds.)
import { createHmac } from 'node:crypto';
import { createServer, request } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import OSS from 'ali-oss';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, dist: { type: 'string' } } });
const dist = values.dist ? pathToFileURL(`${resolve(values.dist)}/`) : new URL('../dist/', import.meta.url);
const { startServer } = await import(new URL('server/index.js', dist).href);
const quick = values.quick;
const SIZE = quick ? 64 << 20 : 1 << 30;
const CHUNK = Buffer.alloc(1 << 20, 0x5a);
const KEYS = { accessKeyId: 'bench', accessKeySecret: 'bench-secret' };

/** Sends SIZE bytes from memory in 1 MiB writes, honouring back-pressure. */
function writeBody(stream, done) {
  let left = SIZE;
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, CHUNK.length);
      left -= n;
      if (!stream.write(n === CHUNK.length ? CHUNK : CHUNK.subarray(0, n))) return stream.once('drain', pump);
    }
    done();
  };
  pump();
}

function timed(fn) {
  const start = process.hrtime.bigint();
  return fn().then(() => Number(process.hrtime.bigint() - start) / 1e9);
}

/** Plain http GET that drains the body (what a reader on the mount does). */
function get(options) {
  return new Promise((resolve, reject) => {
    request(options, (res) => {
      let n = 0;
      res.on('data', (c) => (n += c.length));
      res.on('end', () => (n === SIZE ? resolve() : reject(new Error(`got ${n} bytes, status ${res.statusCode}`))));
    }).on('error', reject).end();
  });
}

function put(options) {
  return new Promise((resolve, reject) => {
    const req = request({ ...options, method: 'PUT', headers: { ...options.headers, 'Content-Length': SIZE } }, (res) => {
      res.resume();
      res.on('end', () => (res.statusCode === 200 ? resolve() : reject(new Error(`status ${res.statusCode}`))));
    });
    req.on('error', reject);
    writeBody(req, () => req.end());
  });
}

async function bare() {
  const server = createServer((req, res) => {
    if (req.method === 'PUT') {
      req.resume();
      req.on('end', () => res.end());
      return;
    }
    res.writeHead(200, { 'Content-Length': SIZE });
    writeBody(res, () => res.end());
  });
  await new Promise((r) => server.listen(0, '127.0.0.1', r));
  const port = server.address().port;
  const result = {
    put: await timed(() => put({ host: '127.0.0.1', port, path: '/x' })),
    get: await timed(() => get({ host: '127.0.0.1', port, path: '/x' })),
  };
  server.close();
  return result;
}

/** The same raw http client as for the bare server, with an OSS V1 signature. */
function signed(server, method, bucket, key) {
  const date = new Date().toUTCString();
  const text = [method, '', 'application/octet-stream', date, `/${bucket}/${key}`].join('\n');
  const signature = createHmac('sha1', KEYS.accessKeySecret).update(text).digest('base64');
  return {
    host: server.host,
    port: server.port,
    path: `/${bucket}/${key}`,
    headers: { Date: date, 'Content-Type': 'application/octet-stream', Authorization: `OSS ${KEYS.accessKeyId}:${signature}` },
  };
}

async function ours() {
  const dir = await mkdtemp(join(tmpdir(), 'ossencfs-bench-'));
  const server = await startServer({ dir, credentials: [KEYS] });
  try {
    const client = new OSS({ endpoint: server.url, bucket: 'bench', ...KEYS });
    await client.putBucket('bench');
    return {
      put: await timed(() => put(signed(server, 'PUT', 'bench', 'obj'))),
      get: await timed(() => get(signed(server, 'GET', 'bench', 'obj'))),
    };
  } finally {
    await server.stop();
    await rm(dir, { recursive: true, force: true });
  }
}

const mbps = (seconds) => SIZE / 1e6 / seconds;
const base = await bare();
const mine = await ours();
console.log(`size ${(SIZE / 2 ** 20).toFixed(0)} MiB over loopback${quick ? ' (--quick)' : ''}`);
for (const op of ['get', 'put']) {
  const b = mbps(base[op]);
  const m = mbps(mine[op]);
  console.log(`${op.toUpperCase()}  bare http ${b.toFixed(0)} MB/s   ossencfs server ${m.toFixed(0)} MB/s   ratio ${(m / b * 100).toFixed(0)}%`);
}
