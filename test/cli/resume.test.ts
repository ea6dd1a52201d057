import { type ChildProcess, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type CliWorld, startWorld } from './harness.js';

const MIB = 1024 * 1024;
const PARTS = 12;
let w: CliWorld;
let puts: number;
beforeAll(async () => {
  w = await startWorld();
  // Count the UploadPart requests the server sees for our object (every request passes `take`).
  const take = w.server.faults.take.bind(w.server.faults);
  w.server.faults.take = (method, path) => {
    if (method === 'PUT' && path === '/vault/resume/big.bin') puts++;
    return take(method, path);
  };
});
afterAll(async () => w?.close());

const sha = (b: Buffer): string => createHash('sha256').update(b).digest('hex');
const checkpointDir = (): string => join(w.dir, '..', 'cache', 'ossencfs', 'checkpoints');
const checkpoints = (): { parts: unknown[]; hashes: Record<string, string>; envelope: Record<string, unknown> }[] =>
  existsSync(checkpointDir())
    ? readdirSync(checkpointDir()).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(checkpointDir(), f), 'utf8')))
    : [];

/**
 * Starts a slowed-down put and SIGKILLs it once `atLeast` parts are in the checkpoint and (with
 * `inFlight`) the next part has been read and hashed, so it is on its way to the server.
 */
async function interruptedPut(src: string, atLeast: number, inFlight = false): Promise<number> {
  w.server.faults.addLatency(150, { method: 'PUT', path: '/vault/resume/big.bin' });
  let child: ChildProcess | undefined;
  const run = w.run(['put', src, 'oss://vault/resume/big.bin', ...w.base, '--part-size', '1M', '-j', '1'], { onSpawn: (c) => (child = c) });
  const ready = (): boolean => {
    const cp = checkpoints()[0];
    return cp !== undefined && cp.parts.length >= atLeast && (!inFlight || Object.keys(cp.hashes).length > cp.parts.length);
  };
  while (!ready()) {
    if (child?.exitCode !== null && child?.exitCode !== undefined) throw new Error(`put ended early: ${JSON.stringify(await run)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  child!.kill('SIGKILL');
  await run;
  w.server.faults.clear();
  return checkpoints()[0]!.parts.length;
}

it('an interrupted put resumes, uploading only the missing parts', async () => {
  const data = randomBytes(PARTS * MIB - 7);
  const src = join(w.dir, 'big.bin');
  writeFileSync(src, data);
  const done = await interruptedPut(src, 3);
  expect(done).toBeLessThan(PARTS);
  const cp = checkpoints()[0]!;
  // The checkpoint holds the wrapped key only, and is private.
  expect(Object.keys(cp.hashes).length).toBeGreaterThanOrEqual(done);
  expect(Object.keys(cp.envelope).sort()).toEqual(['cekAlg', 'dataSize', 'format', 'partSize', 'unencryptedContentLength', 'unencryptedContentMd5', 'wrapAlg', 'wrappedIv', 'wrappedKey']);
  expect(statSync(join(checkpointDir(), readdirSync(checkpointDir())[0]!)).mode & 0o777).toBe(0o600);

  puts = 0;
  const again = await w.run(['put', src, 'oss://vault/resume/big.bin', ...w.base, '--part-size', '1M', '-j', '2']);
  expect(again.code).toBe(0);
  expect(again.stderr).toContain(`resuming upload of ${src}: ${done} of ${PARTS} parts already uploaded`);
  expect(puts).toBe(PARTS - done);
  expect(checkpoints()).toEqual([]);
  expect(await w.store.listMultipartUploads('resume/')).toEqual([]);

  const out = join(w.dir, 'big.out');
  expect((await w.run(['get', 'oss://vault/resume/big.bin', out, ...w.base])).code).toBe(0);
  expect(sha(readFileSync(out))).toBe(sha(data));
});

it('a source changed since the interruption starts over with a fresh key', async () => {
  const src = join(w.dir, 'big.bin');
  writeFileSync(src, randomBytes(PARTS * MIB));
  await interruptedPut(src, 2);
  const changed = randomBytes(PARTS * MIB + 1);
  writeFileSync(src, changed);
  puts = 0;
  const again = await w.run(['put', src, 'oss://vault/resume/big.bin', ...w.base, '--part-size', '1M']);
  expect(again.code).toBe(0);
  expect(again.stderr).toContain('changed since the interrupted upload');
  expect(puts).toBe(PARTS + 1);
  expect(await w.store.listMultipartUploads('resume/')).toEqual([]);
  const cat = await w.run(['verify', 'oss://vault/resume/big.bin', ...w.base]);
  expect(cat.code).toBe(0);
});

it('a source changed in place (same size, mtime put back) starts over with a fresh data key, never re-encrypting a part', async () => {
  const src = join(w.dir, 'big.bin');
  const data = randomBytes(PARTS * MIB);
  writeFileSync(src, data);
  const before = statSync(src);
  const reference = join(w.dir, 'big.times');
  execFileSync('touch', ['-r', src, reference]);
  await interruptedPut(src, 2, true);
  const cp = checkpoints()[0]!;
  const oldWrappedKey = cp.envelope.wrappedKey;
  // One byte of the part that was on its way to the server when the process died (as `touch -r` would, the times go back).
  const inFlight = Math.max(...Object.keys(cp.hashes).map(Number));
  expect(inFlight).toBeGreaterThan(cp.parts.length);
  const at = (inFlight - 1) * MIB + 100;
  data[at]! ^= 0xff;
  const fd = openSync(src, 'r+');
  writeSync(fd, data, at, 1, at);
  closeSync(fd);
  execFileSync('touch', ['-r', reference, src]);
  expect(statSync(src).mtimeMs).toBe(before.mtimeMs);

  const again = await w.run(['put', src, 'oss://vault/resume/big.bin', ...w.base, '--part-size', '1M']);
  expect(again.code).toBe(0);
  expect(again.stderr).toContain('changed since the interrupted upload');
  const head = await w.store.head('resume/big.bin');
  expect(head.meta['client-side-encryption-key']).not.toBe(oldWrappedKey);
  expect(await w.store.listMultipartUploads('resume/')).toEqual([]);
  const out = join(w.dir, 'big.out');
  expect((await w.run(['get', 'oss://vault/resume/big.bin', out, ...w.base])).code).toBe(0);
  expect(sha(readFileSync(out))).toBe(sha(data));
});
