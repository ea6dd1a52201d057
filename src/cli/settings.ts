import type { Options } from 'yargs';
import { ATTR_MIRROR_MODES } from '../fuse/attrMirror.js';
import { FUSE_BUILDS } from '../fuse/fuseBuild.js';
import { LOG_LEVELS } from '../log.js';
import { CREDENTIAL_SOURCES } from '../store/credentials.js';
import { DEFAULT_PART_SIZE } from '../tuning.js';

/**
 * Every setting a user can give, in one table: its flag, environment variable, config-profile key,
 * fstab option, default, unit and help. The CLI's options (yargs), the config file's keys, the
 * fstab translation and the mount's resolved settings are all read from here, so a setting added
 * here is a flag, a key and a help line at once, and one left out is none of them.
 *
 * Precedence, for every setting: flag > environment variable > config profile > default.
 */

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
  | 'log'
  /** Sends or fetches large files in parts (--part-size). */
  | 'parts';

/** How a value is read from text (a flag, a variable, an fstab option) or from TOML. */
export type SettingKind =
  | 'string'
  /** A file or directory; in a config file relative to the file's directory, `~/` expanded. */
  | 'path'
  | 'boolean'
  /** A whole number ≥ 1. */
  | 'count'
  /** A number ≥ 0 of seconds. */
  | 'seconds'
  /** Bytes, as a whole number or text like `512M`. */
  | 'size'
  /** JSON object of strings (a material description). */
  | 'matdesc'
  /** Repeatable text. */
  | 'list'
  /** Repeatable `FILE[:MATDESC]`: a key file and the material description it answers to. */
  | 'keys';

export interface SettingSpec {
  kind: SettingKind;
  /** The command-line flag, without dashes; none for what only the environment or a profile may hold (secrets). */
  flag?: string;
  /** A one-letter alias of the flag. */
  alias?: string;
  env?: string;
  /** The key in a `[profiles.NAME]` table. */
  configKey?: string;
  /** The `-o name[=value]` of an fstab line that stands for the flag. */
  fstab?: string;
  /** Also read from the mount's `-o name=value` list (as ossfs and s3fs take it). */
  mountOption?: string;
  choices?: readonly (string | number)[];
  /** The built-in default, where it is a plain value. */
  default?: string | number | boolean;
  /** The default in words, where it is worked out (from another setting, the environment). */
  defaultText?: string;
  unit?: string;
  help: string;
  /**
   * Who reads it: every command that talks to a bucket (`bucket`), those with one of these uses, or
   * the mount alone.
   */
  readBy: 'bucket' | readonly BucketUse[] | 'mount';
  group?: 'Bucket options:' | 'Key options:';
}

/** A private mount shows unvouched-for entries as a local disk's default would; a shared one to nobody but its owner. */
export const DEFAULT_UMASK = 0o022;
export const SHARED_DEFAULT_UMASK = 0o077;

const octal = (mode: number): string => mode.toString(8).padStart(3, '0');

const BUCKET = 'Bucket options:';
const KEY = 'Key options:';

