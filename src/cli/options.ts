import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Argv, Options } from 'yargs';
import { Keyring, kmsMasterKey, rsaMasterKey, type MasterKey } from '../crypto/index.js';
import { FsError } from '../errors.js';
import { LOG_LEVELS, type LogLevel } from '../log.js';
import { EncryptedBucket } from '../secure/index.js';
import type { ObjectStore } from '../store/ObjectStore.js';
import { CREDENTIAL_SOURCES, type CredentialProvider, type CredentialSource, RefreshingCredentials, staticCredentials } from '../store/credentials.js';
import { createOssStore, type OssStoreOptions } from '../store/index.js';
import { noRegionMessage, signingRegion } from '../store/region.js';
import type { SignatureVersion } from '../store/signing.js';
import { useCacheDir } from './cacheDir.js';
import { runningEmbedded } from './embedded.js';
import { sayRetries } from './retryNotice.js';
import { checkSecretFile } from './permissions.js';
import {
  type Credentials,
  defaultConfigPath,
  parseMatdesc,
  pickProfile,
  readConfig,
  splitDecryptKey,
} from './config.js';

/**
 * The one way every command (mount included) turns its command line, the environment and the
 * config profile into settings, a keyring and an opened bucket.
 *
 * Precedence, for every setting: command-line flag > environment variable > config profile >
 * built-in default. Access keys are the exception: they never come from a flag (flags show up in
 * `ps` and shell history), only from OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET[/OSS_SESSION_TOKEN]
 * or from a profile in a config file only its owner can read.
 */

/** What bucketOptions adds to argv; all optional so resolveSettings can tell "not given" apart. */
export interface BucketArgs {
  endpoint?: string;
  region?: string;
  'signature-version'?: number;
  'credential-source'?: CredentialSource;
  'rsa-key'?: string;
  'rsa-public-key'?: string;
  'key-passphrase-file'?: string;
  'kms-key-id'?: string;
  'kms-endpoint'?: string;
  'kms-form'?: 'python' | 'go';
  matdesc?: string;
  'decrypt-key'?: string | string[];
  'insecure-key-perms'?: boolean;
  profile?: string;
  config?: string;
  'cache-dir'?: string;
  jobs?: number;
  quiet?: boolean;
  'log-level'?: LogLevel;
}

/** What a command does with a bucket. It decides which shared options its --help lists: those it reads. */
export type BucketUse =
  /** Opens objects: the private keys that unwrap data keys. */
  | 'decrypt'
  /** Writes objects: the key and material description new objects get. */
  | 'encrypt'
  /** Moves many objects or parts at once (--jobs). */
  | 'parallel'
  /** Prints progress bars and notes (--quiet). */
  | 'progress'
  /** Keeps checkpoints or staging files (--cache-dir). */
  | 'cache'
  /** Logs (--log-level). */
  | 'log';

const BUCKET_GROUP = 'Bucket options:';
const KEY_GROUP = 'Key options:';

