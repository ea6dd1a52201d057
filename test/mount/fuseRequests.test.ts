import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { mountedSuite, sh } from '../support/mounted.js';

const MiB = 1024 * 1024;
/** A FUSE reply's header, and a WRITE request's header plus its fuse_write_in, in bytes. */
const REPLY_HEADER = 16;
const WRITE_HEADER = 80;

/**
 * strace of every thread of `pid`: its reads and writevs on /dev/fuse. One file per thread (-ff),
 * so no call is split into "unfinished" and "resumed" lines by another thread's.
 */
async function traceFuseDevice(pid: number, dir: string): Promise<{ stop(): Promise<string[]> }> {
  mkdirSync(dir);
  const tracer: ChildProcess = spawn('strace', ['-ff', '-y', '-e', 'trace=read,writev', '-e', 'signal=none', '-o', join(dir, 't'), '-p', String(pid)], {
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  tracer.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  const deadline = Date.now() + 10_000;
  while (!err.includes('attached')) {
    if (tracer.exitCode !== null || Date.now() > deadline) throw new Error(`strace did not attach: ${err}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    async stop() {
      const exited = new Promise((r) => tracer.once('exit', r));
      tracer.kill('SIGINT');
      await exited;
      return readdirSync(dir)
        .flatMap((f) => readFileSync(join(dir, f), 'utf8').split('\n'))
        .filter((l) => l.includes('</dev/fuse>'));
    },
  };
}

/** The byte counts the traced calls of `name` returned. */
const returned = (lines: string[], name: string): number[] =>
  lines.filter((l) => new RegExp(`\\b${name}\\(`).test(l)).map((l) => Number(/= (\d+)$/.exec(l)?.[1] ?? -1));

/**
 * libfuse2 alone caps FUSE requests at 128 KiB; our patched fuse-native asks the kernel for 1 MiB
 * (native/fuse-native/large_requests.c), and the mount sets its read-ahead to match. Seen from
 * outside: the mount process's own reads and writes on /dev/fuse.
 */
describe('mount: FUSE requests of 1 MiB', () => {
  const suite = mountedSuite();

  it('dd bs=1M in and out moves 1 MiB per request, and the content is exact', async () => {
    const { local, m } = suite;
    const src = join(local.dir, 'src.bin');
    const data = randomBytes(8 * MiB);
    writeFileSync(src, data);
    const file = join(m.mountpoint, 'big.bin');
    expect(sh(`cat /sys/class/bdi/$(mountpoint -d ${m.mountpoint})/read_ahead_kb`).trim()).toBe('1024');

    const trace = await traceFuseDevice(m.process.pid!, join(local.dir, 'strace'));
    sh(`dd if=${src} of=${file} bs=1M status=none`);
    // Clean pages of the file leave the page cache, so the read below goes through FUSE.
    sh(`dd if=${file} iflag=nocache count=0 status=none`);
    sh(`dd if=${file} of=${join(local.dir, 'back.bin')} bs=1M status=none`);
    const lines = await trace.stop();

    expect(readFileSync(join(local.dir, 'back.bin')).equals(data)).toBe(true);
    // WRITE requests the mount read from the kernel, and READ replies it wrote back.
    expect(returned(lines, 'read').filter((n) => n === WRITE_HEADER + MiB).length).toBeGreaterThanOrEqual(4);
    expect(returned(lines, 'writev').filter((n) => n === REPLY_HEADER + MiB).length).toBeGreaterThanOrEqual(4);
    expect(Math.max(...returned(lines, 'read'), ...returned(lines, 'writev'))).toBeLessThanOrEqual(WRITE_HEADER + MiB);
  });

  it('stat gives 1 MiB as the I/O size, so cp writes into the mount 1 MiB at a time', () => {
    const { local, m } = suite;
    const src = join(local.dir, 'cp-src.bin');
    const data = randomBytes(4 * MiB);
    writeFileSync(src, data);
    const dest = join(m.mountpoint, 'copied.bin');
    writeFileSync(dest, 'x');
    expect(sh(`stat -c %o ${dest}`).trim()).toBe(String(MiB));

    const out = join(local.dir, 'cp.strace');
    sh(`strace -y -e trace=write -o ${out} cp ${src} ${dest}`);
    const writes = readFileSync(out, 'utf8').split('\n').filter((l) => l.includes(`<${dest}>`));
    expect(returned(writes, 'write')).toEqual([MiB, MiB, MiB, MiB]);
    expect(readFileSync(dest).equals(data)).toBe(true);
  });
});
