import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import type { Credentials } from './credentials.js';

/**
 * ali-oss's signing functions (lib/common/signUtils.js): the same code every ali-oss call signs
 * with, called on our own requests. Required, not imported: the package ships no types for it.
 * The functions read their siblings through `this`, so they are called on the module object.
 */
interface SignUtils {
  getCanonicalRequest(method: string, request: { headers: Record<string, string>; queries: Query }, bucketName: string, objectName: string): string;
  getStringToSign(region: string, date: string, canonicalRequest: string): string;
  getCredential(date: string, region: string, accessKeyId: string): string;
  buildCanonicalString(method: string, resourcePath: string, request: { headers: Record<string, string>; parameters?: Query }): string;
  authorization(accessKeyId: string, accessKeySecret: string, canonicalString: string): string;
}
const signUtils = createRequire(import.meta.url)('ali-oss/lib/common/signUtils.js') as SignUtils;

/** A request's query: `null` is a bare sub-resource (`?uploads`). */
export type Query = Record<string, string | null>;

export type SignatureVersion = 1 | 4;

/** What a signature covers. `headers` have lower-case names; the signer adds its own to them. */
export interface SignableRequest {
  method: string;
  /** '' for a request on the bucket itself. */
  key: string;
  query: Query;
  headers: Record<string, string>;
}

/**
 * V1 signs only these query parameters (OSS's list of sub-resources; ali-oss passes exactly its
 * `subres` as they are): a listing's prefix or marker is not part of the V1 string to sign.
 */
const V1_SUBRESOURCES = new Set(['uploads', 'uploadId', 'partNumber', 'delete', 'acl', 'location', 'lifecycle', 'cors', 'logging', 'website', 'referer', 'tagging', 'versionId', 'versioning', 'symlink', 'restore', 'response-content-type', 'response-content-disposition', 'response-cache-control', 'response-content-encoding', 'response-content-language', 'response-expires']);

/** `20261206T210000Z`, the V4 x-oss-date; made once per second (a HEAD burst signs thousands). */
let lastSecond = -1;
let lastV4Date = '';
function v4Date(now: Date): string {
  const second = Math.floor(now.getTime() / 1000);
  if (second !== lastSecond) {
    lastSecond = second;
    lastV4Date = now.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}/, '');
  }
  return lastV4Date;
}

/**
 * Signs requests to one bucket the way OSS wants them: V4 (`OSS4-HMAC-SHA256`, scoped to the
 * region) unless V1 is asked for. The headers added are the ones ali-oss adds: x-oss-date, under
 * V4 x-oss-content-sha256 (the body is not hashed: UNSIGNED-PAYLOAD, as every SDK sends over
 * HTTPS), and x-oss-security-token with temporary credentials.
 */
export class Signer {
  /** The last V4 signing key made, and what it was made from: it changes once a day (or with the secret). */
  private signingKey: { secret: string; day: string; key: Buffer } | undefined;

  constructor(
    private readonly bucket: string,
    private readonly version: SignatureVersion,
    /** The region id (`cn-hangzhou`); V4 only. */
    private readonly region: string | undefined,
  ) {
    if (version === 4 && !region) throw new Error('a V4 signature needs the region');
  }

  /** Adds the signature and the headers it covers to `req.headers`. */
  sign(req: SignableRequest, credentials: Credentials, now = new Date()): void {
    const { headers } = req;
    if (credentials.securityToken) headers['x-oss-security-token'] = credentials.securityToken;
    if (this.version === 4) {
      headers['x-oss-date'] = v4Date(now);
      headers['x-oss-content-sha256'] = 'UNSIGNED-PAYLOAD';
      headers.authorization = this.authorizationV4(req, credentials, headers['x-oss-date']);
      return;
    }
    headers['x-oss-date'] = now.toUTCString();
    const parameters: Query = {};
    for (const [name, value] of Object.entries(req.query)) if (V1_SUBRESOURCES.has(name)) parameters[name] = value;
    const canonical = signUtils.buildCanonicalString(req.method, `/${this.bucket}/${req.key}`, { headers, parameters });
    headers.authorization = signUtils.authorization(credentials.accessKeyId, credentials.accessKeySecret, canonical);
  }

  /**
   * ali-oss's authorizationV4 (its canonical request and string to sign), with the signing key
   * kept: it takes four of the five HMACs a signature needs, and changes only with the day or the secret.
   */
  private authorizationV4(req: SignableRequest, credentials: Credentials, date: string): string {
    const region = this.region!;
    const day = date.slice(0, 8);
    const canonical = signUtils.getCanonicalRequest(req.method, { headers: req.headers, queries: req.query }, this.bucket, req.key);
    const stringToSign = signUtils.getStringToSign(region, date, canonical);
    const signature = createHmac('sha256', this.keyFor(credentials.accessKeySecret, day)).update(stringToSign).digest('hex');
    return `OSS4-HMAC-SHA256 Credential=${signUtils.getCredential(day, region, credentials.accessKeyId)},Signature=${signature}`;
  }

  /** OSS's V4 signing key for a secret and a day (yyyymmdd) in this signer's region. */
  private keyFor(secret: string, day: string): Buffer {
    const kept = this.signingKey;
    if (kept?.secret === secret && kept.day === day) return kept.key;
    let key = createHmac('sha256', `aliyun_v4${secret}`).update(day).digest();
    for (const scope of [this.region!, 'oss', 'aliyun_v4_request']) key = createHmac('sha256', key).update(scope).digest();
    this.signingKey = { secret, day, key };
    return key;
  }
}
