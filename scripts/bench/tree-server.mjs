#!/usr/bin/env node
// The local OSS server loaded from a given compiled tree, in a child process of its own, so two
// builds can be compared in one sitting and the server's CPU time is its own.
//
//   import { startTreeServer, BENCH_KEYS } from './tree-server.mjs';
//   const s = await startTreeServer('dist/', { profile: '/tmp/server.cpuprofile' });
//   s.url; await s.cpuMs(); await s.requests(); await s.log(); await s.profile('start'|'stop'); await s.stop();
//
// Run as a script (by startTreeServer only): tree-server.mjs DIST DIR [PROFILE_FILE].
import { fork } from 'node:child_process';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { Session } from 'node:inspector/promises';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

export const BENCH_KEYS = { accessKeyId: 'bench', accessKeySecret: 'bench-secret' };

/**
 * Starts the server of compiled tree `dist` on a fresh directory, or on `dir` (kept at stop);
 * resolves once it listens.
 */
export async function startTreeServer(dist, { profile = '', dir: given } = {}) {
  const dir = given ?? (await mkdtemp(join(tmpdir(), 'ossencfs-tree-server-')));
  const child = fork(fileURLToPath(import.meta.url), [dist, dir, profile], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise((r) => child.once('exit', r));
  const reply = () =>
    new Promise((resolveReply, reject) => {
      child.once('message', resolveReply);
      exited.then((code) => reject(new Error(`server child exited ${code}`)));
    });
  const ask = async (cmd) => {
    const answer = reply();
    child.send(cmd);
    return answer;
  };
  const { url } = await reply();
  return {
    dist,
    url,
    pid: child.pid,
    /** CPU time of the server process so far (all threads), ms. */
    cpuMs: async () => (await ask('cpu')).cpuUs / 1000,
    /** Requests by method since the last call (or log()). */
    requests: async () => (await ask('requests')).counts,
    /** Each request since the last call (or requests()), as "METHOD /path?query". */
    log: async () => (await ask('log')).log,
    /** Starts or stops (and writes) the CPU profile named at start. */
    profile: async (what) => void (await ask(`profile-${what}`)),
    stop: async () => {
      child.send('stop');
      await exited;
      if (!given) await rm(dir, { recursive: true, force: true });
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const [dist, dir, profile] = process.argv.slice(2);
  const { startServer } = await import(new URL('server/index.js', pathToFileURL(`${resolve(dist)}/`)).href);
  // V1 too: an older build compared side by side (--dist) signs V1.
  const server = await startServer({ dir, credentials: [BENCH_KEYS], signatures: 'any' });
  const inspector = new Session();
  inspector.connect();
  process.on('message', async (m) => {
    if (m === 'profile-start') {
      await inspector.post('Profiler.enable');
      await inspector.post('Profiler.start');
      process.send({ ok: true });
    } else if (m === 'profile-stop') {
      const { profile: data } = await inspector.post('Profiler.stop');
      await mkdir(dirname(profile), { recursive: true });
      await writeFile(profile, JSON.stringify(data));
      process.send({ ok: true });
    } else if (m === 'requests') {
      const counts = {};
      for (const r of server.faults.requests()) counts[r.method] = (counts[r.method] ?? 0) + 1;
      server.faults.resetRequests();
      process.send({ counts });
    } else if (m === 'log') {
      const log = server.faults.requests().map((r) => `${r.method} ${decodeURIComponent(r.path)}${r.query ? `?${decodeURIComponent(r.query)}` : ''}`);
      server.faults.resetRequests();
      process.send({ log });
    } else if (m === 'cpu') {
      const { user, system } = process.cpuUsage();
      process.send({ cpuUs: user + system });
    } else if (m === 'stop') {
      void server.stop().finally(() => process.exit(0));
    }
  });
  // The bench that started it is gone (killed, say): so is its server.
  process.on('disconnect', () => void server.stop().finally(() => process.exit(0)));
  process.send({ url: server.url });
}
