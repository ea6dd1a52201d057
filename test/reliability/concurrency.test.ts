import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { EncryptedBucket } from '../../src/secure/index.js';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { type Mounted, mountBucket, sh } from '../support/mounted.js';
import { encryptedBucket, plaintextOf, sha256, shAsync, sleep } from './support.js';

const MiB = 1024 * 1024;

/** Many processes on one mount, and two mounts on one bucket. */
describe('reliability: concurrency', () => {
  let local: LocalBucket;
  let m: Mounted;
  let bucket: EncryptedBucket;
  let src: string;

  beforeAll(async () => {
    local = await startLocalBucket();
    bucket = encryptedBucket(local);
    m = await mountBucket(local, { name: 'conc', args: ['--attr-ttl', '1'] });
    src = join(local.dir, 'src');
    mkdirSync(src);
  });

  afterAll(async () => {
    await m?.unmount();
    await local?.close();
  });

  it('8 writers on different files and 4 readers, side by side: every file exact', async () => {
    const sizes = [0, 1, 100_000, 1 * MiB + 7, 3 * MiB, 9 * MiB + 5, 17 * MiB, 2 * MiB - 1];
    const sources = sizes.map((size, i) => {
      const data = randomBytes(size);
      writeFileSync(join(src, `w${i}`), data);
      return data;
    });
    const existing = await Promise.all(
      [2 * MiB, 5 * MiB, 300_000, 11 * MiB].map(async (size, i) => {
        const data = randomBytes(size);
        await bucket.put(`r${i}.bin`, data);
        return data;
      }),
    );
    sh(`mkdir -p ${m.mountpoint}/par`);
    const writers = sources.map((_, i) =>
      // Several rewrites each: new content, appends and in-place edits race with the other writers.
      shAsync(
        `set -e; for k in 1 2 3; do cp ${src}/w${i} ${m.mountpoint}/par/w${i}; done; ` +
          `cat ${src}/w${i} >> ${m.mountpoint}/par/w${i}; ` +
          `printf 'XXXX' | dd of=${m.mountpoint}/par/w${i} bs=1 seek=0 conv=notrunc status=none`,
      ),
    );
    const readers = existing.map((_, i) =>
      shAsync(`set -e; for k in 1 2 3 4 5 6; do sha256sum < ${m.mountpoint}/r${i}.bin; done`),
    );
    const results = await Promise.all([...writers, ...readers]);
    for (const r of results) expect(r.status, r.stderr).toBe(0);
    for (const [i, r] of results.slice(writers.length).entries()) {
      expect(new Set(r.stdout.trim().split('\n').map((l) => l.split(' ')[0]))).toEqual(new Set([sha256(existing[i]!)]));
    }
    for (const [i, data] of sources.entries()) {
      const doubled = Buffer.concat([data, data]);
      const expected = Buffer.concat([Buffer.from('XXXX'), doubled.subarray(4)]);
      expect(sha256(readFileSync(join(m.mountpoint, 'par', `w${i}`))), `w${i}`).toBe(sha256(expected));
      expect(sha256(await plaintextOf(bucket, `par/w${i}`)), `w${i} in the bucket`).toBe(sha256(expected));
    }
  });

  it('readers of a file while another process replaces it with mv: each read is one version whole, never mixed', async () => {
    const versions = Array.from({ length: 4 }, (_, i) => {
      const data = randomBytes(3 * MiB + i * 4096);
      writeFileSync(join(src, `v${i}`), data);
      return sha256(data);
    });
    sh(`cp ${src}/v0 ${m.mountpoint}/target`);
    const deadline = Date.now() + 12_000;
    const seconds = 12;
    const replacer = shAsync(
      `end=$((SECONDS+${seconds})); n=0; while [ $SECONDS -lt $end ]; do ` +
        `i=$((n % 4)); cp ${src}/v$i ${m.mountpoint}/.tmp-$n && mv ${m.mountpoint}/.tmp-$n ${m.mountpoint}/target || echo "replace failed $n" >&2; n=$((n+1)); done; echo $n`,
    );
    // `2>&1` before `<`: when the open itself fails, the shell's message is captured too.
    const readers = Array.from({ length: 3 }, () =>
      shAsync(
        `end=$((SECONDS+${seconds})); while [ $SECONDS -lt $end ]; do ` +
          `if out=$(sha256sum 2>&1 < ${m.mountpoint}/target); then echo "ok $out"; else echo "err $out"; fi; done`,
      ),
    );
    const [rep, ...reads] = await Promise.all([replacer, ...readers]);
    expect(Date.now()).toBeGreaterThanOrEqual(deadline - 1000);
    expect(rep.stderr).toBe('');
    const replacements = Number(rep.stdout.trim());
    expect(replacements).toBeGreaterThan(5);
    const outcomes = reads.flatMap((r) => r.stdout.trim().split('\n'));
    const whole = outcomes.filter((o) => o.startsWith('ok ')).map((o) => o.split(' ')[1]!);
    const errors = outcomes.filter((o) => o.startsWith('err '));
    console.log(`mv race: ${replacements} replacements, ${whole.length} whole reads, ${errors.length} failed reads${errors.length ? `: ${[...new Set(errors)].join('; ')}` : ''}`);
    expect(whole.length).toBeGreaterThan(10);
    // The invariant: a read that succeeds returned one version whole.
    for (const h of whole) expect(versions).toContain(h);
    // A read that fails fails with an errno (the version it was reading was replaced), never with wrong bytes.
    for (const e of errors) expect(e).toMatch(/Stale file handle|No such file or directory/);
    expect(sha256(readFileSync(join(m.mountpoint, 'target')))).toBe(versions[(replacements - 1) % 4]);
  });

  it('fio with crc32c verification: sequential and random writes, then reads, through the mount', () => {
    const common = `--verify_state_save=0 --ioengine=psync --direct=0 --verify=crc32c --do_verify=1 --verify_fatal=1 --output-format=terse --group_reporting`;
    const jobs = [
      `--name=seq --filename=${m.mountpoint}/fio-seq --rw=write --bs=128k --size=32M`,
      `--name=rand --filename=${m.mountpoint}/fio-rand --rw=randwrite --bs=4k --size=16M --randrepeat=0`,
      `--name=randbig --filename=${m.mountpoint}/fio-randbig --rw=randwrite --bs=64k --size=24M --randrepeat=0`,
      `--name=seqrw --filename=${m.mountpoint}/fio-seqrw --rw=rw --bs=32k --size=16M`,
    ];
    for (const job of jobs) {
      const out = sh(`fio ${job} ${common} 2>&1`);
      // terse v3: field 1 version, 3 jobname, 5 error
      const fields = out.trim().split('\n').at(-1)!.split(';');
      expect(fields[4], `${job}: ${out.slice(0, 500)}`).toBe('0');
    }
    // A separate verify-only pass over the sequential file: fresh opens, read back through the mount.
    const verify = sh(`fio --name=seq --filename=${m.mountpoint}/fio-seq --rw=read --bs=128k --size=32M --verify=crc32c --verify_only ${common} 2>&1`);
    expect(verify.trim().split('\n').at(-1)!.split(';')[4]).toBe('0');
  }, 300_000);

  it('two mounts of one bucket see each other’s changes within the attribute TTL (1 s): create, overwrite, rename, delete', async () => {
    const b = await mountBucket(local, { name: 'conc-b', args: ['--attr-ttl', '1'] });
    try {
      const pollB = async (what: string, check: () => boolean): Promise<number> => {
        const started = Date.now();
        while (!check()) {
          if (Date.now() - started > 5000) throw new Error(`mount B did not see ${what} within 5 s`);
          await sleep(100);
        }
        return (Date.now() - started) / 1000;
      };
      const read = (p: string): string | undefined => {
        try {
          return readFileSync(join(b.mountpoint, p), 'utf8');
        } catch {
          return undefined;
        }
      };
      // B looks first, so it has something cached to get over.
      expect(existsSync(join(b.mountpoint, 'shared.txt'))).toBe(false);
      writeFileSync(join(m.mountpoint, 'shared.txt'), 'version one\n');
      const t1 = await pollB('the new file', () => read('shared.txt') === 'version one\n');
      // Overwrites are polled with stat, then read once: B's reads themselves would keep its stale
      // attributes alive (KNOWN BUG, src/vfs: release re-caches the attributes of a file it only
      // read, restarting their TTL; a reader polling faster than the TTL never sees another
      // writer's change — see the reliability report).
      const sameAsA = (p: string): boolean => {
        try {
          const [x, y] = [statSync(join(m.mountpoint, p)), statSync(join(b.mountpoint, p))];
          return x.size === y.size && x.mtimeMs === y.mtimeMs;
        } catch {
          return false;
        }
      };
      writeFileSync(join(m.mountpoint, 'shared.txt'), 'version two, longer\n');
      const t2 = await pollB('the overwrite', () => sameAsA('shared.txt'));
      expect(read('shared.txt')).toBe('version two, longer\n');
      await sleep(50); // distinct mtimes even on a coarse clock
      writeFileSync(join(m.mountpoint, 'shared.txt'), 'version 3, same len\n'); // same size as before
      const t3 = await pollB('a same-size overwrite', () => sameAsA('shared.txt'));
      expect(read('shared.txt')).toBe('version 3, same len\n');
      sh(`mv ${m.mountpoint}/shared.txt ${m.mountpoint}/moved.txt`);
      const t4 = await pollB('the rename', () => !existsSync(join(b.mountpoint, 'shared.txt')) && read('moved.txt') === 'version 3, same len\n');
      sh(`mkdir ${m.mountpoint}/newdir && echo inside > ${m.mountpoint}/newdir/f`);
      const t5 = await pollB('a new directory', () => read('newdir/f') === 'inside\n');
      sh(`rm -r ${m.mountpoint}/newdir ${m.mountpoint}/moved.txt`);
      const t6 = await pollB('the deletes', () => !existsSync(join(b.mountpoint, 'moved.txt')) && !existsSync(join(b.mountpoint, 'newdir')));
      // And the other way round.
      writeFileSync(join(b.mountpoint, 'from-b.txt'), 'hello from B\n');
      const started = Date.now();
      while (!existsSync(join(m.mountpoint, 'from-b.txt')) && Date.now() - started < 5000) await sleep(100);
      expect(readFileSync(join(m.mountpoint, 'from-b.txt'), 'utf8')).toBe('hello from B\n');
      console.log(`two mounts, seconds until B saw A's change: ${JSON.stringify({ create: t1, overwrite: t2, sameSize: t3, rename: t4, mkdir: t5, delete: t6 })}`);
    } finally {
      await b.unmount();
    }
  });
});
