import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { Keyring, readEnvelope, rsaMasterKey } from '../../src/crypto/index.js';
import { BIN, mountedSuite, sh, shStatus } from '../support/mounted.js';
import { shAsync, until } from './support.js';
import { fault } from '../support/serverAdmin.js';

const MiB = 1024 * 1024;

/** Every regular file below `dir`, with its bytes. */
function filesBelow(dir: string): { path: string; bytes: Buffer }[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { recursive: true, withFileTypes: true })
    .filter((e) => e.isFile())
    .map((e) => join(e.parentPath, e.name))
    .map((path) => ({ path, bytes: readFileSync(path) }));
}

/**
 * Nothing secret leaves the mount process except as ciphertext: not in its log at debug level,
 * not in its cache directory, not in the CLI's output. Staging files (plaintext while a file is
 * edited in place) are private and gone after close.
 */
describe('reliability: secrets stay secret', () => {
  const suite = mountedSuite({ name: 'sec' });
  const MARKER = `MARKER-${randomBytes(12).toString('hex')}`;
  const cacheDir = (): string => join(suite.local.dir, 'sec-cache');
  let cliOutput = '';

  it('staging files of an in-place edit are 0600 in a 0700 directory, and gone after close', async () => {
    const { m } = suite;
    writeFileSync(join(m.mountpoint, 'edit.txt'), `${MARKER} original\n`.repeat(1000));
    const editor = shAsync(
      `python3 -c "import os, time; fd = os.open('${m.mountpoint}/edit.txt', os.O_RDWR); os.pwrite(fd, b'${MARKER}', 10); time.sleep(3); os.close(fd)"`,
    );
    const staged = (): string[] => filesBelow(cacheDir()).map((f) => f.path).filter((p) => p.includes(`${'/'}staging${'/'}`));
    await until('a staging file', () => staged().length > 0, 20);
    for (const path of staged()) {
      expect((statSync(path).mode & 0o777).toString(8), path).toBe('600');
      expect((statSync(join(path, '..')).mode & 0o777).toString(8)).toBe('700');
    }
    expect((await editor).status).toBe(0);
    await until('the staging file to go', () => staged().length === 0, 20);
    expect(readFileSync(join(m.mountpoint, 'edit.txt'), 'utf8').slice(0, 10 + MARKER.length)).toBe(MARKER.slice(0, 10) + MARKER);
  });

  it('a workload at debug level (writes, multipart, edits, rename, chmod, failures, verify) leaves no key, IV, secret or plaintext in the log, the cache dir or CLI output', async () => {
    const { local, m } = suite;
    const mp = m.mountpoint;
    // Small files, a multipart one, appends, an in-place edit, renames, attributes, a directory tree.
    for (let i = 0; i < 5; i++) writeFileSync(join(mp, `small${i}.txt`), `${MARKER} small ${i}\n`);
    const big = Buffer.concat([Buffer.from(MARKER), randomBytes(20 * MiB), Buffer.from(MARKER)]);
    writeFileSync(join(local.dir, 'big.src'), big);
    sh(`cp ${local.dir}/big.src ${mp}/big.bin`);
    sh(`echo ${MARKER} appended >> ${mp}/small0.txt`);
    sh(`printf ${MARKER} | dd of=${mp}/small1.txt bs=1 seek=3 conv=notrunc status=none`);
    sh(`mkdir -p ${mp}/dir/sub && mv ${mp}/small2.txt ${mp}/dir/sub/moved.txt && mv ${mp}/dir ${mp}/dir2`);
    sh(`chmod 600 ${mp}/small3.txt && touch -d '2001-01-01' ${mp}/small4.txt`);
    sh(`cat ${mp}/big.bin ${mp}/small0.txt ${mp}/dir2/sub/moved.txt > /dev/null`);
    // Failures write their own log lines: a persistent 503, a stream that fails mid-upload.
    await fault(local, { action: 'fail', count: 100_000, status: 503, method: 'PUT', path: '/fails' });
    shStatus(`cp ${local.dir}/big.src ${mp}/fails-big.bin`);
    shStatus(`echo ${MARKER} > ${mp}/fails-small.txt`);
    await fault(local, { action: 'clear' });
    // A hostile object: the reason is logged.
    await local.store.put('bad.bin', Buffer.from(MARKER), { meta: { 'client-side-encryption-key': 'AAAA', 'client-side-encryption-start': 'AAAA', 'client-side-encryption-wrap-alg': 'RSA/NONE/PKCS1Padding' } });
    shStatus(`cat ${mp}/bad.bin`);
    await local.store.delete('bad.bin');

    // The CLI over the same bucket: verify (reads and checks every object) and cat.
    const env = { ...process.env, OSS_ACCESS_KEY_ID: local.credentials.accessKeyId, OSS_ACCESS_KEY_SECRET: local.credentials.accessKeySecret };
    const cli = (args: string[]): ReturnType<typeof spawnSync> =>
      spawnSync(process.execPath, [BIN, ...args, '--endpoint', local.server.url, '--rsa-key', local.keyFile, '--log-level', 'debug'], { env, encoding: 'utf8' });
    const verify = cli(['verify', `oss://${local.bucket}`]);
    expect(verify.status, String(verify.stderr)).toBe(0);
    const cat = cli(['cat', `oss://${local.bucket}/small3.txt`]);
    expect(cat.status).toBe(0);
    cliOutput = `${verify.stdout}${verify.stderr}${cat.stderr}`;

    // Every data key and IV in use, recovered from the objects' envelopes with the test's keyring.
    const keyring = new Keyring({ writer: rsaMasterKey({ privateKeyPem: readFileSync(local.keyFile) }) });
    const secrets: { what: string; bytes: Buffer }[] = [];
    const keys: string[] = [];
    for (let after: string | undefined; ; ) {
      const page = await local.store.list('', { ...(after ? { after } : {}) });
      keys.push(...page.objects.map((o) => o.key));
      if (!page.next) break;
      after = page.next;
    }
    for (const key of keys) {
      const head = await local.store.head(key);
      const envelope = readEnvelope(head.meta, key);
      if (!envelope) continue;
      const dk = await keyring.open(envelope, key);
      secrets.push({ what: `data key of ${key}`, bytes: dk.key }, { what: `IV of ${key}`, bytes: dk.iv });
    }
    expect(secrets.length).toBeGreaterThanOrEqual(14);

    const pem = readFileSync(local.keyFile, 'utf8');
    const pemBody = pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, '');
    const needles: { what: string; text: string[]; raw?: Buffer }[] = [
      { what: 'private key PEM body', text: [pemBody, ...pem.split('\n').filter((l) => l.length >= 60 && !l.startsWith('-----'))] },
      { what: 'access key secret', text: [local.credentials.accessKeySecret] },
      { what: 'plaintext marker', text: [MARKER], raw: Buffer.from(MARKER) },
      ...secrets.map((s) => ({
        what: s.what,
        text: [s.bytes.toString('hex'), s.bytes.toString('base64'), s.bytes.toString('base64url')],
        raw: s.bytes,
      })),
    ];

    const log = m.log();
    expect(log).toMatch(/ DEBUG /);
    expect(log).toMatch(/fails-big\.bin/); // the failures were logged
    const haystacks = [
      { where: 'mount log', bytes: Buffer.from(log) },
      { where: 'CLI output', bytes: Buffer.from(cliOutput) },
      ...filesBelow(cacheDir()).map((f) => ({ where: f.path, bytes: f.bytes })),
    ];
    const leaks = (hs: { where: string; bytes: Buffer }[]): string[] => {
      const found: string[] = [];
      for (const h of hs) {
        const text = h.bytes.toString('latin1');
        for (const n of needles) {
          if (n.text.some((t) => text.includes(t)) || (n.raw && h.bytes.includes(n.raw))) found.push(`${n.what} in ${h.where}`);
          else if (n.raw && text.toUpperCase().includes(n.raw.toString('hex').toUpperCase())) found.push(`${n.what} (hex) in ${h.where}`);
        }
        // Any 16-character window of the PEM body.
        for (let i = 0; i + 16 <= pemBody.length; i += 16) {
          if (text.includes(pemBody.slice(i, i + 16))) {
            found.push(`a piece of the private key in ${h.where}`);
            break;
          }
        }
      }
      return found;
    };
    // The search itself finds what it looks for (a control), then finds nothing where it matters.
    const control = Buffer.concat([Buffer.from(pemBody.slice(32, 80)), secrets[0]!.bytes, Buffer.from(secrets[1]!.bytes.toString('base64'))]);
    expect(leaks([{ where: 'control', bytes: control }])).toEqual([
      `${secrets[0]!.what} in control`,
      `${secrets[1]!.what} in control`,
      'a piece of the private key in control',
    ]);
    expect(leaks(haystacks)).toEqual([]);

    // The log and whatever the cache holds are private to the user.
    expect((statSync(m.logFile).mode & 0o777).toString(8)).toBe('600');
    for (const f of filesBelow(cacheDir())) expect((statSync(f.path).mode & 0o077).toString(8), f.path).toBe('0');
    // No staging file outlives its close.
    expect(filesBelow(cacheDir()).filter((f) => f.path.includes('/staging/'))).toEqual([]);
  });
});
