#!/usr/bin/env node
// End-to-end bench: ceilings, library and mount figures in one run, each figure against its ceiling.
// Build first (scripts/bench.sh does): npx tsc -p .
//
//   node scripts/bench-mount.mjs                 # SIZE = 1 GiB, 1,000 small files, 10,000-entry dir, 2,000-file tree
//   node scripts/bench-mount.mjs --quick         # 64 MiB, 100 files, 1,000 entries, 200-file tree
//   options: --size-mib N  --cache-size 256M  --results-dir DIR (or $OSSENCFS_BENCH_RESULTS_DIR)
//            --plot FILE  --keep (keep the temp dir)  --no-rclone
//            --rtt MS (the latency profile, scripts/bench/latency.mjs, at 0 and MS ms; default 30; 'none' skips it)
//
// Processes: the OSS server (scripts/bench/server-child.mjs: the real server plus a request
// counter), the mount (`ossencfs mount --foreground`, our child, so its VmHWM is ours to read) and
// the pure-FUSE ceiling filesystem each run in their own process; this one drives them with dd,
// cp, ls, rsync and scripts/bench/fsops.py, and measures the library itself.
//
// "Cold" = a fresh mount: the mount's block cache and the kernel's page cache of its files are empty
// (both die with the mount). The server's files stay in the host's page cache, as a real OSS keeps
// hot objects in its own; we do not drop the host's caches (other work shares this machine).
import { createCipheriv, generateKeyPairSync, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { closeSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createRequire } from 'node:module';
import { cpus, loadavg, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { Transform } from 'node:stream';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { latencyRows, latencyTable, runLatencyProfile } from './bench/latency.mjs';
import { plotSvg } from './bench/plot.mjs';
import { KiB, MiB, cpuTimes, drain, fmt, fusermountU, generated, isMounted, mbps, peakRssMiB, percentile, shuffle, sleep, spawnUntil, timed, timedAsync, timedLs, tuneLikeOssencfs, which, LOCAL_V4, LOCAL_REGION } from './bench/util.mjs';

const require = createRequire(import.meta.url);
const OSS = require('ali-oss');
const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin/ossencfs.js');
const FSOPS = join(ROOT, 'scripts/bench/fsops.py');
const { EncryptedBucket, Keyring, createOssStore, rsaMasterKey, encodePosixMeta } = await import(new URL('../dist/index.js', import.meta.url).href);
const allocator = await tuneLikeOssencfs();

const { values: opt } = parseArgs({
  options: {
    quick: { type: 'boolean', default: false },
    'size-mib': { type: 'string' },
    'cache-size': { type: 'string', default: '256M' },
    'results-dir': { type: 'string' },
    plot: { type: 'string' },
    keep: { type: 'boolean', default: false },
    'no-rclone': { type: 'boolean', default: false },
    rtt: { type: 'string', default: '30' },
  },
});
const quick = opt.quick;
const SIZE_MIB = Number(opt['size-mib'] ?? (quick ? 64 : 1024));
const SIZE = SIZE_MIB * MiB;
const SMALL_FILES = quick ? 100 : 1000;
const DIR_ENTRIES = quick ? 1000 : 10_000;
const TREE_FILES = quick ? 200 : 2000;
const TREE_BYTES = (quick ? 20 : 200) * MiB;
const COLD_READS = Math.min(quick ? 48 : 200, Math.max(1, SIZE_MIB - 1));
const WARM_READS = quick ? 500 : 2000;
/** Rounds of each transfer ceiling (best kept). */
const ROUNDS = quick ? 1 : 2;
const CACHE_SIZE = opt['cache-size'];
const CACHE_MIB = parseCacheMiB(CACHE_SIZE);
/** The block-cache read's file: half the cache (and no more than SIZE). */
const CACHED_MIB = Math.max(1, Math.floor(Math.min(SIZE_MIB, CACHE_MIB) / 2));
const resultsFromEnv = process.env.OSSENCFS_BENCH_RESULTS_DIR || undefined;
const RESULTS_DIR = resolve(opt['results-dir'] ?? resultsFromEnv ?? join(ROOT, 'bench/results'));
const PLOT = resolve(opt.plot ?? (opt['results-dir'] || resultsFromEnv ? join(RESULTS_DIR, 'plot.svg') : join(ROOT, 'bench/plot.svg')));
const BUCKET = 'bench';
const PREFIX = 'fs';

function parseCacheMiB(s) {
  const m = /^(\d+(?:\.\d+)?)([KMG]?)i?B?$/i.exec(s.trim());
  if (!m) throw new Error(`--cache-size ${s}: expected e.g. 256M`);
  const n = Number(m[1]);
  return { '': n / MiB, K: n / 1024, M: n, G: n * 1024 }[m[2].toUpperCase()];
}

// ---- results ---------------------------------------------------------------------------------

/** key → { label, value, unit, better, ceiling?, ratio?, target? } */
const figures = {};
const details = { loadavg: {}, requests: {}, cpu: {}, rss: {}, rssAfter: {} };
const skipped = {};

function figure(key, label, value, unit, better, extra = {}) {
  figures[key] = { label, value, unit, better, ...extra };
  return value;
}

/** ratio = the fraction of the ceiling's speed reached (1 = at the ceiling), whatever the unit. */
function fillRatios() {
  for (const f of Object.values(figures)) {
    if (!f.ceiling) continue;
    const c = figures[f.ceiling];
    if (!c) throw new Error(`no ceiling ${f.ceiling}`);
    f.ratio = f.better === 'higher' ? f.value / c.value : c.value / f.value;
  }
  for (const f of Object.values(figures)) {
    if (!f.target) continue;
    const subject = f.target.on === 'ratio' ? f.ratio : f.value;
    const t = f.target.value;
    f.target.met = { '>=': subject >= t, '<': subject < t, '<=': subject <= t, '==': subject === t }[f.target.cmp];
  }
}

function phaseLoad(name) {
  details.loadavg[name] = loadavg().map((l) => Number(l.toFixed(2)));
}

// ---- processes -------------------------------------------------------------------------------

const work = mkdtempSync(join(tmpdir(), 'ossencfs-bench-'));
const credentials = { accessKeyId: 'BENCH', accessKeySecret: randomBytes(16).toString('hex') };
const xdg = { XDG_CONFIG_HOME: join(work, 'xdg-config'), XDG_CACHE_HOME: join(work, 'xdg-cache'), XDG_RUNTIME_DIR: join(work, 'xdg-run') };
for (const d of Object.values(xdg)) mkdirSync(d, { recursive: true, mode: 0o700 });
const cleanups = [];

async function startServer() {
  const dataDir = join(work, 'server');
  const child = spawn(process.execPath, [join(ROOT, 'scripts/bench/server-child.mjs'), dataDir], {
    env: { ...process.env, OSS_ACCESS_KEY_ID: credentials.accessKeyId, OSS_ACCESS_KEY_SECRET: credentials.accessKeySecret, OSS_REGION: LOCAL_REGION },
    stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
  });
  let out = '';
  const url = await new Promise((resolveUrl, reject) => {
    child.stdout.on('data', (d) => {
      out += d;
      const m = /listening on (http:\/\/\S+)/.exec(out);
      if (m) resolveUrl(m[1]);
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}: ${out}`)));
  });
  let nextId = 1;
  const ask = (cmd) =>
    new Promise((resolveMsg) => {
      const id = nextId++;
      const onMessage = (m) => {
        if (m.id !== id) return;
        child.off('message', onMessage);
        resolveMsg(m);
      };
      child.on('message', onMessage);
      child.send({ cmd, id });
    });
  const exited = once(child, 'exit');
  cleanups.push(async () => {
    if (child.exitCode === null) child.kill('SIGTERM');
    await exited;
  });
  return {
    url,
    pid: child.pid,
    reset: () => ask('reset'),
    stats: async () => (await ask('stats')).stats,
  };
}

const mountpoints = new Set();

/** `ossencfs mount --foreground` as our child; resolves once mounted. */
/**
 * Mounts 1–4 upload at close, as every build before write-back became the default did, so their
 * figures compare side by side with older builds; mount 5 measures the default.
 */
const CLOSE_UPLOADS = ['--write-back', '0'];

async function mountFs(server, keyFile, name = 'mnt', extraArgs = CLOSE_UPLOADS) {
  const mnt = join(work, name);
  mkdirSync(mnt, { recursive: true });
  // OSSENCFS_BENCH_MOUNT_NODE_ARGS: node flags for the mount process, e.g. "--cpu-prof --cpu-prof-dir=/tmp/prof".
  const nodeArgs = (process.env.OSSENCFS_BENCH_MOUNT_NODE_ARGS ?? '').split(' ').filter(Boolean);
  const { child, ready, exited } = spawnUntil(
    process.execPath,
    [...nodeArgs, BIN, 'mount', `oss://${BUCKET}/${PREFIX}`, mnt, '--foreground', '--endpoint', server.url, '--rsa-key', keyFile,
      '--cache-dir', join(work, 'cache'), '--cache-size', CACHE_SIZE, '--log-file', join(work, 'mount.log'), ...extraArgs],
    /mounted /,
    { env: { ...process.env, ...xdg, OSS_ACCESS_KEY_ID: credentials.accessKeyId, OSS_ACCESS_KEY_SECRET: credentials.accessKeySecret, OSS_REGION: LOCAL_REGION } },
  );
  await ready;
  mountpoints.add(mnt);
  currentMount = child;
  return {
    mnt,
    pid: child.pid,
    /** Unmounts and returns the mount process's peak RSS (MiB). */
    async unmount() {
      const hwm = peakRssMiB(child.pid);
      currentMount = undefined;
      await fusermountU(mnt);
      await exited;
      mountpoints.delete(mnt);
      return hwm;
    },
  };
}

async function cleanup() {
  for (const m of mountpoints) await fusermountU(m);
  for (const c of cleanups.reverse()) await c().catch(() => undefined);
  if (!opt.keep) rmSync(work, { recursive: true, force: true });
  else console.log(`kept ${work}`);
}
process.once('SIGINT', () => void cleanup().finally(() => process.exit(130)));
process.once('SIGTERM', () => void cleanup().finally(() => process.exit(143)));

// ---- probes ----------------------------------------------------------------------------------

function dd(args) {
  return timed('dd', [...args, 'status=none']).seconds;
}

function randread(file, offsets, dontneed) {
  const offsetsFile = join(work, 'offsets.json');
  writeFileSync(offsetsFile, JSON.stringify(offsets));
  const r = timed('python3', [FSOPS, 'randread', file, offsetsFile, ...(dontneed ? ['--dontneed'] : [])]);
  const lat = JSON.parse(r.stdout).lat_us;
  return { p50: percentile(lat, 50) / 1000, p99: percentile(lat, 99) / 1000, n: lat.length };
}

function dontneed(file) {
  // A randread of nothing, with --dontneed: drops the file's pages from the page cache.
  randread(file, [], true);
}

function rsync(src, dest) {
  const r = timed('rsync', ['-a', '--stats', `${src}/`, `${dest}/`]);
  const m = /Number of regular files transferred: ([\d,]+)/.exec(r.stdout);
  return { seconds: r.seconds, transferred: m ? Number(m[1].replace(/,/g, '')) : NaN };
}

/** A random 4 KiB-aligned offset inside each of `blocks` (1 MiB blocks). */
const offsetsIn = (blocks, n) => Array.from({ length: n }, (_, i) => blocks[i % blocks.length] * MiB + Math.floor(Math.random() * (MiB / (4 * KiB))) * 4 * KiB);

function writeLocalFile(path, size) {
  const pool = randomBytes(16 * MiB);
  const fd = openSync(path, 'w');
  for (let at = 0, i = 0; at < size; at += MiB, i++) {
    const skew = ((i * 7919) % 15) * MiB + ((i * 97) % 4096);
    writeSync(fd, pool, skew, Math.min(MiB, size - at));
  }
  closeSync(fd);
}

function writeTree(dir, files, bytes) {
  const pool = randomBytes(2 * MiB);
  const dirs = Math.max(1, Math.round(files / 100));
  for (let i = 0; i < files; i++) {
    const d = join(dir, `d${String(i % dirs).padStart(2, '0')}`);
    if (i < dirs) mkdirSync(d, { recursive: true });
    const size = Math.floor(((i + 1) * bytes) / files) - Math.floor((i * bytes) / files);
    const at = (i * 4099) % (pool.length - size);
    writeFileSync(join(d, `f${String(i).padStart(5, '0')}.bin`), pool.subarray(at, at + size));
  }
}

/** The latency profile's results (scripts/bench/latency.mjs), once run. */
let latency;

/** The mount process being measured, if any: its RSS is sampled after each phase. */
let currentMount;

/**
 * Runs one phase and records what it cost: requests seen by the server, CPU seconds of the server
 * and of the mount (all their threads), wall seconds, and the mount's RSS afterwards. CPU against
 * wall tells what bounds a phase: a process near 1.0 CPU-s per wall-s is saturating its JS thread.
 */
async function requestsDuring(server, name, fn) {
  await server.reset();
  const before = { server: cpuTimes(server.pid), mount: currentMount ? cpuTimes(currentMount.pid) : undefined, bench: process.cpuUsage() };
  const t0 = process.hrtime.bigint();
  const value = await fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  details.requests[name] = await server.stats();
  const bench = process.cpuUsage(before.bench);
  const spent = (pid, from) => {
    const now = cpuTimes(pid);
    return { user: round3(now.user - from.user), sys: round3(now.sys - from.sys) };
  };
  details.cpu[name] = {
    wall: round3(wall),
    server: spent(server.pid, before.server),
    mount: currentMount && before.mount ? spent(currentMount.pid, before.mount) : null,
    bench: { user: round3(bench.user / 1e6), sys: round3(bench.system / 1e6) },
  };
  if (currentMount) details.rssAfter[name] = rssOf(currentMount.pid);
  return value;
}

const round3 = (x) => Math.round(x * 1000) / 1000;

function rssOf(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kb = (name) => Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? NaN) / 1024;
  return { rssMiB: Math.round(kb('VmRSS')), hwmMiB: Math.round(kb('VmHWM')) };
}

// ---- the run ---------------------------------------------------------------------------------

const started = Date.now();
const startedIso = new Date(started).toISOString();
let failed = false;
try {
  phaseLoad('start');
  console.log(`ossencfs bench (${quick ? 'quick' : 'full'}): SIZE ${SIZE_MIB} MiB, cache ${CACHE_SIZE}, node ${process.version}, ${cpus().length} cores, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}\n${allocator} (this process, the server, the mounts)`);
  const server = await startServer();
  const plain = new OSS({ ...LOCAL_V4, ...credentials, endpoint: server.url, bucket: BUCKET, timeout: 600_000 });
  await plain.putBucket(BUCKET);
  const keyFile = join(work, 'key.pem');
  const keyPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  const store = createOssStore({ region: LOCAL_REGION, endpoint: server.url, bucket: BUCKET, ...credentials, timeoutMs: 600_000 });
  // The mount's defaults: 8 MiB parts, 4 in flight (--jobs).
  const bucket = new EncryptedBucket(store, new Keyring({ writer: rsaMasterKey({ privateKeyPem: keyPem }) }), { partSize: 8 * MiB, concurrency: 4 });
  const owner = { uid: process.getuid(), gid: process.getgid() };
  const fileMeta = () => encodePosixMeta({ mode: 0o100644, ...owner, mtime: Date.now() / 1000 });

  // Local inputs, written now so they are in the page cache when used.
  const srcFile = join(work, 'src.bin');
  writeLocalFile(srcFile, SIZE);
  const tree = join(work, 'tree');
  writeTree(tree, TREE_FILES, TREE_BYTES);

  // ---- ceilings: crypto, loopback HTTP, library ------------------------------------------------
  phaseLoad('ceilings');
  {
    const buf = randomBytes(MiB);
    const key = randomBytes(32);
    const iv = randomBytes(16);
    const n = Math.min(SIZE_MIB, 512);
    let best = 0;
    for (let r = 0; r < 3; r++) {
      const c = createCipheriv('aes-256-ctr', key, iv);
      const { seconds } = await timedAsync(() => {
        for (let i = 0; i < n; i++) c.update(buf);
      });
      best = Math.max(best, mbps(n * MiB, seconds));
    }
    figure('ceiling.aes_ctr', 'AES-256-CTR, node:crypto, 1 MiB chunks', best, 'MB/s', 'higher');
  }
  // The transfer ceilings and the library, in interleaved rounds (each case's best round is kept:
  // other work on the machine can only slow a round down). Each round leaves lib.bin behind.
  const transfers = {
    'ceiling.put_plain': () => plain.putStream('ceiling/plain.bin', generated(SIZE), { contentLength: SIZE }),
    'ceiling.get_plain': async () => drain((await plain.getStream('ceiling/plain.bin')).stream, SIZE),
    // The library's upload shape (8 MiB parts, 4 in flight, then Complete) without the crypto:
    // separates what multipart costs on this server from what encryption costs.
    'ceiling.put_plain_multipart': async () => {
      const key = 'ceiling/plain-mp.bin';
      const uploadId = await store.initiateMultipart(key, { meta: {} });
      const parts = [];
      const inFlight = new Set();
      let partNumber = 0;
      const chunks = [];
      const send = async (body) => {
        const p = store.uploadPart(key, uploadId, ++partNumber, body, {}).then((part) => {
          parts.push(part);
          inFlight.delete(p);
        });
        inFlight.add(p);
        if (inFlight.size >= 4) await Promise.race(inFlight);
      };
      for await (const chunk of generated(SIZE)) {
        chunks.push(chunk);
        if (chunks.length * MiB >= 8 * MiB) await send(Buffer.concat(chunks.splice(0)));
      }
      if (chunks.length) await send(Buffer.concat(chunks));
      await Promise.all(inFlight);
      parts.sort((a, b) => a.partNumber - b.partNumber);
      await store.completeMultipart(key, uploadId, parts);
    },
    'ceiling.encrypt_put_min': () => {
      const c = createCipheriv('aes-256-ctr', minKey, minIv);
      const enc = new Transform({ transform: (chunk, _e, done) => done(null, c.update(chunk)) });
      return plain.putStream('ceiling/min-enc.bin', generated(SIZE).pipe(enc), { contentLength: SIZE });
    },
    'ceiling.get_decrypt_min': async () => {
      const d = createCipheriv('aes-256-ctr', minKey, minIv);
      let n = 0;
      for await (const chunk of (await plain.getStream('ceiling/min-enc.bin')).stream) n += d.update(chunk).length;
      if (n !== SIZE) throw new Error(`read ${n}`);
    },
    'library.put': () => bucket.put('ceiling/lib.bin', generated(SIZE), { size: SIZE }),
    'library.get': async () => drain(await bucket.get('ceiling/lib.bin'), SIZE),
    // What the mount's reader does: one ranged GET per 1 MiB block, up to 16 in flight (its
    // read-ahead window), each decrypted whole. A server pays per request, so this is below get().
    'library.block_reads': async () => {
      const reader = await bucket.openReader('ceiling/lib.bin');
      let next = 0;
      await Promise.all(
        Array.from({ length: 16 }, async () => {
          while (next < SIZE_MIB) await reader.read(next++ * MiB, MiB);
        }),
      );
    },
  };
  const minKey = randomBytes(32);
  const minIv = randomBytes(16);
  const bestSeconds = {};
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, run] of Object.entries(transfers)) {
      const { seconds } = await requestsDuring(server, `${name}${round ? ` #${round + 1}` : ''}`, () => timedAsync(run));
      bestSeconds[name] = Math.min(bestSeconds[name] ?? Infinity, seconds);
    }
  }
  await plain.delete('ceiling/plain.bin');
  await plain.delete('ceiling/plain-mp.bin');
  await plain.delete('ceiling/min-enc.bin');
  const rate = (name) => mbps(SIZE, bestSeconds[name]);
  figure('ceiling.put_plain', 'PUT, plain ali-oss putStream (no crypto)', rate('ceiling.put_plain'), 'MB/s', 'higher');
  figure('ceiling.get_plain', 'GET, plain ali-oss getStream (no crypto)', rate('ceiling.get_plain'), 'MB/s', 'higher');
  figure('ceiling.put_plain_multipart', 'PUT as multipart, 8 MiB × 4 in flight (no crypto)', rate('ceiling.put_plain_multipart'), 'MB/s', 'higher', { ceiling: 'ceiling.put_plain' });
  figure('ceiling.encrypt_put_min', 'encrypt+PUT, one stream (node:crypto → ali-oss)', rate('ceiling.encrypt_put_min'), 'MB/s', 'higher', { ceiling: 'ceiling.put_plain' });
  figure('ceiling.get_decrypt_min', 'GET+decrypt, one stream (ali-oss → node:crypto)', rate('ceiling.get_decrypt_min'), 'MB/s', 'higher', { ceiling: 'ceiling.get_plain' });
  figure('library.put', 'library: EncryptedBucket.put (encrypt+PUT)', rate('library.put'), 'MB/s', 'higher', { ceiling: 'ceiling.put_plain' });
  figure('library.get', 'library: EncryptedBucket.get (GET+decrypt)', rate('library.get'), 'MB/s', 'higher', { ceiling: 'ceiling.get_plain' });
  figure('library.block_reads', 'library: 1 MiB ranged GET+decrypt blocks, 16 in flight', rate('library.block_reads'), 'MB/s', 'higher', { ceiling: 'library.get' });
  {
    // One ranged GET + decrypt of one 1 MiB block: what a cold random read must cost at least.
    const reader = await bucket.openReader('ceiling/lib.bin');
    const lat = [];
    for (const b of shuffle([...Array(SIZE_MIB).keys()]).slice(0, Math.min(50, SIZE_MIB))) {
      const { seconds } = await timedAsync(() => reader.read(b * MiB, MiB));
      lat.push(seconds * 1000);
    }
    figure('ceiling.block_get', 'library: one 1 MiB ranged GET+decrypt, p50', percentile(lat, 50), 'ms', 'lower');
    // For comparison: what a 4 KiB ranged GET would cost (a smaller fetch for random reads).
    const small = [];
    for (const b of shuffle([...Array(SIZE_MIB).keys()]).slice(0, Math.min(50, SIZE_MIB))) {
      const { seconds } = await timedAsync(() => reader.read(b * MiB + 4 * KiB, 4 * KiB));
      small.push(seconds * 1000);
    }
    figure('ceiling.small_get', 'library: one 4 KiB ranged GET+decrypt, p50', percentile(small, 50), 'ms', 'lower');
  }
  await bucket.delete('ceiling/lib.bin');
  {
    const body = randomBytes(4 * KiB);
    const n = SMALL_FILES;
    const { seconds } = await timedAsync(async () => {
      for (let i = 0; i < n; i++) await bucket.put(`ceiling/small/f${i}`, body, { meta: fileMeta() });
    });
    figure('ceiling.small_put', 'library: 4 KiB puts one after another', n / seconds, 'files/s', 'higher');
    await bucket.deleteMany(Array.from({ length: n }, (_, i) => `ceiling/small/f${i}`));
  }

  // ---- ceilings: FUSE and the local page cache -------------------------------------------------
  phaseLoad('fuse-ceilings');
  {
    const mnt = join(work, 'fuse-ceiling');
    mkdirSync(mnt, { recursive: true });
    const { child, ready, exited } = spawnUntil(process.execPath, [join(ROOT, 'scripts/bench/fuse-ceiling.mjs'), mnt, String(SIZE), String(DIR_ENTRIES)], /ready/);
    await ready;
    mountpoints.add(mnt);
    try {
      let r = Infinity;
      let w = Infinity;
      for (let round = 0; round <= ROUNDS; round++) {
        dontneed(`${mnt}/zero`);
        r = Math.min(r, dd([`if=${mnt}/zero`, 'of=/dev/null', 'bs=1M']));
        w = Math.min(w, dd(['if=/dev/zero', `of=${mnt}/sink`, 'bs=1M', `count=${SIZE_MIB}`]));
      }
      figure('ceiling.fuse_read', 'FUSE zero-fill read FS (fuse-native, own process)', mbps(SIZE, r), 'MB/s', 'higher');
      figure('ceiling.fuse_write', 'FUSE ack-only write FS, big_writes', mbps(SIZE, w), 'MB/s', 'higher');
      const lat = randread(`${mnt}/zero`, offsetsIn(shuffle([...Array(SIZE_MIB).keys()]), WARM_READS), true);
      figure('ceiling.fuse_4k', 'FUSE zero-fill FS: 4 KiB pread, p50', lat.p50, 'ms', 'lower');
      figure('ceiling.fuse_4k_p99', 'FUSE zero-fill FS: 4 KiB pread, p99', lat.p99, 'ms', 'lower');
      // A warm `ls -l` past the kernel's TTL still costs a FUSE lookup per name (libfuse2 has no
      // READDIRPLUS), however fast the answers: this is that cost with answers from memory, in
      // JavaScript and (as the mount answers a listing's names) in C.
      const lsExpired = async (dir) => {
        let best = Infinity;
        for (let round = 0; round <= ROUNDS; round++) {
          await timedLs(dir, DIR_ENTRIES);
          await sleep(1100);
          best = Math.min(best, (await timedLs(dir, DIR_ENTRIES)).seconds);
        }
        return best;
      };
      figure('ceiling.fuse_ls_js', `FUSE in-memory FS: ls -l of ${DIR_ENTRIES} entries, 1 s TTL expired, answered in JavaScript`, await lsExpired(`${mnt}/dir`), 's', 'lower');
      figure('ceiling.fuse_ls', `FUSE in-memory FS: ls -l of ${DIR_ENTRIES} entries, 1 s TTL expired, answered in C`, await lsExpired(`${mnt}/cdir`), 's', 'lower');
    } finally {
      child.kill('SIGTERM');
      await Promise.race([exited, sleep(5000)]);
      await fusermountU(mnt);
      mountpoints.delete(mnt);
    }
  }
  {
    let r = Infinity;
    for (let round = 0; round <= ROUNDS; round++) r = Math.min(r, dd([`if=${srcFile}`, 'of=/dev/null', 'bs=1M']));
    figure('ceiling.page_cache_read', 'local file in the page cache, dd read', mbps(SIZE, r), 'MB/s', 'higher');
    const lat = randread(srcFile, offsetsIn(shuffle([...Array(SIZE_MIB).keys()]), WARM_READS), false);
    figure('ceiling.page_cache_4k', 'local file in the page cache: 4 KiB pread, p50', lat.p50, 'ms', 'lower');
  }
  {
    const f = figures;
    const readOne = 1 / (1 / f['ceiling.fuse_read'].value + 1 / f['library.get'].value);
    const writeOne = 1 / (1 / f['ceiling.fuse_write'].value + 1 / f['library.put'].value);
    figure('ceiling.read_one_thread', 'seq read ceiling, one thread: 1/(1/FUSE read + 1/GET+decrypt)', readOne, 'MB/s', 'higher');
    figure('ceiling.write_one_thread', 'seq write ceiling, one thread: 1/(1/FUSE write + 1/encrypt+PUT)', writeOne, 'MB/s', 'higher');
    // The same with the reads the mount's design makes (1 MiB ranged GETs) instead of one GET.
    const blocksOne = 1 / (1 / f['ceiling.fuse_read'].value + 1 / f['library.block_reads'].value);
    figure('ceiling.read_blocks_one_thread', 'seq read ceiling with block GETs: 1/(1/FUSE read + 1/block reads)', blocksOne, 'MB/s', 'higher');
  }

  // ---- a directory of DIR_ENTRIES files, written through the library ---------------------------
  phaseLoad('populate');
  {
    const body = randomBytes(1 * KiB);
    const keys = Array.from({ length: DIR_ENTRIES }, (_, i) => `${PREFIX}/dir/f${String(i).padStart(5, '0')}`);
    let next = 0;
    await Promise.all(
      Array.from({ length: 32 }, async () => {
        while (next < keys.length) await bucket.put(keys[next++], body, { meta: fileMeta() });
      }),
    );
    const listed = await timedAsync(async () => {
      const names = [];
      let after;
      do {
        const page = await store.list(`${PREFIX}/dir/`, { delimiter: '/', after, maxKeys: 1000 });
        names.push(...page.objects.map((o) => o.key));
        after = page.next;
      } while (after !== undefined);
      return names;
    });
    figure('ceiling.list', `LIST of the ${DIR_ENTRIES}-entry dir, 1,000 keys a page`, listed.seconds, 's', 'lower');
    // Past the TTL a warm listing is a LIST, then a lookup per name; the two cannot overlap, as
    // readdir must answer before ls asks for any name.
    figure('ceiling.ls_expired', 'warm ls -l past the TTL: LIST + FUSE lookups answered in C', listed.seconds + figures['ceiling.fuse_ls'].value, 's', 'lower');
    const headed = await timedAsync(async () => {
      let i = 0;
      await Promise.all(
        Array.from({ length: 32 }, async () => {
          while (i < listed.value.length) await store.head(listed.value[i++]);
        }),
      );
    });
    figure('ceiling.list_head', `LIST + HEAD of each of ${DIR_ENTRIES} (32 in flight)`, listed.seconds + headed.seconds, 's', 'lower');
  }
  {
    // What rsync's first run must do at least: one PUT per file, one file at a time (rsync is serial).
    const files = [];
    const walk = (dir, rel) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name), `${rel}${e.name}/`);
        else files.push([join(dir, e.name), `${rel}${e.name}`]);
      }
    };
    walk(tree, '');
    const { seconds } = await timedAsync(async () => {
      for (const [path, rel] of files) await bucket.put(`ceiling/tree/${rel}`, readFileSync(path), { meta: fileMeta() });
    });
    figure('ceiling.tree_put', `library: one PUT per tree file, ${TREE_FILES} one after another`, seconds, 's', 'lower');
    await bucket.deleteMany(files.map(([, rel]) => `ceiling/tree/${rel}`));
  }
  {
    const local = join(work, 'tree-copy');
    const first = rsync(tree, local);
    figure('ceiling.rsync_first', `rsync -a local→local, ${TREE_FILES} files`, first.seconds, 's', 'lower');
    const noop = rsync(tree, local);
    figure('ceiling.rsync_noop', 'rsync -a local→local, no-op', noop.seconds, 's', 'lower');
    rmSync(local, { recursive: true, force: true });
  }

  // ---- mount 1: writes ---------------------------------------------------------------------------
  phaseLoad('mount-writes');
  {
    const m = await mountFs(server, keyFile);
    const w = await requestsDuring(server, 'mount.dd_write', () => dd(['if=/dev/zero', `of=${m.mnt}/big.bin`, 'bs=1M', `count=${SIZE_MIB}`]));
    // A file that fits the block cache twice over, for the block-cache read in mount 2.
    dd(['if=/dev/zero', `of=${m.mnt}/cached.bin`, 'bs=1M', `count=${CACHED_MIB}`]);
    figure('mount.dd_write', 'mount: dd bs=1M write', mbps(SIZE, w), 'MB/s', 'higher', { ceiling: 'ceiling.write_one_thread', target: { on: 'ratio', cmp: '>=', value: 0.75 } });
    const c = timed('cp', [srcFile, `${m.mnt}/cp.bin`]).seconds;
    figure('mount.cp_in', 'mount: cp in', mbps(SIZE, c), 'MB/s', 'higher', { ceiling: 'ceiling.write_one_thread' });
    mkdirSync(join(m.mnt, 'small'));
    const small = await requestsDuring(server, 'mount.small_files', () => JSON.parse(timed('python3', [FSOPS, 'smallfiles', join(m.mnt, 'small'), String(SMALL_FILES), '4096']).stdout).seconds);
    figure('mount.small_files', `mount: create+write+close ${SMALL_FILES} × 4 KiB`, SMALL_FILES / small, 'files/s', 'higher', { ceiling: 'ceiling.small_put', target: { cmp: '>=', value: 200 } });
    const first = await requestsDuring(server, 'mount.rsync_first', () => rsync(tree, join(m.mnt, 'tree')));
    figure('mount.rsync_first', `mount: rsync -a ${TREE_FILES} files, ${TREE_BYTES / MiB} MiB, first run`, first.seconds, 's', 'lower', { ceiling: 'ceiling.tree_put' });
    const noop = await requestsDuring(server, 'mount.rsync_noop', () => rsync(tree, join(m.mnt, 'tree')));
    figure('mount.rsync_noop', 'mount: rsync -a, no-op second run', noop.seconds, 's', 'lower', { ceiling: 'ceiling.rsync_noop', target: { cmp: '<', value: 3 } });
    figure('mount.rsync_noop_transferred', 'mount: files the no-op rsync transferred again', noop.transferred, 'files', 'lower', { target: { cmp: '==', value: 0 } });
    details.rss['mount 1 (writes)'] = await m.unmount();
  }

  // ---- mount 2: sequential reads ---------------------------------------------------------------
  phaseLoad('mount-reads');
  {
    const m = await mountFs(server, keyFile);
    const big = `${m.mnt}/big.bin`;
    // FUSE + the mount's read path without the network: read a file into the block cache, drop
    // its pages from the page cache, read it again. First, so nothing else has touched the cache.
    const cached = `${m.mnt}/cached.bin`;
    dd([`if=${cached}`, 'of=/dev/null', 'bs=1M']);
    dontneed(cached);
    const bc = await requestsDuring(server, 'mount.read_block_cache', () => dd([`if=${cached}`, 'of=/dev/null', 'bs=1M']));
    figure('mount.read_block_cache', `mount: dd read of ${CACHED_MIB} MiB from the block cache (page cache dropped)`, mbps(CACHED_MIB * MiB, bc), 'MB/s', 'higher', { ceiling: 'ceiling.fuse_read' });
    const cold = await requestsDuring(server, 'mount.dd_read_cold', () => dd([`if=${big}`, 'of=/dev/null', 'bs=1M']));
    figure('mount.dd_read_cold', 'mount: dd bs=1M read, cold', mbps(SIZE, cold), 'MB/s', 'higher', { ceiling: 'ceiling.read_one_thread', target: { on: 'ratio', cmp: '>=', value: 0.75 } });
    const warm = await requestsDuring(server, 'mount.dd_read_warm', () => dd([`if=${big}`, 'of=/dev/null', 'bs=1M']));
    figure('mount.dd_read_warm', 'mount: dd read again (page cache)', mbps(SIZE, warm), 'MB/s', 'higher', { ceiling: 'ceiling.page_cache_read' });
    const out = join(work, 'out.bin');
    const c = await requestsDuring(server, 'mount.cp_out', () => timed('cp', [`${m.mnt}/cp.bin`, out]).seconds);
    rmSync(out, { force: true });
    figure('mount.cp_out', 'mount: cp out, cold', mbps(SIZE, c), 'MB/s', 'higher', { ceiling: 'ceiling.read_one_thread' });
    details.rss['mount 2 (reads)'] = await m.unmount();
  }

  // ---- mount 3: random reads, listing ----------------------------------------------------------
  phaseLoad('mount-random');
  {
    const m = await mountFs(server, keyFile);
    const big = `${m.mnt}/big.bin`;
    timed('stat', [big]);
    const blocks = shuffle([...Array(SIZE_MIB).keys()]).slice(0, COLD_READS);
    const cold = await requestsDuring(server, 'mount.rand4k_cold', () => randread(big, offsetsIn(blocks, blocks.length), false));
    const reqs = details.requests['mount.rand4k_cold'];
    figure('mount.rand4k_cold', `mount: random 4 KiB pread, cold (${cold.n} in distinct blocks), p50`, cold.p50, 'ms', 'lower', { ceiling: 'ceiling.block_get' });
    figure('mount.rand4k_cold_p99', 'mount: random 4 KiB pread, cold, p99', cold.p99, 'ms', 'lower', { ceiling: 'ceiling.block_get' });
    figure('mount.rand4k_cold_gets', 'mount: ranged GETs per cold 4 KiB read', reqs.rangedGets / cold.n, 'GETs', 'lower', { target: { cmp: '<=', value: 1 } });
    figure('mount.rand4k_cold_get_kib', 'mount: KiB fetched per cold 4 KiB read', reqs.rangedBytes / KiB / cold.n, 'KiB', 'lower');
    // Warm: the same blocks, now in the block cache; page cache dropped so every read crosses FUSE.
    const warmOffsets = offsetsIn(blocks, WARM_READS);
    const viaFuse = await requestsDuring(server, 'mount.rand4k_warm_fuse', () => randread(big, warmOffsets, true));
    figure('mount.rand4k_warm_fuse', 'mount: random 4 KiB pread, warm block cache (via FUSE), p50', viaFuse.p50, 'ms', 'lower', { ceiling: 'ceiling.fuse_4k', target: { cmp: '<', value: 0.5 } });
    figure('mount.rand4k_warm_fuse_p99', 'mount: random 4 KiB pread, warm block cache, p99', viaFuse.p99, 'ms', 'lower', { ceiling: 'ceiling.fuse_4k_p99' });
    const viaPageCache = randread(big, warmOffsets, false);
    figure('mount.rand4k_warm_pc', 'mount: random 4 KiB pread, warm page cache, p50', viaPageCache.p50, 'ms', 'lower', { ceiling: 'ceiling.page_cache_4k', target: { cmp: '<', value: 0.5 } });
    figure('mount.rand4k_warm_pc_p99', 'mount: random 4 KiB pread, warm page cache, p99', viaPageCache.p99, 'ms', 'lower');

    const ls = async (name) => requestsDuring(server, name, () => timedLs(`${m.mnt}/dir`, DIR_ENTRIES));
    const lsCold = await ls('mount.ls_cold');
    figure('mount.ls_cold', `mount: ls -l of ${DIR_ENTRIES} entries, cold`, lsCold.seconds, 's', 'lower', { ceiling: 'ceiling.list_head', target: { cmp: '<', value: 3 } });
    const lsWarm = await ls('mount.ls_warm');
    figure('mount.ls_warm', `mount: ls -l of ${DIR_ENTRIES} entries, warm (right after)`, lsWarm.seconds, 's', 'lower', { ceiling: 'ceiling.ls_expired', target: { cmp: '<', value: 0.5 } });
    details.rss['mount 3 (random, ls)'] = await m.unmount();
  }
  // ---- mount 4: the same listing with --attr-ttl 60 (the default TTL, 1 s, is shorter than the listing) -----
  phaseLoad('mount-ls-ttl60');
  {
    const m = await mountFs(server, keyFile, 'mnt', [...CLOSE_UPLOADS, '--attr-ttl', '60']);
    const ls = async (name) => requestsDuring(server, name, () => timedLs(`${m.mnt}/dir`, DIR_ENTRIES));
    const cold = await ls('mount.ls_cold_ttl60');
    figure('mount.ls_cold_ttl60', `mount --attr-ttl 60: ls -l of ${DIR_ENTRIES} entries, cold`, cold.seconds, 's', 'lower', { ceiling: 'ceiling.list_head', target: { cmp: '<', value: 3 } });
    const warm = await ls('mount.ls_warm_ttl60');
    figure('mount.ls_warm_ttl60', `mount --attr-ttl 60: ls -l of ${DIR_ENTRIES} entries, warm`, warm.seconds, 's', 'lower', { ceiling: 'ceiling.list', target: { cmp: '<', value: 0.5 } });
    details.rss['mount 4 (ls, attr-ttl 60)'] = await m.unmount();
  }
  // ---- mount 5: --write-back 1 (the default): close returns before the upload; rsync's follow-ups fold into it
  phaseLoad('mount-write-back');
  {
    const m = await mountFs(server, keyFile, 'mnt', ['--write-back', '1']);
    mkdirSync(join(m.mnt, 'small-wb'));
    const small = await requestsDuring(server, 'mount.small_files_wb', () => JSON.parse(timed('python3', [FSOPS, 'smallfiles', join(m.mnt, 'small-wb'), String(SMALL_FILES), '4096']).stdout).seconds);
    figure('mount.small_files_wb', `mount --write-back 1: create+write+close ${SMALL_FILES} × 4 KiB (uploads follow)`, SMALL_FILES / small, 'files/s', 'higher', { ceiling: 'ceiling.small_put' });
    const first = await requestsDuring(server, 'mount.rsync_first_wb', () => rsync(tree, join(m.mnt, 'tree-wb')));
    figure('mount.rsync_first_wb', `mount --write-back 1: rsync -a ${TREE_FILES} files, first run (uploads follow)`, first.seconds, 's', 'lower', { ceiling: 'ceiling.tree_put' });
    // Unmount uploads whatever still waits: it belongs to this phase's cost.
    const flushed = await requestsDuring(server, 'mount.write_back_unmount', async () => timedAsync(async () => (details.rss['mount 5 (write-back)'] = await m.unmount())));
    figure('mount.write_back_unmount', 'mount --write-back 1: unmount (uploads what still waits)', flushed.seconds, 's', 'lower');
  }
  // The issues' target is for big copies (mounts 1 and 2); the worst of all mounts is shown beside it.
  const copying = Math.max(details.rss['mount 1 (writes)'], details.rss['mount 2 (reads)']);
  figure('mount.peak_rss_copies', 'mount: peak RSS (VmHWM) copying 1 GiB in and out', copying, 'MiB', 'lower', { target: { cmp: '<', value: CACHE_MIB + 150 } });
  figure('mount.peak_rss', 'mount: peak RSS (VmHWM), worst of the mounts', Math.max(...Object.values(details.rss)), 'MiB', 'lower');

  // ---- peers -------------------------------------------------------------------------------------
  phaseLoad('peers');
  if (opt['no-rclone']) skipped.rclone = 'disabled with --no-rclone';
  else if (!which('rclone')) skipped.rclone = 'rclone is not installed';
  else await rcloneBench();

  phaseLoad('latency');
  if (opt.rtt === 'none') skipped.latency = 'disabled with --rtt none';
  else {
    const stacks = skipped.rclone ? ['ours', 'ours-close'] : ['ours', 'ours-close', 'rclone'];
    console.log(`latency profile: RTT 0 and ${opt.rtt} ms, ${stacks.join(', ')}`);
    latency = await runLatencyProfile({ rtt: Number(opt.rtt), quick, stacks });
    for (const r of latencyRows(latency)) {
      figure(`latency0.${r.id}`, `at 0 ms: ${r.label}`, r.ceiling, r.unit, r.better);
      figure(`latency.${r.id}`, `at ${latency.rtt} ms: ${r.label}`, r.ours, r.unit, r.better, { ceiling: `latency0.${r.id}` });
      if (r.rclone !== undefined) figure(`latency.rclone.${r.id}`, `rclone at ${latency.rtt} ms: ${r.label}`, r.rclone, r.unit, r.better);
      if (r.close !== undefined) figure(`latency.close.${r.id}`, `--write-back 0 at ${latency.rtt} ms: ${r.label}`, r.close, r.unit, r.better, { ceiling: `latency0.${r.id}` });
    }
  }

  phaseLoad('end');
} catch (err) {
  failed = true;
  console.error(err);
  try {
    console.error(readFileSync(join(work, 'mount.log'), 'utf8').split('\n').slice(-30).join('\n'));
  } catch {
    /* no log */
  }
} finally {
  await cleanup();
}
if (failed) process.exit(1);

