import type { ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
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
const checkpoints = (): { parts: unknown[]; envelope: Record<string, unknown> }[] =>
  existsSync(checkpointDir())
    ? readdirSync(checkpointDir()).filter((f) => f.endsWith('.json')).map((f) => JSON.parse(readFileSync(join(checkpointDir(), f), 'utf8')))
    : [];

/** Starts a slowed-down put and SIGKILLs it once `atLeast` parts are in the checkpoint. */
async function interruptedPut(src: string, atLeast: number): Promise<number> {
  w.server.faults.addLatency(150, { method: 'PUT', path: '/vault/resume/big.bin' });
  let child: ChildProcess | undefined;
  const run = w.run(['put', src, 'oss://vault/resume/big.bin', ...w.base, '--part-size', '1M', '-j', '1'], { onSpawn: (c) => (child = c) });
  while (!(checkpoints()[0]?.parts.length! >= atLeast)) {
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
