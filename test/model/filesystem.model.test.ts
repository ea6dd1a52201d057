import { generateKeyPairSync } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { Keyring, rsaMasterKey } from '../../src/crypto/index.js';
import { FsError } from '../../src/errors.js';
import type { Logger } from '../../src/log.js';
import { type Fault, MemoryStore, type StoreOp } from '../../src/store/memoryStore.js';
import type { MemoryBudget } from '../../src/memory/budget.js';
import { buildFilesystem } from '../../src/vfs/buildFilesystem.js';
import type { Filesystem } from '../../src/vfs/filesystem.js';

/**
 * Random sequences of POSIX operations against Filesystem over the in-memory store, each answer
 * checked against a plain model (a Map of paths), then a remount: a fresh Filesystem over the same
 * store must show everything that was closed, as it was. Time is fake (Date and setTimeout), so
 * write-back and deferred attribute writes run when a `tick` says, and store faults are injected
 * around single operations: they may fail that operation with the fault's errno, never change
 * what a later read returns.
 *
 * Only calls the kernel would make reach the Filesystem: it resolves parents first, refuses
 * mkdir/create of an existing name and rename of a name onto itself, and checks a handle's access
 * mode. Those cases are checked as the kernel's own lookups (getattr) instead.
 */

const NUM_RUNS = Number(process.env.MODEL_RUNS ?? 150);
const MAX_COMMANDS = 50;
const BASE = Date.UTC(2026, 0, 1, 12);

const S_IFREG = constants.S_IFREG;
const S_IFDIR = constants.S_IFDIR;
const DIR_SIZE = 4096;

// ---- the model ------------------------------------------------------------------------------

interface MFile {
  kind: 'file';
  data: Buffer;
  mode: number;
  /** The mtimes the file may show: more than one where POSIX leaves it open (a truncate to the same size). */
  mtimes: number[];
}
interface MDir {
  kind: 'dir';
  mode: number;
  mtimes: number[];
}
type MNode = MFile | MDir;

interface Handle {
  fh: number;
  node: MFile;
  readable: boolean;
  writable: boolean;
}

const parentOf = (p: string): string => (p.lastIndexOf('/') <= 0 ? '/' : p.slice(0, p.lastIndexOf('/')));
const isBelow = (p: string, dir: string): boolean => p.startsWith(`${dir}/`);

class Model {
  readonly nodes = new Map<string, MNode>();
  readonly handles: Handle[] = [];

  /** Every ancestor of `path` is a directory (the kernel's walk to it succeeds). */
  resolvable(path: string): boolean {
    for (let dir = parentOf(path); dir !== '/'; dir = parentOf(dir)) if (this.nodes.get(dir)?.kind !== 'dir') return false;
    return true;
  }

  children(dir: string): string[] {
    return [...this.nodes.keys()].filter((p) => parentOf(p) === dir).map((p) => p.slice(p.lastIndexOf('/') + 1)).sort();
  }

  /** An entry in `dir` came or went: its mtime moves to now, or stays if later (LocalTimes keeps the later of the two). */
  entriesChanged(dir: string, now: number): void {
    const d = this.nodes.get(dir);
    if (d?.kind === 'dir') d.mtimes = [Math.max(now, ...d.mtimes)];
  }
}

// ---- the commands ---------------------------------------------------------------------------

type How = 'r' | 'w' | 'rw' | 'trunc';
type Cmd =
  | { op: 'create'; path: string; perms: number }
  | { op: 'open'; path: string; how: How }
  | { op: 'write'; h: number; offset: number | 'end'; data: Uint8Array }
  | { op: 'read'; h: number; offset: number; length: number }
  | { op: 'ftruncate'; h: number; size: number }
  | { op: 'truncate'; path: string; size: number }
  | { op: 'close'; h: number }
  | { op: 'fsync'; h: number }
  | { op: 'rename'; src: string; dest: string }
  | { op: 'unlink'; path: string }
  | { op: 'mkdir'; path: string; perms: number }
  | { op: 'rmdir'; path: string }
  | { op: 'chmod'; path: string; perms: number }
  | { op: 'utimens'; path: string; mtime: number | 'now' | 'omit' }
  | { op: 'tick'; ms: number }
  | { op: 'getattr'; path: string }
  | { op: 'readdir'; path: string }
  | { op: 'faulty'; target: StoreOp | 'any'; fault: Fault; count: number; then: Cmd };