export const SETTINGS = {
  endpoint: { kind: 'string', flag: 'endpoint', env: 'OSS_ENDPOINT', configKey: 'endpoint', fstab: 'endpoint', defaultText: 'from the region, else the running embedded default', help: 'OSS endpoint URL', readBy: 'bucket', group: BUCKET },
  region: { kind: 'string', flag: 'region', env: 'OSS_REGION', configKey: 'region', fstab: 'region', defaultText: "from an OSS endpoint's host", help: 'OSS region, e.g. cn-hangzhou', readBy: 'bucket', group: BUCKET },
  signatureVersion: { kind: 'string', flag: 'signature-version', configKey: 'signature_version', choices: [4, 1], defaultText: '4', help: 'request signature: 4, or 1 for old private deployments only', readBy: 'bucket', group: BUCKET },
  credentialSource: { kind: 'string', flag: 'credential-source', configKey: 'credential_source', choices: CREDENTIAL_SOURCES, defaultText: 'the Alibaba Cloud default chain', help: 'where temporary credentials come from when no OSS_ACCESS_KEY_* are set', readBy: 'bucket', group: BUCKET },
  profile: { kind: 'string', flag: 'profile', env: 'OSSENCFS_PROFILE', fstab: 'profile', defaultText: "the config file's default_profile", help: 'config profile', readBy: 'bucket', group: BUCKET },
  config: { kind: 'path', flag: 'config', env: 'OSSENCFS_CONFIG', fstab: 'config', defaultText: '~/.config/ossencfs/config.toml', help: 'config file', readBy: 'bucket', group: BUCKET },
  location: { kind: 'string', configKey: 'bucket', help: 'oss://BUCKET[/PREFIX] a mount given only a directory mounts', readBy: 'mount' },
  accessKeyId: { kind: 'string', env: 'OSS_ACCESS_KEY_ID', configKey: 'access_key_id', help: 'access key id (never a flag: flags show in ps and shell history)', readBy: 'bucket' },
  accessKeySecret: { kind: 'string', env: 'OSS_ACCESS_KEY_SECRET', configKey: 'access_key_secret', help: 'access key secret; a config file holding it must be chmod 600', readBy: 'bucket' },
  securityToken: { kind: 'string', env: 'OSS_SESSION_TOKEN', configKey: 'security_token', help: 'STS security token that goes with temporary keys', readBy: 'bucket' },
  rsaKey: { kind: 'path', flag: 'rsa-key', configKey: 'rsa_key', fstab: 'rsa_key', help: 'RSA private key PEM (must be chmod 600): encrypts and decrypts', readBy: ['decrypt', 'encrypt'], group: KEY },
  rsaPublicKey: { kind: 'path', flag: 'rsa-public-key', configKey: 'rsa_public_key', help: 'RSA public key PEM: encrypt-only (writes, cannot read back)', readBy: ['encrypt'], group: KEY },
  keyPassphraseFile: { kind: 'path', flag: 'key-passphrase-file', configKey: 'key_passphrase_file', help: 'file holding the private key passphrase', readBy: ['decrypt', 'encrypt'], group: KEY },
  keyPassphrase: { kind: 'string', env: 'OSSENCFS_KEY_PASSPHRASE', help: 'the private key passphrase itself (a passphrase file given as a flag wins)', readBy: ['decrypt', 'encrypt'] },
  kmsKeyId: { kind: 'string', flag: 'kms-key-id', configKey: 'kms_key_id', fstab: 'kms_key_id', help: 'Alibaba Cloud KMS key id to wrap data keys with', readBy: ['decrypt', 'encrypt'], group: KEY },
  kmsEndpoint: { kind: 'string', flag: 'kms-endpoint', configKey: 'kms_endpoint', fstab: 'kms_endpoint', defaultText: 'from the region', help: 'KMS endpoint URL', readBy: ['decrypt', 'encrypt'], group: KEY },
  kmsForm: { kind: 'string', flag: 'kms-form', configKey: 'kms_form', choices: ['python', 'go'], defaultText: 'python', help: 'KMS header form to write: python (oss2) or go (Go/Java SDKs)', readBy: ['encrypt'], group: KEY },
  matdesc: { kind: 'matdesc', flag: 'matdesc', configKey: 'matdesc', help: 'material description JSON written with new objects, e.g. \'{"key":"v2"}\'', readBy: ['encrypt'], group: KEY },
  decryptKeys: { kind: 'keys', flag: 'decrypt-key', configKey: 'decrypt_keys', help: 'extra read-only RSA private key FILE[:MATDESC]; repeatable', readBy: ['decrypt'], group: KEY },
  insecureKeyPerms: { kind: 'boolean', flag: 'insecure-key-perms', default: false, help: 'accept a private key file readable by group/others', readBy: ['decrypt', 'encrypt'], group: KEY },
  cacheDir: { kind: 'path', flag: 'cache-dir', configKey: 'cache_dir', fstab: 'cache_dir', defaultText: '~/.cache/ossencfs', help: 'cache and checkpoint directory', readBy: ['cache'] },
  jobs: { kind: 'count', flag: 'jobs', alias: 'j', default: 4, defaultText: '4; ranges of one download: 8', help: 'parallel transfers: files with -r, parts of one large file', readBy: ['parallel'] },
  quiet: { kind: 'boolean', flag: 'quiet', alias: 'q', default: false, help: 'no progress bars or notes', readBy: ['progress'] },
  partSize: { kind: 'size', flag: 'part-size', default: DEFAULT_PART_SIZE, defaultText: '8M', unit: 'bytes, or K/M/G', help: 'part size (and download range) for files above it (multiple of 16, ≥100K)', readBy: ['parts'] },
  logLevel: { kind: 'string', flag: 'log-level', fstab: 'log_level', choices: LOG_LEVELS, default: 'warn', help: 'log verbosity', readBy: ['log'] },
  readOnly: { kind: 'boolean', flag: 'read-only', fstab: 'ro', default: false, help: 'refuse every write with EROFS', readBy: 'mount' },
  foreground: { kind: 'boolean', flag: 'foreground', alias: 'f', default: false, help: 'stay in the foreground (SIGINT/SIGTERM unmount)', readBy: 'mount' },
  cacheSize: { kind: 'size', flag: 'cache-size', configKey: 'cache_size', fstab: 'cache_size', default: '256M', unit: 'bytes, or K/M/G', help: 'memory for decrypted blocks, e.g. 512M', readBy: 'mount' },
  attrTtl: { kind: 'seconds', flag: 'attr-ttl', configKey: 'attr_ttl', fstab: 'attr_ttl', default: 1, unit: 'seconds', help: 'how long attributes and listings are cached', readBy: 'mount' },
  writeBack: { kind: 'seconds', flag: 'write-back', fstab: 'write_back', default: 1, unit: 'seconds', help: 'how long a closed new file waits (kept encrypted on local disk) before its upload, so a rename or chmod right after folds into it; 0 uploads at close, which then reports its failure. fsync always uploads at once', readBy: 'mount' },
  allowOther: { kind: 'boolean', flag: 'allow-other', fstab: 'allow_other', default: false, help: 'let other users use the mount (needs user_allow_other)', readBy: 'mount' },
  uid: { kind: 'string', flag: 'uid', mountOption: 'uid', defaultText: "unvouched-for entries are the mounting user's", help: 'show every entry as owned by this uid', readBy: 'mount' },
  gid: { kind: 'string', flag: 'gid', mountOption: 'gid', help: 'show every entry with this gid', readBy: 'mount' },
  umask: { kind: 'string', flag: 'umask', mountOption: 'umask', defaultText: `${octal(DEFAULT_UMASK)}, ${octal(SHARED_DEFAULT_UMASK)} with --allow-other`, unit: 'octal', help: 'cleared from the mode of entries whose mode no key holder vouched for', readBy: 'mount' },
  allowPlaintext: { kind: 'boolean', flag: 'allow-plaintext', default: false, help: 'read objects that carry no encryption headers as they are (never written)', readBy: 'mount' },
  xattrs: { kind: 'boolean', flag: 'xattrs', default: true, help: 'keep user.* extended attributes, encrypted; --no-xattrs refuses them (ENOTSUP) and spares the kernel round trip each write(2) and ls -l entry then costs', readBy: 'mount' },
  attrMirror: { kind: 'string', flag: 'attr-mirror', fstab: 'attr_mirror', choices: ATTR_MIRROR_MODES, defaultText: 'on where the fuse-native build has the table', help: "whether fuse-native's C table answers the kernel's getattr of listed names without waking JavaScript; off answers the same, slower for ls -l", readBy: 'mount' },
  fuseBuild: { kind: 'string', flag: 'fuse-build', env: 'OSSENCFS_FUSE_BUILD', choices: FUSE_BUILDS, defaultText: 'ossencfs where native/fuse-native is built, else stock', help: 'which fuse-native to mount on: ossencfs (native/fuse-native, built by scripts/setup.sh) or stock (as npm ships it: 128 KiB requests, whole listings, only touch sets times, no --allow-other; each said at start-up)', readBy: 'mount' },
  skipKeyCheck: { kind: 'boolean', flag: 'skip-key-check', default: false, help: 'mount even if the key cannot open the objects already there (new files are then written under a key that cannot read the old ones)', readBy: 'mount' },
  fuseOptions: { kind: 'list', flag: 'o', help: 'extra libfuse options, comma-separated', readBy: 'mount' },
  logFile: { kind: 'path', flag: 'log-file', fstab: 'log_file', defaultText: 'stderr; in the background: CACHE_DIR/mount.log', help: 'append log lines here', readBy: 'mount' },
} as const satisfies Record<string, SettingSpec>;

