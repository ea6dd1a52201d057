#!/usr/bin/env node
// Library throughput: EncryptedBucket upload and download against plain ali-oss put/get of the
// same bytes, in one run, on the embedded local server. Build first: npx tsc -p .
//
//   node scripts/bench-library.mjs            # 1 GiB
//   node scripts/bench-library.mjs --quick    # 128 MiB
//   node scripts/bench-library.mjs --size-mib 512
//   node scripts/bench-library.mjs --server-dist DIR   # the server from another compiled tree (A/B of server builds)
//   node scripts/bench-library.mjs --rounds 5          # repeat; the figure is the median of each round's ratio
//
// The data is generated chunk by chunk and never held whole. The target is encrypted ≥ 70% of plain.
// Within a round plain and encrypted run back to back, so load from elsewhere on the (shared)
// machine lands on both alike; single rounds here have ranged from 69% to 97% on the same code.
import { createRequire } from 'node:module';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { Readable } from 'node:stream';
import { parseArgs } from 'node:util';
import { tuneLikeOssencfs, LOCAL_V4, LOCAL_REGION } from './bench/util.mjs';

const require = createRequire(import.meta.url);
const OSS = require('ali-oss');
const dist = new URL('../dist/', import.meta.url);
const { EncryptedBucket, Keyring, createOssStore, rsaMasterKey } = await import(new URL('index.js', dist).href);

const { values } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'size-mib': { type: 'string' },
    'part-mib': { type: 'string', default: '8' },
    concurrency: { type: 'string', default: '4' },
    'server-dist': { type: 'string' },
    rounds: { type: 'string', default: '1' },
  },
});
const serverDist = values['server-dist'] ? pathToFileURL(`${resolve(values['server-dist'])}/`) : dist;
const MIB = 1024 * 1024;
const size = Number(values['size-mib'] ?? (values.quick ? 128 : 1024)) * MIB;
const CHUNK = MIB;

/** `size` bytes as a stream of 1 MiB chunks cut from one random block, each chunk a fresh Buffer. */
function generated() {
  const block = randomBytes(CHUNK + 4096);
  let sent = 0;
  let i = 0;
  return new Readable({
    read() {
      if (sent >= size) return this.push(null);
      const n = Math.min(CHUNK, size - sent);
      const skew = (i++ * 97) % 4096;
      this.push(Buffer.from(block.subarray(skew, skew + n)));
      sent += n;
    },
  });
}

async function drain(stream) {
  let n = 0;
  for await (const chunk of stream) n += chunk.length;
  if (n !== size) throw new Error(`read ${n} bytes, expected ${size}`);
}

async function timed(label, fn) {
  const t0 = process.hrtime.bigint();
  await fn();
  const s = Number(process.hrtime.bigint() - t0) / 1e9;
  const mbps = size / 1e6 / s;
  console.log(`${label.padEnd(28)} ${(size / MIB).toFixed(0)} MiB in ${s.toFixed(2)} s = ${mbps.toFixed(0)} MB/s`);
  return mbps;
}

/**
 * The server runs in its own process, as a real endpoint would be elsewhere: in-process it would
 * share the client's one JS thread and the bench would measure the sum of both.
 */
async function startServerProcess(dir, credentials) {
  const code = `
    const { tuneLikeOssencfs } = await import(${JSON.stringify(new URL('bench/util.mjs', import.meta.url).href)});
    await tuneLikeOssencfs(); // as \`ossencfs server\` runs
    const { startServer } = await import(${JSON.stringify(new URL('server/index.js', serverDist).href)});
    const s = await startServer({ dir: ${JSON.stringify(dir)}, port: 0, credentials: [${JSON.stringify(credentials)}], signatures: 'any' });
    console.log(s.url);`;
  const child = spawn(process.execPath, ['--input-type=module', '-e', code], { stdio: ['ignore', 'pipe', 'inherit'] });
  const [line] = await once(child.stdout, 'data');
  return { url: String(line).trim(), stop: () => child.kill() };
}

