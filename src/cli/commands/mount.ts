import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { CommandModule } from 'yargs';
import { FsError } from '../../errors.js';
import { checkExtraOptions, Mount } from '../../fuse/mount.js';
import { createLogger, type Logger } from '../../log.js';
import { describeTuning, tuneAllocator } from '../../util/allocator.js';
import { parseSize } from '../../util/size.js';
import { UploadJournal } from '../../store/uploadJournal.js';
import { Filesystem } from '../../vfs/filesystem.js';
import { EMBEDDED_BUCKET, type Embedded, startEmbedded } from '../embedded.js';
import type { CliContext } from '../main.js';
import { registerMount } from '../mountRegistry.js';
import { EncryptedBucket } from '../../secure/index.js';
import { type BucketArgs, bucketOptions, loadKeyring, openStore, parseOssUrl, resolveSettings, type Settings } from '../options.js';

interface MountArgs extends BucketArgs, CliContext {
  source: string;
  mountpoint?: string;
  'read-only'?: boolean;
  foreground?: boolean;
  'cache-size'?: string;
  'attr-ttl'?: number;
  'write-back'?: number;
  'allow-other'?: boolean;
  'allow-plaintext'?: boolean;
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
    bucketOptions(y)
      .positional('source', { type: 'string', demandOption: true, describe: 'oss://BUCKET[/PREFIX], or the mountpoint alone for the embedded default' })
      .positional('mountpoint', { type: 'string', describe: 'directory to mount on' })
      .option('read-only', { type: 'boolean', describe: 'refuse every write with EROFS' })
      .option('foreground', { alias: 'f', type: 'boolean', describe: 'stay in the foreground (SIGINT/SIGTERM unmount)' })
      .option('cache-size', { type: 'string', describe: 'memory for decrypted blocks, e.g. 512M (default 256M)' })
      .option('attr-ttl', { type: 'number', describe: 'seconds attributes and listings are cached (default 1)' })
      .option('write-back', { type: 'number', describe: 'seconds a closed new file waits before its upload, so a rename or chmod right after folds into it; 0 uploads at close (default 0). fsync always uploads at once' })
      .option('allow-other', { type: 'boolean', describe: 'let other users use the mount (needs user_allow_other)' })
      .option('allow-plaintext', { type: 'boolean', describe: 'read objects that carry no encryption headers as they are (never written)' })
      .option('o', { type: 'string', array: true, describe: 'extra libfuse options, comma-separated' })
      .option('log-file', { type: 'string', describe: 'append log lines here (default: stderr; in the background: CACHE_DIR/mount.log)' })
      .example('$0 mount ./vault', 'the embedded default: a local server and a generated key, no cloud account')
      .example('$0 mount oss://my-bucket/docs ~/docs --endpoint https://oss-cn-hangzhou.aliyuncs.com --rsa-key ~/.ossencfs/key.pem', 'mount a prefix of a real bucket'),
  handler: async (argv) => {
    if (argv.foreground) await runForeground(argv);
    else await startInBackground(argv);
  },
};

export default mount;

/** Re-runs this command in the foreground, detached, and returns once it is mounted (or failed). */
async function startInBackground(argv: MountArgs): Promise<void> {
  const settings = resolveSettings(argv);
  mkdirSync(settings.cacheDir, { recursive: true, mode: 0o700 });
  // Given twice, yargs would make the option an array: the default is added only when none was given.
  const logFile = argv['log-file'] === undefined ? ['--log-file', join(settings.cacheDir, 'mount.log')] : [];
  const child = spawn(process.execPath, [CLI_ENTRY, ...argv.cliArgs, '--foreground', ...logFile], {
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
  });
  let stderr = '';
  child.stderr!.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const report = await new Promise<StartupReport>((done) => {
    child.once('message', (m) => done(m as StartupReport));
    child.once('exit', (code) => done({ error: stderr.trim().replace(/^ossencfs: /, '') || `mount process exited with status ${code}` }));
  });
  if ('error' in report) throw new FsError('EIO', report.error);
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
    const { mounted, embedded, source } = await mountFromArgs(argv, settings, log);
    const unregister = registerMount(mounted.mountpoint);
    const shutdown = async (): Promise<void> => {
      await mounted.stop().catch((err: Error) => log.error(`unmount failed: ${err.message}`));
      await embedded?.server.stop();
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
    report({ ready: `${embedded ? `${embeddedLine(embedded)}\n` : ''}mounted ${source} on ${mounted.mountpoint}` });
  } catch (err) {
    if (process.send) {
      report({ error: (err as Error).message });
      process.exit(1);
    }
    throw err;
  }
}

function embeddedLine(e: Embedded): string {
  const made = e.created.length > 0 ? `; created ${e.created.join(', ')}` : '';
  return `embedded default: local OSS server on ${e.endpoint} over ${e.dataDir}, bucket ${EMBEDDED_BUCKET}, key ${e.keyFile}${made}`;
}

async function mountFromArgs(
  argv: MountArgs,
  settings: Settings,
  log: Logger,
): Promise<{ mounted: Mount; embedded: Embedded | undefined; source: string }> {
  // One positional: the embedded default (or the profile's bucket, when one is configured).
  const mountpoint = resolve(argv.mountpoint ?? argv.source);
  const extraOptions = (argv.o ?? []).flatMap((o) => o.split(',')).filter((o) => o !== '');
  // Before anything starts or touches the bucket (the embedded server, recovery).
  checkExtraOptions(extraOptions);
  const location = argv.mountpoint !== undefined ? parseOssUrl(argv.source) : settings.location;
  let embedded: Embedded | undefined;
  let effective = settings;
  if (!location) {
    embedded = await startEmbedded();
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
    await store.list(prefix, { maxKeys: 1 }).catch((err: Error) => {
      throw new FsError('EIO', `cannot reach ${source} at ${effective.endpoint}: ${err.message}`, { cause: err });
    });
    await journal.recover(store, log);
    rmSync(join(mountCache, 'staging'), { recursive: true, force: true });
    const bucket = new EncryptedBucket(journal.wrap(store), keyring, {
      concurrency: effective.jobs,
      allowPlaintext: argv['allow-plaintext'] ?? false,
    });
    const attrTtl = argv['attr-ttl'] ?? settings.attrTtl ?? DEFAULT_ATTR_TTL;
    const fs = new Filesystem(bucket, {
      prefix,
      owner: { uid: process.getuid?.() ?? 0, gid: process.getgid?.() ?? 0 },
      attrTtlMs: attrTtl * 1000,
      writeBackMs: (argv['write-back'] ?? DEFAULT_WRITE_BACK) * 1000,
      cacheDir: mountCache,
      cacheSize: argv['cache-size'] ? parseSize(argv['cache-size']) : (settings.cacheSize ?? DEFAULT_CACHE_SIZE),
      readOnly: argv['read-only'] ?? false,
      log,
    });
    const mounted = await Mount.start(fs, log, {
      mountpoint,
      source,
      readOnly: argv['read-only'] ?? false,
      allowOther: argv['allow-other'] ?? false,
      attrTtlSeconds: attrTtl,
      extraOptions,
    });
    return { mounted, embedded, source };
  } catch (err) {
    await embedded?.server.stop();
    throw err;
  }
}
