#!/usr/bin/env node
// The nightly backup's commonest run: `rsync -a` of a tree that is already in the bucket, onto a
// freshly mounted bucket (the mount knows nothing yet), so nothing is sent and every file is only
// compared. The tree is uploaded with `ossencfs put -r` of the build under test (`--populate
// library`: one PutObject per file through this checkout's library, as another SDK client would,
// so no directory has an index until a mount writes one), each round mounts, runs `rsync -a --dry-run --stats` and unmounts, alternating the builds
// given (--dist, the compiled tree the mount runs from) and the round trips (--rtt, through
// ./delayRelay.mjs). A round that would send anything fails: a compare cut short must not pass as fast.
//
//   npx tsc -p . && node scripts/bench/rsync-noop.mjs [--dist DIR]... [--files 2000] [--dirs 1]
//       [--rtt 0,30] [--rounds 2] [--mount-args="--attr-ttl 60"] [--populate cli|library] [--keep]
//       [--change]  (another client then rewrites one object, same size, newer mtime: each round
//                    must send exactly that file)
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { benchBucket, benchKey, encodePosixMeta, withBenchMount } from './benchBucket.mjs';
import { BENCH_KEYS, startTreeServer } from './tree-server.mjs';
import { LOCAL_REGION, peakRssMiB, timedSpawn } from './util.mjs';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));
const BUCKET = 'bench';

const { values } = parseArgs({
  options: {
    dist: { type: 'string', multiple: true },
    files: { type: 'string', default: '2000' },
    dirs: { type: 'string', default: '1' },
    rtt: { type: 'string', default: '0,30' },
    rounds: { type: 'string', default: '2' },
    'mount-args': { type: 'string', default: '' },
    populate: { type: 'string', default: 'cli' },
    keep: { type: 'boolean', default: false },
    change: { type: 'boolean', default: false },
  },
});
const dists = (values.dist ?? [join(ROOT, 'dist')]).map((d) => resolve(d));
const files = Number(values.files);
const dirs = Number(values.dirs);
const rtts = values.rtt.split(',').map(Number);
const rounds = Number(values.rounds);
const work = mkdtempSync(join(tmpdir(), 'ossencfs-rsync-noop-'));
const source = join(work, 'tree');
const { keyPem, keyFile } = benchKey(work);
const loads = () => loadavg().map((l) => l.toFixed(2)).join(' ');

/** The tree both sides hold: `files` small files spread over `dirs` directories, mtimes in the past. */
const tree = Array.from({ length: files }, (_, i) => ({
  path: `d${String(i % dirs).padStart(3, '0')}/f${String(i).padStart(6, '0')}`,
  body: randomBytes(256 + (i % 7) * 100),
  mtimeS: 1_700_000_000 + i,
}));

function writeSource() {
  for (const f of tree) {
    mkdirSync(join(source, f.path, '..'), { recursive: true });
    writeFileSync(join(source, f.path), f.body, { mode: 0o644 });
    utimesSync(join(source, f.path), f.mtimeS, f.mtimeS);
  }
}

/** The object --change rewrites after the upload, as another client would. */
const changed = tree[Math.floor(files / 2)];

async function populate(server) {
  const bucket = await benchBucket(server.url, BUCKET, keyPem);
  await upload(server, bucket);
  if (values.change) {
    await bucket.put(`tree/${changed.path}`, changed.body, { meta: encodePosixMeta({ mode: 0o100644, uid: process.getuid(), gid: process.getgid(), mtime: changed.mtimeS + 3600 }) });
  }
}

async function upload(server, bucket) {
  if (values.populate === 'cli') {
    const bin = join(server.dist, '..', 'bin/ossencfs.js');
    const put = await timedSpawn(process.execPath, [bin, 'put', '-r', '-q', '-j', '32', source, `oss://${BUCKET}/`, '--endpoint', server.url, '--rsa-key', keyFile], { env: { ...process.env, OSS_ACCESS_KEY_ID: BENCH_KEYS.accessKeyId, OSS_ACCESS_KEY_SECRET: BENCH_KEYS.accessKeySecret, OSS_REGION: LOCAL_REGION } });
    if (put.code !== 0) throw new Error(`put -r exited ${put.code}: ${put.stderr}`);
    return;
  }
  let next = 0;
  await Promise.all(Array.from({ length: 32 }, async () => {
    while (next < tree.length) {
      const f = tree[next++];
      const meta = encodePosixMeta({ mode: 0o100644, uid: process.getuid(), gid: process.getgid(), mtime: f.mtimeS });
      await bucket.put(`tree/${f.path}`, f.body, { meta });
    }
  }));
}

async function rsyncNoop(server, rtt, round) {
  const mnt = join(work, `mnt-${round}`);
  const mount = { bin: join(server.dist, '..', 'bin/ossencfs.js'), url: server.url, rtt, source: `oss://${BUCKET}`, mnt, keyFile, work, round, args: values['mount-args'].split(' ').filter(Boolean) };
  return withBenchMount(mount, async (child) => {
    await server.requests();
    const run = await timedSpawn('rsync', ['-a', '--dry-run', '--stats', '--out-format=%i %n', `${source}/`, `${join(mnt, 'tree')}/`]);
    const sent = run.stdout.split('\n').filter((line) => line.startsWith('>f')).map((line) => line.slice(line.indexOf(' ') + 1));
    const expected = values.change ? [changed.path] : [];
    if (run.code !== 0 || sent.join() !== expected.join()) throw new Error(`rsync exited ${run.code}, would send ${JSON.stringify(sent)}, not ${JSON.stringify(expected)}: ${run.stderr}`);
    return { seconds: run.seconds, requests: await server.requests(), peakRssMiB: peakRssMiB(child.pid) };
  });
}

// Each build gets its own server, populated alike: one build's reads never warm the other's.
const servers = [];
try {
  writeSource();
  for (const dist of dists) {
    const server = await startTreeServer(dist);
    servers.push(server);
    await populate(server);
  }
  console.log(`no-op rsync -a of ${files} files in ${dirs} directories onto a fresh mount, ${rounds} rounds, load ${loads()}`);
  const results = new Map();
  for (let round = 1; round <= rounds; round++) {
    for (const rtt of rtts) {
      for (const [i, server] of servers.entries()) {
        const r = await rsyncNoop(server, rtt, `${round}-${rtt}-${i}`);
        const key = `${rtt}|${server.dist}`;
        results.set(key, [...(results.get(key) ?? []), r.seconds]);
        console.log(`round ${round}  ${rtt} ms  ${server.dist}: ${r.seconds.toFixed(2)} s, mount peak RSS ${r.peakRssMiB} MiB, requests ${JSON.stringify(r.requests)}  (load ${loads()})`);
      }
    }
  }
  for (const [key, seconds] of results) {
    const [rtt, dist] = key.split('|');
    console.log(`best  ${rtt} ms  ${dist}: ${Math.min(...seconds).toFixed(2)} s`);
  }
} finally {
  for (const server of servers) await server.stop();
  if (values.keep) console.log(`kept ${work} (mount logs: mount.log)`);
  else rmSync(work, { recursive: true, force: true });
}
