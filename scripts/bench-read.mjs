#!/usr/bin/env node
// Focused cold sequential read bench (issues #4, #6): the library's streaming get, the pure FUSE
// read ceiling and a cold `dd bs=1M` through a fresh mount, interleaved in rounds on one object,
// so their ratios come from the same minutes of a shared machine. Build first: npx tsc -p .
//
//   node scripts/bench-read.mjs [--size-mib 512] [--rounds 2] [--prof DIR]
//   --prof DIR: the mount runs under `node --cpu-prof` and writes its profiles to DIR, one per
//               thread (summarise with scripts/bench/profile-summary.mjs FILE.cpuprofile)
//   OSSENCFS_BENCH_MOUNT_NODE_ARGS: more node flags for the mount, e.g. "--trace-gc" (its output is shown)
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { MiB, drain, fusermountU, generated, mbps, sleep, spawnUntil, timed, timedAsync, tuneLikeOssencfs, LOCAL_V4, LOCAL_REGION } from './bench/util.mjs';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const BIN = join(ROOT, 'bin/ossencfs.js');
const { EncryptedBucket, Keyring, createOssStore, rsaMasterKey, encodePosixMeta } = await import(new URL('../dist/index.js', import.meta.url).href);
const { values: opt } = parseArgs({
  options: { 'size-mib': { type: 'string', default: '512' }, rounds: { type: 'string', default: '2' }, prof: { type: 'string' } },
});
const SIZE = Number(opt['size-mib']) * MiB;
const ROUNDS = Number(opt.rounds);
const BUCKET = 'bench';
console.log(await tuneLikeOssencfs()); // the library get here runs as the mount does
const load = () => loadavg().map((l) => l.toFixed(2)).join('/');

/** CPU seconds (user, sys) of each of a process's threads, summed by thread name; the main thread as "main". */
function threadCpu(pid) {
  const tick = 100; // USER_HZ
  const byName = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    const name = Number(tid) === pid ? 'main' : stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'));
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const t = (byName[name] ??= { user: 0, sys: 0 });
    t.user += Number(f[11]) / tick;
    t.sys += Number(f[12]) / tick;
  }
  return byName;
}

/** Per thread name, "user+sys" CPU seconds per GiB read between two threadCpu samples. */
function cpuPerGiB(a, b) {
  const k = (1024 * MiB) / SIZE;
  return Object.keys(b)
    .map((name) => ({ name, user: (b[name].user - (a[name]?.user ?? 0)) * k, sys: (b[name].sys - (a[name]?.sys ?? 0)) * k }))
    .filter((t) => t.user + t.sys > 0.05)
    .sort((x, y) => y.user + y.sys - (x.user + x.sys))
    .map((t) => `${t.name} ${t.user.toFixed(2)}+${t.sys.toFixed(2)}`)
    .join(', ');
}

const work = mkdtempSync(join(tmpdir(), 'ossencfs-bench-read-'));
const credentials = { accessKeyId: 'BENCH', accessKeySecret: randomBytes(16).toString('hex') };
const env = { ...process.env, OSS_ACCESS_KEY_ID: credentials.accessKeyId, OSS_ACCESS_KEY_SECRET: credentials.accessKeySecret, OSS_REGION: LOCAL_REGION };
for (const d of ['xdg-config', 'xdg-cache', 'xdg-run']) mkdirSync(join(work, d), { mode: 0o700 });
const mountEnv = { ...env, XDG_CONFIG_HOME: join(work, 'xdg-config'), XDG_CACHE_HOME: join(work, 'xdg-cache'), XDG_RUNTIME_DIR: join(work, 'xdg-run') };

