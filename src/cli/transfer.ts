import { randomBytes } from 'node:crypto';
import { createWriteStream, statSync, type Stats } from 'node:fs';
import { chmod, lstat, mkdir, readdir, readlink, rename, stat, symlink, unlink, utimes } from 'node:fs/promises';
import { basename, dirname, join, resolve, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CryptoError } from '../crypto/index.js';
import { FsError } from '../errors.js';
import { DirectoryIndexes, encodePosixMeta, splitMeta, storedXattrs } from '../secure/index.js';
import { createLimiter } from '../util/limit.js';
import { printable } from '../util/printable.js';
import { dirPrefix, listObjects, objectError } from './listing.js';
import { ensureDirInside, ensureParentInside, isSymlinkMode, localMode, resolveTarget } from './localDest.js';
import { isOssUrl, type OpenedBucket, openBucket, type OssLocation, ossUrl, parseOssUrl, type Settings, UsageError } from './options.js';
import { createProgress, type Progress } from './progress.js';
import { resumableGet } from './resumableGet.js';
import { resumablePut } from './resumablePut.js';
import { TreeIndex } from './treeIndex.js';

/**
 * get / put / cp: copies between local files and objects (either way) and between objects.
 * Names follow cp(1): a destination that is an existing directory, or ends with '/', receives the
 * source under its own name; otherwise the destination is the new name. Trees need -r.
 */

export interface TransferOptions {
  recursive: boolean;
  /** Plaintext bytes per part for large uploads. */
  partSize: number;
  /** put -r: upload what symlinks in the tree point at (rsync's --copy-links), not the links. */
  copyLinks: boolean;
  settings: Settings;
}

type Place = { kind: 'local'; path: string } | { kind: 'oss'; loc: OssLocation };

/**
 * One unit of work; directories carry their own mode/mtime so markers and local dirs match.
 * `root`: the local directory a tree download writes under, which nothing may leave.
 */
type Item =
  /** `link`: a local symlink in a tree put -r uploads, stored as the mount stores one. */
  | { kind: 'file'; from: string; to: string; size: number; root?: string; link?: true }
  | { kind: 'dir'; from?: string; to: string; root?: string };

/** A symlink object read during a download, made once every file is in place. */
interface PendingLink {
  from: string;
  target: string;
  to: string;
  root?: string;
}

export type Direction = 'get' | 'put' | 'cp';

export function placeOf(arg: string): Place {
  return isOssUrl(arg) ? { kind: 'oss', loc: parseOssUrl(arg) } : { kind: 'local', path: arg };
}

/** Checks the two arguments suit the command; a usage error otherwise. */
export function checkDirection(direction: Direction, src: string, dest: string): void {
  const from = placeOf(src).kind;
  const to = placeOf(dest).kind;
  if (direction === 'get' && (from !== 'oss' || to !== 'local')) throw new UsageError('get copies oss://BUCKET/KEY to a local path');
  if (direction === 'put' && (from !== 'local' || to !== 'oss')) throw new UsageError('put copies a local path to oss://BUCKET/KEY');
  if (from === 'local' && to === 'local') throw new UsageError('one of SRC and DEST must be an oss:// url');
  if (direction === 'put' && src === '-' && (dest.endsWith('/') || parseOssUrl(dest).prefix === '')) throw new UsageError('put - needs the object name: oss://BUCKET/KEY');
}

