import { type ChildProcess } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { basename, dirname, join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AppliedFaults } from '../../src/server/faults.js';
import { OssError } from '../../src/server/errors.js';
import type { DownloadCheckpoint } from '../../src/cli/resumableGet.js';
import { bucketOfKeyA, type CliWorld, startWorld } from './harness.js';

const MIB = 1024 * 1024;
const PART = ['--part-size', '1M'];
let w: CliWorld;
/** Decides a request's faults before the armed ones (undefined: leave it to them). */
let hook: ((method: string, path: string) => AppliedFaults | undefined) | undefined;

beforeAll(async () => {
  w = await startWorld();
  const take = w.server.faults.take.bind(w.server.faults);
  w.server.faults.take = (method, path) => hook?.(method, path) ?? take(method, path);
});
afterAll(async () => w?.close());
afterEach(() => {
  hook = undefined;
  w.server.faults.clear();
});

const url = (key: string): string => `oss://vault/${key}`;
const md5 = (b: Buffer): string => createHash('md5').update(b).digest('base64');

/** Puts `data` as `key` under key A, with its unencrypted-content-md5 (as `put` of a file does). */
async function plant(key: string, data: Buffer): Promise<void> {
  const src = join(w.dir, `plant-${basename(key)}`);
  writeFileSync(src, data);
  await bucketOfKeyA(w).putFile(key, src);
}

/** The Range headers of the GETs the server saw for `key` since the last reset, sorted. */
function rangesAsked(key: string): (string | undefined)[] {
  return w.server.faults
    .requests({ method: 'GET', path: `/vault/${key}` })
    .map((r) => r.range)
    .sort();
}

/** The Range header of each range of `size` bytes in 1 MiB ranges, among `which` (all by default). */
function rangesOf(size: number, which?: number[]): string[] {
  const all = Array.from({ length: Math.ceil(size / MIB) }, (_, i) => i);
  return (which ?? all).map((i) => `bytes=${i * MIB}-${Math.min(size, (i + 1) * MIB) - 1}`).sort();
}

/** What the download into `dest` keeps between runs. */
const partFile = (dest: string): string => `${dest}.ossencfs-part`;
const checkpointFile = (dest: string): string => `${dest}.ossencfs-checkpoint`;
const leftovers = (dest: string): string[] => readdirSync(dirname(dest)).filter((f) => f.startsWith(`${basename(dest)}.`) || f.startsWith(`.${basename(dest)}.`));

const checkpoint = (dest: string): DownloadCheckpoint | undefined => {
  try {
    return JSON.parse(readFileSync(checkpointFile(dest), 'utf8')) as DownloadCheckpoint;
  } catch {
    return undefined;
  }
};

/** Starts a slowed-down get and SIGKILLs it once at least `atLeast` ranges are in its checkpoint. */
async function killedGet(key: string, dest: string, atLeast: number): Promise<DownloadCheckpoint> {
  w.server.faults.addLatency(150, { method: 'GET', path: `/vault/${key}` });
  let child: ChildProcess | undefined;
  const run = w.run(['get', url(key), dest, ...w.base, ...PART, '-j', '2'], { onSpawn: (c) => (child = c) });
  while ((checkpoint(dest)?.done.length ?? 0) < atLeast) {
    if (child?.exitCode !== null && child?.exitCode !== undefined) throw new Error(`get ended early: ${JSON.stringify(await run)}`);
    await new Promise((r) => setTimeout(r, 20));
  }
  child!.kill('SIGKILL');
  await run;
  w.server.faults.clear();
  return checkpoint(dest)!;
}

