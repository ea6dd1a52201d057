import { type ChildProcess, spawn } from 'node:child_process';
import { chmodSync, chownSync, copyFileSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { BIN, type CliWorld, startWorld } from './harness.js';

let w: CliWorld;
let scratch: string;
// A process that is not dumpable has its /proc/PID files (not the directory) owned by root: visible only from another uid,
// so as root the command runs as nobody.
const uid = process.getuid!() === 0 ? 65534 : process.getuid!();
const gid = process.getuid!() === 0 ? 65534 : process.getgid!();

beforeAll(async () => {
  w = await startWorld();
  scratch = mkdtempSync(join(tmpdir(), 'ossencfs-harden-'));
  chmodSync(scratch, 0o755);
  for (const dir of ['home', 'cache', 'data']) {
    mkdirSync(join(scratch, dir), { mode: 0o700 });
    chownSync(join(scratch, dir), uid, gid);
  }
  copyFileSync(`${w.keyA}.pub`, join(scratch, 'key.pub'));
  chmodSync(join(scratch, 'key.pub'), 0o644);
});
afterAll(async () => {
  rmSync(scratch, { recursive: true, force: true });
  await w?.close();
});

/** Starts the CLI as `uid` and resolves once it has printed `ready` (or, without one, once it runs). */
async function started(args: string[], ready?: RegExp): Promise<ChildProcess> {
  const env = { ...w.env, HOME: join(scratch, 'home'), XDG_CACHE_HOME: join(scratch, 'cache'), XDG_CONFIG_HOME: join(scratch, 'home') };
  const child = spawn(process.execPath, [BIN, ...args], { env, cwd: scratch, uid, gid, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const check = (): void => {
      if (child.exitCode !== null) reject(new Error(`ended early: ${out}`));
      else if (!ready || ready.test(out)) resolve();
      else setTimeout(check, 20);
    };
    check();
  });
  return child;
}

const coreLimit = (pid: number): string => /^Max core file size\s+(\S+)\s+(\S+)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'))!.slice(1, 3).join(' ');

/** Until the process has gone past main()'s start: its limits say so, or it never will. */
async function settled(pid: number): Promise<void> {
  for (let i = 0; i < 100 && coreLimit(pid) !== '0 0'; i++) await new Promise((r) => setTimeout(r, 50));
}

describe('no core dumps, not dumpable (native/no-core-dump)', () => {
  it('the server: core limit 0 soft and hard, /proc/PID/environ owned by root as for any non-dumpable process', async () => {
    const server = await started(['server', '--dir', join(scratch, 'data')], /listening on/);
    try {
      expect(coreLimit(server.pid!)).toBe('0 0');
      expect(statSync(`/proc/${server.pid}/environ`).uid).toBe(0);
    } finally {
      server.kill('SIGTERM');
    }
  });

  it('a command that loads a key (put - waiting on its standard input)', async () => {
    const put = await started(['put', '-', 'oss://vault/hardened.txt', '--endpoint', w.server.url, '--rsa-public-key', join(scratch, 'key.pub')]);
    await settled(put.pid!);
    expect(coreLimit(put.pid!)).toBe('0 0');
    expect(statSync(`/proc/${put.pid}/environ`).uid).toBe(0);
    put.stdin!.end('hardened\n');
    const code = await new Promise((done) => put.on('close', done));
    expect(code).toBe(0);
  });
});
