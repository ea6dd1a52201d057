import { join } from 'node:path';
import type { Keyring } from '../crypto/index.js';
import type { Logger } from '../log.js';
import { type Holding, MemoryBudget } from '../memory/budget.js';
import { EncryptedBucket, type EncryptedBucketOptions } from '../secure/index.js';
import type { ObjectStore } from '../store/ObjectStore.js';
import { UsageTally } from '../store/usageTally.js';
import { memoryInUse } from '../util/allocator.js';
import { type AttrPolicy, type Owner, posixMetaOf } from './attributes.js';
import { AttrCache, type AttrCacheOptions } from './attrCache.js';
import { BlockCache } from './blockCache.js';
import { DeferredAttrs } from './deferredAttrs.js';
import { writeDirAttr } from './dirMarker.js';
import { Filesystem } from './filesystem.js';
import { LocalTimes } from './localTimes.js';
import { Lookups } from './lookups.js';
import { Namespace } from './namespace.js';
import type { OpenFile } from './openFile.js';
import { OpenFiles } from './openFiles.js';
import { Renames } from './renames.js';
import { TreeChanges } from './treeChanges.js';
import { WriteBackQueue } from './writeBackQueue.js';
import { SPOOL_DIR, WriteBackSpool } from './writeBackSpool.js';
import { ATTR_WRITE_DELAY_MS, OPEN_FILE_MEMORY, READ_AHEAD_MAX_BLOCKS, RUNTIME_MEMORY, WRITE_BACK_MAX_BYTES } from '../tuning.js';

/** Who owns what the mount shows (see AttrPolicy for what is trusted). */
export interface Ownership {
  /** Owner of whatever carries no vouched-for owner: the mounting user, or -o uid=,gid=. */
  owner: Owner;
  /** Cleared from the permission bits of whatever carries no vouched-for mode. */
  umask: number;
  /** -o uid= / gid=: every entry is shown with this owner, whatever is stored (as s3fs, ossfs, rclone). */
  forced: Partial<Owner>;
  /** The mount root's permission bits. */
  rootPerms: number;
}

export interface FilesystemSettings {
  /** Key prefix the mount shows as its root ('' for the whole bucket). */
  prefix: string;
  ownership: Ownership;
  attrTtlMs: number;
  /** The attribute cache's size and clock, where not the defaults (a test's, small and on fake time). */
  attrCache?: AttrCacheOptions;
  /** How long a new file's upload waits after its last close (0: upload at close); see OpenFiles.closed. */
  writeBackMs: number;
  /** Staging files live in `cacheDir/staging`, the write-back spool in `cacheDir/spool`. */
  cacheDir: string;
  /** Bytes of decrypted blocks kept in memory. */
  cacheSize: number;
  blockSize?: number;
  maxReadAheadBlocks?: number;
  /** New content an open file keeps in memory before it moves to a staging file. */
  memoryLimit?: number;
  readOnly: boolean;
  log: Logger;
  /** How the bucket encrypts and uploads (parts in flight, part size, plaintext objects). */
  bucket: EncryptedBucketOptions;
}

export interface BuiltFilesystem {
  fs: Filesystem;
  bucket: EncryptedBucket;
  /** What the mount has seen of the bucket, as statfs reports it. */
  usage: UsageTally;
  /** What the data path holds in memory, and who holds it. */
  memory: MemoryBudget;
}

const MiB = 1024 * 1024;
/** Holders named when the process reaches its memory target; the rest are counted. */
const HOLDERS_LOGGED = 10;

/**
 * A Filesystem and what it stands on, over any store: the mount's (OSS, behind its upload journal)
 * or a test's (in memory). Nothing here knows of FUSE: the mount adapter is put in front afterwards.
 */
export function buildFilesystem(store: ObjectStore, keyring: Keyring, settings: FilesystemSettings): BuiltFilesystem {
  const { log, ownership } = settings;
  const usage = new UsageTally();
  const bucket = new EncryptedBucket(usage.wrap(store), keyring, settings.bucket);
  const ns = new Namespace(settings.prefix);
  const policy: AttrPolicy = {
    owner: ownership.owner,
    umask: ownership.umask,
    rootPerms: ownership.rootPerms,
    verified: (key, meta) => bucket.attrMac.verified(key, meta),
    refused: (key, field, raw) => log.debug(`${key}: x-oss-meta-${field} ${JSON.stringify(raw)} is out of range or not a number: read as absent`),
  };
  const times = new LocalTimes();
  // Open files, then attribute changes not written yet: what they say wins over the cache. (The
  // overlay is asked only once the mount serves, when everything below is built.)
  const meta = new AttrCache(
    settings.attrTtlMs,
    {
      attr: (path) => files.at(path)?.currentAttr() ?? attrWrites.attr(path),
      isOpen: (path) => files.isOpen(path),
      openNames: (dir) => files.namesIn(dir),
    },
    settings.attrCache,
  );
  const lookups = new Lookups(bucket, ns, meta, { policy, mountedAt: Date.now(), log, times, writable: !settings.readOnly });
  const attrWrites = new DeferredAttrs(ATTR_WRITE_DELAY_MS, log, async (path, key, attr) => {
    const made = attr.kind === 'dir' ? await writeDirAttr(bucket, ns, path, attr) : await bucket.patchMeta(key, posixMetaOf(attr));
    changes.written(path, attr, made);
  });
  const changes = new TreeChanges(meta, lookups, times, attrWrites);

  const rss = settings.cacheSize + RUNTIME_MEMORY;
  const memory = new MemoryBudget(settings.cacheSize, { rss, inUse: memoryInUse, exceeded: (holders) => log.debug(describeHolders(rss, holders)) });
  const writeBacks = new WriteBackQueue<OpenFile>({ maxBytes: WRITE_BACK_MAX_BYTES, due: (file): Promise<void> => files.due(file), log });
  const writesBack = settings.writeBackMs > 0 && !settings.readOnly;
  const files: OpenFiles = new OpenFiles({
    writeBacks,
    spool: writesBack ? new WriteBackSpool(join(settings.cacheDir, SPOOL_DIR), bucket) : undefined,
    writeBackMs: settings.writeBackMs,
    changes,
    log,
  });
  const fs = new Filesystem(
    {
      bucket,
      ns,
      policy,
      meta,
      lookups,
      attrWrites,
      times,
      changes,
      files,
      renames: new Renames({ bucket, ns, meta, attrWrites, times, files, changes }),
      fileContext: {
        bucket,
        memory,
        cache: new BlockCache(settings.blockSize ?? MiB, memory),
        stagingDir: join(settings.cacheDir, 'staging'),
        memoryLimit: settings.memoryLimit ?? OPEN_FILE_MEMORY,
        maxReadAhead: settings.maxReadAheadBlocks ?? READ_AHEAD_MAX_BLOCKS,
        log,
      },
    },
    { forced: ownership.forced, readOnly: settings.readOnly, usage: () => usage.usage },
  );
  return { fs, bucket, usage, memory };
}

/** The process is at its memory target: who holds the budget's memory, the most first. */
function describeHolders(rss: number, holders: Holding[]): string {
  const most = holders.sort((a, b) => b.bytes - a.bytes).slice(0, HOLDERS_LOGGED);
  const listed = most.map((h) => `${h.owner} (${h.account}) ${(h.bytes / MiB).toFixed(1)} MiB`).join(', ');
  const more = holders.length > most.length ? `, and ${holders.length - most.length} more` : '';
  return `memory: at the process's target of ${rss / MiB} MiB; the budget is held by ${listed || 'nobody'}${more}`;
}
