import { chmodSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { type Mounted, mountBucket } from '../support/mounted.js';

/**
 * The mount resolves its settings once, from the settings table: a config profile's keys, chosen
 * through environment variables, reach the running mount, and a flag beats the profile.
 */
describe("the mount's resolved settings", () => {
  let local: LocalBucket;
  let m: Mounted | undefined;
  beforeAll(async () => {
    local = await startLocalBucket();
  });
  afterAll(async () => {
    await m?.unmount();
    await local?.close();
  });

  it('a profile named by OSSENCFS_PROFILE in the OSSENCFS_CONFIG file sets cache_size and attr_ttl; --attr-ttl beats the profile on the next mount', async () => {
    const config = join(local.dir, 'config.toml');
    writeFileSync(config, '[profiles.small]\ncache_size = "64M"\nattr_ttl = 3\n');
    chmodSync(config, 0o600);
    const env = { OSSENCFS_CONFIG: config, OSSENCFS_PROFILE: 'small' };
    m = await mountBucket(local, { env, args: ['--write-back', '2'] });
    expect(m.log()).toContain(`settings: profile small of ${config}; endpoint ${local.server.url}; cache-size ${64 * 2 ** 20} bytes; attr-ttl 3 s; write-back 2 s`);
    await m.unmount();
    m = await mountBucket(local, { name: 'again', env, args: ['--attr-ttl', '0'] });
    expect(m.log()).toMatch(new RegExp(`cache-size ${64 * 2 ** 20} bytes; attr-ttl 0 s;`));
  });
});