/** Every shared option, with the uses that read it (none: every command that talks to a bucket). */
const SHARED_OPTIONS: [name: keyof BucketArgs, uses: BucketUse[] | undefined, spec: Options][] = [
  ['endpoint', undefined, { type: 'string', group: BUCKET_GROUP, describe: 'OSS endpoint URL (env OSS_ENDPOINT; default from --region, else the running embedded default)' }],
  ['region', undefined, { type: 'string', group: BUCKET_GROUP, describe: 'OSS region, e.g. cn-hangzhou (env OSS_REGION; default from an OSS endpoint\'s host)' }],
  ['signature-version', undefined, { type: 'number', choices: [1, 4], group: BUCKET_GROUP, describe: 'request signature: 4 (default) or 1, for old private deployments only' }],
  ['credential-source', undefined, { choices: CREDENTIAL_SOURCES, group: BUCKET_GROUP, describe: 'where temporary credentials come from when no OSS_ACCESS_KEY_* are set (default: the Alibaba Cloud default chain)' }],
  ['profile', undefined, { type: 'string', group: BUCKET_GROUP, describe: 'config profile (env OSSENCFS_PROFILE; default: default_profile)' }],
  ['config', undefined, { type: 'string', group: BUCKET_GROUP, describe: 'config file (env OSSENCFS_CONFIG; default ~/.config/ossencfs/config.toml)' }],
  ['rsa-key', ['decrypt', 'encrypt'], { type: 'string', group: KEY_GROUP, describe: 'RSA private key PEM (must be chmod 600): encrypts and decrypts' }],
  ['rsa-public-key', ['encrypt'], { type: 'string', group: KEY_GROUP, describe: 'RSA public key PEM: encrypt-only (writes, cannot read back)' }],
  ['key-passphrase-file', ['decrypt', 'encrypt'], { type: 'string', group: KEY_GROUP, describe: 'file holding the private key passphrase (or env OSSENCFS_KEY_PASSPHRASE)' }],
  ['kms-key-id', ['decrypt', 'encrypt'], { type: 'string', group: KEY_GROUP, describe: 'Alibaba Cloud KMS key id to wrap data keys with' }],
  ['kms-endpoint', ['decrypt', 'encrypt'], { type: 'string', group: KEY_GROUP, describe: 'KMS endpoint URL (default from --region)' }],
  ['kms-form', ['encrypt'], { choices: ['python', 'go'] as const, group: KEY_GROUP, describe: 'KMS header form to write: python (oss2) or go (Go/Java SDKs)' }],
  ['matdesc', ['encrypt'], { type: 'string', group: KEY_GROUP, describe: 'material description JSON written with new objects, e.g. \'{"key":"v2"}\'' }],
  ['decrypt-key', ['decrypt'], { type: 'string', group: KEY_GROUP, describe: 'extra read-only RSA private key FILE[:MATDESC]; repeatable' }],
  ['insecure-key-perms', ['decrypt', 'encrypt'], { type: 'boolean', group: KEY_GROUP, describe: 'accept a private key file readable by group/others' }],
  ['cache-dir', ['cache'], { type: 'string', describe: 'cache and checkpoint directory (default ~/.cache/ossencfs)' }],
  ['jobs', ['parallel'], { alias: 'j', type: 'number', describe: 'parallel transfers: files with -r, parts of one large file (default 4; ranges of one download: 8)' }],
  ['quiet', ['progress'], { alias: 'q', type: 'boolean', describe: 'no progress bars or notes' }],
  ['log-level', ['log'], { choices: LOG_LEVELS, describe: 'log verbosity (default warn)' }],
];

/**
 * The shared options, listed where a command with these uses reads them: where the bucket is, and
 * what `uses` adds. The others are accepted unlisted, so one set of flags (an alias, a script) still
 * serves every command.
 */
export function bucketOptions<T>(y: Argv<T>, uses: readonly BucketUse[] = []): Argv<T & BucketArgs> {
  for (const [name, needs, spec] of SHARED_OPTIONS) {
    const reads = needs === undefined || needs.some((use) => uses.includes(use));
    y.option(name as string, reads ? spec : { ...spec, hidden: true });
  }
  return y as unknown as Argv<T & BucketArgs>;
}

export interface DecryptKeySpec {
  file: string;
  matdesc?: Record<string, string>;
}

export interface OssLocation {
  bucket: string;
  /** Key prefix without a leading slash; '' for the whole bucket. */
  prefix: string;
}