export async function transfer(src: string, dest: string, o: TransferOptions): Promise<void> {
  const from = placeOf(src);
  const to = placeOf(dest);
  const opened = new Map<string, OpenedBucket>();
  const open = (name: string): OpenedBucket => {
    let b = opened.get(name);
    if (!b) opened.set(name, (b = openBucket(o.settings, name)));
    return b;
  };
  const items = from.kind === 'local' ? await planLocal(from.path, to, o) : await planOss(open(from.loc.bucket), from.loc, to, o.recursive);
  const files = items.filter((i): i is Extract<Item, { kind: 'file' }> => i.kind === 'file');
  const progress = createProgress({
    label: files.length === 1 ? printable(basename(files[0]!.from)) : `${files.length} files`,
    total: files.reduce((sum, f) => sum + f.size, 0),
    unit: 'bytes',
    quiet: o.settings.quiet,
  });
  const note = (m: string): void => {
    if (!o.settings.quiet) process.stderr.write(`ossencfs: ${printable(m)}\n`);
  };
  // One file gets all --jobs as parallel parts; a tree spends them on files instead.
  const oneFileJobs = from.kind === 'oss' && to.kind === 'local' ? o.settings.downloadJobs : o.settings.jobs;
  const partJobs = files.length === 1 ? oneFileJobs : 1;
  const links: PendingLink[] = [];
  const index = from.kind === 'local' && to.kind === 'oss' && o.recursive ? new TreeIndex() : undefined;
  const step = makeStep(from, to, open, { ...o, partJobs, progress, note, links, ...(index ? { index } : {}) });
  try {
    // Directories first, so their files land in them; then files, --jobs at a time.
    for (const item of items) if (item.kind === 'dir') await step(item);
    const limit = createLimiter(o.settings.jobs);
    const results = await Promise.allSettled(files.map((f) => limit(() => step(f))));
    // Links last, one at a time: no file is then written through a link the bucket planted.
    if (from.kind === 'oss') for (const link of links) results.push(await makeLink(link, from.loc.bucket).then(ok, notOk));
    if (index && to.kind === 'oss') await index.write(open(to.loc.bucket).bucket).catch((err: Error) => note(`directory indexes not written (a mount will ask for each file's attributes): ${err.message}`));
    const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failures.length === 1) throw failures[0]!.reason;
    if (failures.length > 1) {
      progress.stop();
      for (const f of failures) process.stderr.write(`ossencfs: ${printable((f.reason as Error).message)}\n`);
      throw new FsError('EIO', `${failures.length} of ${files.length} files failed`);
    }
    // Directory times last: writing files into a directory moves its mtime.
    if (to.kind === 'local') for (const item of items) if (item.kind === 'dir' && item.from) await applyDirTimes(open, from, item);
  } finally {
    progress.stop();
  }
}

const ok = (): PromiseSettledResult<void> => ({ status: 'fulfilled', value: undefined });
const notOk = (reason: unknown): PromiseSettledResult<void> => ({ status: 'rejected', reason });

interface StepContext extends TransferOptions {
  partJobs: number;
  progress: Progress;
  links: PendingLink[];
  /** A tree's upload: collects what each PutObject made, for the directories' indexes. */
  index?: TreeIndex;
  note(message: string): void;
}

function makeStep(from: Place, to: Place, open: (bucket: string) => OpenedBucket, c: StepContext): (item: Item) => Promise<void> {
  if (from.kind === 'local' && to.kind === 'oss') {
    const dest = open(to.loc.bucket);
    return (item) => (item.kind === 'dir' ? putMarker(dest, to.loc.bucket, item) : uploadFile(dest, to.loc.bucket, item, c));
  }
  if (from.kind === 'oss' && to.kind === 'local') {
    const source = open(from.loc.bucket);
    return (item) => (item.kind === 'dir' ? ensureDirInside(item.root ?? item.to, item.to) : downloadFile(source, from.loc.bucket, item, c));
  }
  if (from.kind === 'oss' && to.kind === 'oss') {
    const source = open(from.loc.bucket);
    const dest = open(to.loc.bucket);
    return (item) => copyObject(source, from.loc.bucket, dest, to.loc.bucket, { from: item.from ?? '', to: item.to }, c);
  }
  throw new UsageError('one of SRC and DEST must be an oss:// url');
}

// ---- planning ----

async function planLocal(path: string, to: Place, o: Pick<TransferOptions, 'recursive' | 'copyLinks'>): Promise<Item[]> {
  if (to.kind !== 'oss') throw new UsageError('one of SRC and DEST must be an oss:// url');
  if (path === '-') return [{ kind: 'file', from: path, to: to.loc.prefix, size: 0 }];
  const info = await statOrFail(path);
  const into = to.loc.prefix === '' || to.loc.prefix.endsWith('/');
  const name = basename(resolve(path));
  if (!info.isDirectory()) return [{ kind: 'file', from: path, to: into ? to.loc.prefix + name : to.loc.prefix, size: info.size }];
  if (!o.recursive) throw new UsageError(`${path} is a directory — pass -r to copy a tree`);
  const root = into ? `${to.loc.prefix}${name}/` : `${to.loc.prefix}/`;
  const items: Item[] = [{ kind: 'dir', from: path, to: root }];
  const top = await stat(path);
  await walkLocal(path, '', o.copyLinks, new Set([`${top.dev}:${top.ino}`]), (entry) => {
    const to = entry.kind === 'dir' ? `${root}${entry.rel}/` : root + entry.rel;
    items.push(entry.kind === 'dir' ? { kind: 'dir', from: entry.full, to } : { kind: 'file', from: entry.full, to, size: entry.size, ...(entry.kind === 'link' ? { link: true as const } : {}) });
  });
  return items;
}

