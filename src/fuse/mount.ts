import { mkdirSync, statSync } from 'node:fs';
import { dirname } from 'node:path';
import type Fuse from '@ossencfs/fuse-native';
import type { Operations } from '@ossencfs/fuse-native';
import { FsError } from '../errors.js';
import type { Logger } from '../log.js';
import type { Filesystem } from '../vfs/filesystem.js';
import { type AttrMirrorMode, nativeAttrMirror } from './attrMirror.js';
import { loadCaller, mountingUser } from './caller.js';
import { type FuseBuild, type FuseBuildName, loadFuseBuild } from './fuseBuild.js';
import { fuseDevice } from './mountinfo.js';
import { serveListings } from './listingStream.js';
import { wholeListings } from './listingWhole.js';
import { fuseOperations, markedTimes } from './operations.js';
import { MAX_REQUEST_BYTES, setReadAhead } from './requestSize.js';
import { stockDegradations, stockTimes, withXattrAnswers } from './stockFuse.js';

export interface MountOptions {
  mountpoint: string;
  /** Shown by `mount` and `df` as the source, e.g. `oss://bucket/prefix`. */
  source: string;
  readOnly: boolean;
  allowOther: boolean;
  /** Seconds the kernel may cache attributes and names (our own cache uses the same TTL). */
  attrTtlSeconds: number;
  /** Extra libfuse `-o` options from the command line. */
  extraOptions: string[];
  /** Extended attributes kept (user.*), or left to libfuse's ENOSYS, which the kernel remembers (see fuseOperations). */
  xattrs: boolean;
  /** Whether fuse-native's C table mirrors held attributes (see nativeAttrMirror; unset: where the build has it). */
  attrMirror?: AttrMirrorMode;
  /** Which fuse-native to run on (see loadFuseBuild; unset: ours where it is built, else stock). */
  fuseBuild?: FuseBuildName;
}

/**
 * fuse-native cannot pass libfuse2 options it does not know; `_fuseOptions()` is where it builds
 * the `-o` list, so a subclass adds ours.
 */
function withOptions(Base: typeof Fuse, extra: string[]): typeof Fuse {
  return class TunedFuse extends Base {
    protected override _fuseOptions(): string {
      const base = super._fuseOptions();
      return base === '' ? `-o${extra.join(',')}` : `${base},${extra.join(',')}`;
    }
  };
}

/**
 * libfuse options that make it call operations with no path (an open file unlinked under
 * hard_remove, every file operation under nopath): fuse-native cannot hand a missing path to
 * JavaScript, and the mount would die on the first such call. The kernel's default for an open
 * file that is unlinked (rename it to .fuse_hidden…, remove it at release) works.
 */
const REFUSED_OPTIONS = ['hard_remove', 'nopath'];

/** Throws (EINVAL, with the reason) for an option in REFUSED_OPTIONS. */
export function checkExtraOptions(options: string[]): void {
  for (const option of options) {
    const name = option.split('=')[0]!;
    if (REFUSED_OPTIONS.includes(name)) throw new FsError('EINVAL', `-o ${name} is not supported: libfuse would then call the mount without a path, which fuse-native cannot pass on`);
  }
}

/** Options that decide speed and semantics; each with the reason it is here. */
function libfuseOptions(o: MountOptions): string[] {
  const ttl = String(o.attrTtlSeconds);
  return [
    // Without it the kernel sends 4 KiB writes, a round trip each. Requests up to 1 MiB need our patched
    // fuse-native too (libfuse2 alone stops at 128 KiB): native/fuse-native/large_requests.c.
    'big_writes',
    `max_write=${MAX_REQUEST_BYTES}`,
    `max_read=${MAX_REQUEST_BYTES}`,
    // open(O_TRUNC) arrives as one open instead of truncate(0) + open: one upload, not two.
    'atomic_o_trunc',
    // Keep the page cache across opens unless size or mtime changed (warm reads at memory speed).
    'auto_cache',
    `attr_timeout=${ttl}`,
    `entry_timeout=${ttl}`,
    `fsname=${o.source.replace(/,/g, '_')}`,
    'subtype=ossencfs',
    ...(o.readOnly ? ['ro'] : []),
    // Setuid bits and device nodes are honoured only when asked for (-o suid, -o dev): a root
    // mount would otherwise run a setuid-root program or open a device that a bucket holds.
    ...(o.extraOptions.includes('suid') ? [] : ['nosuid']),
    ...(o.extraOptions.includes('dev') ? [] : ['nodev']),
    ...o.extraOptions,
  ];
}

/** A live mount: the FUSE session plus the filesystem whose pending uploads must land before it goes. */
export class Mount {
  private watcher: NodeJS.Timeout | undefined;

  private constructor(
    private readonly fuse: Fuse,
    private readonly fs: Filesystem,
    private readonly log: Logger,
    readonly mountpoint: string,
  ) {}