export interface Settings {
  /** The profile used, if any. */
  profile: string | undefined;
  configPath: string;
  endpoint: string | undefined;
  region: string | undefined;
  signatureVersion: SignatureVersion;
  /** Named on the command line or in the profile; else static keys, else the default chain. */
  credentialSource: CredentialSource | undefined;
  credentials: Credentials | undefined;
  /** The profile's `bucket` url, for commands whose bucket argument is optional (mount). */
  location: OssLocation | undefined;
  rsaKey: string | undefined;
  rsaPublicKey: string | undefined;
  keyPassphraseFile: string | undefined;
  /** From OSSENCFS_KEY_PASSPHRASE; a passphrase file given on the command line wins over it. */
  keyPassphrase: string | undefined;
  kmsKeyId: string | undefined;
  kmsEndpoint: string | undefined;
  kmsForm: 'python' | 'go' | undefined;
  matdesc: Record<string, string> | undefined;
  decryptKeys: DecryptKeySpec[];
  insecureKeyPerms: boolean;
  cacheDir: string;
  cacheSize: number | undefined;
  /** Seconds. */
  attrTtl: number | undefined;
  jobs: number;
  /** Ranges of one object downloaded at once: --jobs when given. */
  downloadJobs: number;
  quiet: boolean;
  logLevel: LogLevel;
}

type Env = Record<string, string | undefined>;

export const DEFAULT_JOBS = 4;
/**
 * A download's ranges cost a buffer each, not a part held for retry as an upload's do, and one
 * connection to a distant bucket is bounded by its window: more ranges fill more windows
 * (docs/performance.md has the figures).
 */
export const DEFAULT_DOWNLOAD_JOBS = 8;

/** Merges flags, environment and profile into Settings (see the precedence at the top). */
export function resolveSettings(argv: BucketArgs, env: Env = process.env): Settings {
  const configPath = argv.config ?? env.OSSENCFS_CONFIG;
  const config = readConfig(configPath ? resolve(configPath) : defaultConfigPath(env), configPath !== undefined);
  const { name, profile } = pickProfile(config, argv.profile ?? (env.OSSENCFS_PROFILE || undefined));
  const pick = <V>(flag: V | undefined, envValue: V | undefined, fromProfile: V | undefined): V | undefined =>
    flag ?? envValue ?? fromProfile;

  const region = pick(argv.region, env.OSS_REGION || undefined, profile.region);
  const flagPassphraseFile = argv['key-passphrase-file'];
  const envPassphrase = env.OSSENCFS_KEY_PASSPHRASE || undefined;
  const flagDecryptKeys = argv['decrypt-key'] === undefined ? undefined : [argv['decrypt-key']].flat();
  const flagMatdesc = argv.matdesc;
  const matdesc = flagMatdesc === undefined ? profile.matdesc : asUsage(() => parseMatdesc(flagMatdesc, '--matdesc'));
  const jobs = argv.jobs ?? DEFAULT_JOBS;
  if (!Number.isInteger(jobs) || jobs < 1) throw new UsageError(`--jobs ${argv.jobs}: must be a whole number ≥ 1`);

  const endpoint = pick(argv.endpoint, env.OSS_ENDPOINT || undefined, profile.endpoint) ?? (region && regionEndpoint('oss', region));
  // No endpoint or region anywhere: the embedded default, while it runs, is the bucket at hand,
  // with its own access key (keys for another endpoint would not open it) and its key pair.
  const embedded = endpoint ? undefined : runningEmbedded(env);
  const namedKey = argv['rsa-key'] ?? profile.rsaKey;
  const kmsKeyId = argv['kms-key-id'] ?? profile.kmsKeyId;
  const rsaPublicKey = argv['rsa-public-key'] ?? profile.rsaPublicKey;

  return {
    profile: name,
    configPath: config.path,
    endpoint: endpoint ?? embedded?.endpoint,
    region: region ?? embedded?.region,
    signatureVersion: signatureVersion(argv['signature-version'] ?? profile.signatureVersion),
    credentialSource: embedded ? undefined : (argv['credential-source'] ?? profile.credentialSource),
    credentials: embedded ? embedded.credentials : (envCredentials(env) ?? profile.credentials),
    location: profile.bucket === undefined ? undefined : parseOssUrl(profile.bucket),
    rsaKey: namedKey ?? (embedded && !kmsKeyId && !rsaPublicKey ? embedded.keyFile : undefined),
    rsaPublicKey,
    keyPassphraseFile: flagPassphraseFile ?? (envPassphrase ? undefined : profile.keyPassphraseFile),
    keyPassphrase: flagPassphraseFile ? undefined : envPassphrase,
    kmsKeyId,
    kmsEndpoint: argv['kms-endpoint'] ?? profile.kmsEndpoint ?? (region && regionEndpoint('kms', region)),
    kmsForm: argv['kms-form'] ?? profile.kmsForm,
    matdesc,
    decryptKeys: flagDecryptKeys ? asUsage(() => flagDecryptKeys.map(parseDecryptKey)) : (profile.decryptKeys ?? []).map(parseDecryptKey),
    insecureKeyPerms: argv['insecure-key-perms'] ?? false,
    cacheDir: argv['cache-dir'] ?? profile.cacheDir ?? defaultCacheDir(env),
    cacheSize: profile.cacheSize,
    attrTtl: profile.attrTtl,
    jobs,
    downloadJobs: argv.jobs ?? DEFAULT_DOWNLOAD_JOBS,
    quiet: argv.quiet ?? false,
    logLevel: argv['log-level'] ?? 'warn',
  };
}

