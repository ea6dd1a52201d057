import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import OSS from 'ali-oss';
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtemp, readFile, rm, stat, symlink, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { promisify } from 'node:util';
import { crc64 } from 'crc64-ecma182.js';
import { headersOf } from './helpers.js';

// The server runs as `ossencfs server` in a child process, compiled from src into a private
// directory (inside the repo so node_modules resolve) rather than into the shared dist/. Our
// native addons are found two levels above the compiled tree, as from dist/: a link puts them there.
const root = join(import.meta.dirname, '..', '..');
const cache = join(root, 'node_modules', '.cache');
const out = join(cache, 'ossencfs-server-test');
const entry = join(out, 'bin.mjs');
const KEYS = { accessKeyId: 'cli-id', accessKeySecret: 'cli-secret' };
const V4 = { authorizationV4: true, region: 'oss-cn-hangzhou' };

beforeAll(async () => {
  const tsc = join(root, 'node_modules', 'typescript', 'bin', 'tsc');
  await promisify(execFile)(process.execPath, [tsc, '-p', join(root, 'tsconfig.json'), '--outDir', out, '--noEmitOnError', 'false', '--declaration', 'false', '--sourceMap', 'false'])
    .catch(() => undefined); // other modules may be mid-edit; only ours must have been emitted
  await stat(join(out, 'cli', 'commands', 'server.js'));
  await writeFile(entry, `import { main } from './cli/main.js';\nmain(process.argv.slice(2));\n`);
  await symlink(join(root, 'native'), join(cache, 'native')).catch((err: NodeJS.ErrnoException) => {
    if (err.code !== 'EEXIST') throw err;
  });
}, 120_000);

interface Child {
  proc: ChildProcess;
  url: string;
  exited: Promise<number | null>;
  /** Everything it printed up to and including the `listening on` line. */
  output: string;
}

/** `node <entry> server …`, or with `evalInput` the same main run from `node --input-type=module -e`. */
async function startChild(dir: string, evalInput = false, extraArgs: string[] = []): Promise<Child> {
  const args = ['server', '--dir', dir, '--port', '0', ...extraArgs];
  const command = evalInput
    ? ['--input-type=module', '-e', `import { main } from ${JSON.stringify(join(out, 'cli', 'main.js'))}; main(${JSON.stringify(args)});`]
    : [entry, ...args];
  const proc = spawn(process.execPath, command, {
    env: { ...process.env, OSS_ACCESS_KEY_ID: KEYS.accessKeyId, OSS_ACCESS_KEY_SECRET: KEYS.accessKeySecret },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const exited = new Promise<number | null>((resolve) => proc.on('exit', (code) => resolve(code)));
  const output = await new Promise<string>((resolve, reject) => {
    let text = '';
    proc.stdout!.on('data', (c: Buffer) => {
      text += c.toString();
      if (/^listening on .*\n/m.test(text)) resolve(text);
    });
    proc.on('exit', () => reject(new Error(`server exited: ${text}`)));
  });
  const line = /^listening on .*\n/m.exec(output)![0];
  expect(line).toMatch(/^listening on http:\/\/127\.0\.0\.1:\d+\n$/);
  return { proc, url: line.trim().slice('listening on '.length), exited, output };
}

function rssBytes(pid: number): Promise<number> {
  return readFile(`/proc/${pid}/status`, 'utf8').then((s) => Number(/VmRSS:\s+(\d+) kB/.exec(s)![1]) * 1024);
}

/** `size` bytes of a cheap pattern, produced 1 MiB at a time, never held whole. */
function pattern(size: number): Readable {
  const block = Buffer.alloc(1 << 20);
  for (let i = 0; i < block.length; i++) block[i] = (i * 7 + 3) & 0xff;
  let left = size;
  return new Readable({
    highWaterMark: 1 << 20,
    read() {
      if (left === 0) return this.push(null);
      const n = Math.min(left, block.length);
      left -= n;
      this.push(block.subarray(0, n));
    },
  });
}

describe('ossencfs server (child process)', () => {
  let dir: string;
  let child: Child;
  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'ossencfs-cli-'));
    child = await startChild(dir);
  });
  afterAll(async () => {
    child.proc.kill('SIGTERM');
    await child.exited;
    await rm(dir, { recursive: true, force: true });
  });

  const client = (): OSS => new OSS({ endpoint: child.url, bucket: 'big', ...KEYS, ...V4, timeout: 600_000 } as OSS.Options);

  it('streams a 1 GiB object up and down with bounded server memory', async () => {
    const c = client();
    await c.putBucket('big');
    const size = 1024 ** 3 + 16; // just over 1 GiB, so CopyObject must refuse it
    const before = await rssBytes(child.proc.pid!);
    let peak = before;
    const sampler = setInterval(() => void rssBytes(child.proc.pid!).then((r) => (peak = Math.max(peak, r)), () => undefined), 50);
    try {
      const sent = createHash('md5');
      const source = pattern(size);
      source.on('data', (c: Buffer) => sent.update(c));
      const put = await c.putStream('huge', source, { contentLength: size } as never);
      const etag = `"${sent.digest('hex').toUpperCase()}"`;
      expect(headersOf(put).etag).toBe(etag);

      const got = await c.getStream('huge');
      const received = createHash('md5');
      let length = 0;
      for await (const chunk of got.stream as AsyncIterable<Buffer>) {
        received.update(chunk);
        length += chunk.length;
      }
      expect(length).toBe(size);
      expect(`"${received.digest('hex').toUpperCase()}"`).toBe(etag);
    } finally {
      clearInterval(sampler);
    }
    // Anything holding the body would grow by over 1 GiB. Streaming holds the MD5 worker's 8 MiB in
    // flight and the chunks awaiting a scavenge: 35-40 MiB measured.
    expect(peak - before).toBeLessThan(96 * 1024 * 1024);
    await expect(c.copy('huge-copy', 'huge')).rejects.toMatchObject({ status: 400, code: 'EntityTooLarge' });
  }, 300_000);

  it('stops cleanly on SIGTERM and keeps its data for the next start', async () => {
    await client().put('small', Buffer.from('kept'));
    child.proc.kill('SIGTERM');
    expect(await child.exited).toBe(0);
    child = await startChild(dir);
    expect(Buffer.from((await client().get('small')).content).toString()).toBe('kept');
  });
});