const server = spawnUntil(process.execPath, [join(ROOT, 'scripts/bench/server-child.mjs'), join(work, 'server')], /listening on (http:\/\/\S+)/, {
  env,
  stdio: ['ignore', 'pipe', 'inherit', 'ipc'],
});
const mounts = [];
try {
  const url = (await server.ready)[1];
  const keyFile = join(work, 'key.pem');
  const keyPem = generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' });
  writeFileSync(keyFile, keyPem, { mode: 0o600 });
  const store = createOssStore({ region: LOCAL_REGION, endpoint: url, bucket: BUCKET, ...credentials, timeoutMs: 600_000 });
  const bucket = new EncryptedBucket(store, new Keyring({ writer: rsaMasterKey({ privateKeyPem: keyPem }) }), { partSize: 8 * MiB, concurrency: 4 });
  const OSS = (await import('ali-oss')).default;
  await new OSS({ ...LOCAL_V4, ...credentials, endpoint: url, bucket: BUCKET }).putBucket(BUCKET);
  const meta = encodePosixMeta({ mode: 0o100644, uid: process.getuid(), gid: process.getgid(), mtime: Date.now() / 1000 });
  await bucket.put('fs/big.bin', generated(SIZE), { size: SIZE, meta });

  const ceilingMnt = join(work, 'ceiling');
  mkdirSync(ceilingMnt);
  const ceiling = spawnUntil(process.execPath, [join(ROOT, 'scripts/bench/fuse-ceiling.mjs'), ceilingMnt, String(SIZE)], /ready/);
  await ceiling.ready;
  mounts.push({ mnt: ceilingMnt, child: ceiling.child });

  const noOffsets = join(work, 'no-offsets.json');
  writeFileSync(noOffsets, '[]');
  const dd = (file) => timed('dd', [`if=${file}`, 'of=/dev/null', 'bs=1M', 'status=none']).seconds;
  const rows = [];
  for (let round = 1; round <= ROUNDS; round++) {
    const lib = mbps(SIZE, (await timedAsync(async () => drain(await bucket.get('fs/big.bin'), SIZE))).seconds);
    // A randread of no offsets with --dontneed drops the ceiling file's pages from the page cache.
    timed('python3', [join(ROOT, 'scripts/bench/fsops.py'), 'randread', `${ceilingMnt}/zero`, noOffsets, '--dontneed']);
    const fuse = mbps(SIZE, dd(`${ceilingMnt}/zero`));
    const mnt = join(work, `mnt${round}`);
    mkdirSync(mnt);
    const nodeArgs = [...(opt.prof ? ['--cpu-prof', `--cpu-prof-dir=${opt.prof}`] : []), ...(process.env.OSSENCFS_BENCH_MOUNT_NODE_ARGS ?? '').split(' ').filter(Boolean)];
    const m = spawnUntil(
      process.execPath,
      [...nodeArgs, BIN, 'mount', `oss://${BUCKET}/fs`, mnt, '--foreground', '--endpoint', url, '--rsa-key', keyFile, '--cache-dir', join(work, 'cache'), '--cache-size', '256M'],
      /mounted /,
      { env: mountEnv },
    );
    await m.ready;
    const before = load();
    const cpu0 = threadCpu(m.child.pid);
    const cold = mbps(SIZE, dd(`${mnt}/big.bin`));
    const cpu1 = threadCpu(m.child.pid);
    await fusermountU(mnt);
    await m.exited;
    if (process.env.OSSENCFS_BENCH_MOUNT_NODE_ARGS) console.log(m.output());
    const ceilingOne = 1 / (1 / fuse + 1 / lib);
    rows.push({ round, load: before, cold, lib, fuse, ceilingOne });
    console.log(
      `round ${round} (load ${before}): cold ${cold.toFixed(0)} MB/s | library get ${lib.toFixed(0)} (${(cold / lib).toFixed(2)}×) | FUSE read ${fuse.toFixed(0)} | one-thread ceiling ${ceilingOne.toFixed(0)} (${(cold / ceilingOne).toFixed(2)}×)` +
        `\n  mount CPU s per GiB read (user+sys), by thread: ${cpuPerGiB(cpu0, cpu1)}`,
    );
    await sleep(200);
  }
} finally {
  for (const m of mounts) {
    m.child.kill('SIGTERM');
    await fusermountU(m.mnt);
  }
  if (server.child.exitCode === null) server.child.kill('SIGTERM');
  await once(server.child, 'exit').catch(() => undefined);
  rmSync(work, { recursive: true, force: true });
}
