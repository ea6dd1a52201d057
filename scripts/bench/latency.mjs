#!/usr/bin/env node
// The latency profile: the mount and rclone's crypt mount side by side, each talking to its
// server through ./delayRelay.mjs (RTT/2 each way), on the workloads of a workstation backed up
// to a bucket in another region. Every write is timed until its last object is in the store
// (after the command returns, and after rclone's write-back, the store is polled until every
// object written is there, whole). The mount at 0 ms is the ceiling of its own figures.
//
//   npx tsc -p . && node scripts/bench/latency.mjs [--rtt 30] [--quick] [--stacks ours,ours-close,rclone]
//       [--window-kib N] [--only ID[,ID]] [--dist DIR] [--json FILE]
//   --rtt: the round trip measured against the 0 ms ceiling; --stacks: ours (the default, --write-back 1:
//   close spools a new file and leaves its upload to a timer), ours-close (--write-back 0), rclone (--vfs-cache-mode writes,
//   over rclone serve webdav); --window-kib: bytes in flight per connection and direction (see
//   ./delayRelay.mjs), none by default; --only: these workloads alone (ids as in WORKLOADS; what
//   one needs first, as dd_read the file dd_write makes, is still done, untimed); --dist: the
//   compiled tree the mount runs from.
//
// Also run by scripts/bench-mount.mjs (`bash scripts/bench.sh --rtt MS`), which adds the figures
// to its results and plot. The relays run in a process of their own: a command this process
// runs synchronously cannot stall them.
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readdirSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchBucket, benchKey, encodePosixMeta } from './benchBucket.mjs';
import { startDelayRelayProcess } from './delayRelay.mjs';
import { BENCH_KEYS, startTreeServer } from './tree-server.mjs';
import { isMounted, KiB, LOCAL_REGION, MiB, sleep, spawnUntil, timedLs, timedSpawn, unmountAsync, which } from './util.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const library = await import(new URL('../../dist/index.js', import.meta.url).href);

/** The workloads, in the order they run; `target` is checked at the profile's RTT. */
export const WORKLOADS = [
  { id: 'rsync_first', label: (p) => `rsync -a of ${p.treeFiles} files (1 KiB–256 KiB, ${p.treeDirs} dirs), first run, until in the store`, unit: 's', better: 'lower', target: { vsRclone: 0.5 } },
  { id: 'small_files', label: (p) => `${p.smallFiles} × 4 KiB files, cp one after another, until in the store`, unit: 's', better: 'lower', target: { vsRclone: 0.5 } },
  { id: 'dd_write', label: (p) => `dd write of ${p.bigMiB} MiB, conv=fsync, until in the store`, unit: 'MB/s', better: 'higher', target: { vsRclone: 2 } },
  { id: 'dd_read', label: (p) => `cold dd read of ${p.bigMiB} MiB`, unit: 'MB/s', better: 'higher', target: { vsRclone: 1.5, vsCeiling: 0.9 } },
  { id: 'rsync_again', label: () => 'the same rsync again (same mount, after the writes above)', unit: 's', better: 'lower' },
  { id: 'ls_500', label: (p) => `cold ls -l of ${p.lsSmall} entries`, unit: 's', better: 'lower' },
  { id: 'ls_big', label: (p) => `cold ls -l of ${p.lsBig} entries`, unit: 's', better: 'lower', ours: true, target: { atMost: 3 } },
  { id: 'rsync_noop', label: (p) => `no-op rsync of ${p.noopFiles} files onto a fresh mount`, unit: 's', better: 'lower', ours: true, target: { atMost: 3 } },
];

export const STACKS = {
  ours: { label: 'ours', writesOnly: false },
  'ours-close': { label: 'ours --write-back 0', writesOnly: true, args: ['--write-back', '0'] },
  rclone: { label: 'rclone crypt', writesOnly: false },
};

export function profileParams(quick) {
  return quick
    ? { treeFiles: 100, treeDirs: 10, smallFiles: 50, bigMiB: 64, lsSmall: 500, lsBig: 1000, noopFiles: 200 }
    : { treeFiles: 300, treeDirs: 10, smallFiles: 200, bigMiB: 256, lsSmall: 500, lsBig: 10_000, noopFiles: 2000 };
}