const NAMES = ['a', 'b'];
const name = fc.constantFrom(...NAMES);
/** Top-level names more often: a name below one exists only once its directory was made. */
const path = fc.oneof({ weight: 2, arbitrary: name.map((n) => `/${n}`) }, { weight: 1, arbitrary: fc.tuple(name, name).map(([d, n]) => `/${d}/${n}`) });
const perms = fc.integer({ min: 0, max: 0o777 });
const handle = fc.nat({ max: 7 });
/** Small more often: memory content ends at 64 bytes (then it is staged), and reads inside a file matter as much as at its end. */
const size = fc.oneof(fc.nat({ max: 70 }), fc.nat({ max: 400 }));
const length = fc.oneof(fc.integer({ min: 1, max: 16 }), fc.integer({ min: 1, max: 300 }));
const tickMs = fc.constantFrom(100, 999, 1000, 2500, 70_000);

const readOnlyCmd: fc.Arbitrary<Cmd> = fc.oneof(
  fc.record({ op: fc.constant('read' as const), h: handle, offset: fc.oneof(fc.constant(0), size), length }),
  fc.record({ op: fc.constant('getattr' as const), path }),
  fc.record({ op: fc.constant('readdir' as const), path: fc.oneof(fc.constant('/'), path) }),
  fc.record({ op: fc.constant('open' as const), path, how: fc.constant<How>('r') }),
);

/** What a fault may be wrapped around: operations whose failure leaves nothing half done. */
const faultyCmd: fc.Arbitrary<Cmd> = fc.record({
  op: fc.constant('faulty' as const),
  target: fc.oneof(fc.constant<'any'>('any'), fc.constantFrom<StoreOp>('head', 'get', 'list', 'put', 'copy', 'initiate', 'part', 'complete')),
  fault: fc.constantFrom<Fault>('reset', 'unavailable', 'timeout', 'denied'),
  count: fc.integer({ min: 1, max: 3 }),
  then: fc.oneof(
    { weight: 2, arbitrary: readOnlyCmd },
    { weight: 3, arbitrary: fc.record({ op: fc.constant('fsync' as const), h: handle }) },
    // The uploads and attribute writes a tick starts fail, and must be tried again later.
    { weight: 4, arbitrary: fc.record({ op: fc.constant('tick' as const), ms: tickMs }) },
  ),
});

const command: fc.Arbitrary<Cmd> = fc.oneof(
  { weight: 5, arbitrary: fc.record({ op: fc.constant('create' as const), path, perms }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('open' as const), path, how: fc.constantFrom<How>('r', 'w', 'rw', 'trunc') }) },
  {
    weight: 8,
    arbitrary: fc.record({
      op: fc.constant('write' as const),
      h: handle,
      // Appends keep new content in memory (up to 64 bytes); any other write stages it.
      offset: fc.oneof(fc.constant<'end'>('end'), size),
      data: fc.oneof(fc.uint8Array({ minLength: 1, maxLength: 24 }), fc.uint8Array({ minLength: 1, maxLength: 200 })),
    }),
  },
  { weight: 5, arbitrary: fc.record({ op: fc.constant('read' as const), h: handle, offset: fc.oneof(fc.constant(0), size), length }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('ftruncate' as const), h: handle, size }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('truncate' as const), path, size }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('close' as const), h: handle }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('fsync' as const), h: handle }) },
  { weight: 4, arbitrary: fc.record({ op: fc.constant('rename' as const), src: path, dest: path }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('unlink' as const), path }) },
  { weight: 3, arbitrary: fc.record({ op: fc.constant('mkdir' as const), path, perms }) },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('rmdir' as const), path }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('chmod' as const), path, perms }) },
  {
    weight: 2,
    arbitrary: fc.record({
      op: fc.constant('utimens' as const),
      path,
      mtime: fc.oneof(fc.constantFrom<'now' | 'omit'>('now', 'omit'), fc.integer({ min: -86_400_000, max: 86_400_000 }).map((d) => BASE + d)),
    }),
  },
  { weight: 1, arbitrary: fc.record({ op: fc.constant('tick' as const), ms: tickMs }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('getattr' as const), path }) },
  { weight: 2, arbitrary: fc.record({ op: fc.constant('readdir' as const), path: fc.oneof(fc.constant('/'), path) }) },
  { weight: 6, arbitrary: faultyCmd },
);