interface LocalEntry {
  kind: 'dir' | 'file' | 'link';
  full: string;
  /** Its path below the tree's root, '/'-separated. */
  rel: string;
  /** Bytes to upload: a link's is its target's text. */
  size: number;
}

/**
 * Every entry below `dir`, parents before children. A symlink is one entry, as the mount stores
 * one (dangling or not); with `follow`, what it points at instead, a directory walked unless it is
 * one of its own ancestors (`seen`: dev:ino of the directories above).
 */
async function walkLocal(dir: string, rel: string, follow: boolean, seen: ReadonlySet<string>, add: (entry: LocalEntry) => void): Promise<void> {
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const full = join(dir, entry.name);
    const below = rel ? `${rel}/${entry.name}` : entry.name;
    if (entry.isSymbolicLink() && !follow) {
      add({ kind: 'link', full, rel: below, size: (await readlink(full, { encoding: 'buffer' })).length });
      continue;
    }
    // A followed link is what it points at; anything else is itself.
    const info = await (entry.isSymbolicLink() ? stat(full) : lstat(full)).catch(() => undefined);
    if (!info) {
      process.stderr.write(`ossencfs: skipping ${full} (${entry.isSymbolicLink() ? 'a symlink to nothing, and --copy-links follows links' : 'gone'})\n`);
    } else if (info.isDirectory()) {
      const id = `${info.dev}:${info.ino}`;
      if (seen.has(id)) {
        process.stderr.write(`ossencfs: skipping ${full} (a symlink to a directory above it)\n`);
        continue;
      }
      add({ kind: 'dir', full, rel: below, size: 0 });
      await walkLocal(full, below, follow, new Set([...seen, id]), add);
    } else if (info.isFile()) {
      add({ kind: 'file', full, rel: below, size: info.size });
    } else {
      // Sockets and devices have no object form the SDKs would understand.
      process.stderr.write(`ossencfs: skipping ${full} (not a regular file, directory or symlink)\n`);
    }
  }
}

async function planOss(source: OpenedBucket, loc: OssLocation, to: Place, recursive: boolean): Promise<Item[]> {
  const url = ossUrl(loc.bucket, loc.prefix);
  const base = dirPrefix(loc.prefix);
  const isDir = loc.prefix === '' || loc.prefix.endsWith('/');
  if (!recursive || !isDir) {
    const head = isDir ? undefined : await source.store.head(loc.prefix).catch((err: unknown) => {
      if (err instanceof FsError && err.errno === 'ENOENT') return undefined;
      throw objectError(err, loc.bucket, loc.prefix);
    });
    if (head) return [{ kind: 'file', from: loc.prefix, to: fileDest(to, basename(loc.prefix)), size: head.size }];
    const first = await source.bucket.list(base, { maxKeys: 1 });
    if (first.objects.length === 0 && first.prefixes.length === 0) throw new FsError('ENOENT', `${url}: no such object`);
    if (!recursive) throw new UsageError(`${url} is a directory — pass -r to copy a tree`);
  }
  const name = basename(base);
  const root = treeDest(to, name);
  const items: Item[] = [];
  for await (const object of listObjects(source.bucket, base)) {
    // A directory's index describes objects of that bucket: the copy gets its own when mounted.
    if (DirectoryIndexes.isIndex(object.key)) continue;
    const rel = object.key.slice(base.length);
    const local = to.kind === 'local' ? { root } : {};
    if (rel === '' || rel.endsWith('/')) items.push({ kind: 'dir', from: object.key, to: childDest(to, root, rel), ...local });
    else items.push({ kind: 'file', from: object.key, to: childDest(to, root, rel), size: object.size, ...local });
  }
  if (items.length === 0) throw new FsError('ENOENT', `${url}: no objects under it`);
  return items;
}

/** Where a single source named `name` goes. */
function fileDest(to: Place, name: string): string {
  if (to.kind === 'oss') return to.loc.prefix === '' || to.loc.prefix.endsWith('/') ? to.loc.prefix + name : to.loc.prefix;
  if (to.path === '-') return to.path;
  return to.path.endsWith('/') || isDirSync(to.path) ? join(to.path, name) : to.path;
}

/** The root a tree named `name` lands in (a key prefix ending in '/', or a local directory). */
function treeDest(to: Place, name: string): string {
  if (to.kind === 'oss') return to.loc.prefix === '' || to.loc.prefix.endsWith('/') ? `${to.loc.prefix}${name ? `${name}/` : ''}` : `${to.loc.prefix}/`;
  if (to.path === '-') throw new UsageError('- (standard output) takes one object, not a tree');
  return resolve(to.path.endsWith('/') || isDirSync(to.path) ? join(to.path, name) : to.path);
}