  static async start(fs: Filesystem, log: Logger, options: MountOptions): Promise<Mount> {
    const build = loadFuseBuild(options.fuseBuild);
    const stock = build.name === 'stock';
    const caller = loadCaller(build.addon);
    if (!caller) refuseSharing(options);
    prepareMountpoint(options.mountpoint);
    if (stock) {
      log.warn(`fuse-native: running on the stock build${build.fallbackReason ? ` (${build.fallbackReason})` : ''}; what it goes without follows`);
      for (const line of stockDegradations(options)) log.warn(line);
    }
    if (!caller) log.warn("new entries are the mounting user's: this fuse-native build does not pass the caller (native/fuse-native/caller.c), and a mount without --allow-other hears from nobody else");
    const callerOf = caller ?? mountingUser();
    // Stock fuse-native has no table: its mirror is off unless asked for, which nativeAttrMirror refuses.
    const mirror = nativeAttrMirror(stock ? (options.attrMirror ?? 'off') : options.attrMirror, fs.heldAttrLifetime, log, build.addon);
    if (mirror) fs.mirrorAttrs(mirror);
    const operations = {
      ...fuseOperations(fs, log, callerOf, { xattrs: options.xattrs, times: stock ? (atime) => stockTimes(atime) : markedTimes }),
      ...listingsFor(build, fs, log),
    };
    const TunedFuse = withOptions(stock ? withXattrAnswers(build.Fuse) : build.Fuse, libfuseOptions(options));
    const fuse = new TunedFuse(options.mountpoint, operations, {
      // prepareMountpoint does it: Node's recursive mkdir spins for good on a path like /proc/foo.
      mkdir: false,
      allowOther: options.allowOther,
      defaultPermissions: true,
      // Our own retry policy bounds every request; libfuse's 15 s default would cut off a large upload at close.
      timeout: { default: 120_000, flush: false, fsync: false, release: false, create: false },
    } as ConstructorParameters<typeof Fuse>[2]);
    await new Promise<void>((resolve, reject) => fuse.mount((err) => (err ? reject(err) : resolve()))).catch(async (err: Error) => {
      // libfuse mounts before it parses its options: an option it then refuses leaves a dead mount
      // ("Transport endpoint is not connected") unless it is taken down here.
      if (isMounted(options.mountpoint)) await new Promise<void>((done) => build.Fuse.unmount(options.mountpoint, () => done()));
      throw new FsError('EIO', `cannot mount on ${options.mountpoint}: ${err.message}`, { cause: err });
    });
    const readAhead = await setReadAhead(fuse.mnt);
    if (!readAhead.ok) log.info(`sequential reads stay at 128 KiB per request: ${readAhead.reason}`);
    return new Mount(fuse, fs, log, fuse.mnt);
  }

  /** Calls back once the mountpoint is gone (fusermount -u, umount, or our own unmount). */
  onUnmounted(callback: () => void): void {
    this.watcher = setInterval(() => {
      if (!isMounted(this.mountpoint)) {
        clearInterval(this.watcher);
        callback();
      }
    }, 500);
  }

  /** Uploads what is pending, then unmounts. */
  async stop(): Promise<void> {
    clearInterval(this.watcher);
    await this.fs.flushAll().catch((err: Error) => this.log.error(err.message));
    if (!isMounted(this.mountpoint)) return;
    await new Promise<void>((resolve, reject) => this.fuse.unmount((err) => (err ? reject(err) : resolve())));
  }
}

/** libfuse options that let users other than the mounting one in. */
const SHARING_OPTIONS = ['allow_other', 'allow_root'];

/**
 * Without the caller (native/fuse-native/caller.c) new entries are the mounting user's, right only
 * while nobody else can reach the mount: options that let others in are refused.
 */
function refuseSharing(options: MountOptions): void {
  const option = options.extraOptions.find((o) => SHARING_OPTIONS.includes(o.split('=')[0]!));
  const shared = options.allowOther ? '--allow-other' : option && `-o ${option}`;
  if (!shared) return;
  throw new FsError('EINVAL', `${shared} needs the caller of each request, which this fuse-native build does not pass (native/fuse-native/caller.c): every new entry would be the mounting user's; mount without it, or build native/fuse-native (scripts/setup.sh)`);
}

/** Listings page by page where the build has native/fuse-native/readdir_stream.c, else whole through fuse-native's readdir op. */
function listingsFor(build: FuseBuild, fs: Filesystem, log: Logger): Operations {
  if (typeof build.addon.ossencfs_readdir_serve === 'function') {
    serveListings(fs, log);
    return {};
  }
  log.warn('listings are answered whole: a program sees the first name of a big directory once its last LIST page is in (native/fuse-native/readdir_stream.c hands them over page by page)');
  return wholeListings(fs, log);
}

/**
 * Makes the mountpoint's missing directories one by one, so a path where no directory can be made
 * fails at once with the reason.
 */
function prepareMountpoint(mountpoint: string): void {
  const missing: string[] = [];
  for (let dir = mountpoint; ; dir = dirname(dir)) {
    const kind = kindOf(dir);
    if (kind === 'directory') break;
    if (kind === 'other') throw new FsError('ENOTDIR', `cannot mount on ${mountpoint}: ${dir} is not a directory`);
    missing.unshift(dir);
  }
  for (const dir of missing) {
    try {
      mkdirSync(dir, { mode: 0o755 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') continue;
      throw new FsError('EIO', `cannot mount on ${mountpoint}: cannot create ${dir}: ${(err as NodeJS.ErrnoException).code}`, { cause: err });
    }
  }
}

function kindOf(path: string): 'directory' | 'other' | 'missing' {
  try {
    return statSync(path).isDirectory() ? 'directory' : 'other';
  } catch (err) {
    // ENOTCONN: a mount whose process died, which only an unmount clears.
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') return 'missing';
    throw new FsError('EIO', `cannot mount on ${path}: ${code === 'ENOTCONN' ? `a dead mount is there — fusermount -u ${path}` : (err as Error).message}`, { cause: err });
  }
}

/**
 * The mount root's permission bits: the mountpoint directory's, as s3fs does, so who may enter a
 * shared mount is set where the mount is made (chmod the directory before mounting), never in the
 * bucket. A mountpoint still to be made gets prepareMountpoint's 0755.
 */
export function mountpointPerms(mountpoint: string): number {
  try {
    return statSync(mountpoint).mode & 0o1777;
  } catch {
    return 0o755;
  }
}

/** Whether a FUSE filesystem is mounted at `path` (by /proc/self/mountinfo). */
export function isMounted(path: string): boolean {
  return fuseDevice(path) !== undefined;
}
