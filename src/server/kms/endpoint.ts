import { randomBytes, randomUUID } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { BadCiphertext, KeyNotFound, KeyStore } from './keyStore.js';
import { rpcSignature, signatureMatches } from './signature.js';
import { KMS_NONCES_BEFORE_SWEEP } from '../../tuning.js';

export interface KmsCredential {
  accessKeyId: string;
  accessKeySecret: string;
}

export interface KmsEndpoint {
  /** Whether a request is a KMS RPC call (to `/`, with an Action or as a form POST) rather than an OSS one. */
  matches(req: IncomingMessage): boolean;
  /** Answers one request; never rejects (failures are KMS-style JSON errors). */
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
  /** Creates a customer master key and returns its id (the CreateKey action does the same). */
  createKey(): Promise<string>;
}

const API_VERSION = '2016-01-20';
/** Real KMS refuses requests whose Timestamp is further off than this, and reused nonces within it. */
const CLOCK_SKEW_MS = 15 * 60 * 1000;
const MAX_BODY = 64 * 1024;
/** KMS's Encrypt limit on Plaintext. */
const MAX_PLAINTEXT = 6 * 1024;

/** A KMS error answer: HTTP status, Code and Message as the real service sends them. */
class KmsFault extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

type Params = Record<string, string>;
type Action = (p: Params) => Promise<Record<string, unknown>>;

/**
 * A local stand-in for Alibaba Cloud KMS (API 2016-01-20, RPC style) answering what the OSS SDKs
 * call — GenerateDataKey, Encrypt, Decrypt — plus CreateKey, for tests and the embedded server.
 * Requests are checked like the real service: RPC HMAC-SHA1 signature, timestamp, nonce.
 */
export function createKmsEndpoint(o: { dir: string; credentials: KmsCredential[] }): KmsEndpoint {
  const keys = new KeyStore(o.dir);
  const secrets = new Map(o.credentials.map((c) => [c.accessKeyId, c.accessKeySecret]));
  const nonces = new NonceWindow();

  const actions: Record<string, Action> = {
    async CreateKey() {
      const key = await keys.createKey();
      return {
        KeyMetadata: {
          KeyId: key.keyId,
          KeyState: 'Enabled',
          KeySpec: 'Aliyun_AES_256',
          KeyUsage: 'ENCRYPT/DECRYPT',
          Origin: 'Aliyun_KMS',
          CreationDate: key.creationDate,
          PrimaryKeyVersion: key.keyVersionId,
        },
      };
    },
    async GenerateDataKey(p) {
      const bytes = dataKeyLength(p);
      const plaintext = randomBytes(bytes).toString('base64');
      // Like real KMS, the blob holds the base64 text that Decrypt hands back as Plaintext.
      const { blob, key } = await keys.encrypt(required(p, 'KeyId'), Buffer.from(plaintext), encryptionContext(p));
      return { KeyId: key.keyId, KeyVersionId: key.keyVersionId, Plaintext: plaintext, CiphertextBlob: blob };
    },
    async Encrypt(p) {
      const plaintext = Buffer.from(required(p, 'Plaintext'), 'utf8');
      if (plaintext.length > MAX_PLAINTEXT) throw new KmsFault(400, 'InvalidParameter', 'Plaintext is longer than 6 KiB');
      const { blob, key } = await keys.encrypt(required(p, 'KeyId'), plaintext, encryptionContext(p));
      return { KeyId: key.keyId, KeyVersionId: key.keyVersionId, CiphertextBlob: blob };
    },
    async Decrypt(p) {
      const { plaintext, key } = await keys.decrypt(required(p, 'CiphertextBlob'), encryptionContext(p));
      return { KeyId: key.keyId, KeyVersionId: key.keyVersionId, Plaintext: plaintext.toString('utf8') };
    },
  };

  function authenticate(method: string, p: Params): void {
    const accessKeyId = p.AccessKeyId;
    if (!accessKeyId) throw new KmsFault(400, 'MissingAccessKeyId', 'AccessKeyId is mandatory for this action.');
    const secret = secrets.get(accessKeyId);
    if (secret === undefined) throw new KmsFault(404, 'InvalidAccessKeyId.NotFound', 'Specified access key is not found.');
    if (p.SignatureMethod !== 'HMAC-SHA1' || p.SignatureVersion !== '1.0' || !p.Signature) {
      throw new KmsFault(400, 'IncorrectSignature', 'Only HMAC-SHA1 signature version 1.0 is supported.');
    }
    if (!signatureMatches(rpcSignature(method, p, secret), p.Signature)) {
      throw new KmsFault(400, 'IncorrectSignature', 'The request signature does not conform to Aliyun standards.');
    }
    const time = Date.parse(p.Timestamp ?? '');
    if (!Number.isFinite(time) || Math.abs(Date.now() - time) > CLOCK_SKEW_MS) {
      throw new KmsFault(400, 'InvalidTimeStamp.Expired', 'Specified time stamp or date value is expired.');
    }
    const nonce = p.SignatureNonce;
    if (!nonce) throw new KmsFault(400, 'MissingSignatureNonce', 'SignatureNonce is mandatory for this action.');
    if (!nonces.claim(`${accessKeyId}\n${nonce}`)) {
      throw new KmsFault(400, 'SignatureNonceUsed', 'Specified signature nonce was used already.');
    }
  }

  async function answer(req: IncomingMessage): Promise<Record<string, unknown>> {
    const p = await requestParams(req);
    authenticate(req.method ?? 'GET', p);
    if (p.Version !== API_VERSION) throw new KmsFault(400, 'InvalidVersion', `Specified parameter Version is not valid.`);
    const action = Object.hasOwn(actions, p.Action ?? '') ? actions[p.Action!] : undefined;
    if (action === undefined) throw new KmsFault(404, 'InvalidAction.NotFound', 'Specified api is not found, please check your url and method.');
    return action(p);
  }

  return {
    matches(req) {
      const url = new URL(req.url ?? '/', 'http://kms');
      if (url.pathname !== '/') return false;
      // OSS never POSTs a urlencoded form to `/`; RPC clients may send every parameter that way.
      const form = req.method === 'POST' && String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded');
      return url.searchParams.has('Action') || req.headers['x-acs-action'] !== undefined || form;
    },

    async handle(req, res) {
      const requestId = randomUUID().toUpperCase();
      let status = 200;
      let body: Record<string, unknown>;
      try {
        body = { ...(await answer(req)), RequestId: requestId };
      } catch (err) {
        const fault = toFault(err);
        status = fault.status;
        body = { RequestId: requestId, HostId: 'kms.local', Code: fault.code, Message: fault.message };
      }
      res.writeHead(status, { 'content-type': 'application/json;charset=utf-8', 'x-acs-request-id': requestId });
      res.end(JSON.stringify(body));
    },

    async createKey() {
      return (await keys.createKey()).keyId;
    },
  };
}

