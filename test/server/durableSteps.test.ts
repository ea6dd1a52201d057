import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
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

  describe('replaceSynced: a new file in the spare directory, synced and renamed over the target', () => {
    const spareDir = join(dir, 'spare');
    mkdirSync(spareDir);
    /** What the spare directory holds: only empty files made ahead, never a written one. */
    const leftovers = (): number[] => readdirSync(spareDir).map((name) => statSync(join(spareDir, name)).size);

    it('replaces the target whole, mode 0600, again and again', async () => {
      const target = join(dir, 'replaced');
      for (const text of ['first', 'second', 'third']) {
        await runDurably([{ op: 'replaceSynced', path: target, data: Buffer.from(text), spareDir }]);
        expect(readFileSync(target, 'utf8')).toBe(text);
      }
      expect(statSync(target).mode & 0o777).toBe(0o600);
      expect(leftovers().every((size) => size === 0)).toBe(true);
    });

    it('still works when the files it made ahead were removed (a server restarted on the same directory)', async () => {
      await runDurably([{ op: 'replaceSynced', path: join(dir, 'before'), data: 'x', spareDir }]);
      rmSync(spareDir, { recursive: true, force: true });
      mkdirSync(spareDir);
      const target = join(dir, 'after-restart');
      await runDurably([{ op: 'replaceSynced', path: target, data: 'still written', spareDir }]);
      expect(readFileSync(target, 'utf8')).toBe('still written');
    });

    it('on failure rejects with the fs error and leaves nothing written behind', async () => {
      const err = await runDurably([{ op: 'replaceSynced', path: join(dir, 'no-such-dir', 'f'), data: 'lost', spareDir }]).catch((e: unknown) => e as NodeJS.ErrnoException);
      expect(err).toMatchObject({ code: 'ENOENT', syscall: 'rename' });
      expect(leftovers().every((size) => size === 0)).toBe(true);
    });
  });
});