describe('sizes around the part size: the bytes, the requests, nothing left over', () => {
  const cases: [string, number][] = [
    ['0 B', 0],
    ['1000 B', 1000],
    ['part size − 1', MIB - 1],
    ['part size', MIB],
    ['part size + 1', MIB + 1],
    ['several parts', 5 * MIB + 7],
  ];
  for (const [name, size] of cases) {
    it(name, async () => {
      const key = `dl/size-${size}.bin`;
      const data = randomBytes(size);
      await plant(key, data);
      w.server.faults.resetRequests();
      const out = join(w.dir, `size-${size}.out`);
      const r = await w.run(['get', url(key), out, ...w.base, ...PART, '-j', '3']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      expect(readFileSync(out).equals(data)).toBe(true);
      // No mode recorded on the object: private.
      expect(statSync(out).mode & 0o777).toBe(0o600);
      // Above the part size one ranged GET per part; up to it, one whole GET.
      expect(rangesAsked(key)).toEqual(size > MIB ? rangesOf(size) : [undefined]);
      expect(leftovers(out)).toEqual([]);
    });
  }
});

describe('resuming', () => {
  it('a download cut mid-body keeps the ranges it finished, and the next run fetches only the others', async () => {
    const key = 'dl/cut.bin';
    const size = 6 * MIB + 5;
    const data = randomBytes(size);
    await plant(key, data);
    // Ranges one after another: the third GET is cut 300,000 bytes in, and the server fails every try after it.
    let gets = 0;
    hook = (method, path) => {
      if (method !== 'GET' || path !== `/vault/${key}`) return undefined;
      gets++;
      if (gets === 3) return { latencyMs: 0, resetResponseAfter: 300_000 };
      if (gets > 3) return { latencyMs: 0, failure: new OssError(503, 'ServiceUnavailable', 'Injected fault.') };
      return undefined;
    };
    const out = join(w.dir, 'cut.out');
    const first = await w.run(['get', url(key), out, ...w.base, ...PART, '-j', '1']);
    expect(first.code).toBe(1);
    // Each retry of the cut range is said as it happens; the failure itself is one line, the last.
    const lines = first.stderr.trim().split('\n');
    expect(lines.slice(0, -1).every((line) => line.includes(`retrying GET ${url(key)}`))).toBe(true);
    expect(lines.at(-1)).toContain('run the same command again to resume');
    expect(existsSync(out)).toBe(false);
    expect(checkpoint(out)!.done.sort()).toEqual([0, 1]);
    expect(statSync(partFile(out)).mode & 0o777).toBe(0o600);
    expect(statSync(checkpointFile(out)).mode & 0o777).toBe(0o600);

    hook = undefined;
    w.server.faults.resetRequests();
    const again = await w.run(['get', url(key), out, ...w.base, ...PART, '-j', '2']);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain(`resuming ${url(key)}: 2.0 MiB of 6.0 MiB already here`);
    // The cut range again from its start, and the ones never asked for.
    expect(rangesAsked(key)).toEqual(rangesOf(size, [2, 3, 4, 5, 6]));
    expect(readFileSync(out).equals(data)).toBe(true);
    expect(leftovers(out)).toEqual([]);
  });

  it('a killed download resumes with the ranges on disk; its checkpoint is private and holds no key material', async () => {
    const key = 'dl/killed.bin';
    const size = 8 * MIB + 3;
    const data = randomBytes(size);
    await plant(key, data);
    const out = join(w.dir, 'killed.out');
    const cp = await killedGet(key, out, 3);
    expect(cp.done.length).toBeLessThan(9);
    const head = await w.store.head(key);
    expect(Object.keys(cp).sort()).toEqual(['bucket', 'done', 'endpoint', 'etag', 'key', 'partSize', 'size', 'version']);
    expect(cp).toMatchObject({ version: 1, bucket: 'vault', key, etag: head.etag, size, partSize: MIB });
    const text = readFileSync(checkpointFile(out), 'utf8');
    for (const name of ['client-side-encryption-key', 'client-side-encryption-start']) expect(text).not.toContain(head.meta[name]!);
    expect(statSync(checkpointFile(out)).mode & 0o777).toBe(0o600);
    expect(statSync(partFile(out)).mode & 0o777).toBe(0o600);
    expect(statSync(partFile(out)).size).toBe(size);
    expect(existsSync(out)).toBe(false);

    w.server.faults.resetRequests();
    const again = await w.run(['get', url(key), out, ...w.base, ...PART]);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain(`resuming ${url(key)}: ${cp.done.length}.0 MiB of 8.0 MiB already here`);
    const missing = Array.from({ length: 9 }, (_, i) => i).filter((i) => !cp.done.includes(i));
    expect(rangesAsked(key)).toEqual(rangesOf(size, missing));
    expect(readFileSync(out).equals(data)).toBe(true);
    expect(leftovers(out)).toEqual([]);
  });

  it('an object changed since the interruption (another ETag) is fetched again whole', async () => {
    const key = 'dl/changed.bin';
    const size = 5 * MIB;
    await plant(key, randomBytes(size));
    const out = join(w.dir, 'changed.out');
    await killedGet(key, out, 2);
    const changed = randomBytes(size);
    await plant(key, changed);

    w.server.faults.resetRequests();
    const again = await w.run(['get', url(key), out, ...w.base, ...PART]);
    expect(again.code).toBe(0);
    expect(again.stderr).toContain(`${url(key)} changed since the interrupted download — starting over`);
    expect(again.stderr).not.toContain('resuming');
    expect(rangesAsked(key)).toEqual(rangesOf(size));
    expect(readFileSync(out).equals(changed)).toBe(true);
    expect(leftovers(out)).toEqual([]);
  });
});

describe('a wrong MD5 keeps nothing', () => {
  /** Rewrites the stored object through the server, ciphertext and metadata as `change` makes them. */
  async function tamper(key: string, change: (body: Buffer, meta: Record<string, string>) => void): Promise<void> {
    const got = await w.store.get(key);
    const chunks: Buffer[] = [];
    for await (const c of got.body) chunks.push(c as Buffer);
    const body = Buffer.concat(chunks);
    const meta = { ...got.head.meta };
    change(body, meta);
    await w.store.put(key, body, { meta });
  }

  for (const [name, change] of [
    ['its unencrypted-content-md5 header', (_: Buffer, meta: Record<string, string>) => (meta['client-side-encryption-unencrypted-content-md5'] = md5(Buffer.from('other')))],
    ['one byte of its body', (body: Buffer) => (body[2 * MIB + 17]! ^= 1)],
  ] as const) {
    it(`altered: ${name}`, async () => {
      const key = `dl/altered-${name.length}.bin`;
      await plant(key, randomBytes(3 * MIB + 1));
      await tamper(key, change);
      const out = join(w.dir, `altered-${name.length}.out`);
      const r = await w.run(['get', url(key), out, ...w.base, ...PART]);
      expect(r.code).toBe(1);
      expect(r.stderr.trim().split('\n')).toEqual([expect.stringContaining('does not match its unencrypted-content-md5')]);
      expect(r.stderr).not.toContain('resume');
      expect(existsSync(out)).toBe(false);
      expect(leftovers(out)).toEqual([]);
    });
  }
});

describe('where the bytes go', () => {
  it('into standard output a large object is one sequential GET', async () => {
    const key = 'dl/stdout.txt';
    const data = Buffer.from(randomBytes(MIB + 1000).toString('hex'));
    await plant(key, data);
    w.server.faults.resetRequests();
    const r = await w.run(['get', url(key), '-', ...w.base, ...PART]);
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(data.toString());
    expect(rangesAsked(key)).toEqual([undefined]);
  });

  it('through a symlink at the destination: the target gets the bytes, the part file sits next to it, the link stays', async () => {
    const key = 'dl/linked.bin';
    const data = randomBytes(3 * MIB + 9);
    await plant(key, data);
    const real = join(w.dir, 'real-dir', 'target.bin');
    mkdirSync(dirname(real), { recursive: true });
    writeFileSync(real, 'old');
    const link = join(w.dir, 'link.bin');
    symlinkSync(real, link);
    w.server.faults.resetRequests();
    const r = await w.run(['get', url(key), link, ...w.base, ...PART]);
    expect(r.code).toBe(0);
    expect(rangesAsked(key)).toEqual(rangesOf(3 * MIB + 9));
    expect(readFileSync(real).equals(data)).toBe(true);
    expect(statSync(link).ino).toBe(statSync(real).ino);
    expect(leftovers(real)).toEqual([]);
  });

  it('cp bucket → local and get -r fetch each large file in ranges', async () => {
    const big = randomBytes(2 * MIB + 1);
    const small = randomBytes(100);
    await plant('dl/tree/a/big.bin', big);
    await plant('dl/tree/small.bin', small);
    await plant('dl/tree/b/big2.bin', big);
    w.server.faults.resetRequests();
    const tree = join(w.dir, 'tree-out');
    const r = await w.run(['get', '-r', url('dl/tree'), tree, ...w.base, ...PART, '-j', '2']);
    expect(r.code).toBe(0);
    expect(readFileSync(join(tree, 'a/big.bin')).equals(big)).toBe(true);
    expect(readFileSync(join(tree, 'b/big2.bin')).equals(big)).toBe(true);
    expect(readFileSync(join(tree, 'small.bin')).equals(small)).toBe(true);
    expect(rangesAsked('dl/tree/a/big.bin')).toEqual(rangesOf(2 * MIB + 1));
    expect(rangesAsked('dl/tree/small.bin')).toEqual([undefined]);
    expect(readdirSync(join(tree, 'a'))).toEqual(['big.bin']);

    w.server.faults.resetRequests();
    const copied = join(w.dir, 'copied.bin');
    const cp = await w.run(['cp', url('dl/tree/a/big.bin'), copied, ...w.base, ...PART]);
    expect(cp.code).toBe(0);
    expect(readFileSync(copied).equals(big)).toBe(true);
    expect(rangesAsked('dl/tree/a/big.bin')).toEqual(rangesOf(2 * MIB + 1));
  });
});

describe('the data key', () => {
  it('is unwrapped once for the whole object, not once per range: as many KMS calls as a one-GET download', async () => {
    const kms = ['--kms-key-id', w.kmsKeyId, '--region', 'cn-hangzhou'];
    const big = randomBytes(3 * MIB + 1);
    const small = randomBytes(1000);
    for (const [name, data] of [['big', big], ['small', small]] as const) {
      const src = join(w.dir, `kms-${name}.bin`);
      writeFileSync(src, data);
      expect((await w.run(['put', src, url(`dl/kms-${name}.bin`), '--endpoint', w.server.url, '--kms-endpoint', w.server.url, ...kms])).code).toBe(0);
    }
    // The KMS calls of each get go through this counting relay to the server's KMS endpoint.
    const target = new URL(w.server.url);
    let calls = 0;
    const relay = createServer((req, res) => {
      calls++;
      const forward = request({ host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      });
      req.pipe(forward);
    });
    await new Promise<void>((r) => relay.listen(0, '127.0.0.1', r));
    const get = async (name: string): Promise<{ calls: number; bytes: Buffer }> => {
      calls = 0;
      const out = join(w.dir, `kms-${name}.out`);
      const relayUrl = `http://127.0.0.1:${(relay.address() as AddressInfo).port}`;
      const r = await w.run(['get', url(`dl/kms-${name}.bin`), out, '--endpoint', w.server.url, '--kms-endpoint', relayUrl, ...kms, ...PART, '-j', '4']);
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return { calls, bytes: readFileSync(out) };
    };
    try {
      const one = await get('small');
      expect(one.bytes.equals(small)).toBe(true);
      expect(one.calls).toBeGreaterThan(0);
      w.server.faults.resetRequests();
      const ranged = await get('big');
      expect(ranged.bytes.equals(big)).toBe(true);
      expect(rangesAsked('dl/kms-big.bin')).toEqual(rangesOf(3 * MIB + 1));
      expect(ranged.calls).toBe(one.calls);
    } finally {
      relay.close();
    }
  });
});