function toFault(err: unknown): KmsFault {
  if (err instanceof KmsFault) return err;
  if (err instanceof KeyNotFound) return new KmsFault(404, 'Forbidden.KeyNotFound', 'The specified Key is not found.');
  if (err instanceof BadCiphertext) {
    return new KmsFault(400, 'InvalidCiphertext', 'The ciphertext or its encryption context is invalid.');
  }
  return new KmsFault(500, 'InternalFailure', 'The request processing has failed due to some unknown error.');
}

/** Query parameters and, for a form POST, the body's; the client signs their union. */
async function requestParams(req: IncomingMessage): Promise<Params> {
  const params: Params = Object.fromEntries(new URL(req.url ?? '/', 'http://kms').searchParams);
  const body = await readBody(req);
  if (body.length > 0 && String(req.headers['content-type'] ?? '').startsWith('application/x-www-form-urlencoded')) {
    Object.assign(params, Object.fromEntries(new URLSearchParams(body.toString('utf8'))));
  }
  return params;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > MAX_BODY) throw new KmsFault(400, 'InvalidParameter', 'The request body is too large.');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}

function required(p: Params, name: string): string {
  const value = p[name];
  if (value === undefined || value === '') throw new KmsFault(400, `Missing${name}`, `${name} is mandatory for this action.`);
  return value;
}

function dataKeyLength(p: Params): number {
  if (p.NumberOfBytes !== undefined) {
    const n = Number(p.NumberOfBytes);
    if (!Number.isInteger(n) || n < 1 || n > 1024) throw new KmsFault(400, 'InvalidParameter', 'NumberOfBytes must be 1 to 1024.');
    return n;
  }
  switch (p.KeySpec ?? 'AES_256') {
    case 'AES_256':
      return 32;
    case 'AES_128':
      return 16;
    default:
      throw new KmsFault(400, 'InvalidParameter', 'KeySpec must be AES_256 or AES_128.');
  }
}

/**
 * The EncryptionContext as canonical text: the API takes a JSON object string; this SDK version
 * may instead flatten a map into `EncryptionContext.<name>` parameters. Both mean the same map.
 */
function encryptionContext(p: Params): string {
  const map: Record<string, string> = {};
  const json = p.EncryptionContext;
  if (json !== undefined && json !== '') {
    let parsed: unknown;
    try {
      parsed = JSON.parse(json);
    } catch {
      throw new KmsFault(400, 'InvalidParameter', 'EncryptionContext is not a JSON object.');
    }
    if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
      throw new KmsFault(400, 'InvalidParameter', 'EncryptionContext is not a JSON object.');
    }
    for (const [k, v] of Object.entries(parsed)) map[k] = typeof v === 'string' ? v : JSON.stringify(v);
  }
  for (const [name, value] of Object.entries(p)) {
    if (name.startsWith('EncryptionContext.')) map[name.slice('EncryptionContext.'.length)] = value;
  }
  const keys = Object.keys(map).sort();
  return keys.length === 0 ? '' : JSON.stringify(keys.map((k) => [k, map[k]]));
}

/** Nonces seen within the clock-skew window, forgotten once they could no longer be replayed. */
class NonceWindow {
  private readonly seen = new Map<string, number>();

  claim(nonce: string): boolean {
    const now = Date.now();
    if ((this.seen.get(nonce) ?? 0) > now) return false;
    if (this.seen.size >= KMS_NONCES_BEFORE_SWEEP) {
      for (const [n, expiry] of this.seen) if (expiry <= now) this.seen.delete(n);
    }
    this.seen.set(nonce, now + 2 * CLOCK_SKEW_MS);
    return true;
  }
}