/** What the runs exercised, so that a generator that stopped reaching the interesting cases fails the test. */
const seen = { backgroundRetries: 0, bytesRead: 0, remountedBytes: 0, faultsSurfaced: 0, errnosChecked: 0, renames: 0, multipartUploads: 0 };

/** Work left for a timer (a closed new file's upload, an attribute change), then a tick whose requests fail. */
const failingBackground: fc.Arbitrary<Cmd[]> = fc.tuple(
  fc.oneof(fc.record({ op: fc.constant('close' as const), h: handle }), fc.record({ op: fc.constant('chmod' as const), path, perms })),
  fc.record({
    op: fc.constant('faulty' as const),
    target: fc.constantFrom<StoreOp | 'any'>('any', 'put', 'get', 'initiate'),
    fault: fc.constantFrom<Fault>('reset', 'unavailable', 'timeout', 'denied'),
    count: fc.integer({ min: 1, max: 3 }),
    then: fc.record({ op: fc.constant('tick' as const), ms: fc.constantFrom(1000, 2500) }),
  }),
);

/** Picks the handle opened last. */
const LAST_HANDLE = -1;

/** A directory with a file open in it that has content to upload, renamed. */
const openTreeRenamed: fc.Arbitrary<Cmd[]> = fc
  .tuple(name, name, name, fc.uint8Array({ minLength: 1, maxLength: 100 }))
  .map(([dir, file, to, data]): Cmd[] => [
    { op: 'mkdir', path: `/${dir}`, perms: 0o755 },
    { op: 'create', path: `/${dir}/${file}`, perms: 0o644 },
    { op: 'write', h: LAST_HANDLE, offset: 'end', data },
    { op: 'rename', src: `/${dir}`, dest: `/${to}` },
  ]);

const steps: fc.Arbitrary<Cmd[]> = fc
  .array(
    fc.oneof(
      { weight: 20, arbitrary: command.map((c) => [c]) },
      { weight: 2, arbitrary: failingBackground },
      { weight: 1, arbitrary: openTreeRenamed },
    ),
    { maxLength: MAX_COMMANDS, size: 'max' },
  )
  .map((groups) => groups.flat());

const FAULT_ERRNO: Record<Fault, string> = { reset: 'EIO', unavailable: 'EIO', timeout: 'ETIMEDOUT', denied: 'EACCES' };

// ---- running them -----------------------------------------------------------------------------

const CREATOR = { uid: 1000, gid: 1000 };
let keyring: Keyring;
let cacheRoot: string;
const realSetTimeout = globalThis.setTimeout;
const realClearTimeout = globalThis.clearTimeout;

beforeAll(() => {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  keyring = new Keyring({ writer: rsaMasterKey({ privateKeyPem: privateKey.export({ type: 'pkcs1', format: 'pem' }) as string }) });
  cacheRoot = mkdtempSync(join(tmpdir(), 'ossencfs-model-'));
});
afterAll(() => rmSync(cacheRoot, { recursive: true, force: true }));

/** Errors the core logs (an upload after close that failed and waits for another try): kept, not printed. */
const quietLog = (): Logger & { lines: string[] } => {
  const lines: string[] = [];
  const keep = (m: string): void => void lines.push(m);
  return { lines, error: keep, warn: keep, info: () => {}, debug: () => {} };
};

