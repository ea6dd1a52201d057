import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandModule } from 'yargs';
import { FsError } from '../../errors.js';
import { checkExtraOptions, Mount, mountpointPerms } from '../../fuse/mount.js';
import { createLogger, type Logger } from '../../log.js';
import { describeTuning, tuneAllocator } from '../../util/allocator.js';
import { hardenProcess } from '../../util/hardening.js';
import { parseSize } from '../../util/size.js';
import { UploadJournal } from '../../store/uploadJournal.js';
import { buildFilesystem } from '../../vfs/buildFilesystem.js';
import { lockDataDir } from '../dataDirLock.js';
import { EMBEDDED_BUCKET, type Embedded, embeddedDataDir, startEmbedded } from '../embedded.js';
import type { CliContext } from '../main.js';
import { claimMountCache, useCacheDir } from '../cacheDir.js';
import { isNoSuchBucket } from '../buckets.js';
import { checkKeyOpensBucket } from '../keyCheck.js';
import { ATTR_MIRROR_MODES, type AttrMirrorMode } from '../../fuse/attrMirror.js';
import { registerMount } from '../mountRegistry.js';
import { DEFAULT_UMASK, SHARED_DEFAULT_UMASK, takeOwnershipOptions } from '../ownershipOptions.js';
import { type BucketArgs, bucketOptions, loadKeyring, openStore, parseOssUrl, resolveSettings, type Settings, UsageError } from '../options.js';

interface MountArgs extends BucketArgs, CliContext {
  source: string;
  mountpoint?: string;
  'read-only'?: boolean;
  foreground?: boolean;
  'cache-size'?: string;
  'attr-ttl'?: number;
  'write-back'?: number;
  'allow-other'?: boolean;
  uid?: string;
  gid?: string;
  umask?: string;
  'allow-plaintext'?: boolean;
  xattrs?: boolean;
  'attr-mirror'?: AttrMirrorMode;
  'skip-key-check'?: boolean;
  o?: string[];
  'log-file'?: string;
}

const DEFAULT_CACHE_SIZE = 256 * 2 ** 20;
const DEFAULT_ATTR_TTL = 1;
const DEFAULT_WRITE_BACK = 0;

/** The CLI entry of this package. The background mount runs it rather than the script this process
 *  started from, which may be another program (mount.ossencfs) taking other arguments. */
const CLI_ENTRY = fileURLToPath(new URL('../../../bin/ossencfs.js', import.meta.url));

/** A message from the foreground child to the parent that started it in the background. */
type StartupReport = { ready: string } | { error: string };

