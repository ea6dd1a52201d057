#!/usr/bin/env node
// `ossencfs get` of one large object, side by side with a plain ali-oss getStream of the same
// number of bytes (ciphertext, no decryption) and with one GET+decrypt stream (`get URL -` into a
// file: the sequential path), at round-trip times of 0 and 30 ms (a relay in its own process
// delays each direction by half). Without a window the relay costs a stream one round trip per
// request and nothing per byte (see scripts/bench/delayRelay.mjs), so 30 ms runs once more with a
// 1 MiB window per connection: ~35 MB/s for one connection, the order of one connection to a
// bucket in another region. Every configuration writes its bytes to a file on the same disk and
// runs as its own process except the plain getStream, which runs here. Configurations alternate
// within each round; the best round of each is kept. Build first: npx tsc -p .
//
//   node scripts/bench-get.mjs [--size-mib 1024] [--nets 0,30,30/1] [--rounds 2] [--jobs 4,8]
//   --nets: round-trip times in ms, each with /WINDOW_MIB for a window per connection
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { closeSync, createWriteStream, mkdtempSync, openSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { once } from 'node:events';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import OSS from 'ali-oss';
import { MiB, generated, spawnUntil, LOCAL_REGION, LOCAL_V4 } from './bench/util.mjs';

const { values: opt } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '1024' },
    nets: { type: 'string', default: '0,30,30/1' },
    rounds: { type: 'string', default: '2' },
    jobs: { type: 'string', default: '4,8' },
  },
});
const SIZE = Number(opt['size-mib']) * MiB;
const nets = opt.nets.split(',');
const jobs = opt.jobs.split(',').map(Number);
const BIN = fileURLToPath(new URL('../bin/ossencfs.js', import.meta.url));
const RELAY = new URL('bench/delayRelay.mjs', import.meta.url).href;
const credentials = { accessKeyId: 'BENCH', accessKeySecret: randomBytes(16).toString('hex') };
const work = mkdtempSync(join(tmpdir(), 'ossencfs-bench-get-'));
const keyFile = join(work, 'key.pem');
writeFileSync(keyFile, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
const out = join(work, 'out.bin');
const env = {
  ...process.env,
  OSS_ACCESS_KEY_ID: credentials.accessKeyId,
  OSS_ACCESS_KEY_SECRET: credentials.accessKeySecret,
  OSS_REGION: LOCAL_REGION,
  XDG_CACHE_HOME: join(work, 'cache'),
  XDG_CONFIG_HOME: join(work, 'config'),
};

/** Runs the CLI to completion (asynchronously: the relay must keep moving bytes); stdout into `stdoutFile` if given. */
async function cli(args, stdoutFile) {
  const fd = stdoutFile ? openSync(stdoutFile, 'w') : 'ignore';
  try {
    const child = spawn(process.execPath, [BIN, ...args], { env, stdio: ['ignore', fd, 'pipe'] });
    let stderr = '';
    child.stderr.on('data', (d) => (stderr += d));
    const [code] = await once(child, 'close');
    if (code !== 0) throw new Error(`ossencfs ${args.join(' ')} exited ${code}: ${stderr}`);
  } finally {
    if (typeof fd === 'number') closeSync(fd);
  }
}

/** `30/4` → "30 ms, 4 MiB window". */
function label(net) {
  const [rtt, windowMiB] = net.split('/');
  return `${rtt} ms${windowMiB ? `, ${windowMiB} MiB window` : ''}`;
}

async function timedRun(fn) {
  rmSync(out, { force: true });
  const t0 = process.hrtime.bigint();
  await fn();
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  const size = statSync(out).size;
  if (size !== SIZE) throw new Error(`wrote ${size} bytes, expected ${SIZE}`);
  rmSync(out, { force: true });
  return seconds;
}

const server = spawnUntil(process.execPath, [BIN, 'server', '--dir', join(work, 'server'), '--port', '0'], /listening on (http:\/\/\S+)/, { env });
const serverUrl = (await server.ready)[1];
const best = new Map();
try {
  const plain = new OSS({ ...LOCAL_V4, ...credentials, endpoint: serverUrl, bucket: 'bench', timeout: 600_000 });
  await plain.putBucket('bench');
  await plain.putStream('plain.bin', generated(SIZE), { contentLength: SIZE });
  // The encrypted object as `put` makes it (multipart, with its plaintext MD5), from a file deleted after.
  const source = join(work, 'source.bin');
  await pipeline(generated(SIZE), createWriteStream(source));
  await cli(['put', source, 'oss://bench/enc.bin', '--endpoint', serverUrl, '--rsa-key', keyFile, '-q']);
  rmSync(source);
  console.log(`node ${process.version}, ${SIZE / MiB} MiB, part size 8 MiB (the default), load ${loadavg().map((l) => l.toFixed(1)).join('/')}`);

  for (const net of nets) {
    const [rtt, windowMiB] = net.split('/').map(Number);
    const window = windowMiB ? `{ windowBytes: ${windowMiB * MiB} }` : '{}';
    const relay = spawnUntil(process.execPath, ['--input-type=module', '-e', `const { startDelayRelay } = await import(${JSON.stringify(RELAY)}); console.log((await startDelayRelay(${JSON.stringify(serverUrl)}, ${rtt / 2}, ${window})).url);`], /(http:\/\/\S+)/);
    const endpoint = (await relay.ready)[1];
    const via = new OSS({ ...LOCAL_V4, ...credentials, endpoint, bucket: 'bench', timeout: 600_000 });
    const base = ['oss://bench/enc.bin', '--endpoint', endpoint, '--rsa-key', keyFile, '-q'];
    const configs = {
      'plain ali-oss getStream': () => timedRun(async () => pipeline((await via.getStream('plain.bin')).stream, createWriteStream(out))),
      'one GET+decrypt stream (get -)': () => timedRun(() => cli(['get', ...base, '-'], out)),
      ...Object.fromEntries(jobs.map((j) => [`get --jobs ${j}`, () => timedRun(() => cli(['get', ...base, out, '--jobs', String(j)]))])),
    };
    for (let round = 0; round < Number(opt.rounds); round++) {
      const names = Object.keys(configs);
      for (const name of round % 2 ? names.reverse() : names) {
        const seconds = await configs[name]();
        const id = `${net}|${name}`;
        best.set(id, Math.min(best.get(id) ?? Infinity, seconds));
        console.log(`  ${label(net)}  round ${round + 1}  ${name.padEnd(32)} ${seconds.toFixed(2)} s  ${(SIZE / 1e6 / seconds).toFixed(0)} MB/s  (load ${loadavg()[0].toFixed(1)})`);
      }
    }
    relay.child.kill();
  }
} finally {
  server.child.kill();
  rmSync(work, { recursive: true, force: true });
}

console.log(`\nget of ${SIZE / MiB} MiB, best of ${opt.rounds} rounds`);
console.log(['network', 'configuration', 'seconds', 'MB/s', '× one stream'].join('\t'));
for (const net of nets) {
  const single = best.get(`${net}|one GET+decrypt stream (get -)`);
  for (const [id, seconds] of best) {
    const [at, name] = id.split('|');
    if (at !== net) continue;
    console.log([label(net), name, seconds.toFixed(2), (SIZE / 1e6 / seconds).toFixed(0), (single / seconds).toFixed(2)].join('\t'));
  }
}