let mounts = 0;
function mount(store: MemoryStore, writeBackMs: number): { fs: Filesystem; log: ReturnType<typeof quietLog>; memory: MemoryBudget } {
  const log = quietLog();
  const { fs, memory } = buildFilesystem(store, keyring, {
    prefix: '',
    ownership: { owner: { uid: 0, gid: 0 }, umask: 0o022, forced: {}, rootPerms: 0o755 },
    attrTtlMs: 1000,
    // On the fake clock, so a tick expires what is cached and the next lookups go to the store.
    attrCache: { entries: 1000, clock: { now: () => Date.now() } },
    writeBackMs,
    cacheDir: join(cacheRoot, String(mounts++)),
    cacheSize: 4 * 1024 * 1024,
    blockSize: 64 * 1024,
    // Content past 64 bytes moves to a staging file, and past 128 goes up as a multipart upload.
    memoryLimit: 64,
    readOnly: false,
    log,
    bucket: { partSize: 100 * 1024, multipartThreshold: 128, concurrency: 2 },
  });
  return { fs, log, memory };
}

/** Real time an operation may take: one that waits for a timer (fake here) would never end. */
const HUNG_MS = 5000;

type Outcome<T> = { ok: T } | { errno: string; message: string };
async function outcome<T>(p: Promise<T>): Promise<Outcome<T>> {
  let watchdog: NodeJS.Timeout | undefined;
  const hung = new Promise<never>((_, reject) => {
    watchdog = realSetTimeout(() => reject(new Error(`an operation did not finish in ${HUNG_MS} ms of real time`)), HUNG_MS);
  });
  try {
    return { ok: await Promise.race([p, hung]) };
  } catch (err) {
    if (err instanceof FsError) return { errno: err.errno, message: err.message };
    throw err;
  } finally {
    realClearTimeout(watchdog);
  }
}

/** Lets what a release or a timer started (uploads, attribute writes: real I/O) finish before the next operation. */
async function settle(fs: Filesystem): Promise<void> {
  await fs.idle();
  // And the lookups a listing started ahead, which nothing waits for.
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
}

class Run {
  readonly model = new Model();
  readonly trace: string[] = [];

  constructor(
    readonly store: MemoryStore,
    public fs: Filesystem,
  ) {}

  private now(): number {
    return Date.now();
  }

  private fail(msg: string): never {
    throw new Error(`${msg}\n  after:\n    ${this.trace.join('\n    ')}`);
  }

  /** The errno of the fault wrapped around the operation under way, which it may answer with instead. */
  private faultErrno: string | undefined;

  private expectErrno(o: Outcome<unknown>, expected: string[], what: string): void {
    const errnos = this.faultErrno ? [...expected, this.faultErrno] : expected;
    if ('ok' in o) this.fail(`${what}: succeeded, expected ${errnos.join('|')}`);
    if (!errnos.includes(o.errno)) this.fail(`${what}: ${o.errno} (${o.message}), expected ${errnos.join('|')}`);
    if (o.errno === this.faultErrno && !expected.includes(o.errno)) seen.faultsSurfaced++;
    else seen.errnosChecked++;
  }

  private expectOk<T>(o: Outcome<T>, what: string): T | undefined {
    const allowed = this.faultErrno;
    if ('ok' in o) return o.ok;
    if (allowed !== undefined && o.errno === allowed) {
      seen.faultsSurfaced++;
      return undefined;
    }
    this.fail(`${what}: ${o.errno} (${o.message}), expected success${allowed ? ` or ${allowed}` : ''}`);
  }

  /** The kernel answers itself for a path whose parents are not all directories: getattr must agree. */
  private async unreachable(path: string): Promise<boolean> {
    if (this.model.resolvable(path)) return false;
    this.expectErrno(await outcome(this.fs.getattr(path)), ['ENOENT', 'ENOTDIR'], `getattr ${path} below a missing directory`);
    return true;
  }