/**
 * What must run for `only` (every workload when undefined): each workload asked for, plus the
 * ones that make what it reads (untimed). Throws on an unknown id.
 */
export function workloadPlan(only) {
  const ids = WORKLOADS.map((w) => w.id);
  const asked = new Set(only ?? ids);
  for (const id of asked) if (!ids.includes(id)) throw new Error(`--only: no workload ${id} (${ids.join(', ')})`);
  const needs = { rsync_again: ['rsync_first'], dd_read: ['dd_write'] };
  const run = new Set(asked);
  for (const id of asked) for (const first of needs[id] ?? []) run.add(first);
  return { recorded: (id) => asked.has(id), runs: (id) => run.has(id), asked: ids.filter((id) => asked.has(id)) };
}

/** rclone crypt's size for `n` bytes of plaintext: a 32-byte header, 16 bytes per 64 KiB block. */
const rcloneCryptSize = (n) => 32 + n + 16 * Math.ceil(n / (64 * KiB));

/**
 * Runs the profile: every stack at 0 ms and at `rtt`. Resolves with
 * { params, rtt, results: { [stack]: { [rtt]: { [workload]: { value, seconds, requests? } } } }, loads }.
 */
export async function runLatencyProfile({ rtt = 30, quick = false, stacks = ['ours', 'ours-close', 'rclone'], windowKiB, only, dist = join(ROOT, 'dist'), log = console.log } = {}) {
  const params = profileParams(quick);
  const plan = workloadPlan(only);
  const work = mkdtempSync(join(tmpdir(), 'ossencfs-latency-'));
  const windowBytes = windowKiB ? windowKiB * KiB : undefined;
  const results = {};
  const loads = [];
  const closers = [];
  const load = () => loadavg().map((l) => l.toFixed(2)).join('/');
  try {
    const local = writeLocalInputs(work, params);
    const ours = stacks.some((s) => s.startsWith('ours')) ? await startOurs(work, dist, params, local, plan) : undefined;
    if (ours) closers.push(() => ours.stop());
    const wantRclone = stacks.includes('rclone');
    if (wantRclone && !which('rclone')) throw new Error('rclone is not installed (or leave it out of --stacks)');
    const rclone = wantRclone ? await startRclone(work, local, plan) : undefined;
    if (rclone) closers.push(() => rclone.stop());
    for (const r of [0, rtt]) {
      for (const stack of stacks) {
        const side = stack === 'rclone' ? rclone : ours;
        const relay = await startDelayRelayProcess(side.url, r / 2, windowBytes ? { windowBytes } : {});
        try {
          const figures = await profileStack({ stack, side, relayUrl: relay.url, rtt: r, params, local, work, plan });
          ((results[stack] ??= {})[r] = figures);
          log(`  ${STACKS[stack].label} at ${r} ms: ${Object.entries(figures).map(([k, f]) => `${k} ${f.value.toFixed(2)}`).join(', ')}  (load ${load()})`);
          loads.push(`${stack}@${r} ${load()}`);
        } finally {
          await relay.close();
        }
      }
    }
    return { params, rtt, windowKiB, stacks, only: plan.asked, results, loads };
  } finally {
    for (const close of closers.reverse()) await close().catch(() => undefined);
    rmSync(work, { recursive: true, force: true });
  }
}

// ---- inputs --------------------------------------------------------------------------------------

