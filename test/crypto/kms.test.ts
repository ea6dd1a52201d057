import { createServer, type Server } from 'node:http';
import { mkdtemp, rm, stat, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  Keyring,
  ctrAt,
  envelopeMeta,
  kmsMasterKey,
  readEnvelope,
  type KmsMasterKeyOptions,
} from '../../src/crypto/index.js';
import { expectCryptoError as failure } from './vectors.js';
import { createKmsEndpoint } from '../../src/server/kms/index.js';

const credentials = { accessKeyId: 'test-ak', accessKeySecret: 'test-secret' };
let server: Server;
let dir: string;
let endpoint: string;
let keyId: string;
let otherKeyId: string;
const actions: string[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ossencfs-kms-'));
  const kms = createKmsEndpoint({ dir: path.join(dir, 'keys'), credentials: [credentials] });
  keyId = await kms.createKey();
  otherKeyId = await kms.createKey();
  server = createServer((req, res) => {
    if (!kms.matches(req)) {
      res.writeHead(400).end();
      return;
    }
    actions.push(new URL(req.url ?? '/', 'http://x').searchParams.get('Action') ?? '?');
    void kms.handle(req, res);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  endpoint = `127.0.0.1:${(server.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

function key(extra: Partial<KmsMasterKeyOptions> = {}) {
  return kmsMasterKey({ keyId, endpoint, protocol: 'http', region: 'cn-hangzhou', ...credentials, ...extra });
}


describe('KMS master key against the local KMS endpoint, through @alicloud/kms20160120', () => {
  it('Python form: GenerateDataKey + Encrypt, header is base64 of the blob text, round-trips', async () => {
    actions.length = 0;
    const writer = key({ passphrase: 'pass phrase' });
    const { dataKey, envelope } = await new Keyring({ writer }).seal();
    expect(actions.sort()).toEqual(['Encrypt', 'GenerateDataKey']);
    expect(envelope.wrapAlg).toBe('KMS/ALICLOUD');
    const blobText = Buffer.from(envelope.wrappedKey, 'base64').toString('latin1');
    expect(blobText).toMatch(/^[A-Za-z0-9+/]+={0,2}$/);
    expect(Buffer.from(blobText, 'base64').subarray(0, 36).toString('latin1')).toBe(keyId);
    expect(dataKey.iv.subarray(8, 12).equals(Buffer.alloc(4))).toBe(true);

    const meta = envelopeMeta(envelope);
    const opened = await new Keyring({ readers: [key({ passphrase: 'pass phrase' })] }).open(readEnvelope(meta, 'obj')!, 'obj');
    expect(opened.key.equals(dataKey.key)).toBe(true);
    expect(opened.iv.equals(dataKey.iv)).toBe(true);
  });

  it('Go form: Encrypt for both, header is the blob itself, round-trips and is read by a Python-form key', async () => {
    actions.length = 0;
    const { dataKey, envelope } = await new Keyring({ writer: key({ form: 'go' }) }).seal();
    expect(actions).toEqual(['Encrypt', 'Encrypt']);
    expect(Buffer.from(envelope.wrappedKey, 'base64').subarray(0, 36).toString('latin1')).toBe(keyId);
    const opened = await new Keyring({ readers: [key()] }).open(readEnvelope(envelopeMeta(envelope), 'obj')!, 'obj');
    expect(opened.key.equals(dataKey.key)).toBe(true);
    expect(opened.iv.equals(dataKey.iv)).toBe(true);
  });

  it('a second open of the same envelope makes no KMS call; concurrent opens share one', async () => {
    const { envelope } = await new Keyring({ writer: key() }).seal();
    const reader = new Keyring({ readers: [key()] });
    actions.length = 0;
    const first = await Promise.all([reader.open(envelope, 'obj'), reader.open(envelope, 'obj')]);
    expect(actions).toEqual(['Decrypt', 'Decrypt']);
    const again = await reader.open(envelope, 'obj');
    expect(actions).toHaveLength(2);
    expect(again.key.equals(first[0].key)).toBe(true);
  });

  it('rewrap moves a data key to another CMK: same key and IV, informational fields kept', async () => {
    const { dataKey, envelope } = await new Keyring({ writer: key() }).seal({ unencryptedContentLength: 5 });
    const rekeyed = await new Keyring({ writer: key({ keyId: otherKeyId }) }).rewrap(envelope, 'obj');
    expect(rekeyed.unencryptedContentLength).toBe(5);
    expect(rekeyed.wrappedKey).not.toBe(envelope.wrappedKey);
    const blob = Buffer.from(Buffer.from(rekeyed.wrappedKey, 'base64').toString('latin1'), 'base64');
    expect(blob.subarray(0, 36).toString('latin1')).toBe(otherKeyId);
    const opened = await new Keyring({ readers: [key()] }).open(rekeyed, 'obj');
    expect(opened.key.equals(dataKey.key)).toBe(true);
    expect(ctrAt(opened, 0, ctrAt(dataKey, 0, Buffer.from('hello'))).toString()).toBe('hello');
  });

  it('a wrong passphrase (EncryptionContext) is refused by KMS with its code', async () => {
    const { envelope } = await new Keyring({ writer: key({ passphrase: 'right' }) }).seal();
    const err = await failure(new Keyring({ readers: [key({ passphrase: 'wrong' })] }).open(envelope, 'med/x-ray.dcm'));
    expect(err.kind).toBe('kms-failure');
    expect(err.kmsCode).toBe('InvalidCiphertext');
    expect(err.message).toContain('"med/x-ray.dcm"');
  });

  it('an unknown key id surfaces Forbidden.KeyNotFound', async () => {
    const err = await failure(new Keyring({ writer: key({ keyId: '00000000-0000-4000-8000-000000000000' }) }).seal());
    expect(err.kind).toBe('kms-failure');
    expect(err.errno).toBe('EIO');
    expect(err.kmsCode).toBe('Forbidden.KeyNotFound');
    expect(err.message).toContain('check the KMS key id');
  });

  it('bad credentials surface InvalidAccessKeyId.NotFound and IncorrectSignature', async () => {
    const unknown = await failure(new Keyring({ writer: key({ accessKeyId: 'nobody' }) }).seal());
    expect(unknown.kmsCode).toBe('InvalidAccessKeyId.NotFound');
    const badSecret = await failure(new Keyring({ writer: key({ accessKeySecret: 'wrong' }) }).seal());
    expect(badSecret.kmsCode).toBe('IncorrectSignature');
    expect(badSecret.message).not.toContain('wrong');
  });

  it('an unreachable KMS gives kms-failure with the network code and leaks no request (its query holds the key)', async () => {
    const closed = createServer();
    await new Promise<void>((resolve) => closed.listen(0, '127.0.0.1', resolve));
    const deadEndpoint = `127.0.0.1:${(closed.address() as AddressInfo).port}`;
    await new Promise((resolve) => closed.close(resolve));
    const { dataKey, envelope } = await new Keyring({ writer: key({ form: 'go' }) }).seal();
    const rewrapper = new Keyring({ writer: key({ endpoint: deadEndpoint, form: 'go' }), readers: [key()] });
    const err = await failure(rewrapper.rewrap(envelope, 'obj'));
    expect(err.kind).toBe('kms-failure');
    expect(err.kmsCode).toBe('ECONNREFUSED');
    expect(err.message).toContain('check the KMS endpoint');
    const everything = `${err.message} ${err.stack} ${JSON.stringify(err)} ${String(err.cause)}`;
    for (const secret of [dataKey.key.toString('base64'), dataKey.iv.toString('base64'), 'Plaintext']) {
      expect(everything).not.toContain(secret);
    }
  });

  it('a failed unwrap is not cached: the next open asks KMS again', async () => {
    const { envelope } = await new Keyring({ writer: key() }).seal();
    const reader = new Keyring({ readers: [key({ accessKeySecret: 'wrong' })] });
    await failure(reader.open(envelope, 'obj'));
    actions.length = 0;
    await failure(reader.open(envelope, 'obj'));
    expect(actions.length).toBeGreaterThan(0);
  });

  it('reads a V1 KMS object: blob stored as is, start is the decimal counter', async () => {
    // Build the V1 headers the way old oss2 did, through our own client: GenerateDataKey blob and Encrypt("7").
    const { KmsService } = await import('../../src/crypto/kmsService.js');
    const service = new KmsService({ endpoint, protocol: 'http', ...credentials });
    const generated = await service.generateDataKey(keyId, undefined, '');
    const startBlob = await service.encrypt(keyId, '7', undefined, '');
    const envelope = readEnvelope(
      { 'oss-crypto-key': generated.ciphertextBlob, 'oss-crypto-start': startBlob, 'oss-cek-alg': 'AES/GCM/NoPadding', 'oss-wrap-alg': 'kms' },
      'v1',
    )!;
    expect(envelope.format).toBe('v1');
    expect(envelope.wrappedKey).toBe(generated.ciphertextBlob);
    const dataKey = await new Keyring({ readers: [key()] }).open(envelope, 'v1');
    expect(dataKey.key.toString('base64')).toBe(generated.plaintext);
    expect(dataKey.iv.toString('hex')).toBe('00000000000000000000000000000007');
  });

  it('keeps key material in 0600 files', async () => {
    const files = await readdir(path.join(dir, 'keys'));
    expect(files.length).toBeGreaterThanOrEqual(2);
    for (const f of files) expect((await stat(path.join(dir, 'keys', f))).mode & 0o777).toBe(0o600);
  });
});