fillRatios();
const seconds = (Date.now() - started) / 1000;
const result = {
  version: 1,
  timestamp: startedIso,
  mode: quick ? 'quick' : 'full',
  seconds: Number(seconds.toFixed(1)),
  params: { sizeMiB: SIZE_MIB, cacheSize: CACHE_SIZE, smallFiles: SMALL_FILES, dirEntries: DIR_ENTRIES, treeFiles: TREE_FILES, treeMiB: TREE_BYTES / MiB, coldReads: COLD_READS, warmReads: WARM_READS },
  allocator,
  host: { node: process.version, cpus: cpus().length, cpuModel: cpus()[0]?.model, memMiB: Math.round(totalmem() / MiB), kernel: readFileSync('/proc/sys/kernel/osrelease', 'utf8').trim() },
  git: gitInfo(),
  figures,
  details,
  skipped,
  ...(latency ? { latency } : {}),
};
mkdirSync(RESULTS_DIR, { recursive: true });
const resultFile = join(RESULTS_DIR, `${startedIso.replace(/[:.]/g, '-')}.json`);
writeFileSync(resultFile, `${JSON.stringify(result, null, 2)}\n`);
mkdirSync(join(PLOT, '..'), { recursive: true });
writeFileSync(PLOT, plotSvg(figures, `${quick ? 'quick' : 'full'} run ${startedIso}, SIZE ${SIZE_MIB} MiB, load ${details.loadavg.start?.[0]}→${details.loadavg.end?.[0]}`, latency && latencyPanel(latency)));
printTable(result);
if (latency) console.log(`\nLatency profile (RTT ${latency.rtt} ms through the delay relay, both stacks):\n${latencyTable(latency)}`);
console.log(`\nwrote ${resultFile} and ${PLOT} in ${seconds.toFixed(0)} s`);

