import { readFileSync } from 'node:fs';
import { chmodSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyring, rsaMasterKey } from '../../src/crypto/index.js';
import { EncryptedBucket } from '../../src/secure/index.js';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { type Mounted, mountBucket, sh, shStatus } from '../support/mounted.js';
import { encryptedBucket } from '../reliability/support.js';

const NOBODY = 65534;

/** A command run as uid/gid 65534 with no supplementary groups. */
const asNobody = (command: string) => shStatus(`setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups bash -c ${JSON.stringify(command)}`);

/** `stat -c FORMAT` of a path in the mount. */
const statOf = (path: string, format = '%u %g %a %F') => sh(`stat -c '${format}' ${JSON.stringify(path)}`).trim();

describe('mount: owners, and what a bucket writer can decide', () => {
  let local: LocalBucket;
  let m: Mounted;
  const shared = ['--allow-other'];

  beforeAll(async () => {
    local = await startLocalBucket();
    // uid 65534 must reach the mountpoint.
    chmodSync(local.dir, 0o755);
    m = await mountBucket(local, { prefix: 'own', args: shared });
  });

  afterAll(async () => {
    await m?.unmount();
    await local?.close();
  });

  const remount = async () => {
    await m.unmount();
    m = await mountBucket(local, { prefix: 'own', args: shared });
  };

  it('a file and a directory made by uid 65534 are theirs, and stay theirs across a remount', async () => {
    sh(`mkdir -m 1777 ${m.mountpoint}/pub`);
    const made = asNobody(`echo hi > ${m.mountpoint}/pub/f && mkdir ${m.mountpoint}/pub/d && ln -s f ${m.mountpoint}/pub/l`);
    expect(made.stderr).toBe('');
    expect(statOf(`${m.mountpoint}/pub/f`, '%u %g')).toBe(`${NOBODY} ${NOBODY}`);
    expect(statOf(`${m.mountpoint}/pub/d`, '%u %g')).toBe(`${NOBODY} ${NOBODY}`);
    await remount();
    expect(statOf(`${m.mountpoint}/pub`)).toBe('0 0 1777 directory');
    expect(statOf(`${m.mountpoint}/pub/f`, '%u %g %F')).toBe(`${NOBODY} ${NOBODY} regular file`);
    expect(statOf(`${m.mountpoint}/pub/d`, '%u %g %F')).toBe(`${NOBODY} ${NOBODY} directory`);
    expect(sh(`stat -c '%u %g %F' ${m.mountpoint}/pub/l`).trim()).toBe(`${NOBODY} ${NOBODY} symbolic link`);
  });
});
