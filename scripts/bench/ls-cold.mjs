#!/usr/bin/env node
// `ls -l` of one big directory through a fresh mount (cold: the mount knows nothing yet), alone:
// the mount-ls phase of scripts/bench-mount.mjs without the phases before it. The directory is
// written through the library, as bench-mount does; each round mounts, lists and unmounts, with
// rounds alternating the builds given (--dist: the server and the mount both run from it), and
// reports wall time, the CPU seconds of the server and of the mount during the `ls`, the mount's
// peak RSS before and after it, and the time of a second (warm) `ls -l` right after.
// Before the rounds, one mount per build lists the directory at 0 ms and unmounts, writing the
// directory's index (as any mount does that listed it), so every timed round finds one, as a
// directory written through `ossencfs put -r` or a mount would have; --no-index skips that.
//
//   npx tsc -p . && node scripts/bench/ls-cold.mjs [--dist DIR]... [--entries N] [--rounds R]
//       [--mount-prof DIR] [--mount-args="--attr-ttl 60"] [--rtt MS] [--no-index]
//   (--dist: the compiled tree the server (./tree-server.mjs) and the mount run from, default
//    dist/; the bucket is always written through this checkout's library. --mount-prof: the mount runs under
//    node --cpu-prof, its profiles written there; see ./profile-summary.mjs. --rtt: the mount talks
//    to the server through ./delayRelay.mjs, MS/2 each way.)
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchBucket, benchKey, encodePosixMeta, withBenchMount } from './benchBucket.mjs';
import { startTreeServer } from './tree-server.mjs';
import { cpuTimes, peakRssMiB, timedLs } from './util.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUCKET = 'bench';
const DIR = 'fs/dir';

const { values } = parseArgs({
  options: {
    dist: { type: 'string', multiple: true },
    entries: { type: 'string', default: '10000' },
    rounds: { type: 'string', default: '3' },
    'mount-prof': { type: 'string' },
    'mount-args': { type: 'string', default: '' },
    rtt: { type: 'string', default: '0' },
    'no-index': { type: 'boolean', default: false },
  },
});
const dists = (values.dist ?? [join(ROOT, 'dist')]).map((d) => resolve(d));
const entries = Number(values.entries);
const rounds = Number(values.rounds);
const work = mkdtempSync(join(tmpdir(), 'ossencfs-ls-cold-'));
const { keyPem, keyFile } = benchKey(work);
const loads = () => loadavg().map((l) => l.toFixed(2)).join(' ');
const rtt = Number(values.rtt);
console.log(`ls -l of ${entries} entries, cold, ${rounds} rounds, RTT ${rtt} ms, load ${loads()}`);

/** utime + stime of a process, all threads, in seconds. */
const cpuSeconds = (pid) => {
  const t = cpuTimes(pid);
  return t.user + t.sys;
};

async function populate(server) {
  const bucket = await benchBucket(server.url, BUCKET, keyPem);
  const meta = () => encodePosixMeta({ mode: 0o100644, uid: process.getuid(), gid: process.getgid(), mtime: Date.now() / 1000 });
  const body = randomBytes(1024);
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < entries) await bucket.put(`${DIR}/f${String(next++).padStart(5, '0')}`, body, { meta: meta() });
  }));
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

/** One listing at 0 ms, so the mount writes the directory's index at unmount. */
async function writeIndex(server, i) {
  const mount = mountOf(server, `index-${i}`, 0);
  await server.requests();
  await withBenchMount(mount, () => timedLs(join(mount.mnt, 'dir'), entries));
  const requests = await server.requests();
  if (!requests.PUT) throw new Error(`the priming mount wrote no index: ${JSON.stringify(requests)}`);
}

async function lsCold(server, round) {
  const nodeArgs = values['mount-prof'] ? ['--cpu-prof', `--cpu-prof-dir=${values['mount-prof']}`] : [];
  const mount = mountOf(server, round, rtt, nodeArgs);
  return withBenchMount(mount, async (child) => {
    await server.requests();
    const before = { server: await server.cpuMs(), mount: cpuSeconds(child.pid), rssMiB: peakRssMiB(child.pid) };
    // The kernel's VmHWM is the peak; sampled too, to show RSS through the listing, not just its top.
    let rssMax = rssMiB(child.pid);
    const sampler = setInterval(() => (rssMax = Math.max(rssMax, rssMiB(child.pid))), 100);
    try {
      const ls = await timedLs(join(mount.mnt, 'dir'), entries);
      const spent = { server: ((await server.cpuMs()) - before.server) / 1000, mount: cpuSeconds(child.pid) - before.mount };
      const requests = await server.requests();
      // As bench-mount's mount.ls_warm: again right after, by when the first names' TTL has run out.
      const warm = await timedLs(join(mount.mnt, 'dir'), entries);
      const rss = { before: before.rssMiB, peak: peakRssMiB(child.pid), sampledMax: rssMax };
      return { seconds: ls.seconds, warmSeconds: warm.seconds, ...spent, rssMiB: rss, requests };
    } finally {
      clearInterval(sampler);
    }
  });
}

const servers = [];
try {
  for (const dist of dists) {
    const server = await startTreeServer(dist);
    servers.push(server);
    await populate(server);
  }
  if (!values['no-index']) for (const [i, server] of servers.entries()) await writeIndex(server, i);
  const results = servers.map(() => []);
  for (let round = 1; round <= rounds; round++) {
    for (const [i, server] of servers.entries()) {
      const r = await lsCold(server, `${round}-${i}`);
      results[i].push(r);
      console.log(`round ${round}  ${server.dist}: ls -l ${r.seconds.toFixed(2)} s (warm right after ${r.warmSeconds.toFixed(2)} s), CPU s: server ${r.server.toFixed(2)}, mount ${r.mount.toFixed(2)}, mount peak RSS ${r.rssMiB.before.toFixed(0)} -> ${r.rssMiB.peak.toFixed(0)} MiB (sampled max ${r.rssMiB.sampledMax.toFixed(0)}), requests ${JSON.stringify(r.requests)}  (load ${loads()})`);
    }
  }
  const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  for (const [i, server] of servers.entries()) {
    const m = (f) => median(results[i].map(f)).toFixed(2);
    console.log(`median  ${server.dist}: ls -l ${m((r) => r.seconds)} s (warm ${m((r) => r.warmSeconds)} s), CPU s: server ${m((r) => r.server)}, mount ${m((r) => r.mount)}; peak RSS max ${Math.max(...results[i].map((r) => r.rssMiB.peak)).toFixed(0)} MiB`);
  }
} finally {
  for (const server of servers) await server.stop();
  rmSync(work, { recursive: true, force: true });
}
