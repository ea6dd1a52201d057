import { chmodSync, readFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Keyring, rsaMasterKey } from '../../src/crypto/index.js';
import { EncryptedBucket } from '../../src/secure/index.js';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { BIN, type Mounted, mountBucket, sh, shStatus } from '../support/mounted.js';
import { encryptedBucket } from '../reliability/support.js';

const NOBODY = 65534;
const S_IFREG = 0o100000;

/** A command run as uid/gid 65534 with no supplementary groups. */
const asNobody = (command: string) => shStatus(`setpriv --reuid=${NOBODY} --regid=${NOBODY} --clear-groups bash -c ${JSON.stringify(command)}`);

/** `stat -c FORMAT` of a path. */
const statOf = (path: string, format = '%u %g %a') => sh(`stat -c '${format}' ${JSON.stringify(path)}`).trim();

/** The mount's options as the kernel has them. */
const mountOptions = (mountpoint: string) => sh(`findmnt -no VFS-OPTIONS ${mountpoint}`).trim().split(',');

/** Everything through the real CLI, a root mount with --allow-other, setpriv and the local server. */
describe('mount: owners, and what a bucket writer can decide', () => {
  let local: LocalBucket;
  let m: Mounted;
  const shared = ['--allow-other'];

  beforeAll(async () => {
    local = await startLocalBucket();
    // uid 65534 must reach the mountpoint.
    chmodSync(local.dir, 0o755);
    m = await mountBucket(local, { prefix: 'own', args: shared });
    sh(`mkdir -m 1777 ${m.mountpoint}/pub`);
  });

  afterAll(async () => {
    await m?.unmount();
    await local?.close();
  });

  const remount = async (args = shared, name = 'mnt') => {
    await m.unmount();
    m = await mountBucket(local, { prefix: 'own', args, name });
  };

  /** An object written behind the mount's back, encrypted with the public key alone (all an encrypt-only writer has). */
  const plantWithoutKey = async (key: string, body: string, meta: Record<string, string>) => {
    const publicOnly = new EncryptedBucket(local.store, new Keyring({ writer: rsaMasterKey({ publicKeyPem: readFileSync(local.publicKeyFile) }) }));
    await publicOnly.put(key, Buffer.from(body), { meta });
  };

  it('a file, a directory and a symlink made by uid 65534 are theirs, across a remount and a rename', async () => {
    const made = asNobody(`echo hi > ${m.mountpoint}/pub/f && mkdir ${m.mountpoint}/pub/d && echo x > ${m.mountpoint}/pub/d/in && ln -s f ${m.mountpoint}/pub/l`);
    expect(made.stderr).toBe('');
    expect(statOf(`${m.mountpoint}/pub/f`, '%u %g')).toBe(`${NOBODY} ${NOBODY}`);
    expect(statOf(`${m.mountpoint}/pub/d`, '%u %g')).toBe(`${NOBODY} ${NOBODY}`);
    await remount();
    expect(statOf(`${m.mountpoint}/pub`, '%u %g %a %F')).toBe('0 0 1777 directory');
    expect(statOf(`${m.mountpoint}/pub/f`, '%u %g %F')).toBe(`${NOBODY} ${NOBODY} regular file`);
    expect(statOf(`${m.mountpoint}/pub/d`, '%u %g %F')).toBe(`${NOBODY} ${NOBODY} directory`);
    expect(statOf(`${m.mountpoint}/pub/l`, '%u %g %F')).toBe(`${NOBODY} ${NOBODY} symbolic link`);
    const moved = asNobody(`mv ${m.mountpoint}/pub/f ${m.mountpoint}/pub/g && mv ${m.mountpoint}/pub/d ${m.mountpoint}/pub/e`);
    expect(moved.stderr).toBe('');
    await remount();
    expect(statOf(`${m.mountpoint}/pub/g`, '%u %g')).toBe(`${NOBODY} ${NOBODY}`);
    expect(statOf(`${m.mountpoint}/pub/e`, '%u %g')).toBe(`${NOBODY} ${NOBODY}`);
    expect(statOf(`${m.mountpoint}/pub/e/in`, '%u %g')).toBe(`${NOBODY} ${NOBODY}`);
  });

  it('in a setgid directory a new entry takes its group, and a new directory its setgid bit', async () => {
    sh(`mkdir ${m.mountpoint}/sg && chown 0:4321 ${m.mountpoint}/sg && chmod 2777 ${m.mountpoint}/sg`);
    expect(asNobody(`touch ${m.mountpoint}/sg/f && mkdir ${m.mountpoint}/sg/sub`).stderr).toBe('');
    await remount();
    expect(statOf(`${m.mountpoint}/sg/f`, '%u %g')).toBe(`${NOBODY} 4321`);
    expect(statOf(`${m.mountpoint}/sg/sub`, '%u %g')).toBe(`${NOBODY} 4321`);
    expect(Number.parseInt(statOf(`${m.mountpoint}/sg/sub`, '%a'), 8) & 0o2000).toBe(0o2000);
  });

  it("root's chown sticks across a remount; a chown by someone else is refused with EPERM", async () => {
    sh(`echo x > ${m.mountpoint}/pub/given && chown ${NOBODY}:4321 ${m.mountpoint}/pub/given`);
    sh(`echo x > ${m.mountpoint}/pub/roots`);
    const refused = asNobody(`chown ${NOBODY} ${m.mountpoint}/pub/roots`);
    expect(refused.status).not.toBe(0);
    expect(refused.stderr).toMatch(/Operation not permitted/);
    await remount();
    expect(statOf(`${m.mountpoint}/pub/given`, '%u %g')).toBe(`${NOBODY} 4321`);
    expect(statOf(`${m.mountpoint}/pub/roots`, '%u %g')).toBe('0 0');
  });

  it('owner and mode set in the bucket behind the mount are not trusted: the default owner, umask 077, and uid 65534 cannot read', async () => {
    // The repro: an object claiming to be nobody's and readable, with no key needed.
    await plantWithoutKey('own/pub/planted', 'secret', { mode: String(S_IFREG | 0o644), uid: String(NOBODY), gid: String(NOBODY) });
    // And a file the mount vouched for (root's, 0600), its owner and mode then changed with its MAC and ciphertext kept.
    sh(`echo secret > ${m.mountpoint}/pub/grafted && chmod 600 ${m.mountpoint}/pub/grafted`);
    await m.unmount();
    const original = await local.store.get('own/pub/grafted');
    const ciphertext = Buffer.concat(await original.body.toArray());
    expect(original.head.meta['ossencfs-attr-mac']).toBeDefined();
    await local.store.put('own/pub/grafted', ciphertext, { meta: { ...original.head.meta, uid: String(NOBODY), mode: String(S_IFREG | 0o644) } });
    m = await mountBucket(local, { prefix: 'own', args: shared });

    for (const name of ['planted', 'grafted']) {
      expect(statOf(`${m.mountpoint}/pub/${name}`, '%u %g %a %F')).toBe('0 0 600 regular file');
      const read = asNobody(`cat ${m.mountpoint}/pub/${name}`);
      expect(read.status).not.toBe(0);
      expect(read.stderr).toMatch(/Permission denied/);
    }
    // Not a world-readable file, yet readable by the mount's owner.
    expect(sh(`cat ${m.mountpoint}/pub/planted`)).toBe('secret');
  });

  it('what the mount vouched for is shown as stored, setuid included; the mount is nosuid,nodev', async () => {
    sh(`echo '#!/bin/sh' > ${m.mountpoint}/pub/tool && chmod 4755 ${m.mountpoint}/pub/tool && echo r > ${m.mountpoint}/pub/open && chmod 644 ${m.mountpoint}/pub/open`);
    await plantWithoutKey('own/pub/planted-suid', '#!/bin/sh\n', { mode: String(S_IFREG | 0o4777) });
    await remount();
    expect(statOf(`${m.mountpoint}/pub/tool`)).toBe('0 0 4755');
    // 0644 as stored, not 0600 as umask 077 would make it: uid 65534 may read it.
    expect(statOf(`${m.mountpoint}/pub/open`)).toBe('0 0 644');
    expect(asNobody(`cat ${m.mountpoint}/pub/open`).stdout).toBe('r\n');
    // Never setuid without a MAC, and the umask applies.
    expect(statOf(`${m.mountpoint}/pub/planted-suid`)).toBe('0 0 700');
    expect(mountOptions(m.mountpoint)).toEqual(expect.arrayContaining(['nosuid', 'nodev']));
  });

  it('a stored uid out of range is read as absent (the default owner), not wrapped to 32 bits', async () => {
    // Vouched for by the key holder, so only the range check stands between it and the kernel.
    await encryptedBucket(local).put('own/pub/huge-uid', Buffer.from('x'), { meta: { mode: String(S_IFREG | 0o640), uid: '99999999999999', gid: '77' } });
    await remount();
    expect(statOf(`${m.mountpoint}/pub/huge-uid`)).toBe('0 77 640');
    expect(m.log()).toMatch(/huge-uid: x-oss-meta-uid "99999999999999" is out of range/);
  });

  it('-o uid=,gid=,umask= force the owner of every entry and mask what is not vouched for; chown still stores; -o suid is honoured', async () => {
    await m.unmount();
    // The root has the mountpoint directory's mode: set where the mount is made, never by the bucket.
    chmodSync(m.mountpoint, 0o711);
    m = await mountBucket(local, { prefix: 'own', args: ['-o', 'uid=1234,gid=4321,umask=027,suid'] });
    expect(statOf(m.mountpoint)).toBe('1234 4321 711');
    expect(statOf(`${m.mountpoint}/pub/g`)).toBe('1234 4321 644');
    expect(statOf(`${m.mountpoint}/pub/planted`)).toBe('1234 4321 640');
    expect(statOf(`${m.mountpoint}/pub/tool`)).toBe('1234 4321 4755');
    sh(`chown 555:556 ${m.mountpoint}/pub/g`);
    expect(statOf(`${m.mountpoint}/pub/g`, '%u %g')).toBe('1234 4321');
    const options = mountOptions(m.mountpoint);
    expect(options).not.toContain('nosuid');
    expect(options).toContain('nodev');
    await remount();
    expect(statOf(`${m.mountpoint}/pub/g`, '%u %g')).toBe('555 556');
  });

  it('refuses a uid or umask that is not one, with one line', () => {
    const r = shStatus(`node ${BIN} mount oss://${local.bucket} ${local.dir}/never --endpoint ${local.server.url} --rsa-key ${local.keyFile} --foreground -o uid=99999999999999`);
    expect(r.status).toBe(2);
    expect(r.stderr.trim()).toBe('ossencfs: uid=99999999999999: a uid is a whole number from 0 to 4294967294');
    const u = shStatus(`node ${BIN} mount oss://${local.bucket} ${local.dir}/never --endpoint ${local.server.url} --rsa-key ${local.keyFile} --foreground --umask 999`);
    expect(u.stderr.trim()).toBe('ossencfs: umask=999: a umask is octal, e.g. 022 or 077');
  });
});