/** A key's place under the root; keys with `..` or absolute parts must not escape a local root. */
function childDest(to: Place, root: string, rel: string): string {
  if (to.kind === 'oss') return root + rel;
  const path = resolve(root, rel);
  if (path !== root && !path.startsWith(root + sep)) {
    throw new FsError('EPERM', `refusing to write ${path}: object name ${JSON.stringify(rel)} points outside ${root}`);
  }
  return path;
}

function isDirSync(path: string): boolean {
  try {
    return statSync(path).isDirectory();
  } catch {
    return false;
  }
}

async function statOrFail(path: string): Promise<Stats> {
  try {
    return await stat(path);
  } catch (err) {
    throw new FsError('ENOENT', `cannot read ${path}: ${(err as Error).message}`, { cause: err });
  }
}

// ---- steps ----

function posixMetaOf(info: Stats) {
  return encodePosixMeta({ mode: info.mode, uid: info.uid, gid: info.gid, mtime: info.mtimeMs / 1000 });
}

async function uploadFile(dest: OpenedBucket, bucket: string, item: { from: string; to: string; link?: true }, c: StepContext): Promise<void> {
  try {
    if (item.from === '-') {
      await dest.bucket.put(item.to, process.stdin);
      return;
    }
    if (item.link) {
      // As the mount's symlink(): mode S_IFLNK|0777 (lstat's), the target as the body.
      const target = await readlink(item.from, { encoding: 'buffer' });
      const { made } = await dest.bucket.put(item.to, target, { meta: posixMetaOf(await lstat(item.from)) });
      if (made) c.index?.add(made);
      c.progress.add(target.length);
      return;
    }
    const info = await stat(item.from);
    const meta = posixMetaOf(info);
    if (info.size > c.partSize) {
      await resumablePut(dest.store, dest.keyring, item.to, item.from, {
        checkpointDir: join(c.settings.cacheDir, 'checkpoints'),
        endpoint: c.settings.endpoint ?? '',
        bucket,
        partSize: c.partSize,
        concurrency: c.partJobs,
        meta,
        onProgress: (n) => c.progress.add(n),
        onNote: c.note,
      });
    } else {
      const { made } = await dest.bucket.putFile(item.to, item.from, { meta });
      if (made) c.index?.add(made);
      c.progress.add(info.size);
    }
  } catch (err) {
    const e = objectError(err, bucket, item.to);
    throw new FsError(e.errno, `put ${item.from}: ${e.message}${largeHint(err)}`, { cause: err });
  }
}

/** After a failed large upload or download the checkpoint stays; say how to use it. */
function largeHint(err: unknown): string {
  return err instanceof FsError && (err.errno === 'EIO' || err.errno === 'ETIMEDOUT') ? ' — run the same command again to resume' : '';
}

async function putMarker(dest: OpenedBucket, bucket: string, item: { from?: string; to: string }): Promise<void> {
  const meta = item.from ? posixMetaOf(await stat(item.from)) : {};
  await dest.bucket.put(item.to, Buffer.alloc(0), { meta }).catch((err: unknown) => {
    throw objectError(err, bucket, item.to);
  });
}

/**
 * Into a private temporary file next to the destination, renamed into place only when the
 * whole object decrypted (and its MD5 matched): a failed download never leaves a partial file
 * under the real name. An object larger than the part size goes through resumableGet (ranges in
 * parallel, kept across runs); into standard output or a device it is one sequential stream.
 * Files get the stored permission bits as localMode allows, or 0600 when the object records none.
 * A symlink object is only read here; c.links gets it, to be made last.
 */
