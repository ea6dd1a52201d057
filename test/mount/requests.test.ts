import { mkdirSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sleep, until } from '../reliability/support.js';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { type Mounted, mountBucket, sh, UPLOAD_AT_CLOSE } from '../support/mounted.js';
import { fault, resetSeen, seen } from '../support/serverAdmin.js';
import { decodePosixMeta } from '../../src/secure/index.js';

const TTL_S = 1;

/** What the mount asks the bucket for: requests are the cost users pay in latency and money. */
describe('mount: requests per operation', () => {
  let local: LocalBucket;
  let m: Mounted;

  beforeAll(async () => {
    local = await startLocalBucket();
    m = await mountBucket(local, { name: 'requests', args: ['--attr-ttl', String(TTL_S), ...UPLOAD_AT_CLOSE] });
  });

  afterAll(async () => {
    await m?.unmount();
    await local?.close();
  });

  it('filling a directory the mount lists: one PUT per new file, no HEAD or LIST per new name', async () => {
    writeFileSync(join(m.mountpoint, 'seed.txt'), 'seed');
    readdirSync(m.mountpoint);
    await sleep(TTL_S * 1000 + 200); // every cached listing and attribute has expired
    // Another client adds a name the mount has never seen.
    await local.store.put('other.txt', Buffer.from('theirs'), { meta: {} });
    await resetSeen(local);

    const files = 40;
    const started = Date.now();
    for (let i = 0; i < files; i++) writeFileSync(join(m.mountpoint, `f${i}.txt`), `file ${i}\n`);
    const ttlsPassed = Math.ceil((Date.now() - started) / (TTL_S * 1000));

    const requests = await seen(local);
    const count = (method: string, query = ''): number => requests.filter((r) => r.method === method && r.query.includes(query)).length;
    expect(count('PUT')).toBe(files);
    // The expired listing of the root is refreshed at most once per TTL that passed (a loaded host
    // makes the loop longer), never per name.
    const lists = requests.filter((r) => r.method === 'GET' && r.path === `/${local.bucket}/`).length;
    expect(lists).toBeGreaterThanOrEqual(1);
    expect(lists).toBeLessThanOrEqual(Math.min(ttlsPassed + 1, files / 2));
    const headsOfNewNames = requests.filter((r) => r.method === 'HEAD' && /\/f\d+\.txt$/.test(r.path));
    expect(headsOfNewNames).toEqual([]);

    // The refreshed listing saw the other client's object: it is there, with its bytes.
    expect(readdirSync(m.mountpoint)).toContain('other.txt');
    expect(readFileSync(join(m.mountpoint, 'f39.txt'), 'utf8')).toBe('file 39\n');
  });

  it('a no-op rsync after the TTL costs no HEAD: each rename said what object it made, and the listings show those objects', async () => {
    const src = join(local.dir, 'rsync-src');
    mkdirSync(join(src, 'sub'), { recursive: true });
    const files = 30;
    for (let i = 0; i < files; i++) writeFileSync(join(src, i % 2 ? 'sub' : '', `r${i}`), `r${i}`);
    sh(`rsync -a ${src}/ ${m.mountpoint}/rs/`);
    await sleep(TTL_S * 1000 + 200);
    await resetSeen(local);
    // Itemizes nothing: every size, mtime and mode the mount answers is the one rsync set.
    expect(sh(`rsync -a -i ${src}/ ${m.mountpoint}/rs/`).trim()).toBe('');
    const requests = await seen(local);
    // The first run's renames (CopyObject) answered with each object's ETag and Last-Modified.
    expect(requests.filter((r) => r.method === 'HEAD' && /\/r\d+$/.test(r.path))).toEqual([]);
    // rsync walks the tree by lstat: each file's lookup is answered by its directory's (re)listing.
    expect(requests.filter((r) => r.method === 'GET' && r.query.includes('prefix')).length).toBeLessThan(files / 3);

    // So it stays past the TTL again, while listings show the same objects.
    await sleep(TTL_S * 1000 + 200);
    await resetSeen(local);
    expect(sh(`rsync -a -i ${src}/ ${m.mountpoint}/rs/`).trim()).toBe('');
    const again = await seen(local);
    expect(again.filter((r) => r.method === 'HEAD' && /\/r\d+$/.test(r.path))).toEqual([]);
    expect(again.filter((r) => r.method === 'GET' && r.query.includes('prefix')).length).toBeGreaterThanOrEqual(2);
  });

  it('ls -l right after an ls -l that took longer than the TTL costs its LISTs and no HEAD', async () => {
    const files = 3000; // enough that going through them takes longer than the TTL here
    for (let i = 0; i < files; i += 100) {
      await Promise.all(Array.from({ length: 100 }, (_, j) => local.store.put(`long/f${i + j}`, Buffer.from('x'), { meta: {} })));
    }
    await sleep(TTL_S * 1000 + 200);
    const dir = join(m.mountpoint, 'long');
    await resetSeen(local);
    const started = Date.now();
    expect(sh(`ls -l ${dir} | grep -c '^-'`).trim()).toBe(String(files));
    const tookMs = Date.now() - started;
    expect((await seen(local, { method: 'HEAD', path: '/long/f' })).length).toBe(files);
    await resetSeen(local);
    expect(sh(`ls -l ${dir} | grep -c '^-'`).trim()).toBe(String(files));
    // A name whose attributes the first run used late was still cached when the second listing
    // came and expired before `ls` got to it: the listing re-arms it rather than skipping it.
    expect({ tookMs: tookMs > TTL_S * 1000, heads: (await seen(local, { method: 'HEAD', path: '/long/f' })).length }).toEqual({ tookMs: true, heads: 0 });
  });

  it("another client's change of only an object's metadata shows once the TTL has run out", async () => {
    const key = 'meta-only/f';
    await local.store.put(key, Buffer.from('same bytes'), { meta: {} });
    await sleep(TTL_S * 1000 + 200);
    const dir = join(m.mountpoint, 'meta-only');
    sh(`ls -l ${dir}`); // HEADs f and remembers it
    expect(statSync(join(dir, 'f')).mode & 0o777).toBe(0o644);
    await sleep(1100); // a later Last-Modified second; the same bytes written again keep the ETag
    const { etag } = await local.store.head(key);
    await local.store.put(key, Buffer.from('same bytes'), { meta: { mode: String(0o100600) } });
    expect((await local.store.head(key)).etag).toBe(etag);
    await sleep(TTL_S * 1000 + 200);
    sh(`ls -l ${dir}`);
    expect(statSync(join(dir, 'f')).mode & 0o777).toBe(0o600);
  });

  it('attributes a listing prefetched wait for their first use: stat after the TTL costs no second HEAD', async () => {
    const files = 40;
    await Promise.all(Array.from({ length: files }, (_, i) => local.store.put(`held/h${i}`, Buffer.from('h'), { meta: {} })));
    await sleep(TTL_S * 1000 + 200); // another client's new directory shows once the root's listing expires
    await resetSeen(local);
    expect(readdirSync(join(m.mountpoint, 'held'))).toHaveLength(files);
    await until('the prefetch', async () => (await seen(local, { method: 'HEAD', path: '/held/h' })).length >= files, 10);
    await sleep(TTL_S * 1000 + 300); // longer than the TTL: a plain cached attribute would have expired
    for (let i = 0; i < files; i++) statSync(join(m.mountpoint, 'held', `h${i}`));
    expect((await seen(local, { method: 'HEAD', path: '/held/h' })).length).toBe(files);
    // Once used, an attribute lives for the TTL like any other: then the directory is listed
    // again, and that listing, showing the object its HEAD saw, vouches for it.
    await sleep(TTL_S * 1000 + 300);
    await resetSeen(local);
    statSync(join(m.mountpoint, 'held', 'h0'));
    const requests = await seen(local);
    expect(requests.filter((r) => r.method === 'GET' && r.query.includes('prefix=held%2F')).length).toBeGreaterThanOrEqual(1);
    expect(requests.filter((r) => r.method === 'HEAD' && r.path.endsWith('/held/h0'))).toEqual([]);
  });

  it('a directory read again within the TTL is answered from its listing; past the TTL it is listed again', async () => {
    const dir = join(m.mountpoint, 'relist');
    mkdirSync(dir);
    writeFileSync(join(dir, 'a'), 'a');
    await resetSeen(local);
    const listsOfDir = async (): Promise<number> => (await seen(local)).filter((r) => r.method === 'GET' && r.query.includes('prefix=relist%2F')).length;
    expect(readdirSync(dir)).toEqual(['a']);
    await local.store.put('relist/b', Buffer.from('theirs'), { meta: {} });
    expect(readdirSync(dir)).toEqual(['a']); // another client's object: not seen before the TTL runs out
    expect(await listsOfDir()).toBe(0);
    await sleep(TTL_S * 1000 + 200);
    expect(readdirSync(dir).sort()).toEqual(['a', 'b']);
    expect(await listsOfDir()).toBeGreaterThanOrEqual(1);
  });

  it('a lookup in a directory the mount has not listed asks the bucket (no stale absence)', async () => {
    await local.store.put('elsewhere/planted.txt', Buffer.from('x'), { meta: {} });
    await sleep(TTL_S * 1000 + 200); // the root's listing from the test before no longer vouches for absence
    await resetSeen(local);
    // `stat` of an unlisted directory's child: HEAD and LIST, and the object is found.
    expect(() => readFileSync(join(m.mountpoint, 'elsewhere', 'missing.txt'))).toThrow(/ENOENT/);
    const heads = (await seen(local, { method: 'HEAD' })).map((r) => r.path);
    expect(heads).toContain(`/${local.bucket}/elsewhere/missing.txt`);
  });

  describe('attribute changes to closed files (written a moment later, or carried by a rename)', () => {
    const posixOf = async (key: string) => decodePosixMeta((await local.store.head(key)).meta);
    const puts = async (name: string): Promise<number> => (await seen(local, { method: 'PUT', path: `/${name}` })).length;

    it("rsync's pattern — set times, fchmod through a read-only descriptor, rename — costs one PUT under the new name (the content held since close, carrying both) and one delete after the upload at close", async () => {
      await resetSeen(local);
      // As rsync 3.2 does it (strace): write and close (uploaded at close), utimensat by path, then
      // open O_RDONLY, fchmod, close, rename — in one process, as rsync runs them, so that a
      // loaded host's process start does not outlast the content's hold after close.
      const mtime = Date.parse('2020-01-02T03:04:05Z') / 1000;
      const steps = `p = '${m.mountpoint}/.tmp.x'; open(p, 'w').write('data'); os.utime(p, (${mtime}, ${mtime})); fd = os.open(p, os.O_RDONLY); os.fchmod(fd, 0o600); os.close(fd); os.rename(p, '${m.mountpoint}/final.x')`;
      sh(`python3 -c "import os; ${steps}"`);
      await sleep(1500); // past the delay: nothing was left to write
      // No HEAD or GET of either object: no copy through the client (GET + PUT of the ciphertext).
      const requests = (await seen(local)).filter((r) => /\/(\.tmp|final)\.x$/.test(r.path));
      expect(requests.map((r) => `${r.method} ${r.path}`).sort()).toEqual([`DELETE /${local.bucket}/.tmp.x`, `PUT /${local.bucket}/.tmp.x`, `PUT /${local.bucket}/final.x`]);
      const posix = await posixOf('final.x');
      expect(posix.mode! & 0o777).toBe(0o600);
      expect(posix.mtime).toBe(mtime);
      expect(statSync(join(m.mountpoint, 'final.x')).mode & 0o777).toBe(0o600);
      expect(readFileSync(join(m.mountpoint, 'final.x'), 'utf8')).toBe('data');
    });

    it('rsync -a of new files: three requests a file (PUT of the temporary name at close, PUT of the final name, DELETE of the temporary one), no HEAD or GET of either', async () => {
      const src = join(local.dir, 'rsync-three');
      mkdirSync(src);
      const files = 8;
      const mtime = Date.parse('2021-05-06T07:08:09Z') / 1000;
      for (let i = 0; i < files; i++) {
        writeFileSync(join(src, `t${i}`), `three ${i}\n`.repeat(i * 100 + 1), { mode: 0o640 });
        utimesSync(join(src, `t${i}`), mtime + i, mtime + i);
      }
      mkdirSync(join(m.mountpoint, 'three'));
      await resetSeen(local);
      sh(`rsync -a ${src}/ ${m.mountpoint}/three/`);
      const requests = (await seen(local)).filter((r) => /\/three\/\.?t\d/.test(r.path));
      const finals = requests.filter((r) => /\/three\/t\d$/.test(r.path));
      const temps = requests.filter((r) => /\/three\/\.t\d/.test(r.path));
      expect(finals.map((r) => r.method).sort()).toEqual(Array(files).fill('PUT'));
      expect(temps.map((r) => r.method).sort()).toEqual([...Array(files).fill('DELETE'), ...Array(files).fill('PUT')]);
      for (let i = 0; i < files; i++) {
        const posix = await posixOf(`three/t${i}`);
        expect(posix.mode! & 0o777).toBe(0o640);
        expect(posix.mtime).toBe(mtime + i);
        expect(readFileSync(join(m.mountpoint, 'three', `t${i}`), 'utf8')).toBe(`three ${i}\n`.repeat(i * 100 + 1));
      }
      const listed = await local.store.list('three/', {});
      expect(listed.objects.map((o) => o.key).filter((k) => k !== 'three/').sort()).toEqual(Array.from({ length: files }, (_, i) => `three/t${i}`));
    });

    it("a directory's changes (rsync: mode and times after mkdir, again after its files) cost no request at once and land as one write", async () => {
      const dir = join(m.mountpoint, 'dirattr');
      mkdirSync(dir);
      await resetSeen(local);
      const mtime = Date.parse('2019-03-04T05:06:07Z') / 1000;
      sh(`chmod 700 ${dir} && touch -m -d @${mtime} ${dir}`);
      const marker = (await seen(local)).filter((r) => r.path === `/${local.bucket}/dirattr/`);
      expect(marker).toEqual([]);
      expect(statSync(dir).mode & 0o777).toBe(0o700);
      expect(statSync(dir).mtimeMs / 1000).toBe(mtime);
      await until('the attribute write', async () => ((await posixOf('dirattr/')).mode! & 0o777) === 0o700, 10);
      await sleep(1500);
      expect((await posixOf('dirattr/')).mtime).toBe(mtime);
      expect(await puts('dirattr/')).toBe(1);
    });

    it('rmdir drops a change that waits: the directory does not come back', async () => {
      const dir = join(m.mountpoint, 'gone-dir');
      mkdirSync(dir);
      sh(`chmod 700 ${dir} && rmdir ${dir}`);
      await sleep(1500);
      expect((await local.store.list('gone-dir', {})).objects).toEqual([]);
      expect(readdirSync(m.mountpoint)).not.toContain('gone-dir');
    });

    it('a change shows at once, lands within a few seconds as one copy, and two in a row make one', async () => {
      writeFileSync(join(m.mountpoint, 'later.x'), 'x');
      await resetSeen(local);
      sh(`chmod 640 ${m.mountpoint}/later.x && chmod 604 ${m.mountpoint}/later.x`);
      expect(statSync(join(m.mountpoint, 'later.x')).mode & 0o777).toBe(0o604);
      await until('the attribute write', async () => ((await posixOf('later.x')).mode! & 0o777) === 0o604, 10);
      await sleep(1500);
      expect(await puts('later.x')).toBe(1);
      expect(statSync(join(m.mountpoint, 'later.x')).mode & 0o777).toBe(0o604);
    });

    it('a change that landed is known past the TTL without a HEAD: its copy said what object it made, and the listing shows it', async () => {
      const dir = join(m.mountpoint, 'landed');
      mkdirSync(dir);
      writeFileSync(join(dir, 'l.x'), 'x');
      readdirSync(dir); // a directory the mount lists: past the TTL a lookup in it lists it again
      sh(`chmod 612 ${dir}/l.x`);
      await until('the attribute write', async () => ((await posixOf('landed/l.x')).mode! & 0o777) === 0o612, 10);
      await sleep(TTL_S * 1000 + 200);
      await resetSeen(local);
      expect(statSync(join(dir, 'l.x')).mode & 0o777).toBe(0o612);
      const requests = await seen(local);
      // Its directory's listing (the lookup of `landed` itself asks for its marker).
      expect(requests.filter((r) => r.method === 'GET' && r.query.includes('prefix=landed%2F') && r.query.includes('delimiter')).length).toBe(1);
      expect(requests.filter((r) => r.method === 'HEAD' && r.path.endsWith('/landed/l.x'))).toEqual([]);
    });

    it('with no attribute cache (--attr-ttl 0) a waiting change still shows, and unmount writes it', async () => {
      const b = await mountBucket(local, { name: 'requests-ttl0', args: ['--attr-ttl', '0', ...UPLOAD_AT_CLOSE] });
      try {
        writeFileSync(join(b.mountpoint, 'ttl0.x'), 'x');
        sh(`chmod 612 ${b.mountpoint}/ttl0.x`);
        expect(statSync(join(b.mountpoint, 'ttl0.x')).mode & 0o777).toBe(0o612);
      } finally {
        await b.unmount();
      }
      expect((await posixOf('ttl0.x')).mode! & 0o777).toBe(0o612);
    });

    it('a write that fails is logged and tried again until it lands', async () => {
      writeFileSync(join(m.mountpoint, 'flaky.x'), 'x');
      // More failures than the store's own retries (6 attempts): the first write fails as a whole.
      await fault(local, { action: 'fail', count: 6, status: 503, method: 'PUT', path: '/flaky.x' });
      sh(`chmod 620 ${m.mountpoint}/flaky.x`);
      await until('a failed attempt in the log', () => /flaky\.x: writing attributes failed, trying again/.test(m.log()), 20);
      expect(statSync(join(m.mountpoint, 'flaky.x')).mode & 0o777).toBe(0o620);
      await until('the attribute write', async () => ((await posixOf('flaky.x')).mode! & 0o777) === 0o620, 20);
    });

    it('an unlink drops a change that waits: no copy; an open writes it first, so a new upload keeps it', async () => {
      writeFileSync(join(m.mountpoint, 'gone.x'), 'x');
      writeFileSync(join(m.mountpoint, 'append.x'), 'a');
      await resetSeen(local);
      sh(`chmod 600 ${m.mountpoint}/gone.x && rm ${m.mountpoint}/gone.x`);
      sh(`chmod 600 ${m.mountpoint}/append.x && touch -m -d '2001-01-01' ${m.mountpoint}/append.x && echo b >> ${m.mountpoint}/append.x`);
      const appended = Date.now() / 1000;
      await sleep(1500);
      // The append's mtime stands: the older change landed before its upload, not after.
      expect(Math.abs((await posixOf('append.x')).mtime! - appended)).toBeLessThan(30);
      expect(await puts('gone.x')).toBe(0);
      expect((await seen(local, { method: 'DELETE', path: '/gone.x' })).length).toBe(1);
      expect((await posixOf('append.x')).mode! & 0o777).toBe(0o600);
      expect(readFileSync(join(m.mountpoint, 'append.x'), 'utf8')).toBe('ab\n');
    });
  });
});
