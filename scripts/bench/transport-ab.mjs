#!/usr/bin/env node
// The object store's HTTP client, build against build: client CPU per HEAD and HEADs per second
// (32 in flight), client CPU per 4 KiB PUT (one after another), and a ranged GET into block
// buffers (1 MiB ranges, 4 in flight): client CPU-s per GiB and MB/s (the warm-up's ranges are
// checked byte for byte, the measured ones are not). One local server (this tree's, in a child
// process, taking V1 and V4) serves every client; each client runs in a child
// process of its own (its CPU is its own), one per build per round, builds alternated.
//
//   npx tsc -p . && node scripts/bench/transport-ab.mjs [--dist DIR]... [--rounds R] [--heads N]
//       [--puts N] [--get-mib M] [--cpu-prof DIR]
//   (--dist: a compiled tree whose store/index.js is measured, default dist/; give two to compare.
//    --cpu-prof: each client child writes a V8 CPU profile there; see ./profile-summary.mjs.)
import { fork } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { loadavg } from 'node:os';
import { resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { BENCH_KEYS, startTreeServer } from './tree-server.mjs';
import OSS from 'ali-oss';
import { LOCAL_REGION, LOCAL_V4, tuneLikeOssencfs } from './util.mjs';

const BUCKET = 'transport';
const MiB = 1024 * 1024;
const HEAD_OBJECTS = 1000;
const BIG = 'big';

const fix = (x, digits) => (x == null ? '-' : x.toFixed(digits));
const load = () => loadavg().map((l) => l.toFixed(2)).join(' ');

if (process.argv[2] === '--child') await child(JSON.parse(process.argv[3]));
else await main();

async function main() {
  const { values } = parseArgs({
    options: {
      dist: { type: 'string', multiple: true },
      rounds: { type: 'string', default: '3' },
      heads: { type: 'string', default: '10000' },
      puts: { type: 'string', default: '1000' },
      'get-mib': { type: 'string', default: '512' },
      phases: { type: 'string', default: 'head,put,get' },
      'cpu-prof': { type: 'string' },
    },
  });
  const here = fileURLToPath(new URL('../../dist/', import.meta.url));
  const dists = (values.dist ?? [here]).map((d) => resolve(d));
  const phases = values.phases.split(',');
  const params = { heads: phases.includes('head') ? Number(values.heads) : 0, puts: phases.includes('put') ? Number(values.puts) : 0, getMiB: Number(values['get-mib']), gets: phases.includes('get') };
  const server = await startTreeServer(here);
  const rows = dists.map(() => []);
  try {
    console.log(`transport A/B, load ${load()}`);
    await runChild(dists.at(-1), { ...params, url: server.url, fill: true });
    for (let round = 1; round <= Number(values.rounds); round++) {
      for (const [i, dist] of dists.entries()) {
        const prof = values['cpu-prof'] ? ['--cpu-prof', '--cpu-prof-dir', resolve(values['cpu-prof']), '--cpu-prof-name', `client-${i}-r${round}.cpuprofile`] : [];
        const s0 = await server.cpuMs();
        const r = await runChild(dist, { ...params, url: server.url }, prof);
        r.serverCpuMs = (await server.cpuMs()) - s0;
        r.load = load();
        rows[i].push(r);
        console.log(
          `round ${round} ${dist}: HEAD ${fix(r.headUs, 0)} µs CPU, ${fix(r.headRate, 0)}/s | PUT 4K ${fix(r.putUs, 0)} µs CPU, ${fix(r.putRate, 0)}/s | ` +
            `GET ${fix(r.getCpuPerGiB, 2)} CPU-s/GiB (sys ${fix(r.getSysPerGiB, 2)}, ${fix(r.getFaultsPerGiB, 0)} faults), ${fix(r.getMBps, 0)} MB/s | server ${fix(r.serverCpuMs / 1000, 1)} CPU-s | load ${r.load}`,
        );
      }
    }
  } finally {
    await server.stop();
  }
  const median = (xs) => (xs.includes(undefined) ? undefined : [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]);
  for (const [i, dist] of dists.entries()) {
    const m = (f) => median(rows[i].map(f));
    console.log(
      `median ${dist}: HEAD ${fix(m((r) => r.headUs), 0)} µs, ${fix(m((r) => r.headRate), 0)}/s | PUT ${fix(m((r) => r.putUs), 0)} µs, ${fix(m((r) => r.putRate), 0)}/s | ` +
        `GET ${fix(m((r) => r.getCpuPerGiB), 2)} CPU-s/GiB, ${fix(m((r) => r.getMBps), 0)} MB/s`,
    );
  }
  console.log(`load at end ${load()}`);
}

function runChild(dist, params, execArgv = []) {
  const c = fork(fileURLToPath(import.meta.url), ['--child', JSON.stringify({ ...params, dist })], { execArgv, stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  return new Promise((resolveRun, reject) => {
    let result;
    c.once('message', (m) => (result = m));
    c.once('exit', (code) => (code === 0 && result ? resolveRun(result) : reject(new Error(`client child (${dist}) exited ${code}`))));
  });
}

async function child({ dist, url, heads, puts, getMiB, gets, fill }) {
  const { createOssStore } = await import(new URL('store/index.js', pathToFileURL(`${dist}/`)).href);
  await tuneLikeOssencfs(pathToFileURL(`${dist}/`)); // as the mount runs
  const store = createOssStore({ endpoint: url, bucket: BUCKET, region: LOCAL_REGION, ...BENCH_KEYS, maxSockets: 64 });
  const meta = { 'client-side-encryption-key': randomBytes(344).toString('base64'), 'client-side-encryption-start': randomBytes(16).toString('base64'), mode: '33188' };
  if (fill) {
    await new OSS({ ...LOCAL_V4, endpoint: url, bucket: BUCKET, ...BENCH_KEYS }).putBucket(BUCKET);
    await inFlight(HEAD_OBJECTS, 32, (i) => store.put(`h/${i}`, randomBytes(100), { meta }));
    const chunk = randomBytes(MiB);
    const id = await store.initiateMultipart(BIG, { meta: {} });
    const parts = [];
    for (let p = 0; p < getMiB / 8; p++) parts.push(await store.uploadPart(BIG, id, p + 1, Buffer.concat(Array(8).fill(chunk)), {}));
    await store.completeMultipart(BIG, id, parts);
    process.send({}, () => process.exit(0));
    return;
  }
  const cpu = () => {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1e3;
  };
  const timed = async (fn) => {
    const c0 = cpu();
    const r0 = process.resourceUsage();
    const t0 = performance.now();
    await fn();
    const r1 = process.resourceUsage();
    return { cpuMs: cpu() - c0, wallMs: performance.now() - t0, sysMs: (r1.systemCPUTime - r0.systemCPUTime) / 1e3, faults: r1.minorPageFault - r0.minorPageFault };
  };
  // Warm-up: the same work, smaller, so the figures are of compiled code.
  if (heads) await inFlight(2000, 32, (i) => store.head(`h/${i % HEAD_OBJECTS}`));
  if (puts) for (let i = 0; i < 200; i++) await store.put(`p/${i}`, randomBytes(4096), { meta });
  const blocks = Array.from({ length: 8 }, () => Buffer.allocUnsafe(MiB));
  // Every MiB of BIG is the same random MiB: the warm-up checks each range against the first.
  let reference;
  const getRanges = (n, check = false) =>
    inFlight(n, 4, async (i) => {
      const block = blocks[i % blocks.length];
      let filled = 0;
      const start = (i % (getMiB - 1)) * MiB;
      await store.readInto(BIG, { start, end: start + MiB - 1 }, undefined, {
        room: (max) => block.subarray(filled, filled + Math.min(max, MiB - filled)),
        filled: (k) => (filled += k),
      });
      if (filled !== MiB) throw new Error(`range ${i}: ${filled} bytes`);
      if (!check) return;
      reference ??= Buffer.from(block);
      if (!block.equals(reference)) throw new Error(`range ${i}: bytes differ from the object's`);
    });
  if (gets) await getRanges(256, true);

  const h = await timed(() => inFlight(heads, 32, (i) => store.head(`h/${i % HEAD_OBJECTS}`)));
  const body = randomBytes(4096);
  const p = await timed(async () => {
    for (let i = 0; i < puts; i++) await store.put(`p/${i % 200}`, body, { meta });
  });
  const g = await timed(() => getRanges(gets ? getMiB : 0));
  const gib = getMiB / 1024;
  process.send({
    ...(heads ? { headUs: (h.cpuMs * 1000) / heads, headRate: heads / (h.wallMs / 1000) } : {}),
    ...(puts ? { putUs: (p.cpuMs * 1000) / puts, putRate: puts / (p.wallMs / 1000) } : {}),
    ...(gets ? { getCpuPerGiB: g.cpuMs / 1000 / gib, getMBps: (getMiB * MiB) / 1e6 / (g.wallMs / 1000), getSysPerGiB: g.sysMs / 1000 / gib, getFaultsPerGiB: g.faults / gib } : {}),
  }, () => process.exit(0));
}

/** Runs `task(0..n-1)` with at most `width` at once. */
async function inFlight(n, width, task) {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(width, n) }, async () => {
      while (next < n) await task(next++);
    }),
  );
}