export type SettingName = keyof typeof SETTINGS;

const specs = (): [SettingName, SettingSpec][] => Object.entries(SETTINGS) as [SettingName, SettingSpec][];

/** The help line of a setting: what it does, then where else it comes from and its default. */
export function describeSetting(s: SettingSpec): string {
  const also = [
    s.unit,
    s.mountOption ? `also -o ${s.mountOption}=…` : undefined,
    s.env ? `env ${s.env}` : undefined,
    s.configKey ? `config ${s.configKey}` : undefined,
    defaultOf(s) === undefined ? undefined : `default ${defaultOf(s)}`,
  ].filter((part) => part !== undefined);
  return also.length === 0 ? s.help : `${s.help} (${also.join('; ')})`;
}

/** The default as help and README state it. */
export function defaultOf(s: SettingSpec): string | undefined {
  if (s.defaultText !== undefined) return s.defaultText;
  if (s.default === undefined || s.kind === 'boolean') return undefined;
  return String(s.default);
}

function yargsSpec(s: SettingSpec): Options {
  const spec: Options = { describe: describeSetting(s) };
  if (s.alias) spec.alias = s.alias;
  if (s.group) spec.group = s.group;
  if (s.choices) spec.choices = s.choices as (string | number)[];
  if (s.kind === 'boolean') spec.type = 'boolean';
  else if (s.kind === 'count' || s.kind === 'seconds' || typeof s.choices?.[0] === 'number') spec.type = 'number';
  else if (!s.choices) spec.type = 'string';
  if (s.kind === 'list' && s.flag === 'o') spec.array = true;
  return spec;
}

