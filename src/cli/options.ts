import { readFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join, resolve } from 'node:path';
import type { Argv } from 'yargs';
import { Keyring, kmsMasterKey, rsaMasterKey, type MasterKey } from '../crypto/index.js';
import { FsError } from '../errors.js';
import type { AttrMirrorMode } from '../fuse/attrMirror.js';
import type { FuseBuildName } from '../fuse/fuseBuild.js';
import type { LogLevel } from '../log.js';
import { EncryptedBucket } from '../secure/index.js';
import type { ObjectStore } from '../store/ObjectStore.js';
import { type CredentialProvider, type CredentialSource, RefreshingCredentials, staticCredentials } from '../store/credentials.js';
import { createOssStore, type OssStoreOptions } from '../store/index.js';
import { noRegionMessage, signingRegion } from '../store/region.js';
import type { SignatureVersion } from '../store/signing.js';
import { useCacheDir } from './cacheDir.js';
import { runningEmbedded } from './embedded.js';
import { sayRetries } from './retryNotice.js';
import { checkSecretFile } from './permissions.js';
import { type BucketUse, commandOptions, DEFAULT_DOWNLOAD_JOBS, flagOf, type SettingName, type SettingSpec, SETTINGS } from './settings.js';
import { parseSize } from '../util/size.js';
import {
  type Credentials,
  defaultConfigPath,
  parseMatdesc,
  pickProfile,
  type Profile,
  readConfig,
  splitDecryptKey,
} from './config.js';

export type { BucketUse } from './settings.js';

/**
 * The one way every command (mount included) turns its command line, the environment and the
 * config profile into settings, a keyring and an opened bucket; which setting comes from where is
 * the table in src/cli/settings.ts. Access keys never come from a flag (flags show up in `ps` and
 * shell history), only from OSS_ACCESS_KEY_ID/OSS_ACCESS_KEY_SECRET[/OSS_SESSION_TOKEN] or from a
 * profile in a config file only its owner can read; the pair comes from one place, never half
 * from each.
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
  'part-size'?: string;
}

/** The mount's own flags that the settings table gives a config key or a default (see Settings). */
export interface MountSettingArgs {
  'cache-size'?: string;
  'attr-ttl'?: number;
  'write-back'?: number;
  'read-only'?: boolean;
  'allow-other'?: boolean;
  'allow-plaintext'?: boolean;
  xattrs?: boolean;
  'skip-key-check'?: boolean;
}

/**
 * The table's options a command reads, listed in its --help (the bucket options where it talks to a
 * bucket, what `uses` adds, and with `mount` the mount's own); the other bucket options are
 * accepted unlisted, so one set of flags (an alias, a script) still serves every command.
 */
export function bucketOptions<T>(y: Argv<T>, uses: readonly BucketUse[] = [], o: { mount?: boolean } = {}): Argv<T & BucketArgs> {
  for (const [flag, spec] of commandOptions({ uses, mount: o.mount ?? false })) y.option(flag, spec);
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
  /** Bytes. */
  cacheSize: number;
  /** Bytes: a transfer's parts and download ranges. */
  partSize: number;
  /** Seconds. */
  attrTtl: number;
  /** Seconds. */
  writeBack: number;
  readOnly: boolean;
  allowOther: boolean;
  allowPlaintext: boolean;
  xattrs: boolean;
  /** Unset: on where the fuse-native build has the C table. */
  attrMirror: AttrMirrorMode | undefined;
  /** Unset: ours where native/fuse-native is built, else stock. */
  fuseBuild: FuseBuildName | undefined;
  skipKeyCheck: boolean;
  jobs: number;
  /** Ranges of one object downloaded at once: --jobs when given. */
  downloadJobs: number;
  quiet: boolean;
  logLevel: LogLevel;
}

type Env = Record<string, string | undefined>;

