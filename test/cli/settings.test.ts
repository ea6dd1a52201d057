import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore, parseOssUrl, resolveSettings, UsageError } from '../../src/cli/options.js';
import { regionOfEndpoint } from '../../src/store/region.js';
import { translateMountArgs } from '../../src/cli/fstab.js';

const made: string[] = [];
afterAll(() => made.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

function configFile(text: string, mode = 0o600): string {
  const dir = mkdtempSync(join(tmpdir(), 'ossencfs-config-'));
  made.push(dir);
  const path = join(dir, 'config.toml');
  writeFileSync(path, text);
  chmodSync(path, mode);
  return path;
}

const CONFIG = `
default_profile = "prod"
[profiles.prod]
endpoint = "https://profile.example"
region = "cn-shanghai"
bucket = "oss://vault/records"
rsa_key = "keys/master.pem"
decrypt_keys = ["old.pem:{\\"key\\":\\"v1\\"}"]
matdesc = { key = "v2" }
cache_size = "2G"
attr_ttl = 5
access_key_id = "PROFILEID"
access_key_secret = "PROFILESECRET"

[profiles.dev]
endpoint = "http://127.0.0.1:9000"
`;

describe('resolveSettings precedence: flag > env > profile > default', () => {
  const path = configFile(CONFIG);

  it('takes the profile when nothing else is given, paths relative to the config file', () => {
    const s = resolveSettings({ config: path }, {});
    expect(s.profile).toBe('prod');
    expect(s.endpoint).toBe('https://profile.example');
    expect(s.location).toEqual({ bucket: 'vault', prefix: 'records' });
    expect(s.rsaKey).toBe(join(path, '..', 'keys/master.pem'));
    expect(s.decryptKeys).toEqual([{ file: join(path, '..', 'old.pem'), matdesc: { key: 'v1' } }]);
    expect(s.matdesc).toEqual({ key: 'v2' });
    expect(s.cacheSize).toBe(2 * 1024 ** 3);
    expect(s.attrTtl).toBe(5);
    expect(s.credentials).toEqual({ accessKeyId: 'PROFILEID', accessKeySecret: 'PROFILESECRET' });
  });

  it('env beats the profile, the flag beats env', () => {
    const env = { OSS_ENDPOINT: 'https://env.example', OSS_ACCESS_KEY_ID: 'ENVID', OSS_ACCESS_KEY_SECRET: 'ENVSECRET', OSS_SESSION_TOKEN: 'TOK' };
    expect(resolveSettings({ config: path }, env).endpoint).toBe('https://env.example');
    expect(resolveSettings({ config: path }, env).credentials).toEqual({ accessKeyId: 'ENVID', accessKeySecret: 'ENVSECRET', securityToken: 'TOK' });
    expect(resolveSettings({ config: path, endpoint: 'https://flag.example' }, env).endpoint).toBe('https://flag.example');
  });

  it('picks the profile by flag, then OSSENCFS_PROFILE, then default_profile; config by flag then OSSENCFS_CONFIG', () => {
    expect(resolveSettings({}, { OSSENCFS_CONFIG: path }).profile).toBe('prod');
    expect(resolveSettings({}, { OSSENCFS_CONFIG: path, OSSENCFS_PROFILE: 'dev' }).endpoint).toBe('http://127.0.0.1:9000');
    expect(resolveSettings({ profile: 'prod' }, { OSSENCFS_CONFIG: path, OSSENCFS_PROFILE: 'dev' }).profile).toBe('prod');
    expect(() => resolveSettings({ profile: 'nope' }, { OSSENCFS_CONFIG: path })).toThrow(/no profile "nope".*profiles: prod, dev/);
  });

  it('defaults: endpoint from the region, cache under XDG_CACHE_HOME, 4 jobs', () => {
    const s = resolveSettings({ region: 'cn-beijing' }, { XDG_CONFIG_HOME: '/nonexistent', XDG_CACHE_HOME: '/c' });
    expect(s.endpoint).toBe('https://oss-cn-beijing.aliyuncs.com');
    expect(s.kmsEndpoint).toBe('https://kms.cn-beijing.aliyuncs.com');
    expect(s.cacheDir).toBe('/c/ossencfs');
    expect(s.jobs).toBe(4);
    expect(s.credentials).toBeUndefined();
  });

  it('refuses access keys in a config readable by others, naming the fix', () => {
    const loose = configFile(CONFIG, 0o644);
    expect(() => resolveSettings({ config: loose }, {})).toThrow(`chmod 600 ${loose}`);
    // Without keys in it, a world-readable config is fine.
    const noKeys = configFile('[profiles.a]\nendpoint = "https://x"\n', 0o644);
    expect(resolveSettings({ config: noKeys, profile: 'a' }, {}).endpoint).toBe('https://x');
  });

  it('rejects unknown settings and a named config that does not exist', () => {
    expect(() => resolveSettings({ config: configFile('[profiles.a]\nendpont = "x"\n') }, {})).toThrow(/endpont: unknown setting/);
    expect(() => resolveSettings({ config: '/no/such/config.toml' }, {})).toThrow(/cannot read config/);
  });

  it('a bad --matdesc or --jobs is a usage error', () => {
    expect(() => resolveSettings({ config: path, matdesc: '{bad' }, {})).toThrow(UsageError);
    expect(() => resolveSettings({ config: path, jobs: 0 }, {})).toThrow(UsageError);
  });
});

describe('signature version, region and credential source', () => {
  const keys = { OSS_ACCESS_KEY_ID: 'ID', OSS_ACCESS_KEY_SECRET: 'SECRET', XDG_CONFIG_HOME: '/nonexistent' };

  it('V4 unless asked for V1, by flag or profile; anything else is refused', () => {
    expect(resolveSettings({}, keys).signatureVersion).toBe(4);
    expect(resolveSettings({ 'signature-version': 1 }, keys).signatureVersion).toBe(1);
    const v1 = configFile('[profiles.old]\nendpoint = "http://10.0.0.5"\nsignature_version = 1\n');
    expect(resolveSettings({ config: v1, profile: 'old' }, {}).signatureVersion).toBe(1);
    expect(resolveSettings({ config: v1, profile: 'old', 'signature-version': 4 }, {}).signatureVersion).toBe(4);
    expect(() => resolveSettings({ 'signature-version': 2 }, keys)).toThrow(UsageError);
    expect(() => resolveSettings({ config: configFile('[profiles.a]\nsignature_version = 2\n'), profile: 'a' }, {})).toThrow(/signature_version: must be 4 or 1/);
  });

  it('the region from the flag, env or profile, else from an OSS endpoint host; accelerate and other hosts name none', () => {
    expect(regionOfEndpoint('https://oss-cn-hangzhou.aliyuncs.com')).toBe('cn-hangzhou');
    expect(regionOfEndpoint('https://oss-cn-shanghai-internal.aliyuncs.com')).toBe('cn-shanghai');
    expect(regionOfEndpoint('https://vault.oss-ap-southeast-1.aliyuncs.com')).toBe('ap-southeast-1');
    expect(regionOfEndpoint('https://oss-accelerate.aliyuncs.com')).toBeUndefined();
    expect(regionOfEndpoint('https://oss-accelerate-overseas.aliyuncs.com')).toBeUndefined();
    expect(regionOfEndpoint('http://127.0.0.1:9000')).toBeUndefined();
    // Opening a store makes no request: these only check the settings are enough to sign.
    expect(() => openStore(resolveSettings({ endpoint: 'https://oss-cn-shanghai.aliyuncs.com' }, keys), 'vault')).not.toThrow();
    expect(() => openStore(resolveSettings({ endpoint: 'http://127.0.0.1:9000', region: 'cn-hangzhou' }, keys), 'vault')).not.toThrow();
    expect(() => openStore(resolveSettings({ endpoint: 'http://127.0.0.1:9000' }, { ...keys, OSS_REGION: 'cn-hangzhou' }), 'vault')).not.toThrow();
    expect(() => openStore(resolveSettings({ endpoint: 'http://127.0.0.1:9000', 'signature-version': 1 }, keys), 'vault')).not.toThrow();
    for (const endpoint of ['http://127.0.0.1:9000', 'https://oss-accelerate.aliyuncs.com']) {
      const err = (() => {
        try {
          openStore(resolveSettings({ endpoint }, keys), 'vault');
        } catch (e) {
          return e as Error;
        }
        return undefined;
      })();
      expect(err).toBeInstanceOf(UsageError);
      expect(err!.message).toMatch(/pass --region/);
      expect(err!.message).not.toContain('\n');
    }
  });

  it('a credential source by flag or profile; a name the library does not have is refused', () => {
    expect(resolveSettings({}, keys).credentialSource).toBeUndefined();
    expect(resolveSettings({ 'credential-source': 'ecs-ram-role' }, keys).credentialSource).toBe('ecs-ram-role');
    const p = configFile('[profiles.ecs]\nregion = "cn-beijing"\ncredential_source = "oidc"\n');
    expect(resolveSettings({ config: p, profile: 'ecs' }, {}).credentialSource).toBe('oidc');
    expect(() => resolveSettings({ config: configFile('[profiles.a]\ncredential_source = "magic"\n'), profile: 'a' }, {})).toThrow(/credential_source: must be one of default, env/);
  });
});

describe('parseOssUrl', () => {
  it('splits bucket and prefix', () => {
    expect(parseOssUrl('oss://vault')).toEqual({ bucket: 'vault', prefix: '' });
    expect(parseOssUrl('oss://vault/a/b/')).toEqual({ bucket: 'vault', prefix: 'a/b/' });
  });
  it('rejects anything else with a usage error', () => {
    for (const bad of ['vault/x', 's3://vault/x', 'oss://', 'oss://Vault', 'oss://a']) expect(() => parseOssUrl(bad)).toThrow(UsageError);
  });
});

describe('fstab: mount.ossencfs argument translation', () => {
  it('maps the -o list to ossencfs mount flags', () => {
    const r = translateMountArgs([
      'oss://vault/records', '/mnt/vault', '-o',
      '_netdev,nofail,noauto,user,rw,defaults,profile=prod,allow_other,ro,cache_dir=/var/cache/o,cache_size=10G,attr_ttl=5,rsa_key=/etc/k.pem,kms_key_id=abc,endpoint=https://e,log_file=/var/log/o.log,x-systemd.automount,big_writes,uid=1000',
    ]);
    expect(r.args).toEqual([
      'mount', 'oss://vault/records', '/mnt/vault',
      '--profile', 'prod', '--allow-other', '--read-only', '--cache-dir', '/var/cache/o', '--cache-size', '10G', '--attr-ttl', '5',
      '--rsa-key', '/etc/k.pem', '--kms-key-id', 'abc', '--endpoint', 'https://e', '--log-file', '/var/log/o.log',
      '-o', 'big_writes', '-o', 'uid=1000',
    ]);
    expect(r.fake).toBe(false);
  });

  it('maps config, region, kms_endpoint and log_level to their flags (libfuse would refuse them)', () => {
    const r = translateMountArgs(['oss://vault', '/mnt', '-o', 'config=/etc/ossencfs/config.toml,region=cn-hangzhou,kms_endpoint=https://kms.example,log_level=debug']);
    expect(r.args).toEqual([
      'mount', 'oss://vault', '/mnt',
      '--config', '/etc/ossencfs/config.toml', '--region', 'cn-hangzhou', '--kms-endpoint', 'https://kms.example', '--log-level', 'debug',
    ]);
  });

  it('ignores -n/-s/-v and -t TYPE, honours -f (fake), accepts -oOPTS', () => {
    const r = translateMountArgs(['-n', 'oss://vault', '/mnt', '-t', 'fuse.ossencfs', '-f', '-oro']);
    expect(r).toEqual({ args: ['mount', 'oss://vault', '/mnt', '--read-only'], fake: true, verbose: false });
  });

  it('rejects a missing mountpoint and a valued option without a value', () => {
    expect(() => translateMountArgs(['oss://vault'])).toThrow(/SOURCE and MOUNTPOINT/);
    expect(() => translateMountArgs(['oss://vault', '/mnt', '-o', 'profile'])).toThrow(/needs a value/);
  });
});
