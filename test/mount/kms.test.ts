import { randomBytes } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { EncryptedBucket, Keyring, kmsMasterKey } from '../../src/index.js';
import { createOssStore } from '../../src/store/index.js';
import { readAll } from '../store/harness.js';
import { type LocalBucket, startLocalBucket, startServerProcess } from '../support/localBucket.js';
import { type Mounted, mountBucket, UPLOAD_AT_CLOSE } from '../support/mounted.js';

/**
 * A mount whose data keys are made by KMS (the local server's KMS endpoint, through the real
 * @alicloud/kms20160120 client): files written one after another each get their own key, made
 * ahead of the close that needs it (Keyring sealAhead), and the library reads them back with KMS.
 */
describe('mount with a KMS key', () => {
  let local: LocalBucket;
  let m: Mounted;
  const files: Record<string, Buffer> = {
    'a.txt': Buffer.from('first\n'),
    'b.txt': Buffer.from('second\n'),
    'c.bin': randomBytes(4096),
    'big.bin': randomBytes(20 * 1024 * 1024 + 5), // streamed as a multipart upload
  };
  const kmsArgs = (): string[] => ['--kms-key-id', local.kmsKeyId, '--kms-endpoint', local.server.url, '--region', 'cn-hangzhou'];
  const kmsReader = (url: string): Keyring =>
    new Keyring({ readers: [kmsMasterKey({ keyId: local.kmsKeyId, endpoint: new URL(url).host, protocol: 'http', region: 'cn-hangzhou', ...local.credentials })] });
  const read = async (bucket: EncryptedBucket, name: string): Promise<Buffer> => readAll(await bucket.get(name));

  beforeAll(async () => {
    local = await startLocalBucket();
    m = await mountBucket(local, { name: 'kms', keyArgs: kmsArgs(), args: UPLOAD_AT_CLOSE });
  }, 60_000);

  afterAll(async () => {
    await m?.unmount();
    await local?.close();
  });

  it('writes small and multipart files wrapped by KMS, each with its own data key, readable through the mount and the library', async () => {
    for (const [name, data] of Object.entries(files)) writeFileSync(join(m.mountpoint, name), data);
    for (const [name, data] of Object.entries(files)) expect(readFileSync(join(m.mountpoint, name)).equals(data)).toBe(true);

    const heads = await Promise.all(Object.keys(files).map((name) => local.store.head(name)));
    for (const head of heads) expect(head.meta['client-side-encryption-wrap-alg']).toBe('KMS/ALICLOUD');
    const wrappedKeys = heads.map((head) => head.meta['client-side-encryption-key']);
    expect(new Set(wrappedKeys).size).toBe(heads.length);

    const reader = new EncryptedBucket(local.store, kmsReader(local.server.url));
    for (const [name, data] of Object.entries(files)) expect((await read(reader, name)).equals(data)).toBe(true);
  }, 120_000);

  it('the KMS key is kept with the server\'s data: after a restart, objects written before still decrypt', async () => {
    await m.unmount();
    await local.server.stop();
    const restarted = await startServerProcess(local.dataDir, local.credentials);
    try {
      const store = createOssStore({ endpoint: restarted.url, bucket: local.bucket, region: 'cn-hangzhou', ...local.credentials });
      const reader = new EncryptedBucket(store, kmsReader(restarted.url));
      for (const [name, data] of Object.entries(files)) expect((await read(reader, name)).equals(data)).toBe(true);
    } finally {
      await restarted.stop();
    }
  }, 60_000);
});