function writeLocalInputs(work, p) {
  const pool = randomBytes(2 * MiB);
  // The tree: sizes spread evenly on a log scale from 1 KiB to 256 KiB, over treeDirs directories.
  const tree = join(work, 'tree');
  const treeFiles = [];
  for (let i = 0; i < p.treeFiles; i++) {
    const rel = `d${String(i % p.treeDirs).padStart(2, '0')}/f${String(i).padStart(4, '0')}.bin`;
    const size = Math.round(KiB * 256 ** (i / Math.max(1, p.treeFiles - 1)));
    mkdirSync(join(tree, rel, '..'), { recursive: true });
    const at = (i * 4099) % (pool.length - size);
    writeFileSync(join(tree, rel), pool.subarray(at, at + size));
    treeFiles.push({ rel, size });
  }
  const small = join(work, 'small');
  mkdirSync(small);
  for (let i = 0; i < p.smallFiles; i++) writeFileSync(join(small, `s${String(i).padStart(4, '0')}`), randomBytes(4 * KiB));
  const big = join(work, 'big.bin');
  writeFileSync(big, Buffer.concat(Array.from({ length: p.bigMiB }, (_, i) => pool.subarray(i % MiB, (i % MiB) + MiB))));
  const lsSmall = join(work, 'ls-small');
  mkdirSync(lsSmall);
  for (let i = 0; i < p.lsSmall; i++) writeFileSync(join(lsSmall, `e${String(i).padStart(5, '0')}`), pool.subarray(i, i + 100));
  // The no-op rsync's tree: both sides hold it with the same sizes and mtimes.
  const noop = join(work, 'noop');
  const noopFiles = Array.from({ length: p.noopFiles }, (_, i) => ({ rel: `f${String(i).padStart(6, '0')}`, body: pool.subarray(i, i + 256 + (i % 7) * 100), mtimeS: 1_700_000_000 + i }));
  mkdirSync(noop);
  for (const f of noopFiles) {
    writeFileSync(join(noop, f.rel), f.body, { mode: 0o644 });
    utimesSync(join(noop, f.rel), f.mtimeS, f.mtimeS);
  }
  return { tree, treeFiles, small, big, lsSmall, noop, noopFiles };
}

// ---- our side: the tree server, populated through the library ------------------------------------

async function startOurs(work, dist, p, local, plan) {
  const server = await startTreeServer(resolve(dist));
  const { keyPem, keyFile } = benchKey(work);
  const bucket = await benchBucket(server.url, 'bench', keyPem);
  const store = library.createOssStore({ region: LOCAL_REGION, endpoint: server.url, bucket: 'bench', ...BENCH_KEYS });
  const owner = { uid: process.getuid(), gid: process.getgid() };
  const puts = [];
  const body = randomBytes(1 * KiB);
  if (plan.runs('ls_500')) for (let i = 0; i < p.lsSmall; i++) puts.push([`ls-small/e${String(i).padStart(5, '0')}`, body, Date.now() / 1000]);
  if (plan.runs('ls_big')) for (let i = 0; i < p.lsBig; i++) puts.push([`ls-big/f${String(i).padStart(5, '0')}`, body, Date.now() / 1000]);
  if (plan.runs('rsync_noop')) for (const f of local.noopFiles) puts.push([`noop/${f.rel}`, f.body, f.mtimeS]);
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < puts.length) {
      const [key, data, mtime] = puts[next++];
      await bucket.put(key, data, { meta: encodePosixMeta({ mode: 0o100644, ...owner, mtime }) });
    }
  }));
  await server.requests();
  const side = {
    url: server.url,
    server,
    keyFile,
    bin: join(resolve(dist), '..', 'bin/ossencfs.js'),
    /** Keys under `prefix` with their sizes, asked of the server directly (not through the relay). */
    async stored(prefix) {
      const found = new Map();
      let after;
      do {
        const page = await store.list(prefix, { after, maxKeys: 1000 });
        for (const o of page.objects) found.set(o.key, o.size);
        after = page.next;
      } while (after !== undefined);
      return found;
    },
    stop: () => server.stop(),
  };
  await writeIndexes(side, work, p, plan);
  return side;
}

/**
 * One untimed mount at 0 ms lists each directory the profile lists cold, so the mount writes
 * their indexes at unmount: the directories start as `ossencfs put -r` or any mount would leave
 * them, and the 0 ms ceiling, which runs first, finds the same indexes the RTT round does.
 */
async function writeIndexes(side, work, p, plan) {
  const dirs = [['ls_500', 'ls-small', p.lsSmall], ['ls_big', 'ls-big', p.lsBig], ['rsync_noop', 'noop', p.noopFiles]]
    .filter(([id]) => plan.runs(id));
  if (dirs.length === 0) return;
  const m = await mountStack({ stack: 'ours', side, relayUrl: side.url, work, name: 'index' });
  try {
    for (const [, dir, entries] of dirs) await timedLs(join(m.mnt, dir), entries);
  } finally {
    await m.unmount();
  }
  const { PUT = 0 } = await side.server.requests();
  if (PUT < dirs.length) throw new Error(`the priming mount wrote ${PUT} indexes for ${dirs.length} directories`);
}