function signatureVersion(given: number | undefined): SignatureVersion {
  if (given === undefined || given === 4) return 4;
  if (given === 1) return 1;
  throw new UsageError(`--signature-version ${given}: must be 4 or 1`);
}

/** A bad flag value is a usage error (exit 2); the same mistake in the config file is a failure. */
function asUsage<V>(parse: () => V): V {
  try {
    return parse();
  } catch (err) {
    throw err instanceof FsError ? new UsageError(err.message) : err;
  }
}

export function envCredentials(env: Env): Credentials | undefined {
  const accessKeyId = env.OSS_ACCESS_KEY_ID;
  const accessKeySecret = env.OSS_ACCESS_KEY_SECRET;
  if (!accessKeyId || !accessKeySecret) return undefined;
  const securityToken = env.OSS_SESSION_TOKEN || undefined;
  return { accessKeyId, accessKeySecret, ...(securityToken ? { securityToken } : {}) };
}

/** `cn-hangzhou` or `oss-cn-hangzhou` → https://oss-cn-hangzhou.aliyuncs.com (or kms.cn-hangzhou…). */
function regionEndpoint(service: 'oss' | 'kms', region: string): string {
  const bare = region.replace(/^oss-/, '');
  return service === 'oss' ? `https://oss-${bare}.aliyuncs.com` : `https://kms.${bare}.aliyuncs.com`;
}

function defaultCacheDir(env: Env): string {
  return join(env.XDG_CACHE_HOME || join(homedir(), '.cache'), 'ossencfs');
}

function parseDecryptKey(spec: string): DecryptKeySpec {
  const { file, matdesc } = splitDecryptKey(spec);
  if (!file) throw new FsError('EINVAL', `decrypt key "${spec}": expected FILE or FILE:MATDESC`);
  return matdesc === undefined ? { file } : { file, matdesc: parseMatdesc(matdesc, `decrypt key ${file}`) };
}

/** A mistake on the command line: reported like yargs' own usage errors, with exit status 2. */
export class UsageError extends Error {
  override name = 'UsageError';
}

/** `oss://BUCKET[/PREFIX]` → its parts. Bucket names follow OSS rules: 3–63 of [a-z0-9-]. */
export function parseOssUrl(url: string): OssLocation {
  const m = /^oss:\/\/([^/]*)(?:\/(.*))?$/s.exec(url);
  if (!m) throw new UsageError(`"${url}" is not an oss:// url (expected oss://BUCKET[/PREFIX])`);
  const bucket = m[1] ?? '';
  if (!/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/.test(bucket)) {
    throw new UsageError(`"${url}": "${bucket}" is not a valid bucket name (3-63 characters of a-z, 0-9 and -)`);
  }
  return { bucket, prefix: m[2] ?? '' };
}

