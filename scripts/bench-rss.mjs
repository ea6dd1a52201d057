#!/usr/bin/env node
// The mount process's memory during big copies: a SIZE file cp'd into a fresh mount, then cp'd
// and dd'd (bs=1M) back out, then cp'd to another name within the mount, with VmRSS sampled every
// 100 ms and VmHWM read after each phase.
// Issues #4/#6: peak RSS must stay under --cache-size + 150 MiB. Build first: npx tsc -p .
//
//   node scripts/bench-rss.mjs [--size-mib 4096] [--cache-size 256M] [--rounds 1] [--dist DIR]
//                              [--env NAME=VALUE]... [--node-args="..."] [--probe] [--work DIR]
//
// --dist DIR mounts with another compiled tree (a worktree of an older commit, built) and
// --rounds alternates it with this one, so before/after are compared in one sitting; each line
// also gives MB/s per phase (compare within a sitting only: the machine is shared).
// --probe loads scripts/bench/memory-probe.mjs into the mount (node --import), which prints the
// process's own account (V8 heap, external, ArrayBuffers) at each new RSS high, and adds the
// kernel's (resident anonymous memory by kind of mapping, from /proc/PID/smaps, after the reads).
// --work DIR: where the temp dir (source file, server data) goes; it needs ~2x SIZE free.
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MiB, fusermountU, sleep, spawnUntil, timed, LOCAL_V4, LOCAL_REGION } from './bench/util.mjs';

const require = createRequire(import.meta.url);
const OSS = require('ali-oss');
const ROOT = fileURLToPath(new URL('..', import.meta.url));

const { values: opt } = parseArgs({
  options: {
    'size-mib': { type: 'string', default: '4096' },
    'cache-size': { type: 'string', default: '256M' },
    rounds: { type: 'string', default: '1' },
    dist: { type: 'string' },
    env: { type: 'string', multiple: true, default: [] },
    'node-args': { type: 'string', default: '' },
    probe: { type: 'boolean', default: false },
    work: { type: 'string' },
  },
});
const SIZE = Number(opt['size-mib']) * MiB;
const ROUNDS = Number(opt.rounds);
const extraEnv = Object.fromEntries(opt.env.map((e) => [e.slice(0, e.indexOf('=')), e.slice(e.indexOf('=') + 1)]));
const nodeArgs = opt['node-args'].split(' ').filter(Boolean);
if (opt.probe) nodeArgs.push('--import', join(ROOT, 'scripts/bench/memory-probe.mjs'));

const work = mkdtempSync(join(opt.work ?? tmpdir(), 'ossencfs-rss-'));
const credentials = { accessKeyId: 'BENCH', accessKeySecret: randomBytes(16).toString('hex') };
const cleanups = [];

