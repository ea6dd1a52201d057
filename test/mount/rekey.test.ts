import { randomBytes } from 'node:crypto';
import { readFileSync, readlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { mountBucket, rekeyToFreshKey, sh, shStatus } from '../support/mounted.js';

describe('key rotation end to end: write with key A, rekey to B, mount with only B', () => {
  let local: LocalBucket;

  beforeAll(async () => {
    local = await startLocalBucket();
  });

  afterAll(async () => {
    await local?.close();
  });

  it('every file reads with only the new key, and no longer with only the old one', async () => {
    const files: Record<string, Buffer> = {
      'small.txt': Buffer.from('rotate me\n'),
      'docs/scan.bin': randomBytes(3 * 1024 * 1024 + 3),
      'docs/big.bin': randomBytes(20 * 1024 * 1024 + 1), // streamed as a multipart upload
    };
    const a = await mountBucket(local, { name: 'keyA' });
    sh(`mkdir -p ${a.mountpoint}/docs && ln -s docs/scan.bin ${a.mountpoint}/link`);
    for (const [name, data] of Object.entries(files)) writeFileSync(join(a.mountpoint, name), data);
    await a.unmount();

    const { keyFile: keyB, rekey } = rekeyToFreshKey(local);
    expect(rekey.status, rekey.stderr).toBe(0);

    const b = await mountBucket(local, { name: 'keyB', keyArgs: ['--rsa-key', keyB] });
    try {
      for (const [name, data] of Object.entries(files)) expect(readFileSync(join(b.mountpoint, name)).equals(data)).toBe(true);
      expect(readlinkSync(join(b.mountpoint, 'link'))).toBe('docs/scan.bin');
    } finally {
      await b.unmount();
    }
    // The old key alone opens nothing now: a mount with it is refused at start, and one that
    // insists reads nothing.
    await expect(mountBucket(local, { name: 'keyA2' })).rejects.toThrow(/this key does not open oss:\/\//);
    const old = await mountBucket(local, { name: 'keyA3', args: ['--skip-key-check'] });
    try {
      const r = shStatus(`cat ${old.mountpoint}/small.txt`);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toMatch(/Input\/output error/);
    } finally {
      await old.unmount();
    }
  }, 180_000);
});