  private pick(h: number, need: 'readable' | 'writable' | 'any'): Handle | undefined {
    const hs = this.model.handles;
    if (hs.length === 0) return undefined;
    const picked = h === LAST_HANDLE ? hs.at(-1)! : hs[h % hs.length]!;
    return need === 'any' || picked[need] ? picked : undefined;
  }

  async run(cmd: Cmd): Promise<void> {
    this.trace.push(JSON.stringify(cmd, (_, v: unknown) => (v instanceof Uint8Array ? `${v.length} bytes` : v)));
    const m = this.model;
    const fs = this.fs;
    switch (cmd.op) {
      case 'create': {
        if (await this.unreachable(cmd.path)) return;
        if (m.nodes.has(cmd.path)) return this.checkAttr(cmd.path);
        const fh = this.expectOk(await outcome(fs.create(cmd.path, S_IFREG | cmd.perms, CREATOR)), `create ${cmd.path}`)!;
        const node: MFile = { kind: 'file', data: Buffer.alloc(0), mode: S_IFREG | cmd.perms, mtimes: [this.now()] };
        m.nodes.set(cmd.path, node);
        m.entriesChanged(parentOf(cmd.path), this.now());
        m.handles.push({ fh, node, readable: true, writable: true });
        return;
      }
      case 'open': {
        if (await this.unreachable(cmd.path)) return;
        const flags = { r: constants.O_RDONLY, w: constants.O_WRONLY, rw: constants.O_RDWR, trunc: constants.O_WRONLY | constants.O_TRUNC }[cmd.how];
        const o = await outcome(fs.open(cmd.path, flags));
        const node = m.nodes.get(cmd.path);
        if (!node) return this.expectErrno(o, ['ENOENT'], `open ${cmd.path}`);
        if (node.kind === 'dir') return this.expectErrno(o, ['EISDIR'], `open ${cmd.path}`);
        const fh = this.expectOk(o, `open ${cmd.path}`);
        if (fh === undefined) return;
        if (cmd.how === 'trunc') {
          node.mtimes = node.data.length === 0 ? [...node.mtimes, this.now()] : [this.now()];
          node.data = Buffer.alloc(0);
        }
        m.handles.push({ fh, node, readable: cmd.how === 'r' || cmd.how === 'rw', writable: cmd.how !== 'r' });
        return;
      }
      case 'write': {
        const h = this.pick(cmd.h, 'writable');
        if (!h) return;
        const data = Buffer.from(cmd.data);
        const offset = cmd.offset === 'end' ? h.node.data.length : cmd.offset;
        const n = this.expectOk(await outcome(fs.write(h.fh, offset, data)), `write fh ${h.fh} at ${offset}`);
        if (n !== data.length) this.fail(`write fh ${h.fh}: wrote ${n} of ${data.length}`);
        const grown = Buffer.alloc(Math.max(h.node.data.length, offset + data.length));
        h.node.data.copy(grown);
        data.copy(grown, offset);
        h.node.data = grown;
        h.node.mtimes = [this.now()];
        return;
      }
      case 'read': {
        const h = this.pick(cmd.h, 'readable');
        if (!h) return;
        const got = this.expectOk(await outcome(fs.read(h.fh, cmd.offset, cmd.length)), `read fh ${h.fh}`);
        if (got === undefined) return;
        const want = h.node.data.subarray(cmd.offset, cmd.offset + cmd.length);
        seen.bytesRead += want.length;
        if (!got.equals(want)) this.fail(`read fh ${h.fh} at ${cmd.offset}+${cmd.length}: got ${got.length} bytes ${got.toString('hex').slice(0, 80)}, expected ${want.length} bytes ${want.toString('hex').slice(0, 80)}`);
        return;
      }
      case 'ftruncate': {
        const h = this.pick(cmd.h, 'writable');
        if (!h) return;
        this.expectOk(await outcome(fs.ftruncate(h.fh, cmd.size)), `ftruncate fh ${h.fh}`);
        this.resize(h.node, cmd.size);
        return;
      }
      case 'truncate': {
        if (await this.unreachable(cmd.path)) return;
        const o = await outcome(fs.truncate(cmd.path, cmd.size));
        const node = m.nodes.get(cmd.path);
        if (!node) return this.expectErrno(o, ['ENOENT'], `truncate ${cmd.path}`);
        if (node.kind === 'dir') return this.expectErrno(o, ['EISDIR'], `truncate ${cmd.path}`);
        this.expectOk(o, `truncate ${cmd.path}`);
        this.resize(node, cmd.size);
        return;
      }
      case 'close': {
        const h = this.pick(cmd.h, 'any');
        if (!h) return;
        this.expectOk(await outcome(fs.flush(h.fh)), `close fh ${h.fh}`);
        m.handles.splice(m.handles.indexOf(h), 1);
        this.expectOk(await outcome(fs.release(h.fh)), `release fh ${h.fh}`);
        return;
      }
      case 'fsync': {
        const h = this.pick(cmd.h, 'any');
        if (!h) return;
        this.expectOk(await outcome(fs.flush(h.fh, true)), `fsync fh ${h.fh}`);
        return;
      }
      case 'rename':
        return this.rename(cmd.src, cmd.dest);
      case 'unlink': {
        if (await this.unreachable(cmd.path)) return;
        const o = await outcome(fs.unlink(cmd.path));
        const node = m.nodes.get(cmd.path);
        if (!node) return this.expectErrno(o, ['ENOENT'], `unlink ${cmd.path}`);
        if (node.kind === 'dir') return this.expectErrno(o, ['EISDIR'], `unlink ${cmd.path}`);
        this.expectOk(o, `unlink ${cmd.path}`);
        m.nodes.delete(cmd.path);
        m.entriesChanged(parentOf(cmd.path), this.now());
        return;
      }
      case 'mkdir': {
        if (await this.unreachable(cmd.path)) return;
        if (m.nodes.has(cmd.path)) return this.checkAttr(cmd.path);
        this.expectOk(await outcome(fs.mkdir(cmd.path, S_IFDIR | cmd.perms, CREATOR)), `mkdir ${cmd.path}`);
        m.nodes.set(cmd.path, { kind: 'dir', mode: S_IFDIR | cmd.perms, mtimes: [this.now()] });
        m.entriesChanged(parentOf(cmd.path), this.now());
        return;
      }
      case 'rmdir': {
        if (await this.unreachable(cmd.path)) return;
        const o = await outcome(fs.rmdir(cmd.path));
        const node = m.nodes.get(cmd.path);
        if (!node) return this.expectErrno(o, ['ENOENT'], `rmdir ${cmd.path}`);
        if (node.kind !== 'dir') return this.expectErrno(o, ['ENOTDIR'], `rmdir ${cmd.path}`);
        if (m.children(cmd.path).length > 0) return this.expectErrno(o, ['ENOTEMPTY'], `rmdir ${cmd.path}`);
        this.expectOk(o, `rmdir ${cmd.path}`);
        m.nodes.delete(cmd.path);
        m.entriesChanged(parentOf(cmd.path), this.now());
        return;
      }
      case 'chmod': {
        if (await this.unreachable(cmd.path)) return;
        const o = await outcome(fs.chmod(cmd.path, cmd.perms));
        const node = m.nodes.get(cmd.path);
        if (!node) return this.expectErrno(o, ['ENOENT'], `chmod ${cmd.path}`);
        this.expectOk(o, `chmod ${cmd.path}`);
        node.mode = (node.kind === 'dir' ? S_IFDIR : S_IFREG) | cmd.perms;
        return;
      }
      case 'utimens': {
        if (await this.unreachable(cmd.path)) return;
        const o = await outcome(fs.utimens(cmd.path, 'omit', cmd.mtime));
        const node = m.nodes.get(cmd.path);
        if (!node) return this.expectErrno(o, ['ENOENT'], `utimens ${cmd.path}`);
        this.expectOk(o, `utimens ${cmd.path}`);
        if (cmd.mtime !== 'omit') node.mtimes = [cmd.mtime === 'now' ? this.now() : cmd.mtime];
        return;
      }
      case 'tick':
        await vi.advanceTimersByTimeAsync(cmd.ms);
        await settle(this.fs);
        return;
      case 'getattr':
        if (await this.unreachable(cmd.path)) return;
        return this.checkAttr(cmd.path);
      case 'readdir':
        if (cmd.path !== '/' && (await this.unreachable(cmd.path))) return;
        return this.checkNames(cmd.path);
      case 'faulty': {
        this.store.failNext(cmd.target, cmd.count, cmd.fault);
        try {
          this.faultErrno = FAULT_ERRNO[cmd.fault];
          await this.run(cmd.then);
        } finally {
          this.faultErrno = undefined;
          await settle(this.fs);
          this.store.clearFaults();
        }
        return;
      }
    }
  }