/** A plain multipart upload of generated(): parts of --part-mib, --concurrency in flight. */
async function plainMultipart(store, key) {
  const partSize = Number(values['part-mib']) * MIB;
  const uploadId = await store.initiateMultipart(key, { meta: {} });
  const parts = [];
  let pending = [];
  const buffered = [];
  let n = 0;
  const flush = async (chunks) => {
    const partNumber = ++n;
    pending.push(store.uploadPart(key, uploadId, partNumber, Buffer.concat(chunks), {}).then((p) => parts.push(p)));
    if (pending.length >= Number(values.concurrency)) await Promise.race(pending.map((p) => p.then(() => (pending = pending.filter((q) => q !== p)))));
  };
  for await (const chunk of generated()) {
    buffered.push(chunk);
    if (buffered.length * CHUNK >= partSize) await flush(buffered.splice(0));
  }
  if (buffered.length) await flush(buffered);
  await Promise.all(pending);
  await store.completeMultipart(key, uploadId, parts);
}

const dir = mkdtempSync(join(tmpdir(), 'ossencfs-bench-'));
const credentials = { accessKeyId: 'BENCH', accessKeySecret: randomBytes(16).toString('hex') };
const server = await startServerProcess(dir, credentials);
const bucketName = 'bench';
try {
  const plain = new OSS({ ...LOCAL_V4, ...credentials, endpoint: server.url, bucket: bucketName, timeout: 600_000 });
  await plain.putBucket(bucketName);
  const keyPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  const store = createOssStore({ region: LOCAL_REGION, endpoint: server.url, bucket: bucketName, ...credentials, timeoutMs: 600_000 });
  const bucket = new EncryptedBucket(store, new Keyring({ writer: rsaMasterKey({ privateKeyPem: keyPem }) }), {
    partSize: Number(values['part-mib']) * MIB,
    concurrency: Number(values.concurrency),
  });

  console.log(await tuneLikeOssencfs(dist));
  console.log(`node ${process.version}, ${size / MIB} MiB, part ${values['part-mib']} MiB, concurrency ${values.concurrency}`);
  const ratios = { up: [], upMultipart: [], down: [] };
  const pct = (r) => `${(r * 100).toFixed(0)}%`;
  for (let round = 1; round <= Number(values.rounds); round++) {
    const plainUp = await timed('plain ali-oss putStream', () => plain.putStream('plain.bin', generated(), { contentLength: size }));
    // Same upload shape as the encrypted path (parts, window, CompleteMultipartUpload) minus the
    // encryption: separates what encryption costs from what multipart costs on this server.
    const plainMultipartUp = await timed('plain multipart (no crypto)', () => plainMultipart(store, 'plain-mp.bin'));
    const encUp = await timed('EncryptedBucket.put', () => bucket.put('enc.bin', generated(), { size }));
    const plainDown = await timed('plain ali-oss getStream', async () => drain((await plain.getStream('plain.bin')).stream));
    const encDown = await timed('EncryptedBucket.get', async () => drain(await bucket.get('enc.bin')));
    ratios.up.push(encUp / plainUp);
    ratios.upMultipart.push(encUp / plainMultipartUp);
    ratios.down.push(encDown / plainDown);
    console.log(`round ${round}: upload ${pct(encUp / plainUp)} (vs plain multipart ${pct(encUp / plainMultipartUp)}), download ${pct(encDown / plainDown)}`);
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const all = (xs) => (xs.length > 1 ? ` (rounds: ${xs.map(pct).join(' ')})` : '');
  console.log(`upload ratio   encrypted/plain = ${pct(median(ratios.up))}${all(ratios.up)} (vs plain multipart: ${pct(median(ratios.upMultipart))})`);
  console.log(`download ratio encrypted/plain = ${pct(median(ratios.down))}${all(ratios.down)}`);
} finally {
  server.stop();
  rmSync(dir, { recursive: true, force: true });
}
