import { generateKeyPairSync } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliWorld, startWorld } from './harness.js';

let w: CliWorld;
beforeAll(async () => {
  w = await startWorld();
  writeFileSync(join(w.dir, 'p.txt'), 'protected\n');
});
afterAll(async () => w?.close());

describe('files and directories that hold secrets must be ours alone', () => {
  it('--key-passphrase-file readable by group/others is refused like the key file, naming the fix', async () => {
    const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const key = join(w.dir, 'locked.pem');
    writeFileSync(key, privateKey.export({ type: 'pkcs8', format: 'pem', cipher: 'aes-256-cbc', passphrase: 'sesame' }), { mode: 0o600 });
    const phrase = join(w.dir, 'phrase');
    writeFileSync(phrase, 'sesame\n', { mode: 0o644 });
    chmodSync(phrase, 0o644);
    const args = ['put', join(w.dir, 'p.txt'), 'oss://vault/perm/p.txt', '--endpoint', w.server.url, '--rsa-key', key, '--key-passphrase-file', phrase];
    const loose = await w.run(args);
    expect(loose.code).toBe(1);
    expect(loose.stderr).toBe(`ossencfs: passphrase file ${phrase} is readable by group/others (mode 644) — chmod 600 ${phrase} (or pass --insecure-key-perms)\n`);
    chmodSync(phrase, 0o600);
    const tight = await w.run(args);
    expect(tight.stderr).toBe('');
    expect(tight.code).toBe(0);
  });

  it('a cache dir open to others or owned by someone else is refused; a missing one is made 0700', async () => {
    const ls = (cacheDir: string) => w.run(['ls', 'oss://vault/', ...w.base, '--cache-dir', cacheDir]);
    const open = join(w.dir, 'open-cache');
    mkdirSync(open, { mode: 0o755 });
    chmodSync(open, 0o755);
    const r = await ls(open);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe(`ossencfs: cache dir ${open} is open to group/others (mode 755) — chmod 700 ${open}\n`);

    if (process.getuid!() === 0) {
      const foreign = join(w.dir, 'foreign-cache');
      mkdirSync(foreign, { mode: 0o700 });
      chownSync(foreign, 65534, 65534);
      const f = await ls(foreign);
      expect(f.code).toBe(1);
      expect(f.stderr).toMatch(/cache dir .*foreign-cache belongs to uid 65534, not to you/);
    }

    const fresh = join(w.dir, 'new', 'cache');
    expect((await ls(fresh)).code).toBe(0);
    expect(statSync(fresh).mode & 0o777).toBe(0o700);
  });
});