const mount: CommandModule<CliContext, MountArgs> = {
  command: 'mount <source> [mountpoint]',
  describe: 'mount an encrypted bucket (or, with only a directory, the embedded local default)',
  builder: (y) =>
    bucketOptions(y, ['decrypt', 'encrypt', 'cache', 'log'])
      .positional('source', { type: 'string', demandOption: true, describe: 'oss://BUCKET[/PREFIX], or the mountpoint alone for the embedded default' })
      .positional('mountpoint', { type: 'string', describe: 'directory to mount on' })
      .option('read-only', { type: 'boolean', describe: 'refuse every write with EROFS' })
      .option('foreground', { alias: 'f', type: 'boolean', describe: 'stay in the foreground (SIGINT/SIGTERM unmount)' })
      .option('cache-size', { type: 'string', describe: 'memory for decrypted blocks, e.g. 512M (default 256M)' })
      .option('attr-ttl', { type: 'number', describe: 'seconds attributes and listings are cached (default 1)' })
      .option('write-back', { type: 'number', describe: 'seconds a closed new file waits before its upload, so a rename or chmod right after folds into it; 0 uploads at close (default 0). fsync always uploads at once' })
      .option('allow-other', { type: 'boolean', describe: 'let other users use the mount (needs user_allow_other)' })
      .option('uid', { type: 'string', describe: 'show every entry as owned by this uid (default: unvouched-for entries are the mounting user\'s); also -o uid=N' })
      .option('gid', { type: 'string', describe: 'show every entry with this gid; also -o gid=N' })
      .option('umask', { type: 'string', describe: 'octal; cleared from the mode of entries whose mode no key holder vouched for (default 022, 077 with --allow-other); also -o umask=NNN' })
      .option('allow-plaintext', { type: 'boolean', describe: 'read objects that carry no encryption headers as they are (never written)' })
      .option('xattrs', { type: 'boolean', describe: 'keep user.* extended attributes, encrypted (default); --no-xattrs refuses them (ENOTSUP) and spares the kernel round trip each write(2) and ls -l entry then costs' })
      .option('attr-mirror', { choices: ATTR_MIRROR_MODES, describe: "whether fuse-native's C table answers the kernel's getattr of listed names without waking JavaScript (default: on where the fuse-native build has it)" })
      .option('skip-key-check', { type: 'boolean', describe: 'mount even if the key cannot open the objects already there (new files are then written under a key that cannot read the old ones)' })
      .option('o', { type: 'string', array: true, describe: 'extra libfuse options, comma-separated' })
      .option('log-file', { type: 'string', describe: 'append log lines here (default: stderr; in the background: CACHE_DIR/mount.log)' })
      .example('$0 mount ./vault', 'the embedded default: a local server and a generated key, no cloud account')
      .example('$0 mount oss://my-bucket/docs ~/docs --endpoint https://oss-cn-hangzhou.aliyuncs.com --rsa-key ~/.ossencfs/key.pem', 'mount a prefix of a real bucket'),
  handler: async (argv) => {
    checkMountArgs(argv.source, argv.mountpoint);
    if (argv.foreground) await runForeground(argv);
    else await startInBackground(argv);
  },
};

export default mount;

/**
 * `mount oss://bkt` with the mountpoint forgotten would otherwise mount the embedded default on a
 * new directory `./oss:/bkt`; a mountpoint spelled like a url is the arguments the wrong way round.
 */
function checkMountArgs(source: string, mountpoint: string | undefined): void {
  if (mountpoint === undefined && looksLikeUrl(source)) {
    throw new UsageError(`${source}: name the directory to mount it on too (ossencfs mount ${source} DIR)`);
  }
  if (mountpoint !== undefined && looksLikeUrl(mountpoint)) {
    throw new UsageError(`the mountpoint ${mountpoint} is a url: the bucket comes first (ossencfs mount oss://BUCKET DIR)`);
  }
}

/** `oss://…`, and `oss:/…` as a path join or a shell would leave it. */
const looksLikeUrl = (arg: string): boolean => /^oss:\//i.test(arg);