// ---- rclone's side: rclone serve webdav, a crypt remote over it -----------------------------------

async function startRclone(work, local, plan) {
  const data = join(work, 'rclone-data');
  mkdirSync(data);
  const config = join(work, 'rclone.conf');
  writeFileSync(config, '');
  const env = { ...process.env, RCLONE_CONFIG: config };
  const serve = spawnUntil('rclone', ['serve', 'webdav', data, '--addr', '127.0.0.1:0'], /WebDav Server started on (http:\/\/127\.0\.0\.1:\d+)/, { env });
  const [, url] = await serve.ready;
  const password = (await timedSpawn('rclone', ['obscure', randomBytes(12).toString('hex')], { env })).stdout.trim();
  /** The environment naming remote `benchcrypt:` over the webdav server at `davUrl`. */
  const remoteEnv = (davUrl) => ({
    ...env,
    RCLONE_CONFIG_BENCHDAV_TYPE: 'webdav',
    RCLONE_CONFIG_BENCHDAV_URL: davUrl,
    RCLONE_CONFIG_BENCHDAV_VENDOR: 'other',
    RCLONE_CONFIG_BENCHCRYPT_TYPE: 'crypt',
    RCLONE_CONFIG_BENCHCRYPT_REMOTE: 'benchdav:crypt',
    RCLONE_CONFIG_BENCHCRYPT_PASSWORD: password,
  });
  const copy = async (src, dest) => {
    const r = await timedSpawn('rclone', ['copy', src, `benchcrypt:${dest}`], { env: remoteEnv(url) });
    if (r.code !== 0) throw new Error(`rclone copy ${src}: ${r.stderr}`);
  };
  if (plan.runs('ls_500')) await copy(local.lsSmall, 'ls-small');
  // Every ciphertext size in the store, as a multiset: a write is in once its sizes are all there.
  const sizes = () => {
    const counts = new Map();
    const walk = (dir) => {
      for (const e of readdirSync(dir, { withFileTypes: true })) {
        if (e.isDirectory()) walk(join(dir, e.name));
        else if (e.isFile()) {
          const n = statSync(join(dir, e.name)).size;
          counts.set(n, (counts.get(n) ?? 0) + 1);
        }
      }
    };
    walk(data);
    return counts;
  };
  return {
    url,
    remoteEnv,
    sizes,
    stop: async () => {
      if (serve.child.exitCode === null) serve.child.kill('SIGTERM');
      await serve.exited;
    },
  };
}

// ---- one stack at one RTT --------------------------------------------------------------------------

/** Mounts `stack` over the relay; resolves with { mnt, unmount() }. Each mount is fresh (cold). */
async function mountStack({ stack, side, relayUrl, work, name }) {
  const mnt = join(work, name);
  mkdirSync(mnt, { recursive: true });
  if (stack === 'rclone') {
    const cacheDir = join(work, `${name}-cache`);
    const child = spawnUntil('rclone', ['mount', 'benchcrypt:', mnt, '--vfs-cache-mode', 'writes', '--cache-dir', cacheDir, '--dir-cache-time', '5m'], /(?!)/, { env: side.remoteEnv(relayUrl) });
    child.ready.catch(() => undefined);
    for (let i = 0; i < 200 && !isMounted(mnt); i++) await sleep(50);
    if (!isMounted(mnt)) throw new Error(`rclone mount did not come up: ${child.output()}`);
    return {
      mnt,
      unmount: async () => {
        await unmountAsync(mnt);
        if (child.child.exitCode === null) child.child.kill('SIGTERM');
        await child.exited;
      },
    };
  }
  const { child, ready, exited } = spawnUntil(process.execPath, [
    side.bin, 'mount', 'oss://bench', mnt, '--foreground', '--endpoint', relayUrl, '--rsa-key', side.keyFile,
    '--cache-dir', join(work, `${name}-cache`), '--log-file', join(work, 'mount.log'), ...(STACKS[stack].args ?? []),
  ], /mounted /, { env: { ...process.env, OSS_ACCESS_KEY_ID: BENCH_KEYS.accessKeyId, OSS_ACCESS_KEY_SECRET: BENCH_KEYS.accessKeySecret, OSS_REGION: LOCAL_REGION } });
  await ready;
  return {
    mnt,
    unmount: async () => {
      await unmountAsync(mnt);
      await exited;
    },
  };
}

