import { existsSync, mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runDurably } from '../../src/server/storage/durableSteps.js';

// The steps' order on disk is checked by durability.test.ts (strace); this checks what callers see.
describe('durable steps in a worker thread', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ossencfs-steps-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs a batch in order: a file written 0600, renamed into a new directory', async () => {
    const tmp = join(dir, 'tmp-file');
    const target = join(dir, 'a', 'b', 'file');
    await runDurably([
      { op: 'mkdirDurable', dir: join(dir, 'a', 'b') },
      { op: 'writeSynced', path: tmp, data: Buffer.from('bytes') },
      { op: 'rename', from: tmp, to: target },
      { op: 'syncDir', dir: join(dir, 'a', 'b') },
    ]);
    expect(readFileSync(target, 'utf8')).toBe('bytes');
    expect(statSync(target).mode & 0o777).toBe(0o600);
    expect(existsSync(tmp)).toBe(false);
  });

  it('stops at the first failing step and rejects with its fs error code and path', async () => {
    const missing = join(dir, 'missing');
    const after = join(dir, 'after');
    const err = await runDurably([
      { op: 'rename', from: missing, to: join(dir, 'x') },
      { op: 'writeSynced', path: after, data: 'not written' },
    ]).catch((e: unknown) => e as NodeJS.ErrnoException);
    expect(err).toBeInstanceOf(Error);
    expect(err).toMatchObject({ code: 'ENOENT', syscall: 'rename', path: missing });
    expect(existsSync(after)).toBe(false);
  });

  it('runs many batches at once, each to its own end', async () => {
    await Promise.all(Array.from({ length: 50 }, (_, i) => runDurably([{ op: 'writeSynced', path: join(dir, `many-${i}`), data: String(i) }])));
    for (let i = 0; i < 50; i++) expect(readFileSync(join(dir, `many-${i}`), 'utf8')).toBe(String(i));
  });
});
