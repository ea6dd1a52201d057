#!/usr/bin/env node
// `ls -l` of one big directory through a fresh mount (cold: the mount knows nothing yet), alone:
// the mount-ls phase of scripts/bench-mount.mjs without the phases before it. The directory is
// written through the library, as bench-mount does; each round mounts, lists and unmounts, with
// rounds alternating the builds given (--dist: the server and the mount both run from it), and
// reports wall time, the CPU seconds of the server and of the mount during the `ls`, the mount's
// peak RSS before and after it, and the time of a second (warm) `ls -l` right after.
// Before the rounds, one mount per build lists the directory at 0 ms and unmounts, writing the
// directory's index (as any mount does that listed it; again until the index is whole), so every
// timed round finds one, as a directory written through `ossencfs put -r` or a mount would have;
// --no-index skips that.
// Several --entries give each size a directory of its own, listed in turn within each round, so
// their times are taken under the same load.
//
//   npx tsc -p . && node scripts/bench/ls-cold.mjs [--dist DIR]... [--entries N]... [--rounds R]
//       [--mount-prof DIR] [--mount-args="--attr-ttl 60"] [--rtt MS] [--no-index] [--skip-warm]
//       [--keep DIR]
//   (--dist: the compiled tree the server (./tree-server.mjs) and the mount run from, default
//    dist/; the bucket is always written through this checkout's library. --mount-prof: the mount runs under
//    node --cpu-prof, its profiles written there; see ./profile-summary.mjs. --rtt: the mount talks
//    to the server through ./delayRelay.mjs, MS/2 each way. --skip-warm: no second `ls -l`.
//    --keep: the key and the populated bucket (before any index) are kept in DIR and reused by
//    the next run given it, which then writes only the sizes missing; each build's server gets a
//    copy of it, so every run still starts without an index.)
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchBucket, benchKey, encodePosixMeta, withBenchMount } from './benchBucket.mjs';
import { startTreeServer } from './tree-server.mjs';
import { cpuTimes, peakRssMiB, timedLs } from './util.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUCKET = 'bench';

const { values } = parseArgs({
  options: {
    dist: { type: 'string', multiple: true },
    entries: { type: 'string', multiple: true },
    rounds: { type: 'string', default: '3' },
    'mount-prof': { type: 'string' },
    'mount-args': { type: 'string', default: '' },
    rtt: { type: 'string', default: '0' },
    'no-index': { type: 'boolean', default: false },
    'skip-warm': { type: 'boolean', default: false },
    keep: { type: 'string' },
  },
});
const dists = (values.dist ?? [join(ROOT, 'dist')]).map((d) => resolve(d));
const sizes = (values.entries ?? ['10000']).map(Number);
const rounds = Number(values.rounds);
const work = mkdtempSync(join(tmpdir(), 'ossencfs-ls-cold-'));
const kept = values.keep ? resolve(values.keep) : work;
mkdirSync(kept, { recursive: true });
const { keyPem, keyFile } = existsSync(join(kept, 'key.pem')) ? { keyPem: readFileSync(join(kept, 'key.pem'), 'utf8'), keyFile: join(kept, 'key.pem') } : benchKey(kept);
const loads = () => loadavg().map((l) => l.toFixed(2)).join(' ');
const rtt = Number(values.rtt);
/** The directory of `entries` names, under the mount's root. */
const dirOf = (entries) => `d${entries}`;
console.log(`ls -l of ${sizes.join(', ')} entries, cold, ${rounds} rounds, RTT ${rtt} ms, load ${loads()}`);

/** utime + stime of a process, all threads, in seconds. */
const cpuSeconds = (pid) => {
  const t = cpuTimes(pid);
  return t.user + t.sys;
};

/** The bucket with a directory of each size, without indexes, in `kept`/pristine (what is there already stays). */
async function populate() {
  const dir = join(kept, 'pristine');
  const doneFile = join(dir, 'sizes.json');
  const done = existsSync(doneFile) ? JSON.parse(readFileSync(doneFile, 'utf8')) : [];
  const missing = sizes.filter((n) => !done.includes(n));
  if (missing.length > 0) {
    const server = await startTreeServer(dists[0], { dir });
    try {
      const bucket = await benchBucket(server.url, BUCKET, keyPem);
      const meta = () => encodePosixMeta({ mode: 0o100644, uid: process.getuid(), gid: process.getgid(), mtime: Date.now() / 1000 });
      const body = randomBytes(1024);
      for (const entries of missing) {
        let next = 0;
        await Promise.all(Array.from({ length: 32 }, async () => {
          while (next < entries) await bucket.put(`fs/${dirOf(entries)}/f${String(next++).padStart(6, '0')}`, body, { meta: meta() });
        }));
        done.push(entries);
        writeFileSync(doneFile, JSON.stringify(done));
      }
    } finally {
      await server.stop();
    }
  }
  return dir;
}

