import { appendFileSync, closeSync, mkdirSync, openSync, renameSync, rmdirSync, statSync, type Stats, symlinkSync, truncateSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodePosixMeta } from '../../src/secure/index.js';
import { sleep, until } from '../reliability/support.js';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { type Mounted, mountBucket, sh, UPLOAD_AT_CLOSE } from '../support/mounted.js';
import { resetSeen, seen } from '../support/serverAdmin.js';

/** Long enough that the clock has moved between two steps (times are kept to the millisecond). */
const STEP_MS = 20;

/** Times as Linux moves them: ctime on every change of a file, a directory's mtime and ctime on every change of its entries. */
describe('mount: times', () => {
  let local: LocalBucket;
  let m: Mounted;
  const PREFIX = 'home';
  const mount = (): Promise<Mounted> => mountBucket(local, { prefix: PREFIX, args: UPLOAD_AT_CLOSE });

  beforeAll(async () => {
    local = await startLocalBucket();
    m = await mount();
  });

  afterAll(async () => {
    await m?.unmount();
    await local?.close();
  });

  /** Runs `step` after a pause and returns the stat of `path()` before and after it. */
  async function around(path: () => string, step: () => void): Promise<[Stats, Stats]> {
    const before = statSync(path());
    await sleep(STEP_MS);
    step();
    return [before, statSync(path())];
  }

  it('ctime moves on chmod, chown, utimens, rename, truncate and write; mtime only on truncate and write', async () => {
    let path = join(m.mountpoint, 'file');
    writeFileSync(path, 'hello');
    const changes: [string, () => void, boolean][] = [
      ['chmod', () => sh(`chmod 600 ${path}`), false],
      ['chown', () => sh(`chown 1000:1000 ${path}`), false],
      ['utimens of the atime', () => sh(`touch -a -d '2001-01-01 00:00:00' ${path}`), false],
      ['rename', () => renameSync(path, (path = join(m.mountpoint, 'renamed'))), false],
      ['truncate', () => truncateSync(path, 2), true],
      ['open with O_TRUNC', () => closeSync(openSync(path, 'w')), true],
      ['write', () => appendFileSync(path, 'more'), true],
    ];
    for (const [what, step, movesMtime] of changes) {
      const [before, after] = await around(() => path, step);
      expect(after.ctimeMs, what).toBeGreaterThan(before.ctimeMs);
      if (movesMtime) expect(after.mtimeMs, what).toBeGreaterThan(before.mtimeMs);
      else expect(after.mtimeMs, what).toBe(before.mtimeMs);
    }
  });

  it('touch -a alone keeps the mtime, touch -m alone keeps the atime', async () => {
    const path = join(m.mountpoint, 'touched');
    writeFileSync(path, 'x');
    sh(`touch -d '2001-02-03 04:05:06' ${path}`);
    sh(`touch -a -d '2002-02-02 02:02:02' ${path}`);
    let st = statSync(path);
    expect(st.atime.toISOString()).toBe(new Date('2002-02-02T02:02:02').toISOString());
    expect(st.mtime.toISOString()).toBe(new Date('2001-02-03T04:05:06').toISOString());
    sh(`touch -m -d '2003-03-03 03:03:03' ${path}`);
    st = statSync(path);
    expect(st.atime.toISOString()).toBe(new Date('2002-02-02T02:02:02').toISOString());
    expect(st.mtime.toISOString()).toBe(new Date('2003-03-03T03:03:03').toISOString());
    // UTIME_NOW for one time alone.
    const before = Date.now();
    await sleep(STEP_MS);
    sh(`touch -m ${path}`);
    st = statSync(path);
    expect(st.mtimeMs).toBeGreaterThan(before);
    expect(st.atime.toISOString()).toBe(new Date('2002-02-02T02:02:02').toISOString());
  });

  it("a directory's mtime and ctime move when an entry is made, removed or renamed in it; the directory's own stat stays otherwise", async () => {
    const dir = join(m.mountpoint, 'd');
    const other = join(m.mountpoint, 'd2');
    mkdirSync(dir);
    mkdirSync(other);
    const steps: [string, () => void, string[]][] = [
      ['create', () => writeFileSync(join(dir, 'a'), 'a'), [dir]],
      ['mkdir', () => mkdirSync(join(dir, 'sub')), [dir]],
      ['symlink', () => symlinkSync('a', join(dir, 'ln')), [dir]],
      ['mkfifo', () => sh(`mkfifo ${dir}/fifo`), [dir]],
      ['rename within', () => renameSync(join(dir, 'a'), join(dir, 'b')), [dir]],
      ['rename out of it', () => renameSync(join(dir, 'b'), join(other, 'b')), [dir, other]],
      ['unlink', () => unlinkSync(join(dir, 'ln')), [dir]],
      ['rmdir', () => rmdirSync(join(dir, 'sub')), [dir]],
    ];
    for (const [what, step, changed] of steps) {
      const before = changed.map((d) => statSync(d));
      await sleep(STEP_MS);
      step();
      changed.forEach((d, i) => {
        const after = statSync(d);
        expect(after.mtimeMs, `${what}: ${d}`).toBeGreaterThan(before[i]!.mtimeMs);
        expect(after.ctimeMs, `${what}: ${d}`).toBeGreaterThan(before[i]!.ctimeMs);
      });
    }
    // Writing to a file in it is no change of its entries.
    const [before, after] = await around(() => dir, () => appendFileSync(join(other, 'b'), 'more'));
    expect(after.mtimeMs).toBe(before.mtimeMs);
  });

  it("a directory's moved times cost no request: filling one with a marker is one PUT per file", async () => {
    const dir = join(m.mountpoint, 'filled');
    mkdirSync(dir);
    statSync(dir);
    await resetSeen(local);
    for (let i = 0; i < 10; i++) writeFileSync(join(dir, `f${i}`), String(i));
    const requests = await seen(local);
    expect(requests.filter((r) => r.method === 'PUT')).toHaveLength(10);
    expect(requests.filter((r) => r.path.endsWith('/filled/'))).toEqual([]);
  });

  it('a remount shows the ctime a change stored, a directory the times its marker holds, a renamed file the ctime it had before the rename', async () => {
    const file = join(m.mountpoint, 'kept');
    writeFileSync(file, 'x');
    await sleep(STEP_MS);
    sh(`chmod 640 ${file}`);
    const changed = statSync(file);
    // The chmod is written within a few seconds, with its ctime.
    await until('the chmod lands', async () => decodePosixMeta((await local.store.head(`${PREFIX}/kept`)).meta).mode === 0o100640);

    const dir = join(m.mountpoint, 'kept-dir');
    mkdirSync(dir);
    const made = statSync(dir);
    await sleep(STEP_MS);
    writeFileSync(join(dir, 'entry'), 'e');
    expect(statSync(dir).mtimeMs).toBeGreaterThan(made.mtimeMs);

    const moved = join(m.mountpoint, 'moved');
    writeFileSync(moved, 'm');
    const beforeRename = statSync(moved);
    await sleep(STEP_MS);
    renameSync(moved, join(m.mountpoint, 'moved-to'));
    expect(statSync(join(m.mountpoint, 'moved-to')).ctimeMs).toBeGreaterThan(beforeRename.ctimeMs);

    await m.unmount();
    m = await mount();
    const again = statSync(file);
    expect(again.ctimeMs).toBe(changed.ctimeMs);
    expect(again.mtimeMs).toBe(changed.mtimeMs);
    expect(statSync(dir).mtimeMs).toBe(made.mtimeMs);
    expect(statSync(join(m.mountpoint, 'moved-to')).ctimeMs).toBe(beforeRename.ctimeMs);
  });
});