/** Merges flags, environment and profile into Settings (see the precedence in src/cli/settings.ts). */
export function resolveSettings(argv: BucketArgs & MountSettingArgs, env: Env = process.env): Settings {
  const flags = argv as Record<string, unknown>;
  /** A setting as the flag, else the environment, else the profile gives it. */
  const given = <V>(name: SettingName, profile: Profile = {}): V | undefined => {
    const s: SettingSpec = SETTINGS[name];
    const flag = s.flag === undefined ? undefined : flags[s.flag];
    const fromEnv = s.env === undefined ? undefined : env[s.env] || undefined;
    return (flag ?? fromEnv ?? (profile as Record<string, unknown>)[name]) as V | undefined;
  };
  /** As `given`, else the table's default. */
  const setting = <V>(name: SettingName, profile: Profile): V => given<V>(name, profile) ?? (SETTINGS[name] as SettingSpec).default as V;

  const configPath = given<string>('config');
  const config = readConfig(configPath ? resolve(configPath) : defaultConfigPath(env), configPath !== undefined);
  const { name, profile } = pickProfile(config, given('profile'));

  const region = given<string>('region', profile);
  const flagPassphraseFile = argv['key-passphrase-file'];
  const envPassphrase = given<string>('keyPassphrase');
  const flagDecryptKeys = argv['decrypt-key'] === undefined ? undefined : [argv['decrypt-key']].flat();
  const flagMatdesc = argv.matdesc;
  const matdesc = flagMatdesc === undefined ? profile.matdesc : asUsage(() => parseMatdesc(flagMatdesc, '--matdesc'));
  const jobs = setting<number>('jobs', profile);
  if (!Number.isInteger(jobs) || jobs < 1) throw new UsageError(`--jobs ${argv.jobs}: must be a whole number ≥ 1`);

  const endpoint = given<string>('endpoint', profile) ?? (region && regionEndpoint('oss', region));
  // No endpoint or region anywhere: the embedded default, while it runs, is the bucket at hand,
  // with its own access key (keys for another endpoint would not open it) and its key pair.
  const embedded = endpoint ? undefined : runningEmbedded(env);
  const namedKey = given<string>('rsaKey', profile);
  const kmsKeyId = given<string>('kmsKeyId', profile);
  const rsaPublicKey = given<string>('rsaPublicKey', profile);

  return {
    profile: name,
    configPath: config.path,
    endpoint: endpoint ?? embedded?.endpoint,
    region: region ?? embedded?.region,
    signatureVersion: signatureVersion(given('signatureVersion', profile)),
    credentialSource: embedded ? undefined : given('credentialSource', profile),
    credentials: embedded ? embedded.credentials : (envCredentials(env) ?? profile.credentials),
    location: profile.location === undefined ? undefined : parseOssUrl(profile.location),
    rsaKey: namedKey ?? (embedded && !kmsKeyId && !rsaPublicKey ? embedded.keyFile : undefined),
    rsaPublicKey,
    keyPassphraseFile: flagPassphraseFile ?? (envPassphrase ? undefined : profile.keyPassphraseFile),
    keyPassphrase: flagPassphraseFile ? undefined : envPassphrase,
    kmsKeyId,
    kmsEndpoint: given<string>('kmsEndpoint', profile) ?? (region && regionEndpoint('kms', region)),
    kmsForm: given('kmsForm', profile),
    matdesc,
    decryptKeys: flagDecryptKeys ? asUsage(() => flagDecryptKeys.map(parseDecryptKey)) : (profile.decryptKeys ?? []).map(parseDecryptKey),
    insecureKeyPerms: setting('insecureKeyPerms', profile),
    cacheDir: given<string>('cacheDir', profile) ?? defaultCacheDir(env),
    cacheSize: sizeOf('cacheSize', setting('cacheSize', profile)),
    partSize: sizeOf('partSize', setting('partSize', profile)),
    attrTtl: seconds('attrTtl', setting('attrTtl', profile)),
    writeBack: seconds('writeBack', setting('writeBack', profile)),
    readOnly: setting('readOnly', profile),
    allowOther: setting('allowOther', profile),
    allowPlaintext: setting('allowPlaintext', profile),
    xattrs: setting('xattrs', profile),
    attrMirror: given<AttrMirrorMode>('attrMirror', profile),
    fuseBuild: given<FuseBuildName>('fuseBuild', profile),
    skipKeyCheck: setting('skipKeyCheck', profile),
    jobs,
    downloadJobs: argv.jobs ?? DEFAULT_DOWNLOAD_JOBS,
    quiet: setting('quiet', profile),
    logLevel: setting('logLevel', profile),
  };
}

/** A size from a flag (text) or a profile (bytes, already checked). */
function sizeOf(name: SettingName, value: string | number): number {
  if (typeof value === 'number') return value;
  try {
    return parseSize(value);
  } catch (err) {
    throw new UsageError(`${flagOf(name)}: ${(err as Error).message}`);
  }
}

function seconds(name: SettingName, value: number): number {
  if (!(value >= 0)) throw new UsageError(`${flagOf(name)} ${value}: must be a number of seconds ≥ 0`);
  return value;
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
