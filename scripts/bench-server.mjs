#!/usr/bin/env node
// Throughput of the OSS-compatible server over loopback against a bare Node http server that streams
// the same bytes from memory (GET) or discards them (PUT), measured in the same run. Each PUT round
// also times two things alone over the same number of bytes, each a floor under any PutObject's
// time on this machine: MD5 (the answer's ETag is the body's MD5, and MD5 is serial) and writing
// the bytes to a file on the server's disk and syncing it (an object is durable before the answer).
// Usage: npx tsc -p . && node scripts/bench-server.mjs [--quick] [--rounds N] [--dist DIR] [--allocator tuned|default]
// (--dist: the compiled tree to load server/index.js from, default dist/, to compare two builds.
//  --allocator: glibc malloc as every ossencfs command sets it (src/util/allocator.ts; the default,
//  as `ossencfs server` runs), or glibc's own defaults. Both servers share this process and so
//  always run with the same settings.)
import { createHash, createHmac } from 'node:crypto';
import { createServer, request } from 'node:http';
import { mkdtemp, open, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import OSS from 'ali-oss';
import { tuneLikeOssencfs, LOCAL_V4 } from './bench/util.mjs';

const { values } = parseArgs({ options: { quick: { type: 'boolean', default: false }, dist: { type: 'string' }, rounds: { type: 'string', default: '3' }, allocator: { type: 'string', default: 'tuned' } } });
const dist = values.dist ? pathToFileURL(`${resolve(values.dist)}/`) : new URL('../dist/', import.meta.url);
const { startServer } = await import(new URL('server/index.js', dist).href);
if (!['tuned', 'default'].includes(values.allocator)) throw new Error('--allocator is tuned or default');
const allocatorLine = values.allocator === 'tuned' ? await tuneLikeOssencfs(dist) : 'allocator: glibc defaults (--allocator default)';
const quick = values.quick;
const rounds = Number(values.rounds);
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

/** MD5 of SIZE bytes in 1 MiB updates, on this thread. */
async function md5Alone() {
  const hash = createHash('md5');
  for (let left = SIZE; left > 0; left -= CHUNK.length) hash.update(CHUNK);
  hash.digest();
}

/**
 * SIZE bytes made durable in a new file in `dir` (beside the server's objects) as fast as this
 * disk allows: 1 MiB writes, a background fdatasync every 64 MiB so the flush overlaps the
 * writing (as the server does), and an fsync at the end.
 */
async function diskAlone(dir) {
  const file = join(dir, 'disk-alone');
  const handle = await open(file, 'w');
  let flushing = Promise.resolve();
  try {
    for (let written = 0; written < SIZE; written += CHUNK.length) {
      await handle.write(CHUNK);
      if ((written + CHUNK.length) % (64 << 20) === 0) flushing = flushing.then(() => handle.datasync());
    }
    await flushing;
    await handle.sync();
  } finally {
    await handle.close();
    await rm(file);
  }
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

/** The bare server: discards PUT bodies, answers GETs from memory. */
async function startBare() {
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
  const target = { host: '127.0.0.1', port: server.address().port, path: '/x' };
  return { put: () => put(target), get: () => get(target), stop: () => server.close() };
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

async function startOurs() {
  const dir = await mkdtemp(join(tmpdir(), 'ossencfs-bench-'));
  // V1 too: an older build compared side by side (--dist) signs V1.
  const server = await startServer({ dir, credentials: [KEYS], signatures: 'any' });
  const client = new OSS({ ...LOCAL_V4, endpoint: server.url, bucket: 'bench', ...KEYS });
  await client.putBucket('bench');
  return {
    dir,
    put: () => put(signed(server, 'PUT', 'bench', 'obj')),
    get: () => get(signed(server, 'GET', 'bench', 'obj')),
    stop: async () => {
      await server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

// Rounds alternate the two servers, so load from elsewhere on the machine lands on both alike;
// each round's ratio compares neighbours, and the median ratio is the figure.
const mbps = (seconds) => SIZE / 1e6 / seconds;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const [base, mine] = [await startBare(), await startOurs()];
const ratios = { put: [], get: [], bound: [] };
console.log(`size ${(SIZE / 2 ** 20).toFixed(0)} MiB over loopback${quick ? ' (--quick)' : ''}, ${rounds} rounds; ${allocatorLine}`);
try {
  for (let round = 1; round <= rounds; round++) {
    for (const op of ['put', 'get']) {
      const b = mbps(await timed(base[op]));
      const m = mbps(await timed(mine[op]));
      ratios[op].push(m / b);
      let floor = '';
      if (op === 'put') {
        const h = mbps(await timed(md5Alone));
        const d = mbps(await timed(() => diskAlone(mine.dir)));
        ratios.bound.push(Math.min(h, d) / b);
        floor = `   alone: MD5 ${h.toFixed(0)} MB/s, disk write+sync ${d.toFixed(0)} MB/s`;
      }
      console.log(`${op.toUpperCase()}  round ${round}  bare http ${b.toFixed(0)} MB/s   ossencfs server ${m.toFixed(0)} MB/s   ratio ${(m / b * 100).toFixed(0)}%${floor}`);
    }
  }
} finally {
  base.stop();
  await mine.stop();
}
const summary = (xs) => `${(median(xs) * 100).toFixed(0)}%  (rounds: ${xs.map((r) => `${(r * 100).toFixed(0)}%`).join(' ')})`;
for (const op of ['get', 'put']) console.log(`${op.toUpperCase()}  median ratio ${summary(ratios[op])}`);
console.log(`PUT  bound: the slower of MD5 and disk alone, as a ratio to bare: median ${summary(ratios.bound)}`);
