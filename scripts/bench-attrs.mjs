#!/usr/bin/env node
// What an attribute change (chmod, touch) of one closed file costs the library: EncryptedBucket.patchMeta
// of this build against another (--dist, e.g. a worktree of the build before OSS's client-side-
// encryption rules, whose patchMeta was one metadata-changing CopyObject), each against its own
// bundled server, at round-trip times of 0 and 30 ms (a relay delays each direction by half).
// Rounds alternate the builds; the best round of each is kept. Build first: npx tsc -p .
//
//   node scripts/bench-attrs.mjs --dist /path/to/other/dist [--sizes-kib 1,262144] [--rtt 0,30] [--rounds 3]
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { startDelayRelay } from './bench/delayRelay.mjs';
import { spawnUntil, LOCAL_REGION } from './bench/util.mjs';

const { values: opt } = parseArgs({
  options: {
    dist: { type: 'string' },
    'sizes-kib': { type: 'string', default: '1,262144' },
    rtt: { type: 'string', default: '0,30' },
    rounds: { type: 'string', default: '3' },
  },
});
if (!opt.dist) {
  console.error('usage: node scripts/bench-attrs.mjs --dist OTHER_DIST [--sizes-kib 1,262144] [--rtt 0,30] [--rounds 3]');
  process.exit(2);
}
const builds = { this: fileURLToPath(new URL('../dist/', import.meta.url)), other: resolve(opt.dist) };
const sizes = opt['sizes-kib'].split(',').map((k) => Number(k) * 1024);
const rtts = opt.rtt.split(',').map(Number);
const credentials = { accessKeyId: 'BENCH', accessKeySecret: randomBytes(16).toString('hex') };
const work = mkdtempSync(join(tmpdir(), 'ossencfs-bench-attrs-'));
const keyFile = join(work, 'key.pem');
writeFileSync(keyFile, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });

/** One build: its own server process, and its library in this process. */
async function open(name, dist) {
  const bin = join(dirname(dist), 'bin', 'ossencfs.js');
  const { child, ready } = spawnUntil(process.execPath, [bin, 'server', '--dir', join(work, name), '--port', '0'], /listening on (http:\/\/\S+)/, {
    env: { ...process.env, OSS_ACCESS_KEY_ID: credentials.accessKeyId, OSS_ACCESS_KEY_SECRET: credentials.accessKeySecret, OSS_REGION: LOCAL_REGION },
  });
  const match = await ready;
  const lib = async (path) => import(pathToFileURL(join(dist, path)).href);
  const [{ createOssStore }, { Keyring, rsaMasterKey }, { EncryptedBucket }] = await Promise.all([lib('store/index.js'), lib('crypto/index.js'), lib('secure/index.js')]);
  const { readFileSync } = await import('node:fs');
  const keyring = new Keyring({ writer: rsaMasterKey({ privateKeyPem: readFileSync(keyFile, 'utf8') }) });
  const url = match[1];
  const bucketAt = (endpoint) => new EncryptedBucket(createOssStore({ endpoint, region: 'cn-hangzhou', bucket: 'attrs', ...credentials }), keyring);
  const OSS = (await import('ali-oss')).default;
  await new OSS({ ...credentials, endpoint: url, region: 'oss-cn-hangzhou', authorizationV4: true, bucket: 'attrs' }).putBucket('attrs');
  return { url, bucketAt, stop: () => child.kill() };
}

const opened = {};
for (const [name, dist] of Object.entries(builds)) opened[name] = await open(name, dist);
const best = new Map();
try {
  for (const rtt of rtts) {
    const relays = {};
    for (const name of Object.keys(opened)) relays[name] = await startDelayRelay(opened[name].url, rtt / 2);
    for (const size of sizes) {
      const body = randomBytes(size);
      for (const name of Object.keys(opened)) await opened[name].bucketAt(opened[name].url).put(`f${size}`, body, { size });
      for (let round = 0; round < Number(opt.rounds); round++) {
        for (const name of round % 2 ? ['other', 'this'] : ['this', 'other']) {
          const bucket = opened[name].bucketAt(relays[name].url);
          const started = process.hrtime.bigint();
          await bucket.patchMeta(`f${size}`, { mode: String(0o100000 | (0o600 + round)) });
          const seconds = Number(process.hrtime.bigint() - started) / 1e9;
          const id = `${size}/${rtt}/${name}`;
          best.set(id, Math.min(best.get(id) ?? Infinity, seconds));
        }
      }
    }
    for (const r of Object.values(relays)) await r.close();
  }
} finally {
  for (const o of Object.values(opened)) o.stop();
  rmSync(work, { recursive: true, force: true });
}
console.log('patchMeta (one chmod of a closed file), best of rounds');
console.log(['size', 'RTT', 'this build', 'other build', 'this / other'].join('\t'));
for (const rtt of rtts) {
  for (const size of sizes) {
    const [a, b] = [best.get(`${size}/${rtt}/this`), best.get(`${size}/${rtt}/other`)];
    const shown = size >= 1024 * 1024 ? `${size / 1024 / 1024} MiB` : `${size / 1024} KiB`;
    console.log([shown, `${rtt} ms`, `${(a * 1000).toFixed(1)} ms`, `${(b * 1000).toFixed(1)} ms`, `${(a / b).toFixed(2)}x`].join('\t'));
  }
}
