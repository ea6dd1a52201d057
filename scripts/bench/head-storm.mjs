#!/usr/bin/env node
// Server CPU per HEAD: what a cold `ls -l` through the mount costs the local OSS server. The
// server runs in a child process (one per compiled tree given), is filled with N small objects
// carrying the user metadata the mount writes, then takes N HEADs at a fixed concurrency from an
// ali-oss client; the child's own CPU time over the storm divided by N is the figure. With two
// trees, rounds alternate them so load from elsewhere lands on both alike.
//
//   npx tsc -p . && node scripts/bench/head-storm.mjs [--dist DIR]... [--objects N] [--concurrency C]
//       [--rounds R] [--cpu-prof DIR]
//   (--dist: a compiled tree holding server/index.js (run by ./tree-server.mjs), default dist/; give two to compare builds.
//    --cpu-prof: each server child writes a V8 CPU profile of its timed storms (not of the fill)
//    there; summarise it with scripts/bench/profile-summary.mjs.)
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import http from 'node:http';
import OSS from 'ali-oss';
import { BENCH_KEYS, startTreeServer } from './tree-server.mjs';
import { LOCAL_V4 } from './util.mjs';

const BUCKET = 'storm';

await main();

async function main() {
  const { values } = parseArgs({
    options: {
      dist: { type: 'string', multiple: true },
      objects: { type: 'string', default: '10000' },
      concurrency: { type: 'string', default: '32' },
      rounds: { type: 'string', default: '3' },
      'cpu-prof': { type: 'string' },
    },
  });
  const dists = values.dist ?? [fileURLToPath(new URL('../../dist/', import.meta.url))];
  const objects = Number(values.objects);
  const concurrency = Number(values.concurrency);
  const rounds = Number(values.rounds);
  console.log(`HEAD storm: ${objects} objects, concurrency ${concurrency}, ${rounds} rounds, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);

  const servers = [];
  for (const [i, dist] of dists.entries()) {
    servers.push(await startChild(dist, values['cpu-prof'] && join(values['cpu-prof'], `server-${i}.cpuprofile`)));
  }
  const perHead = servers.map(() => []);
  try {
    for (const s of servers) await populate(s.client, objects, concurrency);
    // One untimed storm each, so the rounds measure JIT-compiled code, not its warm-up.
    for (const s of servers) await storm(s.client, objects, concurrency);
    if (values['cpu-prof']) for (const s of servers) await s.profile('start');
    for (let round = 1; round <= rounds; round++) {
      for (const [i, s] of servers.entries()) {
        const before = await s.cpu();
        const t0 = process.hrtime.bigint();
        await storm(s.client, objects, concurrency);
        const wall = Number(process.hrtime.bigint() - t0) / 1e9;
        const cpuMs = (await s.cpu()) - before;
        perHead[i].push(cpuMs / objects);
        console.log(`round ${round}  ${s.dist}: server ${(cpuMs / objects).toFixed(3)} ms CPU/HEAD, wall ${wall.toFixed(2)} s (${(objects / wall).toFixed(0)} HEAD/s)`);
      }
    }
    if (values['cpu-prof']) for (const s of servers) await s.profile('stop');
  } finally {
    for (const s of servers) await s.stop();
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const [i, s] of servers.entries()) {
    console.log(`median  ${s.dist}: ${median(perHead[i]).toFixed(3)} ms server CPU per HEAD (rounds: ${perHead[i].map((x) => x.toFixed(3)).join(' ')})`);
  }
  if (servers.length === 2) console.log(`ratio second/first: ${(median(perHead[1]) / median(perHead[0])).toFixed(2)}`);
  console.log(`load at end ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

async function startChild(dist, profile) {
  const server = await startTreeServer(dist, { profile });
  const client = new OSS({ ...LOCAL_V4,
    endpoint: server.url, bucket: BUCKET, ...BENCH_KEYS, retryMax: 0,
    // Up to 64 sockets as the mount opens; the storm's concurrency is the limit that matters.
    agent: new http.Agent({ keepAlive: true, maxSockets: 64 }),
  });
  await client.putBucket(BUCKET);
  return { dist, client, cpu: server.cpuMs, profile: server.profile, stop: server.stop };
}

function keyOf(i) {
  return `dir/file-${String(i).padStart(6, '0')}`;
}

/** The user metadata the mount keeps with a file: POSIX attributes plus the encryption envelope. */
function metaOf(i) {
  return {
    mode: '33188', uid: '1000', gid: '1000', mtime: String(1_700_000_000_000 + i),
    'client-side-encryption-key': 'k'.repeat(344),
    'client-side-encryption-start': 's'.repeat(344),
    'client-side-encryption-cek-alg': 'AES/CTR/NoPadding',
    'client-side-encryption-wrap-alg': 'RSA/NONE/PKCS1Padding',
    'client-side-encryption-unencrypted-content-length': '16',
  };
}

async function parallel(n, concurrency, fn) {
  let next = 0;
  const worker = async () => {
    while (next < n) await fn(next++);
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, n) }, worker));
}

async function populate(client, n, concurrency) {
  const body = Buffer.alloc(16, 0x61);
  await parallel(n, concurrency, (i) => client.put(keyOf(i), body, { meta: metaOf(i) }));
}

async function storm(client, n, concurrency) {
  await parallel(n, concurrency, async (i) => {
    const r = await client.head(keyOf(i));
    if (r.status !== 200) throw new Error(`HEAD ${keyOf(i)}: ${r.status}`);
  });
}