  private resize(node: MFile, size: number): void {
    if (size === node.data.length) {
      node.mtimes = [...node.mtimes, this.now()];
      return;
    }
    const resized = Buffer.alloc(size);
    node.data.copy(resized, 0, 0, Math.min(size, node.data.length));
    node.data = resized;
    node.mtimes = [this.now()];
  }

  private async rename(src: string, dest: string): Promise<void> {
    const m = this.model;
    if (src === dest) return;
    if ((await this.unreachable(src)) || (await this.unreachable(dest))) return;
    const o = await outcome(this.fs.rename(src, dest));
    const what = `rename ${src} ${dest}`;
    const from = m.nodes.get(src);
    const to = m.nodes.get(dest);
    if (!from) return this.expectErrno(o, ['ENOENT'], what);
    if (from.kind === 'dir') {
      if (isBelow(dest, src)) return this.expectErrno(o, ['EINVAL'], what);
      if (to && to.kind !== 'dir') return this.expectErrno(o, ['ENOTDIR'], what);
      if (to && m.children(dest).length > 0) return this.expectErrno(o, ['ENOTEMPTY'], what);
    } else if (to?.kind === 'dir') {
      return this.expectErrno(o, ['EISDIR'], what);
    }
    this.expectOk(o, what);
    seen.renames++;
    const moved = [...m.nodes].filter(([p]) => p === src || isBelow(p, src));
    for (const [p] of moved) m.nodes.delete(p);
    m.nodes.delete(dest);
    for (const [p, node] of moved) m.nodes.set(dest + p.slice(src.length), node);
    m.entriesChanged(parentOf(src), this.now());
    m.entriesChanged(parentOf(dest), this.now());
  }