/** A server of build `dist` on a copy of the pristine bucket. */
async function serverOn(pristine, dist, i) {
  const dir = join(work, `server-${i}`);
  const cp = spawnSync('cp', ['-a', pristine, dir]);
  if (cp.status !== 0) throw new Error(`cp -a ${pristine} ${dir}: ${cp.stderr}`);
  return startTreeServer(dist, { dir });
}

/** The mount's RSS now, MiB. */
const rssMiB = (pid) => {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
};

/** A mount of the build `server` runs, as `round`, through `relayRtt`. */
const mountOf = (server, round, relayRtt, nodeArgs = []) => ({
  bin: join(server.dist, '..', 'bin/ossencfs.js'), url: server.url, rtt: relayRtt, source: `oss://${BUCKET}/fs`,
  mnt: join(work, `mnt-${round}`), keyFile, work, round, nodeArgs, args: values['mount-args'].split(' ').filter(Boolean),
});

/**
 * One listing of each directory at 0 ms, so the mount writes their indexes at unmount; again
 * while a mount still writes one (a mount keeps the metadata of only so many HEADs for the
 * index, so the first may cover part of a big directory), so each is then whole, as `put -r`
 * writes it.
 */
async function writeIndex(server, i) {
  for (let pass = 0; pass < 5; pass++) {
    const mount = mountOf(server, `index-${i}-${pass}`, 0);
    await server.requests();
    await withBenchMount(mount, async () => {
      for (const entries of sizes) await timedLs(join(mount.mnt, dirOf(entries)), entries);
    });
    const requests = await server.requests();
    console.log(`priming mount ${pass + 1} of ${server.dist}: requests ${JSON.stringify(requests)}`);
    if (!requests.PUT && pass === 0) throw new Error(`the priming mount wrote no index: ${JSON.stringify(requests)}`);
    if (!requests.PUT) return;
  }
}

async function lsCold(server, round, entries) {
  const nodeArgs = values['mount-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['mount-prof']}`] : [];
  const mount = mountOf(server, round, rtt, nodeArgs);
  return withBenchMount(mount, async (child) => {
    await server.requests();
    const before = { server: await server.cpuMs(), mount: cpuSeconds(child.pid), rssMiB: peakRssMiB(child.pid) };
    // The kernel's VmHWM is the peak; sampled too, to show RSS through the listing, not just its top.
    let rssMax = rssMiB(child.pid);
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, rssMiB(child.pid))), 100);
    try {
      const ls = await timedLs(join(mount.mnt, dirOf(entries)), entries);
      const spent = { server: ((await server.cpuMs()) - before.server) / 1000, mount: cpuSeconds(child.pid) - before.mount };
      const requests = await server.requests();
      // As bench-mount's mount.ls_warm: again right after, by when the first names' TTL has run out.
      const warm = values['skip-warm'] ? { seconds: NaN } : await timedLs(join(mount.mnt, dirOf(entries)), entries);
      const rss = { before: before.rssMiB, peak: peakRssMiB(child.pid), sampledMax: rssMax };
      return { seconds: ls.seconds, warmSeconds: warm.seconds, ...spent, rssMiB: rss, requests };
    } finally {
      clearInterval(sampler);
    }
  });
}

const servers = [];
try {
  const pristine = await populate();
  for (const [i, dist] of dists.entries()) servers.push(await serverOn(pristine, dist, i));
  if (!values['no-index']) for (const [i, server] of servers.entries()) await writeIndex(server, i);
  const results = sizes.map(() => servers.map(() => []));
  for (let round = 1; round <= rounds; round++) {
    for (const [s, entries] of sizes.entries()) for (const [i, server] of servers.entries()) {
      const r = await lsCold(server, `${round}-${entries}-${i}`, entries);
      results[s][i].push(r);
      console.log(`round ${round}  ${entries}  ${server.dist}: ls -l ${r.seconds.toFixed(2)} s (warm right after ${r.warmSeconds.toFixed(2)} s), CPU s: server ${r.server.toFixed(2)}, mount ${r.mount.toFixed(2)}, mount peak RSS ${r.rssMiB.before.toFixed(0)} -> ${r.rssMiB.peak.toFixed(0)} MiB (sampled max ${r.rssMiB.sampledMax.toFixed(0)}), requests ${JSON.stringify(r.requests)}  (load ${loads()})`);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const [s, entries] of sizes.entries()) for (const [i, server] of servers.entries()) {
    const m = (f) => median(results[s][i].map(f)).toFixed(2);
    console.log(`median  ${entries}  ${server.dist}: ls -l ${m((r) => r.seconds)} s (warm ${m((r) => r.warmSeconds)} s), CPU s: server ${m((r) => r.server)}, mount ${m((r) => r.mount)}; peak RSS max ${Math.max(...results[s][i].map((r) => r.rssMiB.peak)).toFixed(0)} MiB`);
  }
} finally {
  for (const server of servers) await server.stop();
  rmSync(work, { recursive: true, force: true });
}