export function isOssUrl(arg: string): boolean {
  return arg.startsWith('oss://');
}

export function ossUrl(bucket: string, key: string): string {
  return `oss://${bucket}/${key}`;
}

/** A private key file must be readable by its owner only, or the envelope protects nothing. */
function readPrivateKey(file: string, settings: Settings): string {
  const pem = readKeyFile(file);
  checkSecretFile(file, 'private key', { flag: '--insecure-key-perms', given: settings.insecureKeyPerms });
  return pem;
}

function readKeyFile(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new FsError('ENOENT', `cannot read key file ${file}: ${(err as Error).message}`, { cause: err });
  }
}

function passphrase(settings: Settings): string | undefined {
  if (settings.keyPassphraseFile === undefined) return settings.keyPassphrase;
  // One trailing newline is what `echo secret > file` adds; it is not part of the passphrase.
  const text = readKeyFile(settings.keyPassphraseFile);
  checkSecretFile(settings.keyPassphraseFile, 'passphrase file', { flag: '--insecure-key-perms', given: settings.insecureKeyPerms });
  return text.replace(/\r?\n$/, '');
}

/** An RSA key for writing (and reading if it is private) from a PEM file of either kind. */
export function loadRsaKey(file: string, settings: Settings, matdesc: Record<string, string> | undefined): MasterKey {
  const pem = readKeyFile(file);
  // Caught here, before OpenSSL's decoder says it in its own words.
  if (!/-----BEGIN [A-Z ]*KEY-----/.test(pem)) {
    const kind = file === settings.rsaPublicKey && file !== settings.rsaKey ? 'public' : 'private';
    throw new FsError('EINVAL', `${file} is not a PEM ${kind} key (no -----BEGIN … KEY----- line); make a key pair with: ossencfs keygen --out FILE`);
  }
  if (!/PRIVATE KEY-----/.test(pem)) return rsaMasterKey({ publicKeyPem: pem, ...(matdesc ? { matdesc } : {}) });
  return rsaMasterKey({ privateKeyPem: readPrivateKey(file, settings), passphrase: passphrase(settings), ...(matdesc ? { matdesc } : {}) });
}

export function loadKmsKey(keyId: string, settings: Settings, matdesc: Record<string, string> | undefined): MasterKey {
  const url = settings.kmsEndpoint;
  if (!url) throw new UsageError(`--kms-key-id ${keyId}: no KMS endpoint — pass --kms-endpoint URL or --region`);
  const credentials = requireCredentials(settings);
  // The KMS client takes host[:port] and the protocol apart; users give one URL.
  const m = /^(https?):\/\/([^/]+)\/?$/.exec(url);
  return kmsMasterKey({
    keyId,
    endpoint: m ? (m[2] as string) : url,
    protocol: m ? (m[1] as 'http' | 'https') : 'https',
    ...(settings.region ? { region: settings.region.replace(/^oss-/, '') } : {}),
    ...credentials,
    ...(matdesc ? { matdesc } : {}),
    ...(settings.kmsForm ? { form: settings.kmsForm } : {}),
  });
}

/** The master keys the settings name: the writer (RSA or KMS) and the extra read-only keys. */
export function loadMasterKeys(settings: Settings): { writer: MasterKey | undefined; readers: MasterKey[] } {
  // A private key holds its public half, so --rsa-key wins over --rsa-public-key.
  const rsaFile = settings.rsaKey ?? settings.rsaPublicKey;
  if (rsaFile && settings.kmsKeyId) {
    throw new UsageError('choose one master key: --rsa-key/--rsa-public-key or --kms-key-id, not both');
  }
  const writer = settings.kmsKeyId
    ? loadKmsKey(settings.kmsKeyId, settings, settings.matdesc)
    : rsaFile
      ? loadRsaKey(rsaFile, settings, settings.matdesc)
      : undefined;
  const readers = settings.decryptKeys.map(({ file, matdesc }) => {
    if (!/PRIVATE KEY-----/.test(readKeyFile(file))) {
      throw new UsageError(`--decrypt-key ${file} is a public key; reading needs the private key`);
    }
    return loadRsaKey(file, settings, matdesc);
  });
  return { writer, readers };
}