  async checkAttr(path: string, afterRemount = false): Promise<void> {
    const o = await outcome(this.fs.getattr(path));
    const node = this.model.nodes.get(path);
    if (!node) return 'ok' in o ? this.fail(`getattr ${path}: found, expected ENOENT`) : this.expectErrno(o, ['ENOENT'], `getattr ${path}`);
    const attr = this.expectOk(o, `getattr ${path}`);
    if (!attr) return;
    const size = node.kind === 'dir' ? DIR_SIZE : node.data.length;
    if (attr.kind !== node.kind || attr.mode !== node.mode || attr.size !== size) {
      this.fail(`getattr ${path}: ${attr.kind} mode 0${attr.mode.toString(8)} size ${attr.size}, expected ${node.kind} mode 0${node.mode.toString(8)} size ${size}`);
    }
    // A directory's mtime as moved by its entries is the mount's own (LocalTimes): a remount shows the bucket's.
    if (afterRemount && node.kind === 'dir') return;
    if (!node.mtimes.includes(attr.mtime)) this.fail(`getattr ${path}: mtime ${attr.mtime - BASE}, expected one of ${node.mtimes.map((t) => t - BASE).join(', ')} (ms from the start)`);
    node.mtimes = [attr.mtime];
  }

  async checkNames(dir: string): Promise<void> {
    const o = await outcome(this.fs.readdir(dir));
    const node = dir === '/' ? ({ kind: 'dir' } as const) : this.model.nodes.get(dir);
    if (!node) return this.expectErrno(o, ['ENOENT'], `readdir ${dir}`);
    if (node.kind !== 'dir') return this.expectErrno(o, ['ENOTDIR'], `readdir ${dir}`);
    const names = this.expectOk(o, `readdir ${dir}`);
    if (!names) return;
    const got = names.filter((n) => n !== '.' && n !== '..').sort();
    const want = this.model.children(dir);
    if (got.join('/') !== want.join('/')) this.fail(`readdir ${dir}: [${got.join(', ')}], expected [${want.join(', ')}]`);
  }

