import { createServer, request, type Server } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKmsEndpoint } from '../../src/server/kms/index.js';
import { rpcSignature } from '../../src/server/kms/signature.js';

const credentials = { accessKeyId: 'ak', accessKeySecret: 'sk' };
let server: Server;
let dir: string;
let port: number;
let keyId: string;
let nonce = 0;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'ossencfs-kmsep-'));
  const kms = createKmsEndpoint({ dir, credentials: [credentials] });
  keyId = await kms.createKey();
  server = createServer((req, res) => {
    if (kms.matches(req)) void kms.handle(req, res);
    else res.writeHead(418).end();
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});

afterAll(async () => {
  await new Promise((resolve) => server.close(resolve));
  await rm(dir, { recursive: true, force: true });
});

/** A signed RPC call; `form` sends the parameters as a urlencoded body instead of the query. */
function signed(action: string, extra: Record<string, string>, o: { secret?: string; nonce?: string } = {}) {
  const params: Record<string, string> = {
    Action: action,
    Version: '2016-01-20',
    Format: 'json',
    Timestamp: new Date().toISOString().replace(/\.\d+Z$/, 'Z'),
    SignatureNonce: o.nonce ?? `n-${++nonce}`,
    SignatureMethod: 'HMAC-SHA1',
    SignatureVersion: '1.0',
    AccessKeyId: credentials.accessKeyId,
    ...extra,
  };
  params.Signature = rpcSignature('POST', params, o.secret ?? credentials.accessKeySecret);
  return params;
}

function send(query: Record<string, string>, form?: Record<string, string>, pathname = '/') {
  return new Promise<{ status: number; body: Record<string, unknown> }>((resolve, reject) => {
    const body = form ? new URLSearchParams(form).toString() : '';
    const req = request(
      {
        host: '127.0.0.1',
        port,
        method: 'POST',
        path: `${pathname}?${new URLSearchParams(query).toString()}`,
        headers: form ? { 'content-type': 'application/x-www-form-urlencoded' } : {},
      },
      (res) => {
        let text = '';
        res.on('data', (c: Buffer) => (text += c.toString()));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text || 'null') as Record<string, unknown> }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

describe('local KMS endpoint', () => {
  it('Encrypt then Decrypt with an EncryptionContext, parameters in the query or a form body', async () => {
    const enc = await send(signed('Encrypt', { KeyId: keyId, Plaintext: 'aGVsbG8=', EncryptionContext: '{"b":"2","a":"1"}' }));
    expect(enc.status).toBe(200);
    expect(enc.body).toMatchObject({ KeyId: keyId });
    expect(typeof enc.body.RequestId).toBe('string');
    const blob = enc.body.CiphertextBlob as string;
    const all = signed('Decrypt', { CiphertextBlob: blob, EncryptionContext: '{"a":"1","b":"2"}' });
    const dec = await send({}, all);
    expect(dec.status).toBe(200);
    expect(dec.body.Plaintext).toBe('aGVsbG8=');
    const flattened = await send(signed('Decrypt', { CiphertextBlob: blob, 'EncryptionContext.a': '1', 'EncryptionContext.b': '2' }));
    expect(flattened.body.Plaintext).toBe('aGVsbG8=');
    const noContext = await send(signed('Decrypt', { CiphertextBlob: blob }));
    expect(noContext.status).toBe(400);
    expect(noContext.body.Code).toBe('InvalidCiphertext');
  });

  it('GenerateDataKey returns a base64 key of the asked size whose blob decrypts to it', async () => {
    const gen = await send(signed('GenerateDataKey', { KeyId: keyId, KeySpec: 'AES_256', NumberOfBytes: '32' }));
    expect(Buffer.from(gen.body.Plaintext as string, 'base64')).toHaveLength(32);
    const dec = await send(signed('Decrypt', { CiphertextBlob: gen.body.CiphertextBlob as string }));
    expect(dec.body.Plaintext).toBe(gen.body.Plaintext);
  });

  it('CreateKey makes a usable key', async () => {
    const created = await send(signed('CreateKey', {}));
    const id = (created.body.KeyMetadata as { KeyId: string }).KeyId;
    expect(id).toMatch(/^[0-9a-f-]{36}$/);
    expect((await send(signed('Encrypt', { KeyId: id, Plaintext: 'x' }))).status).toBe(200);
  });

  it('answers errors as {Code, Message, RequestId} with 4xx', async () => {
    const cases: [Record<string, string>, number, string][] = [
      [signed('Encrypt', { KeyId: '00000000-0000-4000-8000-000000000000', Plaintext: 'x' }), 404, 'Forbidden.KeyNotFound'],
      [signed('Encrypt', { KeyId: keyId, Plaintext: 'x' }, { secret: 'wrong' }), 400, 'IncorrectSignature'],
      [{ ...signed('Encrypt', { KeyId: keyId, Plaintext: 'x' }), AccessKeyId: 'nobody' }, 404, 'InvalidAccessKeyId.NotFound'],
      [{ ...signed('Encrypt', { KeyId: keyId, Plaintext: 'x' }), Plaintext: 'tampered' }, 400, 'IncorrectSignature'],
      [signed('ScheduleKeyDeletion', { KeyId: keyId }), 404, 'InvalidAction.NotFound'],
      [signed('Decrypt', { CiphertextBlob: 'bm90IGEgYmxvYg==' }), 400, 'InvalidCiphertext'],
      [signed('Encrypt', { KeyId: keyId, Plaintext: 'x', EncryptionContext: '[1' }), 400, 'InvalidParameter'],
    ];
    for (const [query, status, code] of cases) {
      const r = await send(query);
      expect(r.status, code).toBe(status);
      expect(r.body.Code).toBe(code);
      expect(typeof r.body.Message).toBe('string');
      expect(typeof r.body.RequestId).toBe('string');
    }
  });

  it('refuses a replayed nonce', async () => {
    const first = await send(signed('Encrypt', { KeyId: keyId, Plaintext: 'x' }, { nonce: 'same' }));
    expect(first.status).toBe(200);
    const again = await send(signed('Encrypt', { KeyId: keyId, Plaintext: 'x' }, { nonce: 'same' }));
    expect(again.body.Code).toBe('SignatureNonceUsed');
  });

  it('matches only KMS RPC requests, not OSS ones', async () => {
    expect((await send({}, undefined, '/')).status).toBe(418);
    expect((await send({ Action: 'x' }, undefined, '/bucket/key')).status).toBe(418);
  });
});
