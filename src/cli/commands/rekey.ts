import type { CommandModule } from 'yargs';
import { Keyring, type MasterKey } from '../../crypto/index.js';
import { parseMatdesc } from '../config.js';
import {
  type BucketArgs,
  bucketOptions,
  loadKmsKey,
  loadMasterKeys,
  loadRsaKey,
  openBucket,
  parseOssUrl,
  resolveSettings,
  type Settings,
  UsageError,
} from '../options.js';
import { sweep } from '../sweep.js';

interface Args extends BucketArgs {
  url: string;
  'new-rsa-key'?: string;
  'new-kms-key-id'?: string;
  'new-matdesc'?: string;
  'dry-run'?: boolean;
}

/**
 * Re-wraps every object's data key under a new master key. The ciphertext is not decrypted or
 * re-encrypted, but it is written again with the new envelope (EncryptedBucket.rewrap): OSS does
 * not let a copy change an encrypted object's envelope. So a run costs one RSA/KMS call per object
 * and moves the bucket's size down and up again. Objects already under the new key are skipped,
 * so an interrupted run is simply run again (the object it was on is sent again whole).
 */
const rekey: CommandModule<object, Args> = {
  command: 'rekey <url>',
  describe: 'wrap every data key under oss://BUCKET[/PREFIX] with a new master key (the ciphertext is sent again, never decrypted)',
  builder: (y) =>
    bucketOptions(y, ['decrypt', 'parallel', 'progress'])
      .positional('url', { type: 'string', demandOption: true, describe: 'oss://BUCKET[/PREFIX]' })
      .option('new-rsa-key', { type: 'string', describe: 'the new RSA key (private, or public for encrypt-only)' })
      .option('new-kms-key-id', { type: 'string', describe: 'the new KMS key id' })
      .option('new-matdesc', { type: 'string', describe: 'matdesc JSON written with the new key, e.g. \'{"key":"v2"}\'' })
      .option('dry-run', { type: 'boolean', describe: 'check every object can be opened and count what would change; write nothing' })
      .conflicts('new-rsa-key', 'new-kms-key-id')
      .example('$0 rekey oss://vault --rsa-key old.pem --new-rsa-key new.pem --new-matdesc \'{"key":"v2"}\'', 'move from old.pem to new.pem')
      .epilogue('The old keys come from the usual key options (--rsa-key, --kms-key-id, --decrypt-key). Idempotent: run it again after an interruption.'),
  handler: async (argv) => {
    const loc = parseOssUrl(argv.url);
    const settings = resolveSettings(argv);
    const newMatdesc = argv['new-matdesc'] === undefined ? undefined : flagMatdesc(argv['new-matdesc']);
    const writer = newKey(argv, settings, newMatdesc);
    const old = loadMasterKeys(settings);
    const readers = [...(old.writer ? [old.writer] : []), ...old.readers];
    if (readers.length === 0) throw new UsageError('give the current key to read with: --rsa-key, --kms-key-id or --decrypt-key');
    const keyring = new Keyring({ writer, readers });
    const opened = openBucket(settings, loc.bucket, keyring);
    const dryRun = argv['dry-run'] ?? false;
    const { counts } = await sweep(opened, loc, settings, { label: 'rekey', unit: 'bytes' }, async (object, advance) => {
      const head = await opened.bucket.head(object.key);
      if (!head.envelope) return object.key.endsWith('/') && head.size === 0 ? 'marker' : 'plaintext';
      if (!dryRun) return opened.bucket.rewrap(object.key, advance);
      // Proves the old keys open it, and whether the new key already does.
      await keyring.open(head.envelope, object.key);
      const mine = writer.canUnwrap ? await writer.unwrap(head.envelope, object.key).catch(() => undefined) : undefined;
      return mine ? 'already' : 'rewrapped';
    });
    const n = (k: string): number => counts.get(k) ?? 0;
    process.stdout.write(
      `${dryRun ? 'would rekey' : 'rekeyed'} ${n('rewrapped')}, already under the new key ${n('already')}, ` +
        `skipped ${n('plaintext')} plaintext and ${n('marker')} marker(s), ${n('failed')} failed\n`,
    );
    if (n('failed') > 0) process.exitCode = 1;
  },
};

function flagMatdesc(text: string): Record<string, string> {
  try {
    return parseMatdesc(text, '--new-matdesc');
  } catch (err) {
    throw new UsageError((err as Error).message);
  }
}

function newKey(argv: Args, settings: Settings, matdesc: Record<string, string> | undefined): MasterKey {
  const kmsId = argv['new-kms-key-id'];
  if (kmsId) return loadKmsKey(kmsId, settings, matdesc);
  const rsaFile = argv['new-rsa-key'];
  if (rsaFile) return loadRsaKey(rsaFile, settings, matdesc);
  throw new UsageError('give the new key: --new-rsa-key FILE or --new-kms-key-id ID');
}

export default rekey;