// ---- reporting -------------------------------------------------------------------------------

function gitInfo() {
  try {
    const commit = timed('git', ['-C', ROOT, 'rev-parse', '--short', 'HEAD']).stdout.trim();
    const dirty = timed('git', ['-C', ROOT, 'status', '--porcelain', '--', 'src']).stdout.trim() !== '';
    return { commit, srcDirty: dirty };
  } catch {
    return {};
  }
}

function printTable(r) {
  const sections = [
    ['Ceilings', (k) => k.startsWith('ceiling.')],
    ['Library', (k) => k.startsWith('library.')],
    ['Mount', (k) => k.startsWith('mount.')],
    ['Peers', (k) => k.startsWith('peer.')],
  ];
  const rows = [];
  for (const [title, match] of sections) {
    const keys = Object.keys(r.figures).filter(match);
    if (keys.length === 0) continue;
    rows.push([`— ${title}`, '', '', '', '']);
    for (const k of keys) {
      const f = r.figures[k];
      const c = f.ceiling ? r.figures[f.ceiling] : undefined;
      const target = f.target
        ? `${f.target.met ? 'met' : 'MISSED'} (${f.target.on === 'ratio' ? 'ratio ' : ''}${f.target.cmp} ${f.target.value})`
        : '';
      rows.push([f.label, fmt(f.value, f.unit), c ? fmt(c.value, c.unit) : '', f.ratio !== undefined ? `${f.ratio.toFixed(2)}×` : '', target]);
    }
  }
  const widths = [0, 1, 2, 3, 4].map((i) => Math.max(...rows.map((row) => row[i].length), ['figure', 'value', 'ceiling', 'ratio', 'target'][i].length));
  const line = (row) => row.map((cell, i) => (i === 0 || i === 4 ? cell.padEnd(widths[i]) : cell.padStart(widths[i]))).join('  ').trimEnd();
  console.log('');
  console.log(line(['figure', 'value', 'ceiling', 'ratio', 'target']));
  for (const row of rows) console.log(line(row));
  console.log('');
  console.log('ratio = fraction of the ceiling\'s speed reached (for times and latencies: ceiling ÷ value).');
  console.log(`load average (1/5/15 min): ${Object.entries(r.details.loadavg).map(([p, l]) => `${p} ${l.join('/')}`).join(', ')}`);
  console.log(`peak RSS per mount (MiB): ${Object.entries(r.details.rss).map(([p, v]) => `${p} ${v.toFixed(0)}`).join(', ')}`);
  const req = (name) => {
    const s = r.details.requests[name];
    return s ? Object.entries(s.counts).map(([k, v]) => `${k} ${v}`).join(', ') : '';
  };
  console.log('per phase: wall s | CPU s (user+sys) of the server, the mount, this bench | requests seen by the server');
  const us = (c) => (c ? `${c.user.toFixed(2)}+${c.sys.toFixed(2)}`.padStart(11) : '-'.padStart(11));
  for (const name of Object.keys(r.details.requests)) {
    const c = r.details.cpu[name];
    const cpu = c ? `${c.wall.toFixed(2).padStart(7)} | ${us(c.server)} ${us(c.mount)} ${us(c.bench)}` : '';
    console.log(`  ${name.padEnd(30)} ${cpu} | ${req(name)}`);
  }
  for (const [what, why] of Object.entries(r.skipped)) console.log(`skipped ${what}: ${why}`);
}