/**
 * The flags of the table a command reads (`bucket`: every command that talks to one, plus those of
 * its `uses`; `mount`: the mount's own), in table order. The other bucket flags are accepted
 * unlisted, so one set of flags (an alias, a script) still serves every command.
 */
export function commandOptions(who: { uses: readonly BucketUse[]; mount: boolean }): [flag: string, spec: Options][] {
  const out: [string, Options][] = [];
  for (const [, s] of specs()) {
    if (s.flag === undefined) continue;
    if (s.readBy === 'mount') {
      if (who.mount) out.push([s.flag, yargsSpec(s)]);
      continue;
    }
    const reads = s.readBy === 'bucket' || s.readBy.some((use) => who.uses.includes(use));
    out.push([s.flag, reads ? yargsSpec(s) : { ...yargsSpec(s), hidden: true }]);
  }
  return out;
}

/** The settings a config profile may hold, by key. */
export function configKeys(): Map<string, [SettingName, SettingSpec]> {
  return new Map(specs().filter(([, s]) => s.configKey !== undefined).map(([name, s]) => [s.configKey as string, [name, s]]));
}

/** fstab options that stand for a flag: `name=value` ones and bare (boolean) ones. */
export function fstabOptions(): { valued: Map<string, string>; bare: Map<string, string> } {
  const valued = new Map<string, string>();
  const bare = new Map<string, string>();
  for (const [, s] of specs()) {
    if (s.fstab === undefined || s.flag === undefined) continue;
    (s.kind === 'boolean' ? bare : valued).set(s.fstab, `--${s.flag}`);
  }
  return { valued, bare };
}

/** The `-o name=value` options the mount reads itself rather than passing to libfuse. */
export function mountOptionNames(): string[] {
  return specs().flatMap(([, s]) => (s.mountOption ? [s.mountOption] : []));
}

/** A setting's flag as typed, for messages: `--attr-ttl`. */
export const flagOf = (name: SettingName): string => `--${(SETTINGS[name] as SettingSpec).flag ?? name}`;

/**
 * Ranges of one download at once when --jobs is not given. A download's ranges cost a buffer each,
 * not a part held for retry as an upload's do, and one connection to a distant bucket is bounded by
 * its window: more ranges fill more windows (docs/performance.md has the figures).
 */
export const DEFAULT_DOWNLOAD_JOBS = 8;