/** Re-runs this command in the foreground, detached, and returns once it is mounted (or failed). */
async function startInBackground(argv: MountArgs): Promise<void> {
  const settings = resolveSettings(argv);
  useCacheDir(settings.cacheDir);
  // Given twice, yargs would make the option an array: the default is added only when none was given.
  const logFile = argv['log-file'] === undefined ? ['--log-file', join(settings.cacheDir, 'mount.log')] : [];
  const child = spawn(process.execPath, [CLI_ENTRY, ...argv.cliArgs, '--foreground', ...logFile], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const closed = new Promise<number | null>((done) => child.once('close', done));
  const report = await new Promise<StartupReport>((done) => {
    child.once('message', (m) => done(m as StartupReport));
    void closed.then((code) => done({ error: stderr.trim().replace(/^ossencfs: /, '') || `mount process exited with status ${code}` }));
  });
  if ('error' in report) {
    // The child exits right after its report; libfuse's own complaint (`fuse: unknown option …`)
    // is on its stderr and says more than libfuse's return code did.
    await closed;
    throw new FsError('EIO', withLibfuseReason(report.error, stderr));
  }
  child.stderr!.destroy();
  child.disconnect();
  child.unref();
  process.stdout.write(`${report.ready}\n`);
}

async function runForeground(argv: MountArgs): Promise<void> {
  const settings = resolveSettings(argv);
  const log = createLogger(settings.logLevel, argv['log-file']);
  const report = (r: StartupReport): void => {
    if (process.send) process.send(r);
    else if ('ready' in r) process.stdout.write(`${r.ready}\n`);
  };
  try {
    const { mounted, embedded, stopEmbedded, source, endpoint } = await mountFromArgs(argv, settings, log);
    const unregister = registerMount({ mountpoint: mounted.mountpoint, source, endpoint });
    const shutdown = async (): Promise<void> => {
      await mounted.stop().catch((err: Error) => log.error(`unmount failed: ${err.message}`));
      await stopEmbedded();
      unregister();
      process.exit(0);
    };
    process.once('SIGINT', shutdown);
    process.once('SIGTERM', shutdown);
    mounted.onUnmounted(shutdown);
    log.info(`mounted ${source} on ${mounted.mountpoint}`);
    const tuning = tuneAllocator();
    if (tuning.applied) log.debug(describeTuning(tuning));
    else log.warn(describeTuning(tuning));
    const hardening = hardenProcess();
    if (!hardening.applied) log.warn(`core dumps not turned off: ${hardening.reason}`);
    report({ ready: `${embedded ? `${embeddedLine(embedded)}\n` : ''}mounted ${source} on ${mounted.mountpoint}` });
  } catch (err) {
    // Exit rather than return: a failed libfuse mount and the store's workers would keep this
    // process alive with nothing to serve.
    if (process.send) report({ error: (err as Error).message });
    else process.stderr.write(`ossencfs: ${(err as Error).message}\n`);
    process.exit(err instanceof UsageError ? 2 : 1);
  }
}

/** `fuse failed` plus what libfuse printed, e.g. `fuse failed (libfuse: unknown option `bogusopt')`. */
function withLibfuseReason(error: string, stderr: string): string {
  const said = stderr.split('\n').filter((l) => l.startsWith('fuse: ')).map((l) => l.slice('fuse: '.length));
  return said.length === 0 ? error : `${error} (libfuse: ${said.join('; ')})`;
}

/** Objects the first listing asks for: the key check heads the first encrypted one among them. */
const KEY_CHECK_LISTING = 20;

/** Why the first listing failed, in the words a user acts on. */
function unreachable(err: Error, source: string, bucket: string, endpoint: string | undefined): FsError {
  if (err instanceof FsError && err.errno === 'EACCES') {
    return new FsError('EACCES', `access denied to ${source} at ${endpoint}: check OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET or the profile's keys (${err.message})`, { cause: err });
  }
  if (isNoSuchBucket(err)) return new FsError('ENOENT', `bucket ${bucket} does not exist at ${endpoint} (make it with: ossencfs mb oss://${bucket})`, { cause: err });
  return new FsError('EIO', `cannot reach ${source} at ${endpoint}: ${err.message}`, { cause: err });
}

function embeddedLine(e: Embedded): string {
  const made = e.created.length > 0 ? `; created ${e.created.join(', ')}` : '';
  // Said once, when the key is made: it is the only copy, and it is needed for every read.
  const backup = e.created.includes(`RSA key ${e.keyFile}`) ? `\nthe vault's key is ${e.keyFile}: back it up, for without it nothing in the vault can be read` : '';
  const cli = `\nwhile it is mounted, the CLI reaches it with no endpoint or key: ossencfs ls oss://${EMBEDDED_BUCKET}`;
  return `embedded default: local OSS server on ${e.endpoint} over ${e.dataDir}, bucket ${EMBEDDED_BUCKET}, key ${e.keyFile}${made}${backup}${cli}`;
}

async function mountFromArgs(
  argv: MountArgs,
  settings: Settings,
  log: Logger,
): Promise<{ mounted: Mount; embedded: Embedded | undefined; stopEmbedded: () => Promise<void>; source: string; endpoint: string }> {
  // One positional: the embedded default (or the profile's bucket, when one is configured).
  const mountpoint = resolve(argv.mountpoint ?? argv.source);
  const { ownership, rest: extraOptions } = takeOwnershipOptions(argv, (argv.o ?? []).flatMap((o) => o.split(',')).filter((o) => o !== ''));
  // Before anything starts or touches the bucket (the embedded server, recovery).
  checkExtraOptions(extraOptions);
  const location = argv.mountpoint !== undefined ? parseOssUrl(argv.source) : settings.location;
  let embedded: Embedded | undefined;
  let releaseDataDir = (): void => {};
  const stopEmbedded = async (): Promise<void> => {
    await embedded?.stop();
    releaseDataDir();
  };
  let effective = settings;
  if (!location) {
    // One server per data directory: this process holds it while its server runs.
    releaseDataDir = lockDataDir(embeddedDataDir(), mountpoint);
    embedded = await startEmbedded().catch((err: unknown) => {
      releaseDataDir();
      throw err;
    });
    effective = { ...settings, endpoint: embedded.endpoint, region: embedded.region, credentials: embedded.credentials, credentialSource: undefined, rsaKey: settings.rsaKey ?? embedded.keyFile };
  }
  const bucketName = location?.bucket ?? EMBEDDED_BUCKET;
  const prefix = location?.prefix ?? '';
  const source = `oss://${bucketName}${prefix ? `/${prefix}` : ''}`;
  try {
    // Per-mount state: the journals and staging files (plaintext, 0600) of this source on this mountpoint.
    const mountCache = join(effective.cacheDir, 'mounts', createHash('sha256').update(`${source}\0${mountpoint}`).digest('hex').slice(0, 16));
    const journal = new UploadJournal(join(mountCache, 'uploads.jsonl'));
    const store = openStore(effective, bucketName, { headsOnWorker: true, log });
    const keyring = loadKeyring(effective, { sealAhead: true });
    // Fail here, with the reason, rather than on the first ls.
    const first = await store.list(prefix, { maxKeys: KEY_CHECK_LISTING }).catch((err: Error) => {
      throw unreachable(err, source, bucketName, effective.endpoint);
    });
    if (!argv['skip-key-check']) await checkKeyOpensBucket(store, keyring, bucketName, first.objects);
    await journal.recover(store, log);
    claimMountCache(mountCache);
    const attrTtl = argv['attr-ttl'] ?? settings.attrTtl ?? DEFAULT_ATTR_TTL;
    const { fs } = buildFilesystem(journal.wrap(store), keyring, {
      prefix,
      ownership: {
        owner: { uid: ownership.uid ?? process.getuid?.() ?? 0, gid: ownership.gid ?? process.getgid?.() ?? 0 },
        umask: ownership.umask ?? (argv['allow-other'] ? SHARED_DEFAULT_UMASK : DEFAULT_UMASK),
        forced: { ...(ownership.uid !== undefined ? { uid: ownership.uid } : {}), ...(ownership.gid !== undefined ? { gid: ownership.gid } : {}) },
        rootPerms: mountpointPerms(mountpoint),
      },
      attrTtlMs: attrTtl * 1000,
      writeBackMs: (argv['write-back'] ?? DEFAULT_WRITE_BACK) * 1000,
      cacheDir: mountCache,
      cacheSize: argv['cache-size'] ? parseSize(argv['cache-size']) : (settings.cacheSize ?? DEFAULT_CACHE_SIZE),
      readOnly: argv['read-only'] ?? false,
      log,
      bucket: { concurrency: effective.jobs, allowPlaintext: argv['allow-plaintext'] ?? false },
    });
    const mounted = await Mount.start(fs, log, {
      mountpoint,
      source,
      readOnly: argv['read-only'] ?? false,
      allowOther: argv['allow-other'] ?? false,
      attrTtlSeconds: attrTtl,
      extraOptions,
      xattrs: argv.xattrs ?? true,
      ...(argv['attr-mirror'] ? { attrMirror: argv['attr-mirror'] } : {}),
    });
    // openStore refused settings without an endpoint.
    return { mounted, embedded, stopEmbedded, source, endpoint: effective.endpoint as string };
  } catch (err) {
    await stopEmbedded();
    throw err;
  }
}