/**
 * The keyring for these settings; at least one key is required. A public key alone is encrypt-only.
 * `sealAhead` for a long-lived writer (the mount): see Keyring.
 */
export function loadKeyring(settings: Settings, o: { sealAhead?: boolean } = {}): Keyring {
  const { writer, readers } = loadMasterKeys(settings);
  if (!writer && readers.length === 0) {
    throw new UsageError(
      'no key given — pass --rsa-key PRIVATE.pem, --rsa-public-key PUBLIC.pem or --kms-key-id ID (or set rsa_key in a config profile); create one with: ossencfs keygen --out FILE',
    );
  }
  return new Keyring({ ...(writer ? { writer } : {}), readers, ...o });
}

export function requireCredentials(settings: Settings): Credentials {
  if (settings.credentials) return settings.credentials;
  throw new UsageError(
    'no OSS access key — set OSS_ACCESS_KEY_ID and OSS_ACCESS_KEY_SECRET (or access_key_id/access_key_secret in a chmod 600 config profile)',
  );
}

/**
 * What the store signs with: the source named (flag or profile), else the static keys
 * (OSS_ACCESS_KEY_* or the profile's), else `@alicloud/credentials`' default chain.
 */
export function credentialProvider(settings: Settings): CredentialProvider {
  if (settings.credentialSource) return RefreshingCredentials.from(settings.credentialSource);
  if (settings.credentials) return staticCredentials(settings.credentials);
  return RefreshingCredentials.from('default');
}

/** Where requests go and the region they are signed for (undefined under V1); a usage error when either is missing. */
export function signingTarget(settings: Settings): { endpoint: string; region: string | undefined } {
  const endpoint = settings.endpoint;
  if (!endpoint) {
    throw new UsageError('no OSS endpoint — pass --endpoint URL or --region R, set OSS_ENDPOINT, or set endpoint in a config profile (the embedded default answers without one while it is mounted)');
  }
  const region = signingRegion(settings.region, endpoint);
  if (settings.signatureVersion === 4 && !region) throw new UsageError(noRegionMessage(endpoint));
  return { endpoint, region };
}

/**
 * The raw store of a bucket: for work that needs no key (listing and aborting uploads). A command
 * says its retries as they happen; a mount (`tuning.log`) logs them.
 */
export function openStore(settings: Settings, bucketName: string, tuning: Pick<OssStoreOptions, 'headsOnWorker' | 'log'> = {}): ObjectStore {
  const { endpoint } = signingTarget(settings);
  // Static keys go as keys: a store can then hand them to its HEAD worker thread.
  const keys = settings.credentialSource ? undefined : settings.credentials;
  useCacheDir(settings.cacheDir); // every bucket command passes here: check it, sweep dead mounts' plaintext
  return createOssStore({
    endpoint,
    bucket: bucketName,
    ...(settings.region ? { region: settings.region } : {}),
    signatureVersion: settings.signatureVersion,
    ...(keys ?? { credentials: credentialProvider(settings) }),
    ...(tuning.log ? {} : { retries: sayRetries(settings.quiet) }),
    ...tuning,
  });
}

export interface OpenedBucket {
  bucket: EncryptedBucket;
  store: ObjectStore;
  keyring: Keyring;
}

/** The bucket as every command and the mount use it: store + keyring, part concurrency = --jobs. */
export function openBucket(settings: Settings, bucketName: string, keyring = loadKeyring(settings)): OpenedBucket {
  const store = openStore(settings, bucketName);
  return { bucket: new EncryptedBucket(store, keyring, { concurrency: settings.jobs }), store, keyring };
}
