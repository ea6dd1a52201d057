import { createRequire } from 'node:module';
import type KmsModule from '@alicloud/kms20160120';
import type * as RpcApi from '@alicloud/rpc-client';
import { CryptoError, describeObject } from './errors.js';

export interface KmsConnection {
  /** host[:port] of the KMS API, e.g. 'kms.cn-hangzhou.aliyuncs.com' or '127.0.0.1:9000'. */
  endpoint: string;
  protocol?: 'http' | 'https';
  region?: string;
  accessKeyId: string;
  accessKeySecret: string;
  securityToken?: string;
}

// CommonJS packages whose `exports.default` is the client class: Node's and Vitest's ESM interop
// disagree on what a default import of them is, while require() is the same everywhere. Required
// when a KmsService is made, not at import: a mount with an RSA key should not carry the KMS client,
// whose memory the budget would otherwise give up under the process's memory target.
const require = createRequire(import.meta.url);
let kms: typeof KmsModule;
let rpc: typeof RpcApi;

/**
 * The three KMS calls the OSS SDKs make, through the official client, with every failure turned
 * into CryptoError('kms-failure') carrying the service's error code. `context` is the
 * EncryptionContext as the JSON text the API takes (oss2 sends it that way).
 */
export class KmsService {
  private readonly client: KmsModule.default;

  constructor(connection: KmsConnection) {
    kms ??= require('@alicloud/kms20160120') as typeof KmsModule;
    rpc ??= require('@alicloud/rpc-client') as typeof RpcApi;
    this.client = new kms.default(
      new rpc.Config({
        endpoint: connection.endpoint,
        protocol: connection.protocol ?? 'https',
        regionId: connection.region ?? 'cn-hangzhou',
        accessKeyId: connection.accessKeyId,
        accessKeySecret: connection.accessKeySecret,
        // A read must fail rather than hang a FUSE request when KMS does not answer.
        connectTimeout: 5_000,
        readTimeout: 15_000,
        ...(connection.securityToken === undefined ? {} : { securityToken: connection.securityToken }),
      }),
    );
  }

  async generateDataKey(keyId: string, context: string | undefined, objectKey: string) {
    const request = new kms.GenerateDataKeyRequest({ keyId, keySpec: 'AES_256', numberOfBytes: 32, ...contextField(context) });
    return this.call('GenerateDataKey', objectKey, async () => {
      const response = await this.client.generateDataKey(request);
      return { plaintext: required(response.plaintext), ciphertextBlob: required(response.ciphertextBlob) };
    });
  }

  async encrypt(keyId: string, plaintext: string, context: string | undefined, objectKey: string): Promise<string> {
    const request = new kms.EncryptRequest({ keyId, plaintext, ...contextField(context) });
    return this.call('Encrypt', objectKey, async () => required((await this.client.encrypt(request)).ciphertextBlob));
  }

  async decrypt(ciphertextBlob: string, context: string | undefined, objectKey: string): Promise<string> {
    const request = new kms.DecryptRequest({ ciphertextBlob, ...contextField(context) });
    return this.call('Decrypt', objectKey, async () => required((await this.client.decrypt(request)).plaintext));
  }

  private async call<T>(action: string, objectKey: string, send: () => Promise<T>): Promise<T> {
    try {
      return await send();
    } catch (cause) {
      throw kmsFailure(action, objectKey, cause);
    }
  }
}

/**
 * The client models EncryptionContext as a map and would flatten it into `EncryptionContext.k`
 * parameters; the API (and oss2) take one JSON string, which the client passes through untouched.
 */
function contextField(context: string | undefined): { encryptionContext?: { [key: string]: unknown } } {
  return context === undefined ? {} : { encryptionContext: context as unknown as { [key: string]: unknown } };
}

function required(value: string | undefined): string {
  if (typeof value !== 'string' || value === '') throw new MissingField();
  return value;
}

class MissingField extends Error {
  readonly code = 'MalformedResponse';
  constructor() {
    super('the KMS response lacks an expected field');
  }
}

/**
 * The tea client throws `{data: {Code, Message}}` for a service error and a Node error for a
 * network one. The latter's message holds the request URL, whose query carries the Plaintext
 * (a data key, base64) — so neither the raw error nor its message is kept: only the service's
 * Code and Message, or the Node error code.
 */
function kmsFailure(action: string, objectKey: string, cause: unknown): CryptoError {
  const err = cause as { code?: unknown; data?: { Code?: unknown; Message?: unknown } } | undefined;
  const serviceCode = typeof err?.data?.Code === 'string' ? err.data.Code : undefined;
  const code = serviceCode ?? (typeof err?.code === 'string' && /^[A-Za-z0-9_.]+$/.test(err.code) ? err.code : 'Unknown');
  const detail = serviceCode !== undefined && typeof err?.data?.Message === 'string' ? ` (${err.data.Message})` : '';
  const where = objectKey === '' ? 'a new object' : describeObject(objectKey);
  return new CryptoError('kms-failure', objectKey, `KMS ${action} failed for ${where}: ${code}${detail}${hint(code)}`, {
    kmsCode: code,
  });
}

function hint(code: string): string {
  if (code.startsWith('Forbidden.KeyNotFound')) return ' — check the KMS key id and region';
  if (code.startsWith('InvalidAccessKeyId') || code === 'IncorrectSignature' || code === 'SignatureDoesNotMatch') {
    return ' — check the access key id and secret';
  }
  if (code === 'InvalidCiphertext') return ' — wrong KMS passphrase, or altered encryption headers';
  if (code === 'ECONNREFUSED' || code === 'ENOTFOUND' || code === 'ETIMEDOUT') return ' — check the KMS endpoint';
  return '';
}
