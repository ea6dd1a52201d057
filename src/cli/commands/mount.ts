import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandModule } from 'yargs';
import { FsError } from '../../errors.js';
import { checkExtraOptions, Mount, mountpointPerms } from '../../fuse/mount.js';
import { createLogger, type Logger } from '../../log.js';
import { describeTuning, tuneAllocator } from '../../util/allocator.js';
import { enableCollections } from '../../util/collector.js';
import { hardenProcess } from '../../util/hardening.js';
import { UploadJournal } from '../../store/uploadJournal.js';
import { buildFilesystem } from '../../vfs/buildFilesystem.js';
import { recoverSpool, SPOOL_DIR, spooledKeys } from '../../vfs/writeBackSpool.js';
import type { EncryptedBucket } from '../../secure/index.js';
import { lockDataDir } from '../dataDirLock.js';
import { EMBEDDED_BUCKET, type Embedded, embeddedDataDir, startEmbedded } from '../embedded.js';
import type { CliContext } from '../main.js';
import { claimMountCache, useCacheDir } from '../cacheDir.js';
import { isNoSuchBucket } from '../buckets.js';
import { checkKeyOpensBucket } from '../keyCheck.js';
import { registerMount } from '../mountRegistry.js';
import { takeOwnershipOptions } from '../ownershipOptions.js';
import { DEFAULT_UMASK, SHARED_DEFAULT_UMASK } from '../settings.js';
import { type BucketArgs, bucketOptions, type MountSettingArgs, loadKeyring, openStore, parseOssUrl, resolveSettings, type Settings, UsageError } from '../options.js';
import { KEY_CHECK_LISTING } from '../../tuning.js';

interface MountArgs extends BucketArgs, MountSettingArgs, CliContext {
  source: string;
  mountpoint?: string;
  foreground?: boolean;
  uid?: string;
  gid?: string;
  umask?: string;
  o?: string[];
  'log-file'?: string;
}

/** The CLI entry of this package. The background mount runs it rather than the script this process
 *  started from, which may be another program (mount.ossencfs) taking other arguments. */
const CLI_ENTRY = fileURLToPath(new URL('../../../bin/ossencfs.js', import.meta.url));

/** A message from the foreground child to the parent that started it in the background. */
type StartupReport = { ready: string } | { error: string };

const mount: CommandModule<CliContext, MountArgs> = {
  command: 'mount <source> [mountpoint]',
  describe: 'mount an encrypted bucket (or, with only a directory, the embedded local default)',
  builder: (y) =>
    bucketOptions(y, ['decrypt', 'encrypt', 'cache', 'log'], { mount: true })
      .positional('source', { type: 'string', demandOption: true, describe: 'oss://BUCKET[/PREFIX], or the mountpoint alone for the embedded default' })
      .positional('mountpoint', { type: 'string', describe: 'directory to mount on' })
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
  // The memory budget's dropped blocks and parts, and an embedded server's hashed chunks, are
  // freed by collections asked for (util/collector.ts), not left to V8's schedule.
  enableCollections();
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
    log.debug(`settings: profile ${settings.profile ?? '(none)'} of ${settings.configPath}; endpoint ${endpoint}; cache-size ${settings.cacheSize} bytes; attr-ttl ${settings.attrTtl} s; write-back ${settings.writeBack} s; jobs ${settings.jobs}`);
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

/** Why the first listing failed, in the words a user acts on. */
function unreachable(err: Error, source: string, bucket: string, endpoint: string | undefined): FsError {
  if (err instanceof FsError && err.errno === 'EACCES') {
    return new FsError('EACCES', `access denied to ${source} at ${endpoint}: check OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET or the profile's keys (${err.message})`, { cause: err });
  }
  if (isNoSuchBucket(err)) return new FsError('ENOENT', `bucket ${bucket} does not exist at ${endpoint} (make it with: ossencfs mb oss://${bucket})`, { cause: err });
  return new FsError('EIO', `cannot reach ${source} at ${endpoint}: ${err.message}`, { cause: err });
}

/** Files a crash left waiting for their upload go up before the mount serves (see recoverSpool). */
async function recoverSpooled(dir: string, bucket: EncryptedBucket, log: Logger): Promise<void> {
  const { uploaded, conflicts, kept } = await recoverSpool(dir, bucket, log);
  if (uploaded + conflicts + kept > 0) log.warn(`spool: the last mount ended with ${uploaded + conflicts + kept} closed file(s) not uploaded: ${uploaded} uploaded now, ${conflicts} under a conflict name, ${kept} kept for a later mount`);
}

/** A read-only mount uploads nothing, so the spool waits for a writable one: it says so. */
function warnSpooled(dir: string, log: Logger): void {
  const keys = spooledKeys(dir);
  if (keys.length > 0) log.warn(`spool: ${keys.length} closed file(s) the last mount did not upload (${keys.slice(0, 3).join(', ')}${keys.length > 3 ? ', …' : ''}) wait for a mount that is not read-only`);
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
    if (!effective.skipKeyCheck) await checkKeyOpensBucket(store, keyring, bucketName, first.objects);
    await journal.recover(store, log);
    claimMountCache(mountCache);
    const { fs, bucket } = buildFilesystem(journal.wrap(store), keyring, {
      prefix,
      ownership: {
        owner: { uid: ownership.uid ?? process.getuid?.() ?? 0, gid: ownership.gid ?? process.getgid?.() ?? 0 },
        umask: ownership.umask ?? (settings.allowOther ? SHARED_DEFAULT_UMASK : DEFAULT_UMASK),
        forced: { ...(ownership.uid !== undefined ? { uid: ownership.uid } : {}), ...(ownership.gid !== undefined ? { gid: ownership.gid } : {}) },
        rootPerms: mountpointPerms(mountpoint),
      },
      attrTtlMs: settings.attrTtl * 1000,
      writeBackMs: settings.writeBack * 1000,
      cacheDir: mountCache,
      cacheSize: settings.cacheSize,
      readOnly: settings.readOnly,
      log,
      bucket: { concurrency: effective.jobs, allowPlaintext: settings.allowPlaintext },
    });
    if (!settings.readOnly) await recoverSpooled(join(mountCache, SPOOL_DIR), bucket, log);
    else warnSpooled(join(mountCache, SPOOL_DIR), log);
    const mounted = await Mount.start(fs, log, {
      mountpoint,
      source,
      readOnly: settings.readOnly,
      allowOther: settings.allowOther,
      attrTtlSeconds: settings.attrTtl,
      extraOptions,
      xattrs: settings.xattrs,
      ...(settings.attrMirror ? { attrMirror: settings.attrMirror } : {}),
      ...(settings.fuseBuild ? { fuseBuild: settings.fuseBuild } : {}),
    });
    // openStore refused settings without an endpoint.
    return { mounted, embedded, stopEmbedded, source, endpoint: effective.endpoint as string };
  } catch (err) {
    await stopEmbedded();
    throw err;
  }
}
