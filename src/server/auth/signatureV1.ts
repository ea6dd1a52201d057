import { createHmac } from 'node:crypto';
import { OssError } from '../errors.js';
import { expired, type SignatureClaim } from './credentials.js';
import { header, ossHeaders, queryValue, type SignableRequest } from './signable.js';

/** Query parameters that are part of the V1 canonicalized resource (OSS's published list). */
const SUB_RESOURCES = new Set([
  'acl', 'append', 'bucketInfo', 'callback', 'callback-var', 'cname', 'comp', 'continuation-token', 'cors',
  'delete', 'encryption', 'endTime', 'img', 'inventory', 'inventoryId', 'lifecycle', 'live', 'location',
  'logging', 'objectMeta', 'partNumber', 'policy', 'position', 'qos', 'referer', 'replication',
  'replicationLocation', 'replicationProgress', 'requestPayment', 'response-cache-control',
  'response-content-disposition', 'response-content-encoding', 'response-content-language',
  'response-content-type', 'response-expires', 'restore', 'security-token', 'sequential', 'startTime',
  'stat', 'status', 'style', 'styleName', 'symlink', 'tagging', 'udf', 'uploadId', 'uploads', 'versionId',
  'versioning', 'versions', 'vod', 'website', 'worm', 'wormExtend', 'wormId', 'x-oss-process',
  'x-oss-request-payer', 'x-oss-traffic-limit',
  // The server's own fault-injection admin resource (see ../faults.ts).
  'x-ossencfs-faults',
]);

export function isSubResource(name: string): boolean {
  return SUB_RESOURCES.has(name);
}

function canonicalResource(req: SignableRequest): string {
  let resource = req.bucket === '' ? '/' : `/${req.bucket}/${req.key}`;
  const subs = req.query.filter((p) => SUB_RESOURCES.has(p.name)).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  if (subs.length > 0) resource += `?${subs.map((p) => (p.value === '' ? p.name : `${p.name}=${p.value}`)).join('&')}`;
  return resource;
}

function stringToSign(req: SignableRequest, date: string): string {
  return [
    req.method,
    header(req, 'content-md5') ?? '',
    header(req, 'content-type') ?? '',
    date,
    ...ossHeaders(req).map(([name, value]) => `${name}:${value}`),
    canonicalResource(req),
  ].join('\n');
}

function sign(secret: string, text: string): string {
  return createHmac('sha1', secret).update(text, 'utf8').digest('base64');
}

/** `Authorization: OSS <id>:<signature>`; the date line is x-oss-date when present, else Date. */
export function v1HeaderClaim(req: SignableRequest): SignatureClaim | undefined {
  const auth = header(req, 'authorization');
  if (!auth?.startsWith('OSS ')) return undefined;
  const colon = auth.lastIndexOf(':');
  if (colon < 4) throw new OssError(400, 'InvalidArgument', 'Authorization header is invalid.');
  const date = header(req, 'x-oss-date') ?? header(req, 'date') ?? '';
  const signedAt = Date.parse(date);
  if (Number.isNaN(signedAt)) throw new OssError(403, 'AccessDenied', 'The Date header is missing or not a valid HTTP date.');
  const text = stringToSign(req, date);
  return {
    accessKeyId: auth.slice(4, colon),
    signedAt,
    signature: auth.slice(colon + 1),
    securityToken: header(req, 'x-oss-security-token'),
    expected: (secret) => [{ signature: sign(secret, text), stringToSign: text }],
  };
}

/** Presigned URL: `?OSSAccessKeyId=…&Expires=<unix seconds>&Signature=…` (plus `security-token`). */
export function v1QueryClaim(req: SignableRequest): SignatureClaim | undefined {
  const accessKeyId = queryValue(req, 'OSSAccessKeyId');
  const signature = queryValue(req, 'Signature');
  const expires = queryValue(req, 'Expires');
  if (accessKeyId === undefined || signature === undefined || expires === undefined) return undefined;
  const deadline = Number(expires);
  if (!Number.isFinite(deadline)) throw new OssError(403, 'AccessDenied', 'Expires is not a number.');
  const tooLate = expired(deadline * 1000);
  if (tooLate) throw tooLate;
  const text = stringToSign(req, expires);
  return {
    accessKeyId,
    signature,
    securityToken: queryValue(req, 'security-token'),
    expected: (secret) => [{ signature: sign(secret, text), stringToSign: text }],
  };
}