async function run(cmd, args) {
  const r = await timedSpawn(cmd, args);
  if (r.code !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.code}: ${r.stderr.slice(0, 2000)}`);
  return r;
}

/** Polls until `present()` holds; resolves with the seconds it took (fails after two minutes). */
async function untilStored(what, present) {
  const t0 = process.hrtime.bigint();
  for (;;) {
    if (await present()) return Number(process.hrtime.bigint() - t0) / 1e9;
    if (Number(process.hrtime.bigint() - t0) > 120e9) throw new Error(`${what}: not all in the store after 120 s`);
    await sleep(20);
  }
}

async function profileStack({ stack, side, relayUrl, rtt, params: p, local, work, plan }) {
  const out = {};
  const tag = `${stack}-${rtt}`;
  const isRclone = stack === 'rclone';
  // What must be in the store once a write is done: for ours keys and sizes under a prefix; for
  // rclone the multiset of ciphertext sizes grows by the files written.
  let rcloneExpected = isRclone ? side.sizes() : undefined;
  const expect = async (what, prefix, files) => {
    if (isRclone) {
      const want = new Map(rcloneExpected);
      for (const f of files) want.set(rcloneCryptSize(f.size), (want.get(rcloneCryptSize(f.size)) ?? 0) + 1);
      rcloneExpected = want;
      return untilStored(what, async () => {
        const have = side.sizes();
        return [...want].every(([n, c]) => (have.get(n) ?? 0) >= c);
      });
    }
    return untilStored(what, async () => {
      const have = await side.stored(prefix);
      return files.every((f) => have.get(`${prefix}${f.rel}`) === f.size);
    });
  };
  const requests = async () => (isRclone ? undefined : side.server.requests());
  const record = (id, seconds, value, reqs, extra = {}) => {
    if (plan.recorded(id)) out[id] = { value, seconds, ...(reqs ? { requests: reqs } : {}), ...extra };
  };
  const writesBig = !STACKS[stack].writesOnly && plan.runs('dd_write');

  // Mount 1: the writes.
  if (plan.runs('rsync_first') || plan.runs('small_files') || writesBig) {
    const m = await mountStack({ stack, side, relayUrl, work, name: `${tag}-w` });
    try {
      const dir = `${tag}`;
      await run('mkdir', [join(m.mnt, dir)]);
      if (plan.runs('rsync_first')) {
        await requests();
        const rs = await run('rsync', ['-a', '--stats', `${local.tree}/`, `${join(m.mnt, dir, 'tree')}/`]);
        const rsWait = await expect('rsync', `${dir}/tree/`, local.treeFiles);
        record('rsync_first', rs.seconds + rsWait, rs.seconds + rsWait, await requests(), { command: rs.seconds });
      }
      if (plan.runs('small_files')) {
        await run('mkdir', [join(m.mnt, dir, 'small')]);
        await requests();
        const cp = await run('bash', ['-c', 'for f in "$1"/*; do cp "$f" "$2"/ || exit 1; done', 'cp-loop', local.small, join(m.mnt, dir, 'small')]);
        const smallFiles = readdirSync(local.small).map((n) => ({ rel: n, size: 4 * KiB }));
        const cpWait = await expect('small files', `${dir}/small/`, smallFiles);
        record('small_files', cp.seconds + cpWait, cp.seconds + cpWait, await requests(), { command: cp.seconds });
      }
      if (writesBig) {
        const dd = await run('dd', [`if=${local.big}`, `of=${join(m.mnt, dir, 'big.bin')}`, 'bs=1M', 'conv=fsync', 'status=none']);
        const ddWait = await expect('dd write', `${dir}/`, [{ rel: 'big.bin', size: p.bigMiB * MiB }]);
        record('dd_write', dd.seconds + ddWait, (p.bigMiB * MiB) / 1e6 / (dd.seconds + ddWait), await requests(), { command: dd.seconds });
      }
      // Last on this mount: what rclone sends again (it keeps no mtime) uploads while nothing is timed.
      if (plan.runs('rsync_again')) {
        await requests();
        const again = await run('rsync', ['-a', '--stats', `${local.tree}/`, `${join(m.mnt, dir, 'tree')}/`]);
        const sent = Number(/Number of regular files transferred: ([\d,]+)/.exec(again.stdout)?.[1].replace(/,/g, '') ?? NaN);
        record('rsync_again', again.seconds, again.seconds, await requests(), { transferred: sent });
      }
    } finally {
      await m.unmount();
    }
  }
  if (STACKS[stack].writesOnly) return out;
  // Mount 2: cold reads.
  if (plan.runs('dd_read') || plan.runs('ls_500')) {
    const m = await mountStack({ stack, side, relayUrl, work, name: `${tag}-r` });
    try {
      if (plan.runs('dd_read')) {
        await requests();
        const dd = await run('dd', [`if=${join(m.mnt, tag, 'big.bin')}`, 'of=/dev/null', 'bs=1M', 'status=none']);
        record('dd_read', dd.seconds, (p.bigMiB * MiB) / 1e6 / dd.seconds, await requests());
      }
      if (plan.runs('ls_500')) {
        await requests();
        const ls = await timedLs(join(m.mnt, 'ls-small'), p.lsSmall);
        record('ls_500', ls.seconds, ls.seconds, await requests());
      }
    } finally {
      await m.unmount();
    }
  }
  if (isRclone) return out;
  // Mounts 3 and 4 (ours): the big directory, and the no-op rsync, each onto a fresh mount.
  if (plan.runs('ls_big')) {
    const m = await mountStack({ stack, side, relayUrl, work, name: `${tag}-ls` });
    try {
      await requests();
      const ls = await timedLs(join(m.mnt, 'ls-big'), p.lsBig);
      record('ls_big', ls.seconds, ls.seconds, await requests());
    } finally {
      await m.unmount();
    }
  }
  if (plan.runs('rsync_noop')) {
    const m = await mountStack({ stack, side, relayUrl, work, name: `${tag}-noop` });
    try {
      await requests();
      const r = await run('rsync', ['-a', '--dry-run', '--stats', `${local.noop}/`, `${join(m.mnt, 'noop')}/`]);
      const sent = /Number of regular files transferred: ([\d,]+)/.exec(r.stdout)?.[1];
      if (sent !== '0') throw new Error(`the no-op rsync would send ${sent} files`);
      record('rsync_noop', r.seconds, r.seconds, await requests());
    } finally {
      await m.unmount();
    }
  }
  return out;
}

// ---- verdicts and the table -----------------------------------------------------------------------

/** Each workload's row: values per stack at `rtt`, ours at 0 ms, the target and whether each of ours meets it. */
export function latencyRows(profile) {
  const { rtt, results, params } = profile;
  const at = (stack, r, id) => results[stack]?.[r]?.[id]?.value;
  const asked = new Set(profile.only ?? WORKLOADS.map((w) => w.id));
  return WORKLOADS.filter((w) => asked.has(w.id)).map((w) => {
    const rclone = at('rclone', rtt, w.id);
    const ceiling = at('ours', 0, w.id);
    const verdict = (value) => {
      if (value === undefined || !w.target) return undefined;
      const checks = [];
      const t = w.target;
      if (t.vsRclone !== undefined) {
        if (rclone === undefined) return undefined;
        // For times, ours ÷ rclone must be at most the target; for rates at least.
        const ratio = value / rclone;
        checks.push(w.better === 'lower' ? ratio <= t.vsRclone : ratio >= t.vsRclone);
      }
      if (t.vsCeiling !== undefined) {
        // Without the ceiling (ours at 0 ms not run) the target cannot be judged.
        if (ceiling === undefined) return undefined;
        checks.push(value / ceiling >= t.vsCeiling);
      }
      if (t.atMost !== undefined) checks.push(value <= t.atMost);
      return checks.every(Boolean);
    };
    const ours = at('ours', rtt, w.id);
    const close = at('ours-close', rtt, w.id);
    return {
      id: w.id,
      label: w.label(params),
      unit: w.unit,
      better: w.better,
      ceiling,
      ours,
      oursRequests: results.ours?.[rtt]?.[w.id]?.requests,
      close,
      rclone,
      ratio: ours !== undefined && rclone !== undefined ? ours / rclone : undefined,
      closeRatio: close !== undefined && rclone !== undefined ? close / rclone : undefined,
      target: targetText(w, rtt),
      pass: verdict(ours),
      closePass: verdict(close),
    };
  });
}

function targetText(w, rtt) {
  const t = w.target;
  if (!t) return '';
  const parts = [];
  if (t.vsRclone !== undefined) parts.push(`${w.better === 'lower' ? '≤' : '≥'} ${t.vsRclone}× rclone`);
  if (t.vsCeiling !== undefined) parts.push(`≥ ${t.vsCeiling}× ours at 0 ms`);
  if (t.atMost !== undefined) parts.push(`≤ ${t.atMost} ${w.unit}`);
  return parts.join(', ');
}

export function latencyTable(profile) {
  const { rtt } = profile;
  const rows = latencyRows(profile);
  const v = (x, unit) => (x === undefined ? '—' : `${x.toFixed(x >= 100 ? 0 : 2)} ${unit}`);
  const ok = (p) => (p === undefined ? '' : p ? 'pass' : 'FAIL');
  const header = ['workload', 'ours 0 ms', `ours ${rtt} ms`, `rclone ${rtt} ms`, 'ours÷rclone', 'target', 'ours', `ours close ${rtt} ms`, 'close÷rclone', 'close'];
  const lines = rows.map((r) => [r.label, v(r.ceiling, r.unit), v(r.ours, r.unit), v(r.rclone, r.unit), r.ratio === undefined ? '—' : `${r.ratio.toFixed(2)}×`, r.target, ok(r.pass), v(r.close, r.unit), r.closeRatio === undefined ? '—' : `${r.closeRatio.toFixed(2)}×`, ok(r.closePass)]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i].length)));
  const fmtLine = (l) => l.map((c, i) => (i === 0 || i === 5 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ').trimEnd();
  const text = [fmtLine(header), ...lines.map(fmtLine)];
  text.push(`ours = the default (--write-back 1: close spools a new file to local disk and leaves its upload to a 1 s timer); ours close = --write-back 0 (close uploads). Times include waiting until every object is in the store.`);
  const sent = profile.results.rclone?.[rtt]?.rsync_again?.transferred;
  const ourSent = profile.results.ours?.[rtt]?.rsync_again?.transferred;
  if (rows.some((r) => r.id === 'rsync_again')) text.push(`the rsync again sent ${ourSent ?? '—'} files through ours, ${sent ?? '—'} through rclone.`);
  text.push(`Window per connection: ${profile.windowKiB ? `${profile.windowKiB} KiB` : 'none'}.`);
  for (const r of rows) if (r.oursRequests) text.push(`  requests, ours at ${rtt} ms, ${r.id}: ${JSON.stringify(r.oursRequests)}`);
  return text.join('\n');
}

// ---- as a script --------------------------------------------------------------------------------

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const { values } = parseArgs({
    options: {
      rtt: { type: 'string', default: '30' },
      quick: { type: 'boolean', default: false },
      stacks: { type: 'string', default: 'ours,ours-close,rclone' },
      'window-kib': { type: 'string' },
      only: { type: 'string' },
      dist: { type: 'string' },
      json: { type: 'string' },
    },
  });
  const stacks = values.stacks.split(',');
  for (const s of stacks) if (!STACKS[s]) throw new Error(`--stacks: no stack ${s} (${Object.keys(STACKS).join(', ')})`);
  console.log(`latency profile: RTT 0 and ${values.rtt} ms, ${stacks.join(', ')}, load ${loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  const profile = await runLatencyProfile({
    rtt: Number(values.rtt),
    quick: values.quick,
    stacks,
    windowKiB: values['window-kib'] ? Number(values['window-kib']) : undefined,
    only: values.only?.split(','),
    ...(values.dist ? { dist: values.dist } : {}),
  });
  console.log(`\n${latencyTable(profile)}`);
  if (values.json) writeFileSync(values.json, `${JSON.stringify(profile, null, 2)}\n`);
}
