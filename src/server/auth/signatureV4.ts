import { createHash, createHmac } from 'node:crypto';
import { OssError } from '../errors.js';
import type { QueryParam } from '../http/addressing.js';
import { expired, type SignatureClaim } from './credentials.js';
import { isSubResource } from './signatureV1.js';
import { header, queryValue, type SignableRequest } from './signable.js';

const ALGORITHM = 'OSS4-HMAC-SHA256';

/** encodeURIComponent plus the RFC 3986 reserved characters it leaves alone. */
function encode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

function byteOrder(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

/**
 * The canonical query strings a client may have signed. On the wire `?uploads` and `?uploads=`
 * look alike, but ali-oss signs sub-resources bare and other empty parameters with `=`, while
 * OSS's documentation signs every empty one bare; ali-oss sorts with localeCompare, OSS by bytes.
 */
function canonicalQueries(query: QueryParam[]): string[] {
  const params = query.filter((p) => p.name !== 'x-oss-signature');
  const render = (bare: (p: QueryParam) => boolean, order: (a: string, b: string) => number): string =>
    [...params]
      .sort((a, b) => order(a.name, b.name))
      .map((p) => (p.value === '' && bare(p) ? encode(p.name) : `${encode(p.name)}=${encode(p.value)}`))
      .join('&');
  const variants = new Set<string>();
  for (const order of [(a: string, b: string) => a.localeCompare(b), byteOrder]) {
    variants.add(render((p) => !p.hasValue || isSubResource(p.name), order));
    variants.add(render(() => true, order));
  }
  return [...variants];
}

function canonicalHeaders(req: SignableRequest, additional: string[]): string {
  const names = new Set(additional);
  for (const name of Object.keys(req.headers)) {
    if (name === 'content-type' || name === 'content-md5' || name.startsWith('x-oss-')) names.add(name);
  }
  return [...names].sort().map((name) => `${name}:${(header(req, name) ?? '').trim()}\n`).join('');
}

function signingKey(secret: string, day: string, region: string, product: string): Buffer {
  const date = createHmac('sha256', `aliyun_v4${secret}`).update(day).digest();
  const inRegion = createHmac('sha256', date).update(region).digest();
  const forProduct = createHmac('sha256', inRegion).update(product).digest();
  return createHmac('sha256', forProduct).update('aliyun_v4_request').digest();
}

interface V4Parts {
  accessKeyId: string;
  day: string;
  region: string;
  product: string;
  additional: string[];
  signature: string;
  timestamp: string;
  securityToken: string | undefined;
}

function parseCredential(credential: string): Pick<V4Parts, 'accessKeyId' | 'day' | 'region' | 'product'> {
  const [accessKeyId, day, region, product, terminator] = credential.split('/');
  if (!accessKeyId || !day || !region || !product || terminator !== 'aliyun_v4_request') {
    throw new OssError(400, 'InvalidArgument', 'The Credential in the V4 signature is malformed.');
  }
  return { accessKeyId, day, region, product };
}

function claim(req: SignableRequest, parts: V4Parts): SignatureClaim {
  const canonicalUri = encode(req.bucket === '' ? `/${req.key}` : `/${req.bucket}/${req.key}`).replace(/%2F/g, '/');
  const lines = canonicalHeaders(req, parts.additional);
  const scope = `${parts.day}/${parts.region}/${parts.product}/aliyun_v4_request`;
  const texts = canonicalQueries(req.query).map((canonicalQuery) => {
    const canonicalRequest = [
      req.method,
      canonicalUri,
      canonicalQuery,
      lines,
      parts.additional.join(';'),
      header(req, 'x-oss-content-sha256') ?? 'UNSIGNED-PAYLOAD',
    ].join('\n');
    return [ALGORITHM, parts.timestamp, scope, createHash('sha256').update(canonicalRequest).digest('hex')].join('\n');
  });
  return {
    accessKeyId: parts.accessKeyId,
    signature: parts.signature,
    securityToken: parts.securityToken,
    expected: (secret) => {
      const key = signingKey(secret, parts.day, parts.region, parts.product);
      return texts.map((stringToSign) => ({ signature: createHmac('sha256', key).update(stringToSign).digest('hex'), stringToSign }));
    },
  };
}

/** `Authorization: OSS4-HMAC-SHA256 Credential=…,AdditionalHeaders=…,Signature=…`. */
export function v4HeaderClaim(req: SignableRequest): SignatureClaim | undefined {
  const auth = header(req, 'authorization');
  if (!auth?.startsWith(`${ALGORITHM} `)) return undefined;
  const fields = new Map(
    auth.slice(ALGORITHM.length + 1).split(',').map((f) => {
      const eq = f.indexOf('=');
      return [f.slice(0, eq).trim(), f.slice(eq + 1).trim()] as const;
    }),
  );
  const timestamp = header(req, 'x-oss-date');
  if (!timestamp) throw new OssError(403, 'AccessDenied', 'x-oss-date is required with a V4 signature.');
  return {
    ...claim(req, {
      ...parseCredential(fields.get('Credential') ?? ''),
      additional: (fields.get('AdditionalHeaders') ?? '').split(';').filter((h) => h !== ''),
      signature: fields.get('Signature') ?? '',
      timestamp,
      securityToken: header(req, 'x-oss-security-token'),
    }),
    signedAt: parseTimestamp(timestamp),
  };
}

function parseTimestamp(timestamp: string): number {
  const m = /^(\d{4})(\d{2})(\d{2})T(\d{2})(\d{2})(\d{2})Z$/.exec(timestamp);
  if (!m) throw new OssError(400, 'InvalidArgument', 'x-oss-date is malformed.');
  return Date.UTC(+m[1]!, +m[2]! - 1, +m[3]!, +m[4]!, +m[5]!, +m[6]!);
}

/** Presigned V4 URL: `x-oss-signature-version`, `x-oss-credential`, `x-oss-date`, `x-oss-expires`, `x-oss-signature`. */
export function v4QueryClaim(req: SignableRequest): SignatureClaim | undefined {
  if (queryValue(req, 'x-oss-signature-version') !== ALGORITHM) return undefined;
  const timestamp = queryValue(req, 'x-oss-date') ?? '';
  const tooLate = expired(parseTimestamp(timestamp) + Number(queryValue(req, 'x-oss-expires') ?? '0') * 1000);
  if (tooLate) throw tooLate;
  return claim(req, {
    ...parseCredential(queryValue(req, 'x-oss-credential') ?? ''),
    additional: (queryValue(req, 'x-oss-additional-headers') ?? '').split(';').filter((h) => h !== ''),
    signature: queryValue(req, 'x-oss-signature') ?? '',
    timestamp,
    securityToken: queryValue(req, 'x-oss-security-token'),
  });
}
