import { execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lstatSync, mkdirSync, readdirSync, readFileSync, readlinkSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptedBucket, encodePosixMeta } from '../../src/secure/index.js';
import { BIN, bucketOfKeyA, type CliWorld, type Result, startWorld } from './harness.js';

let w: CliWorld;
let bucket: EncryptedBucket;
beforeAll(async () => {
  w = await startWorld();
  bucket = bucketOfKeyA(w);
});
afterAll(async () => w?.close());

/** An object as any writer to the bucket (with the public key) could plant it, POSIX mode of its choosing. */
const plant = (key: string, body: string | Buffer, mode?: number): Promise<unknown> =>
  bucket.put(key, Buffer.from(body), { meta: encodePosixMeta(mode === undefined ? {} : { mode }) });

/** Every entry under a directory, recursively, as relative paths. */
const tree = (dir: string): string[] => (readdirSync(dir, { recursive: true }) as string[]).sort();

describe('get -r of a hostile bucket stays inside its destination', () => {
  it('a symlink object cannot route a later object outside; no setuid, setgid, sticky or umask-ignoring bits', async () => {
    const outside = join(w.dir, 'outside');
    mkdirSync(outside);
    await plant('h1/link', outside, 0o120777);
    // Listed (and, with -j 1, downloaded) right after the link it would be written through.
    await plant('h1/link/planted', 'through the link');
    await plant('h1/suid', '#!/bin/sh\n', 0o106777);

    const dest = join(w.dir, 'h1-copy');
    const r = await w.run(['get', '-r', '-j', '1', 'oss://vault/h1/', dest, ...w.base]);

    expect(tree(outside)).toEqual([]);
    // The file went where its name says, inside; the link could not take a directory's place.
    expect(readFileSync(join(dest, 'link', 'planted'), 'utf8')).toBe('through the link');
    expect(lstatSync(join(dest, 'link')).isDirectory()).toBe(true);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/oss:\/\/vault\/h1\/link\b.*EEXIST|oss:\/\/vault\/h1\/link\b.*exists/);

    const umask = process.umask();
    expect(statSync(join(dest, 'suid')).mode & 0o7777).toBe(0o777 & ~umask);
  });

  it('a link from an earlier download is replaced, never written through, when the object becomes a file', async () => {
    const victim = join(w.dir, 'victim.txt');
    writeFileSync(victim, 'precious');
    await plant('h2/f', victim, 0o120777);
    await plant('h2/sub/', '', 0o41777);
    // An existing directory receives the tree under its own name, both times.
    const into = join(w.dir, 'h2-into');
    mkdirSync(into);
    const dest = join(into, 'h2');
    expect((await w.run(['get', '-r', 'oss://vault/h2/', into, ...w.base])).code).toBe(0);
    expect(readlinkSync(join(dest, 'f'))).toBe(victim);

    await plant('h2/f', 'overwritten?', 0o100644);
    expect((await w.run(['get', '-r', 'oss://vault/h2/', into, ...w.base])).code).toBe(0);
    expect(readFileSync(victim, 'utf8')).toBe('precious');
    expect(lstatSync(join(dest, 'f')).isFile()).toBe(true);
    expect(readFileSync(join(dest, 'f'), 'utf8')).toBe('overwritten?');
    expect(statSync(join(dest, 'sub')).mode & 0o7777).toBe(0o777 & ~process.umask());
  });

  it('a link planted under a link is refused (its directory is a symlink)', async () => {
    const outside = join(w.dir, 'outside3');
    mkdirSync(outside);
    await plant('h3/a', outside, 0o120777);
    await plant('h3/a/b', '/etc/passwd', 0o120777);
    const dest = join(w.dir, 'h3-copy');
    const r = await w.run(['get', '-r', '-j', '1', 'oss://vault/h3/', dest, ...w.base]);
    expect(tree(outside)).toEqual([]);
    expect(r.code).toBe(1);
  });
});

describe('get onto a symlink writes through it, as cp does; - is standard output', () => {
  it('a link to a file: the target gets the bytes and the link stays', async () => {
    const data = randomBytes(70_000);
    writeFileSync(join(w.dir, 'l1.bin'), data);
    expect((await w.run(['put', join(w.dir, 'l1.bin'), 'oss://vault/l/1.bin', ...w.base])).code).toBe(0);
    const real = join(w.dir, 'real.bin');
    writeFileSync(real, 'old');
    const link = join(w.dir, 'link.bin');
    symlinkSync(real, link);
    const r = await w.run(['get', 'oss://vault/l/1.bin', link, ...w.base]);
    expect(r.code).toBe(0);
    expect(lstatSync(link).isSymbolicLink()).toBe(true);
    expect(readFileSync(real).equals(data)).toBe(true);
  });

  it('a link to /proc/self/fd/1 (as /dev/stdout is) and - write to standard output; a dangling link is refused', async () => {
    writeFileSync(join(w.dir, 'l2.txt'), 'to the terminal\n');
    expect((await w.run(['put', join(w.dir, 'l2.txt'), 'oss://vault/l/2.txt', ...w.base])).code).toBe(0);
    // What /dev/stdout is, made here: a regression replaces this link rather than the system's.
    const stdoutLink = join(w.dir, 'stdout');
    symlinkSync('/proc/self/fd/1', stdoutLink);
    for (const dest of [stdoutLink, '-']) {
      const r = await w.run(['get', 'oss://vault/l/2.txt', dest, ...w.base]);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(r.stdout).toBe('to the terminal\n');
    }
    // A FIFO (like a device) is written in place, not replaced by a file.
    const fifo = join(w.dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    const reader = spawn('cat', [fifo]);
    let read = '';
    reader.stdout.on('data', (d: Buffer) => (read += d.toString()));
    const readerDone = new Promise((done) => reader.on('close', done));
    expect((await w.run(['get', 'oss://vault/l/2.txt', fifo, ...w.base])).code).toBe(0);
    await readerDone;
    expect(read).toBe('to the terminal\n');
    expect(lstatSync(fifo).isFIFO()).toBe(true);

    const dangling = join(w.dir, 'dangling');
    symlinkSync(join(w.dir, 'nowhere', 'x'), dangling);
    const r = await w.run(['get', 'oss://vault/l/2.txt', dangling, ...w.base]);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/dangling symlink/);
    expect(lstatSync(dangling).isSymbolicLink()).toBe(true);
  });

  it('put - reads standard input', async () => {
    const data = randomBytes(300_000);
    const child = spawn(process.execPath, [BIN, 'put', '-', 'oss://vault/l/stdin.bin', ...w.base], { env: w.env, cwd: w.dir });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.stdin.end(data);
    const code = await new Promise<number | null>((done) => child.on('close', done));
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const out = join(w.dir, 'from-stdin.bin');
    const got: Result = await w.run(['get', 'oss://vault/l/stdin.bin', out, ...w.base]);
    expect(got.code).toBe(0);
    expect(readFileSync(out).equals(data)).toBe(true);
  });
});
