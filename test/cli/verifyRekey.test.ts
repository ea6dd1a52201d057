import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliWorld, startWorld } from './harness.js';

let w: CliWorld;
beforeAll(async () => {
  w = await startWorld();
  const files: [string, number][] = [['good/one.bin', 1000], ['good/two.bin', 300_000], ['bad/altered.bin', 5000], ['bad/wrongkey.bin', 100]];
  for (const [key, size] of files) {
    writeFileSync(join(w.dir, 'f'), randomBytes(size));
    const keyArgs = key === 'bad/wrongkey.bin' ? ['--endpoint', w.server.url, '--rsa-key', w.keyB] : w.base;
    expect((await w.run(['put', join(w.dir, 'f'), `oss://vault/${key}`, ...keyArgs])).code).toBe(0);
  }
  // Altered on the server: same headers, one ciphertext byte flipped.
  const r = await w.store.get('bad/altered.bin');
  const chunks: Buffer[] = [];
  for await (const c of r.body) chunks.push(c as Buffer);
  const body = Buffer.concat(chunks);
  body[100]! ^= 1;
  await w.store.put('bad/altered.bin', body, { meta: r.head.meta });
  await w.store.put('bad/plain.txt', Buffer.from('not encrypted'), { meta: {} });
  // A plain directory marker, as other tools make them, is fine.
  await w.store.put('good/dir/', Buffer.alloc(0), { meta: {} });
});
afterAll(async () => w?.close());

describe('verify', () => {
  it('passes a healthy prefix', async () => {
    const r = await w.run(['verify', 'oss://vault/good', ...w.base]);
    expect(r.stdout).toBe('verified 3 object(s), 293.9 KiB: 3 ok (1 directory marker(s)), 0 failed\n');
    expect(r.code).toBe(0);
  });

  it('names each bad object with its reason, one line each, and exits 1', async () => {
    const r = await w.run(['verify', 'oss://vault/bad/', ...w.base]);
    expect(r.code).toBe(1);
    const fails = r.stdout.split('\n').filter((l) => l.startsWith('FAIL')).sort();
    expect(fails).toHaveLength(3);
    expect(fails[0]).toMatch(/^FAIL oss:\/\/vault\/bad\/altered\.bin: .*unencrypted-content-md5/);
    expect(fails[1]).toMatch(/^FAIL oss:\/\/vault\/bad\/plain\.txt: .*not encrypted/);
    expect(fails[2]).toMatch(/^FAIL oss:\/\/vault\/bad\/wrongkey\.bin: .*(wrong key|unwrap)/);
    expect(r.stdout).toMatch(/0 ok, 3 failed\n$/);
  });
});

describe('rekey', () => {
  it('moves objects from key A to key B; a second run skips them; verify with only B passes', async () => {
    const newArgs = ['--new-rsa-key', w.keyB, '--new-matdesc', '{"key":"b"}'];
    const dry = await w.run(['rekey', 'oss://vault/good', ...w.base, ...newArgs, '--dry-run']);
    expect(dry.stdout).toContain('would rekey 2, already under the new key 0');
    expect(dry.code).toBe(0);

    const first = await w.run(['rekey', 'oss://vault/good', ...w.base, ...newArgs]);
    expect(first.stdout).toContain('rekeyed 2, already under the new key 0, skipped 0 plaintext and 1 marker(s), 0 failed');
    expect(first.code).toBe(0);
    const again = await w.run(['rekey', 'oss://vault/good', ...w.base, ...newArgs]);
    expect(again.stdout).toContain('rekeyed 0, already under the new key 2');

    const onlyB = ['--endpoint', w.server.url, '--rsa-key', w.keyB, '--matdesc', '{"key":"b"}'];
    const verifyB = await w.run(['verify', 'oss://vault/good', ...onlyB]);
    expect(verifyB.stdout).toMatch(/3 ok .*0 failed/);
    expect(verifyB.code).toBe(0);
    // Key A alone no longer opens them.
    const verifyA = await w.run(['verify', 'oss://vault/good', ...w.base]);
    expect(verifyA.code).toBe(1);
    expect(verifyA.stdout).toMatch(/FAIL oss:\/\/vault\/good\/one\.bin: no key for matdesc .*--decrypt-key/);
  });

  it('moves objects on to a KMS key; verify with only the KMS key passes', async () => {
    const kms = ['--kms-endpoint', w.server.url, '--region', 'cn-hangzhou'];
    const fromB = ['--endpoint', w.server.url, '--rsa-key', w.keyB, '--matdesc', '{"key":"b"}'];
    const r = await w.run(['rekey', 'oss://vault/good/', ...fromB, ...kms, '--new-kms-key-id', w.kmsKeyId]);
    expect(r.stdout).toContain('rekeyed 2,');
    expect(r.code).toBe(0);
    const stat = await w.run(['stat', 'oss://vault/good/one.bin', '--endpoint', w.server.url]);
    expect(stat.stdout).toMatch(/wrap-alg\s+KMS\/ALICLOUD/);
    const verify = await w.run(['verify', 'oss://vault/good/', '--endpoint', w.server.url, ...kms, '--kms-key-id', w.kmsKeyId]);
    expect(verify.stdout).toMatch(/3 ok .*0 failed/);
    expect(verify.code).toBe(0);
  });

  it('without a new key is a usage error', async () => {
    expect((await w.run(['rekey', 'oss://vault/good', ...w.base])).code).toBe(2);
  });
});
