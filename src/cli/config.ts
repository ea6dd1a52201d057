import { readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { parse, TomlError } from 'smol-toml';
import { FsError } from '../errors.js';
import type { CredentialSource } from '../store/credentials.js';
import { parseSize } from '../util/size.js';
import { configKeys, type SettingName, type SettingSpec } from './settings.js';

/**
 * The TOML config file: `default_profile = "NAME"` and `[profiles.NAME]` tables. A profile holds
 * what would otherwise be repeated on every command line. Access keys are only accepted from a
 * file nobody else can read, because the file is then as secret as the keys.
 */

export interface Credentials {
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
}

/** The settings a profile holds, named as in the settings table (src/cli/settings.ts). */
export interface Profile {
  endpoint?: string;
  region?: string;
  signatureVersion?: 1 | 4;
  credentialSource?: CredentialSource;
  /** An oss://BUCKET[/PREFIX] url. */
  location?: string;
  rsaKey?: string;
  rsaPublicKey?: string;
  keyPassphraseFile?: string;
  kmsKeyId?: string;
  kmsEndpoint?: string;
  kmsForm?: 'python' | 'go';
  matdesc?: Record<string, string>;
  /** `FILE[:MATDESC]` entries, as for --decrypt-key. */
  decryptKeys?: string[];
  cacheDir?: string;
  cacheSize?: number;
  /** Seconds. */
  attrTtl?: number;
  credentials?: Credentials;
}

export interface ConfigFile {
  path: string;
  defaultProfile?: string;
  profiles: Record<string, Profile>;
}

type Env = Record<string, string | undefined>;

export function defaultConfigPath(env: Env = process.env): string {
  const base = env.XDG_CONFIG_HOME || join(homedir(), '.config');
  return join(base, 'ossencfs', 'config.toml');
}

/** Expands `~/` and makes a relative path relative to `base` (the config file's directory). */
export function expandPath(path: string, base: string): string {
  if (path === '~' || path.startsWith('~/')) return join(homedir(), path.slice(1));
  return isAbsolute(path) ? path : resolve(base, path);
}

/**
 * Reads and validates a config file. A missing file is an empty config unless the user named it
 * (`required`), since then a typo in the name must not silently fall back to defaults.
 */
export function readConfig(path: string, required: boolean): ConfigFile {
  let text: string;
  let mode: number;
  try {
    mode = statSync(path).mode;
    text = readFileSync(path, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' && !required) return { path, profiles: {} };
    throw new FsError('ENOENT', `cannot read config ${path}: ${(err as Error).message}`, { cause: err });
  }
  let doc: Record<string, unknown>;
  try {
    doc = parse(text);
  } catch (err) {
    const where = err instanceof TomlError ? ` (line ${err.line})` : '';
    throw new FsError('EINVAL', `config ${path}${where}: ${(err as Error).message.split('\n')[0]}`);
  }
  const config: ConfigFile = { path, profiles: {} };
  for (const [name, value] of Object.entries(doc)) {
    if (name === 'default_profile') config.defaultProfile = asString(`config ${path}: ${name}`, value);
    else if (name === 'profiles') {
      for (const [profileName, table] of Object.entries(asTable(path, name, value))) {
        config.profiles[profileName] = parseProfile(path, profileName, asTable(path, `profiles.${profileName}`, table));
      }
    } else throw new FsError('EINVAL', `config ${path}: unknown setting "${name}" (expected default_profile or [profiles.NAME])`);
  }
  const withKeys = Object.entries(config.profiles).find(([, p]) => p.credentials);
  if (withKeys && (mode & 0o077) !== 0) {
    throw new FsError(
      'EACCES',
      `config ${path} holds access keys (profile "${withKeys[0]}") but is readable by group/others — chmod 600 ${path}`,
    );
  }
  return config;
}

/** The named profile; `name` undefined means the file's default_profile, or none at all. */
export function pickProfile(config: ConfigFile, name: string | undefined): { name?: string; profile: Profile } {
  const chosen = name ?? config.defaultProfile;
  if (chosen === undefined) return { profile: {} };
  const profile = config.profiles[chosen];
  if (!profile) {
    const known = Object.keys(config.profiles);
    throw new FsError(
      'ENOENT',
      `no profile "${chosen}" in ${config.path}` + (known.length ? ` (profiles: ${known.join(', ')})` : ' (it has no [profiles.NAME] tables)'),
    );
  }
  return { name: chosen, profile };
}

/** A size as an integer of bytes or text like `512M`, `10G`. */
function sizeSetting(value: unknown, what: string): number {
  if (typeof value === 'number' && Number.isSafeInteger(value) && value >= 0) return value;
  try {
    return parseSize(String(value));
  } catch (err) {
    throw new FsError('EINVAL', `${what}: ${(err as Error).message}`);
  }
}

/** A matdesc given as JSON text or as a TOML table; values must be strings, as in the SDKs. */
export function parseMatdesc(value: unknown, what: string): Record<string, string> {
  let parsed: unknown = value;
  if (typeof value === 'string') {
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new FsError('EINVAL', `${what}: ${value} is not JSON (e.g. '{"key":"v1"}')`);
    }
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new FsError('EINVAL', `${what}: matdesc must be a JSON object of strings, e.g. {"key":"v1"}`);
  }
  for (const [k, v] of Object.entries(parsed)) {
    if (typeof v !== 'string') throw new FsError('EINVAL', `${what}: matdesc value for "${k}" must be a string`);
  }
  return parsed as Record<string, string>;
}

function parseProfile(path: string, name: string, table: Record<string, unknown>): Profile {
  const base = dirname(path);
  const keys = configKeys();
  const raw: Partial<Record<SettingName, unknown>> = {};
  for (const [key, value] of Object.entries(table)) {
    const where = `config ${path} [profiles.${name}] ${key}`;
    const known = keys.get(key);
    if (!known) throw new FsError('EINVAL', `${where}: unknown setting`);
    raw[known[0]] = configValue(known[1], value, where, base);
  }
  const { accessKeyId, accessKeySecret, securityToken, ...profile } = raw as Profile & { accessKeyId?: string; accessKeySecret?: string; securityToken?: string };
  if ((accessKeyId === undefined) !== (accessKeySecret === undefined)) {
    throw new FsError('EINVAL', `config ${path} [profiles.${name}]: give both access_key_id and access_key_secret`);
  }
  if (accessKeyId !== undefined && accessKeySecret !== undefined) {
    profile.credentials = { accessKeyId, accessKeySecret, ...(securityToken === undefined ? {} : { securityToken }) };
  }
  return profile;
}

/** A profile's value of a setting, checked as its kind and choices in the table say. */
function configValue(s: SettingSpec, value: unknown, where: string, base: string): unknown {
  if (s.choices) {
    if (!s.choices.includes(value as string | number)) throw new FsError('EINVAL', `${where}: must be ${oneOf(s.choices)}`);
    return value;
  }
  switch (s.kind) {
    case 'path':
      return expandPath(asString(where, value), base);
    case 'size':
      return sizeSetting(value, where);
    case 'seconds':
      if (typeof value !== 'number' || !(value >= 0)) throw new FsError('EINVAL', `${where}: must be a number of seconds`);
      return value;
    case 'matdesc':
      return parseMatdesc(value, where);
    case 'keys':
      if (!Array.isArray(value) || !value.every((e) => typeof e === 'string')) {
        throw new FsError('EINVAL', `${where}: must be a list of "FILE[:MATDESC]" strings`);
      }
      return value.map((entry: string) => {
        const { file, matdesc } = splitDecryptKey(entry);
        return matdesc === undefined ? expandPath(file, base) : `${expandPath(file, base)}:${matdesc}`;
      });
    default:
      return asString(where, value);
  }
}

/** `4 or 1`, `one of default, env, ini`. */
export function oneOf(choices: readonly (string | number)[]): string {
  return choices.length === 2 ? `${choices[0]} or ${choices[1]}` : `one of ${choices.join(', ')}`;
}

/** `FILE[:MATDESC]`: the matdesc is JSON, so it starts at the first `:{` (a path may hold a colon). */
export function splitDecryptKey(spec: string): { file: string; matdesc?: string } {
  const at = spec.indexOf(':{');
  return at < 0 ? { file: spec } : { file: spec.slice(0, at), matdesc: spec.slice(at + 1) };
}

function asString(where: string, value: unknown): string {
  if (typeof value !== 'string') throw new FsError('EINVAL', `${where}: must be a string`);
  return value;
}

function asTable(path: string, key: string, value: unknown): Record<string, unknown> {
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new FsError('EINVAL', `config ${path}: ${key} must be a table`);
  }
  return value as Record<string, unknown>;
}
