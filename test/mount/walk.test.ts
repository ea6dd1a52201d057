import { mkdirSync, readFileSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptedBucket, encodePosixMeta, Keyring, rsaMasterKey } from '../../src/index.js';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { mountBucket, sh } from '../support/mounted.js';
import { resetSeen, seen } from '../support/serverAdmin.js';

const FILES = 300;
const mtimeOf = (i: number): number => 1_700_000_000 + i;

/**
 * rsync's compare stats each destination name one after another without listing the directory:
 * on a fresh mount each stat was a HEAD and a LIST, one round trip apart. The mount notices the
 * walk, lists the directory once and fetches attributes ahead; what rsync decides must not change.
 */
describe('mount: a directory walked name by name (rsync onto a fresh mount)', () => {
  let local: LocalBucket;
  let bucket: EncryptedBucket;
  const src = (): string => join(local.dir, 'walk-src');
  const bodyOf = (i: number): Buffer => Buffer.from(`file ${i} `.repeat(1 + (i % 5)));

  beforeAll(async () => {
    local = await startLocalBucket();
    bucket = new EncryptedBucket(local.store, new Keyring({ writer: rsaMasterKey({ privateKeyPem: readFileSync(local.keyFile, 'utf8') }) }), {});
    mkdirSync(src(), { recursive: true });
    for (let i = 0; i < FILES; i++) {
      const name = `f${String(i).padStart(4, '0')}`;
      writeFileSync(join(src(), name), bodyOf(i), { mode: 0o644 });
      utimesSync(join(src(), name), mtimeOf(i), mtimeOf(i));
      await bucket.put(`tree/${name}`, bodyOf(i), { meta: encodePosixMeta({ mode: 0o100644, mtime: mtimeOf(i) }) });
    }
  });

  afterAll(async () => {
    await local?.close();
  });

  it('a no-op compare costs a HEAD per file and a handful of LISTs, and still sees the one file another client changed', async () => {
    // Another client changes one object: same size, another mtime.
    const changed = 'f0157';
    await bucket.put(`tree/${changed}`, bodyOf(157), { meta: encodePosixMeta({ mode: 0o100644, mtime: mtimeOf(157) + 60 }) });

    const m = await mountBucket(local, { name: 'walk' });
    try {
      await resetSeen(local);
      const itemized = sh(`rsync -a --dry-run --out-format='%i %n' ${src()}/ ${m.mountpoint}/tree/`).trim().split('\n');
      // What it would send ('>f…'); the directory's own times differ (an implicit directory's are the mount's).
      const sent = itemized.filter((line) => line.startsWith('>f')).map((line) => line.split(' ')[1]);
      expect(sent).toEqual([changed]);

      const requests = await seen(local);
      const lists = requests.filter((r) => r.method === 'GET' && r.query.includes('prefix'));
      const heads = requests.filter((r) => r.method === 'HEAD' && /\/tree\/f\d+$/.test(r.path));
      expect(lists.length).toBeLessThan(10);
      expect(heads.length).toBeGreaterThanOrEqual(FILES - 5);
      expect(heads.length).toBeLessThanOrEqual(FILES + 5);
    } finally {
      await m.unmount();
    }
  });
});