async function startServer() {
  const { child, ready, exited } = spawnUntil(process.execPath, [join(ROOT, 'scripts/bench/server-child.mjs'), join(work, 'server')], /listening on (http:\/\/\S+)/, {
    env: { ...process.env, OSS_ACCESS_KEY_ID: credentials.accessKeyId, OSS_ACCESS_KEY_SECRET: credentials.accessKeySecret, OSS_REGION: LOCAL_REGION },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  const m = await ready;
  cleanups.push(async () => {
    child.kill('SIGTERM');
    await exited;
  });
  return m[1];
}

/** Samples a process's VmRSS every 100 ms; returns the samples and the kernel's own high-water mark. */
function sampler(pid) {
  const samples = [];
  const read = () => {
    try {
      const s = readFileSync(`/proc/${pid}/status`, 'utf8');
      const kb = (name) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(s)?.[1] ?? NaN) / 1024;
      return { rss: kb('VmRSS'), hwm: kb('VmHWM') };
    } catch {
      return undefined;
    }
  };
  const timer = setInterval(() => {
    const r = read();
    if (r) samples.push(r.rss);
  }, 100);
  return {
    phase() {
      const r = read();
      const peak = samples.length ? Math.max(...samples.splice(0)) : NaN;
      return { peakSampled: peak, hwm: r?.hwm ?? NaN };
    },
    stop: () => clearInterval(timer),
  };
}

/** A command run to completion without blocking this process (the sampler must keep ticking). */
async function run(cmd, args) {
  const t0 = process.hrtime.bigint();
  const child = spawn(cmd, args, { stdio: ['ignore', 'ignore', 'inherit'] });
  const code = await new Promise((done) => child.once('exit', (c, sig) => done(c ?? sig)));
  if (code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${code}`);
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9 };
}

async function oneRound(label, dist, serverUrl, src) {
  const mnt = join(work, `mnt-${label}`);
  mkdirSync(mnt, { recursive: true });
  const bin = dist ? join(resolve(dist), '..', 'bin/ossencfs.js') : join(ROOT, 'bin/ossencfs.js');
  const { child, ready, exited, output } = spawnUntil(
    process.execPath,
    [...nodeArgs, bin, 'mount', 'oss://bench/rss', mnt, '--foreground', '--endpoint', serverUrl, '--rsa-key', join(work, 'key.pem'),
      '--cache-dir', join(work, `cache-${label}`), '--cache-size', opt['cache-size'], '--log-file', join(work, `mount-${label}.log`)],
    /mounted /,
    { env: { ...process.env, ...extraEnv, OSS_ACCESS_KEY_ID: credentials.accessKeyId, OSS_ACCESS_KEY_SECRET: credentials.accessKeySecret, OSS_REGION: LOCAL_REGION } },
  );
  await ready;
  await sleep(300);
  const s = sampler(child.pid);
  const result = { label, idleMiB: Math.round(s.phase().hwm) };
  const phase = async (name, cmd, args) => {
    const t = await run(cmd, args);
    const m = s.phase();
    result[name] = { mbps: Math.round(SIZE / 1e6 / t.seconds), peakSampledMiB: Math.round(m.peakSampled), hwmMiB: Math.round(m.hwm) };
  };
  await phase('cp_in', 'cp', [src, join(mnt, 'big.bin')]);
  // A fresh file name each way out, and the page cache of the mount's file dropped between
  // (a second cp would be served by the kernel without asking the mount).
  const dropCache = () => timed('dd', [`if=${join(mnt, 'big.bin')}`, 'iflag=nocache', 'count=0', 'status=none']);
  dropCache();
  await phase('cp_out', 'cp', [join(mnt, 'big.bin'), join(work, 'out.bin')]);
  rmSync(join(work, 'out.bin'));
  dropCache();
  await phase('dd_out', 'dd', [`if=${join(mnt, 'big.bin')}`, 'of=/dev/null', 'bs=1M', 'status=none']);
  // Within the mount: the read path and the write path at once (the cache lends the writer its parts).
  dropCache();
  await phase('cp_within', 'cp', [join(mnt, 'big.bin'), join(mnt, 'copy.bin')]);
  if (opt.probe) result.smaps = smapsSummary(child.pid);
  rmSync(join(mnt, 'big.bin'));
  rmSync(join(mnt, 'copy.bin'));
  s.stop();
  await fusermountU(mnt);
  await exited;
  if (opt.probe) Object.assign(result, probeSummary(output()));
  return result;
}

/**
 * Resident anonymous memory by kind of mapping, in MiB: the C heap ([heap], the main malloc
 * arena), other threads' malloc arenas (64 MiB-aligned reservations), and other anonymous
 * mappings by size (V8's pages are 256 KiB; a buffer over glibc's mmap threshold gets its own).
 */
function smapsSummary(pid) {
  const out = {};
  let current;
  for (const line of readFileSync(`/proc/${pid}/smaps`, 'utf8').split('\n')) {
    const head = /^([0-9a-f]+)-([0-9a-f]+) (\S+) \S+ \S+ (\d+)\s*(.*)$/.exec(line);
    if (head) {
      const size = (parseInt(head[2], 16) - parseInt(head[1], 16)) / MiB;
      const start = parseInt(head[1], 16);
      const name = head[5];
      if (name === '[heap]') current = 'cHeap';
      else if (name !== '') current = undefined;
      // glibc's thread arenas: 64 MiB-aligned heaps of at most 64 MiB.
      else if (start % (64 * MiB) === 0 && size <= 64) current = 'arenas';
      else if (size >= 1024) current = 'v8Cage';
      else current = `anon${size <= 0.5 ? '<=512K' : size <= 2 ? '<=2M' : size <= 64 ? '<=64M' : '>64M'}`;
      continue;
    }
    const rss = /^Rss:\s+(\d+) kB/.exec(line);
    if (rss && current) out[current] = (out[current] ?? 0) + Number(rss[1]) / 1024;
  }
  return Object.fromEntries(Object.entries(out).map(([k, v]) => [k, Math.round(v)]));
}

/** The probe's first line (the idle mount) and its line at the highest RSS it saw. */
function probeSummary(text) {
  const lines = text.split('\n').filter((l) => l.startsWith('memory-probe ')).map((l) => JSON.parse(l.slice('memory-probe '.length)));
  return { probeIdle: lines[0], probePeak: lines.reduce((a, b) => (b.rss > a.rss ? b : a), lines[0]) };
}

function writeLocalFile(path, size) {
  const pool = randomBytes(16 * MiB);
  const fd = openSync(path, 'w');
  for (let at = 0, i = 0; at < size; at += MiB, i++) writeSync(fd, pool, ((i * 7919) % 15) * MiB + ((i * 97) % 4096), Math.min(MiB, size - at));
  closeSync(fd);
}

try {
  console.log(`bench-rss: ${SIZE / MiB} MiB, cache ${opt['cache-size']}, env ${JSON.stringify(extraEnv)}, node args ${JSON.stringify(nodeArgs)}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const url = await startServer();
  await new OSS({ ...LOCAL_V4, ...credentials, endpoint: url, bucket: 'bench' }).putBucket('bench');
  writeFileSync(join(work, 'key.pem'), generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const src = join(work, 'src.bin');
  writeLocalFile(src, SIZE);
  for (let round = 0; round < ROUNDS; round++) {
    const order = opt.dist ? (round % 2 === 0 ? ['this', 'other'] : ['other', 'this']) : ['this'];
    for (const label of order) {
      const r = await oneRound(`${label}${round}`, label === 'other' ? opt.dist : undefined, url, src);
      console.log(JSON.stringify({ ...r, load: loadavg()[0].toFixed(2) }));
      await sleep(500);
    }
  }
} finally {
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