  /** Every path the model has: its attributes, its listing, its whole content. */
  async checkAll(afterRemount = false): Promise<void> {
    await this.checkNames('/');
    for (const [p, node] of [...this.model.nodes].sort(([a], [b]) => (a < b ? -1 : 1))) {
      await this.checkAttr(p, afterRemount);
      if (node.kind === 'dir') {
        await this.checkNames(p);
        continue;
      }
      const fh = this.expectOk(await outcome(this.fs.open(p, constants.O_RDONLY)), `open ${p} to compare`)!;
      const got = this.expectOk(await outcome(this.fs.read(fh, 0, node.data.length + 10)), `read ${p} to compare`)!;
      this.expectOk(await outcome(this.fs.release(fh)), `release ${p}`);
      if (afterRemount) seen.remountedBytes += got.length;
      if (!got.equals(node.data)) this.fail(`${p}${afterRemount ? ' after a remount' : ''}: ${got.length} bytes ${got.toString('hex').slice(0, 80)}, expected ${node.data.length} bytes ${node.data.toString('hex').slice(0, 80)}`);
    }
  }

  async closeAll(): Promise<void> {
    while (this.model.handles.length > 0) await this.run({ op: 'close', h: 0 });
  }
}

describe('Filesystem against a model, over the in-memory store', () => {
  it('every answer matches the model, and a remount shows what was closed', async () => {
    await fc.assert(
      fc.asyncProperty(
        steps,
        fc.constantFrom(0, 2000),
        fc.boolean(),
        async (cmds, writeBackMs, unmount) => {
          vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: BASE });
          try {
            const store = new MemoryStore();
            const first = mount(store, writeBackMs);
            const retriesLogged = (): number => first.log.lines.filter((l) => /trying again/.test(l)).length;
            const run = new Run(store, first.fs);
            const traced = (err: unknown): never => {
              if (err instanceof Error && !err.message.includes('\n  after:')) err.message += `\n  after:\n    ${run.trace.join('\n    ')}`;
              throw err;
            };
            const session = async (): Promise<void> => {
              for (const cmd of cmds) await run.run(cmd);
              await run.closeAll();
              // The end of the mount: unmount uploads what waits; or the timers run out, untouched
              // (a look at a file would arm its write-back anew), and only then is it looked at.
              if (unmount) {
                await run.checkAll();
                await first.fs.flushAll();
              } else {
                await vi.advanceTimersByTimeAsync(10 * 60_000);
                await settle(first.fs);
                await run.checkAll();
                // Every file closed and retired: none holds content in memory any more.
                expect(first.memory.holders().filter((h) => h.account === 'staging')).toEqual([]);
              }
              run.trace.push(unmount ? '-- unmount, remount' : '-- ten minutes, remount');
              run.fs = mount(store, writeBackMs).fs;
              await run.checkAll(true);
            };
            await session().catch(traced);
            seen.backgroundRetries += retriesLogged();
            seen.multipartUploads += store.calls.complete;
          } finally {
            vi.useRealTimers();
          }
        },
      ),
      {
        numRuns: NUM_RUNS,
        ...(process.env.MODEL_SEED ? { seed: Number(process.env.MODEL_SEED), path: process.env.MODEL_PATH } : {}),
      },
    );
    console.log(`model runs: ${NUM_RUNS}, exercised: ${JSON.stringify(seen)}`);
    for (const [what, count] of Object.entries(seen)) expect(count, what).toBeGreaterThan(0);
  }, Number(process.env.MODEL_TIMEOUT_MS ?? 60_000));
});