async function downloadFile(source: OpenedBucket, bucket: string, item: { from: string; to: string; root?: string }, c: StepContext): Promise<void> {
  let tmp: string | undefined;
  let resumable = false;
  try {
    const head = await source.bucket.head(item.from);
    const mode = head.posix.mode;
    // Into standard output a link is its target's text, as cat shows it.
    if (isSymlinkMode(mode) && item.to !== '-') {
      const target = await linkTarget(await source.bucket.get(item.from), item.from);
      c.links.push({ from: item.from, target, to: item.to, ...(item.root ? { root: item.root } : {}) });
      return;
    }
    const target = item.root ? { kind: 'file' as const, path: item.to } : await resolveTarget(item.to);
    if (item.root) await ensureParentInside(item.root, item.to);
    else if (target.kind === 'file') await mkdir(dirname(target.path), { recursive: true, mode: 0o700 });
    const place = async (from: string, to: string): Promise<void> => {
      if (mode !== undefined) await chmod(from, localMode(mode));
      if (head.posix.mtime !== undefined) await utimes(from, head.posix.atime ?? head.posix.mtime, head.posix.mtime);
      await rename(from, to);
    };
    if (target.kind === 'file' && head.size > c.partSize) {
      resumable = true;
      await resumableGet(source.bucket, head, target.path, {
        endpoint: c.settings.endpoint ?? '',
        bucket,
        partSize: c.partSize,
        concurrency: c.partJobs,
        onProgress: (n) => c.progress.add(n),
        onResumed: (n) => c.progress.already(n),
        onNote: c.note,
        place: (part) => place(part, target.path),
      });
      return;
    }
    const body = await source.bucket.get(item.from);
    const counter = new Transform({
      transform(chunk: Buffer, _enc, done) {
        c.progress.add(chunk.length);
        done(null, chunk);
      },
    });
    if (target.kind === 'stdout') return await pipeline(body, counter, process.stdout, { end: false });
    if (target.kind === 'special') return await pipeline(body, counter, createWriteStream(target.path));
    tmp = join(dirname(target.path), `.${basename(target.path)}.${randomBytes(6).toString('hex')}.part`);
    await pipeline(body, counter, createWriteStream(tmp, { flags: 'wx', mode: 0o600 }));
    await place(tmp, target.path);
  } catch (err) {
    if (tmp) await unlink(tmp).catch(() => undefined);
    const e = objectError(err, bucket, item.from);
    // A download whose bytes failed their MD5 kept nothing to resume from.
    const kept = resumable && !(err instanceof CryptoError && err.kind === 'md5-mismatch');
    throw new FsError(e.errno, `get ${e.message}${kept ? largeHint(err) : ''}`, { cause: err });
  }
}

/** Longer than PATH_MAX is no link target a filesystem would take. */
const MAX_LINK_TARGET = 4096;

async function linkTarget(body: AsyncIterable<Buffer>, key: string): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > MAX_LINK_TARGET) throw new FsError('EIO', `${JSON.stringify(key)} is a symlink whose target is longer than ${MAX_LINK_TARGET} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** After every file: a link the bucket holds replaces what is at its name, inside the tree only. */
async function makeLink(link: PendingLink, bucket: string): Promise<void> {
  try {
    if (link.root) await ensureParentInside(link.root, link.to);
    await unlink(link.to).catch(() => undefined);
    await symlink(link.target, link.to);
  } catch (err) {
    const e = objectError(err, bucket, link.from);
    throw new FsError(e.errno, `get ${e.message}`, { cause: err });
  }
}

/**
 * Same bucket: a server-side copy that keeps ciphertext and envelope as they are. Across buckets
 * the plaintext streams through and is encrypted again under the writer key.
 */
async function copyObject(
  source: OpenedBucket,
  sourceBucket: string,
  dest: OpenedBucket,
  destBucket: string,
  item: { from: string; to: string },
  c: StepContext,
): Promise<void> {
  try {
    if (source === dest) {
      await source.bucket.copy(item.from, item.to);
      c.progress.add((await source.bucket.head(item.to)).size);
      return;
    }
    // Through the client, under the destination's key: its extended attributes opened and sealed
    // anew, its owner and mode vouched for only if they were in the source.
    const head = await source.store.head(item.from);
    const stored = storedXattrs(item.from, head.meta);
    const xattrs = stored ? await source.bucket.openXattrs(stored) : undefined;
    const vouched = source.bucket.attrMac.verified(item.from, head.meta);
    const body = await source.bucket.get(item.from);
    await dest.bucket.put(item.to, body, { size: head.size, meta: splitMeta(head.meta).user, vouched, ...(xattrs ? { xattrs } : {}), ...(head.contentType ? { contentType: head.contentType } : {}) });
    c.progress.add(head.size);
  } catch (err) {
    const e = objectError(err, sourceBucket, item.from);
    throw new FsError(e.errno, `cp ${e.message} → ${ossUrl(destBucket, item.to)}`, { cause: err });
  }
}

async function applyDirTimes(open: (bucket: string) => OpenedBucket, from: Place, item: { from?: string; to: string }): Promise<void> {
  if (from.kind !== 'oss' || !item.from || !item.from.endsWith('/')) return;
  const head = await open(from.loc.bucket).bucket.head(item.from).catch(() => undefined);
  const mode = head?.posix.mode;
  // Links were made after the directories were checked: chmod and utimes follow one.
  if (!(await lstat(item.to)).isDirectory()) return;
  if (mode !== undefined) await chmod(item.to, localMode(mode));
  if (head?.posix.mtime !== undefined) await utimes(item.to, head.posix.mtime, head.posix.mtime);
}