// Bench scripts start the server this way; its hashing workers must not inherit the ESM flag.
it('hashes a big body when started from `node --input-type=module -e`', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ossencfs-cli-'));
  const child = await startChild(dir, true);
  try {
    const c = new OSS({ endpoint: child.url, bucket: 'esm', ...KEYS, ...V4 } as OSS.Options);
    await c.putBucket('esm');
    const size = 16 << 20; // above the size hashed in worker threads
    const sent = createHash('md5');
    let crc = '0';
    const source = pattern(size);
    source.on('data', (chunk: Buffer) => {
      sent.update(chunk);
      crc = crc64(chunk, crc);
    });
    const put = await c.putStream('big', source, { contentLength: size } as never);
    expect(put.res.headers).toMatchObject({ etag: `"${sent.digest('hex').toUpperCase()}"`, 'x-oss-hash-crc64ecma': crc });
  } finally {
    child.proc.kill('SIGTERM');
    await child.exited;
    await rm(dir, { recursive: true, force: true });
  }
});

it('refuses V1 signatures by default, and takes them with --signature any', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ossencfs-cli-'));
  for (const [args, v1Status] of [[[], 403], [['--signature', 'any'], 200]] as const) {
    const child = await startChild(dir, false, [...args]);
    try {
      await new OSS({ endpoint: child.url, bucket: 'sig', ...KEYS, ...V4 } as OSS.Options).putBucket('sig').catch(() => undefined);
      const v1 = new OSS({ endpoint: child.url, bucket: 'sig', ...KEYS } as OSS.Options);
      expect([args, await v1.put('v1', Buffer.from('x')).then((r) => r.res.status, (e: { status: number }) => e.status)]).toEqual([args, v1Status]);
    } finally {
      child.proc.kill('SIGTERM');
      await child.exited;
    }
  }
  await rm(dir, { recursive: true, force: true });
});

it('hands out temporary credentials with --sts-lifetime, printing where', async () => {
  const dir = await mkdtemp(join(tmpdir(), 'ossencfs-cli-'));
  const child = await startChild(dir, false, ['--sts-lifetime', '60']);
  try {
    const url = /^sts credentials at (\S+)$/m.exec(child.output)?.[1];
    expect(url).toBe(`${child.url}/.sts/credentials`);
    const body = await (await fetch(url!)).json() as Record<string, string>;
    const c = new OSS({ endpoint: child.url, bucket: 'sts', accessKeyId: body.AccessKeyId, accessKeySecret: body.AccessKeySecret, stsToken: body.SecurityToken, ...V4 } as OSS.Options);
    await c.putBucket('sts');
    expect((await c.put('o', Buffer.from('x'))).res.status).toBe(200);
  } finally {
    child.proc.kill('SIGTERM');
    await child.exited;
    await rm(dir, { recursive: true, force: true });
  }
});