/** The plot's panel of the latency profile: ours (and --write-back 0) against rclone at the profile's RTT. */
function latencyPanel(profile) {
  const rows = [];
  for (const r of latencyRows(profile)) {
    if (r.rclone === undefined) continue;
    const unit = r.unit === 's' ? 'ms' : r.unit;
    const scale = r.unit === 's' ? 1000 : 1;
    const peer = { unit, better: r.better, peerValue: r.rclone * scale, peerLabel: `rclone at ${profile.rtt} ms` };
    if (r.ours !== undefined) rows.push({ ...peer, label: `ours: ${r.label}`, value: r.ours * scale, good: r.pass });
    if (r.close !== undefined) rows.push({ ...peer, label: `--write-back 0: ${r.label}`, value: r.close * scale, good: r.closePass });
  }
  return { title: `At ${profile.rtt} ms RTT, against rclone crypt on the same relay (pale bar = rclone; orange = target missed; log scale)`, rows };
}

// ---- rclone crypt over rclone serve webdav, when rclone is installed -----------------------------

async function rcloneBench() {
  const data = join(work, 'rclone-data');
  const mnt = join(work, 'rclone-mnt');
  mkdirSync(data, { recursive: true });
  mkdirSync(mnt, { recursive: true });
  const configFile = join(work, 'rclone.conf');
  writeFileSync(configFile, '');
  const env = { ...process.env, RCLONE_CONFIG: configFile };
  // Port 0: rclone binds a free port and names it once it listens.
  const serve = spawnUntil('rclone', ['serve', 'webdav', data, '--addr', '127.0.0.1:0'], /WebDav Server started on (http:\/\/127\.0\.0\.1:\d+)/, { env });
  cleanups.push(async () => {
    if (serve.child.exitCode === null) serve.child.kill('SIGTERM');
    await serve.exited;
  });
  const [, url] = await serve.ready;
  Object.assign(env, {
    RCLONE_CONFIG_BENCHDAV_TYPE: 'webdav',
    RCLONE_CONFIG_BENCHDAV_URL: url,
    RCLONE_CONFIG_BENCHDAV_VENDOR: 'other',
    RCLONE_CONFIG_BENCHCRYPT_TYPE: 'crypt',
    RCLONE_CONFIG_BENCHCRYPT_REMOTE: 'benchdav:crypt',
    RCLONE_CONFIG_BENCHCRYPT_PASSWORD: timed('rclone', ['obscure', randomBytes(12).toString('hex')], { env }).stdout.trim(),
  });
  const mountRclone = async () => {
    const child = spawn('rclone', ['mount', 'benchcrypt:', mnt, '--vfs-cache-mode', 'off'], { env, stdio: 'ignore' });
    const exited = once(child, 'exit');
    for (let i = 0; i < 100 && !isMounted(mnt); i++) await sleep(100);
    if (!isMounted(mnt)) throw new Error('rclone mount did not come up');
    mountpoints.add(mnt);
    return async () => {
      await fusermountU(mnt);
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
      mountpoints.delete(mnt);
    };
  };
  let unmount = await mountRclone();
  const w = dd(['if=/dev/zero', `of=${mnt}/big.bin`, 'bs=1M', `count=${SIZE_MIB}`]);
  await unmount();
  unmount = await mountRclone();
  const r = dd([`if=${mnt}/big.bin`, 'of=/dev/null', 'bs=1M']);
  await unmount();
  figure('peer.rclone_write', 'rclone crypt mount over webdav: dd write', mbps(SIZE, w), 'MB/s', 'higher');
  figure('peer.rclone_read', 'rclone crypt mount over webdav: dd read, cold', mbps(SIZE, r), 'MB/s', 'higher');
  figure('peer.ours_vs_rclone_write', 'ours ÷ rclone, dd write', figures['mount.dd_write'].value / figures['peer.rclone_write'].value, '×', 'higher', { target: { cmp: '>=', value: 2 } });
  figure('peer.ours_vs_rclone_read', 'ours ÷ rclone, dd read cold', figures['mount.dd_read_cold'].value / figures['peer.rclone_read'].value, '×', 'higher', { target: { cmp: '>=', value: 2 } });
}
