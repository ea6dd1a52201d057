// Small helpers for scripts/bench-mount.mjs: processes, timing, statistics, formatting.
import { spawn, spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { randomBytes } from 'node:crypto';

/** What clients of the local server sign with: V4, scoped to a region (the server takes any). */
export const LOCAL_REGION = 'cn-hangzhou';
export const LOCAL_V4 = { region: `oss-${LOCAL_REGION}`, authorizationV4: true };

export const KiB = 1024;
export const MiB = 1024 * KiB;

/** Runs a command to completion; returns its wall time in seconds and its output. Throws on failure. */
export function timed(cmd, args, options = {}) {
  const t0 = process.hrtime.bigint();
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 256 * MiB, ...options });
  const seconds = Number(process.hrtime.bigint() - t0) / 1e9;
  if (r.error) throw r.error;
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')} exited ${r.status ?? r.signal}: ${(r.stderr ?? '').slice(0, 2000)}`);
  return { seconds, stdout: r.stdout ?? '', stderr: r.stderr ?? '' };
}

/**
 * timed() without blocking this process: what an in-process relay (./delayRelay.mjs) must keep
 * forwarding while the command runs. Resolves with its exit code; does not throw on failure.
 */
export function timedSpawn(cmd, args, options = {}) {
  const started = process.hrtime.bigint();
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr += d));
  return new Promise((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code) => resolve({ code, stdout, stderr, seconds: Number(process.hrtime.bigint() - started) / 1e9 }));
  });
}

export async function timedAsync(fn) {
  const t0 = process.hrtime.bigint();
  const value = await fn();
  return { seconds: Number(process.hrtime.bigint() - t0) / 1e9, value };
}

export const mbps = (bytes, seconds) => bytes / 1e6 / seconds;

export function percentile(values, p) {
  const sorted = [...values].sort((a, b) => a - b);
  if (sorted.length === 0) return NaN;
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[i];
}

/** `size` bytes as a stream of 1 MiB chunks cut from one random block, each chunk a fresh Buffer. */
export function generated(size, chunk = MiB) {
  const block = randomBytes(chunk + 4096);
  let sent = 0;
  let i = 0;
  return new Readable({
    read() {
      if (sent >= size) return this.push(null);
      const n = Math.min(chunk, size - sent);
      const skew = (i++ * 97) % 4096;
      this.push(Buffer.from(block.subarray(skew, skew + n)));
      sent += n;
    },
  });
}

export async function drain(stream, expected) {
  let n = 0;
  for await (const chunk of stream) n += chunk.length;
  if (expected !== undefined && n !== expected) throw new Error(`read ${n} bytes, expected ${expected}`);
  return n;
}

const CLK_TCK = Number(timed('getconf', ['CLK_TCK']).stdout.trim()) || 100;

/** utime and stime of a process, all threads, in seconds (/proc/PID/stat fields 14 and 15). */
export function cpuTimes(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return { user: Number(fields[11]) / CLK_TCK, sys: Number(fields[12]) / CLK_TCK };
}

/** Peak resident set of a live process, in MiB (VmHWM). */
export function peakRssMiB(pid) {
  const m = /VmHWM:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

export function isMounted(path) {
  const escaped = path.replace(/[ \t\n\\]/g, (c) => `\\${c.charCodeAt(0).toString(8).padStart(3, '0')}`);
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .some((line) => line.split(' ')[4] === escaped);
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Times `ls -l DIR` and checks it showed `expected` regular files (a listing cut short must not pass as fast). */
export async function timedLs(dir, expected) {
  const ls = await timedSpawn('ls', ['-l', dir]);
  if (ls.code !== 0) throw new Error(`ls -l ${dir} exited ${ls.code}: ${ls.stderr.slice(0, 2000)}`);
  const files = ls.stdout.split('\n').filter((l) => l.startsWith('-')).length;
  if (files !== expected) throw new Error(`ls -l ${dir} showed ${files} files, expected ${expected}`);
  return ls;
}

/** Unmounts with fusermount -u, retrying while busy; lazily as a last resort. */
export async function fusermountU(path) {
  for (let i = 0; i < 20 && isMounted(path); i++) {
    const r = spawnSync('fusermount', ['-u', path], { encoding: 'utf8' });
    if (r.status === 0) return;
    await sleep(250);
  }
  if (isMounted(path)) spawnSync('fusermount', ['-u', '-z', path]);
}

/** fusermountU() without blocking this process (a relay it runs may have to forward the unmount's uploads). */
export async function unmountAsync(path) {
  for (let i = 0; i < 20 && isMounted(path); i++) {
    if ((await timedSpawn('fusermount', ['-u', path])).code === 0) return;
    await sleep(250);
  }
  if (isMounted(path)) await timedSpawn('fusermount', ['-u', '-z', path]);
}

/** Spawns a child and resolves once `pattern` shows on its stdout or stderr. */
export function spawnUntil(cmd, args, pattern, options = {}, timeoutMs = 30_000) {
  const child = spawn(cmd, args, { stdio: ['ignore', 'pipe', 'pipe'], ...options });
  let output = '';
  const exited = new Promise((resolve) => child.once('exit', (code, signal) => resolve(code ?? signal)));
  const ready = new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`${cmd} ${args.join(' ')}: not ready after ${timeoutMs} ms: ${output}`)), timeoutMs);
    const onData = (d) => {
      output += d.toString();
      const m = pattern.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m);
      }
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`${cmd} ${args.join(' ')} exited ${code}: ${output}`));
    });
  });
  return { child, ready, exited, output: () => output };
}

export function which(cmd) {
  const r = spawnSync('bash', ['-c', `command -v ${cmd}`], { encoding: 'utf8' });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** A shuffled copy (Fisher–Yates) using Math.random. */
export function shuffle(values) {
  const a = [...values];
  for (let i = a.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [a[i], a[j]] = [a[j], a[i]];
  }
  return a;
}

export function fmt(value, unit) {
  if (!Number.isFinite(value)) return String(value);
  const abs = Math.abs(value);
  // A count that is a fraction (GETs per read) keeps three decimals: 1.005 is not 1.
  const digits = abs >= 100 ? 0 : abs >= 10 ? 1 : abs >= 1 ? (unit === 'GETs' ? 3 : 2) : 3;
  return `${value.toFixed(digits)} ${unit}`;
}

/**
 * Applies to this process the allocator settings every ossencfs command starts with
 * (src/util/allocator.ts), so what a bench measures in-process — ceilings, plain ali-oss, the
 * library, the server — runs as the product does. Returns the line saying which settings hold.
 */
export async function tuneLikeOssencfs(dist = new URL('../../dist/', import.meta.url)) {
  const { tuneAllocator, describeTuning } = await import(new URL('util/allocator.js', dist).href);
  return describeTuning(tuneAllocator());
}
