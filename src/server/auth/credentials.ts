import { timingSafeEqual } from 'node:crypto';
import { OssError } from '../errors.js';

export interface ServerCredentials {
  accessKeyId: string;
  accessKeySecret: string;
  /** When set, requests signed with this key must carry exactly this STS token. */
  securityToken?: string;
}

/** A credential the server knows, and when it stops being valid (never for a static one). */
export interface KnownCredential {
  credential: ServerCredentials;
  expiresAt?: number;
}

/** The credential with this AccessKeyId, if any. */
export type CredentialLookup = (accessKeyId: string) => KnownCredential | undefined;

/** What a signature scheme hands over: who claims to sign, and how to check the claimed signature. */
export interface SignatureClaim {
  accessKeyId: string;
  securityToken: string | undefined;
  /** When the request says it was signed (ms since the epoch); undefined for a presigned URL, which expires instead. */
  signedAt?: number;
  /** The signature as sent, in the scheme's own encoding. */
  signature: string;
  /** Each string-to-sign the request could have been signed over; the first is reported on failure. */
  expected(secret: string): { signature: string; stringToSign: string }[];
}

export function safeEqual(a: string, b: string): boolean {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
}

/** Finds the key, checks the STS token, its expiry and the signature; returns the credential or throws 403. */
export function verifyClaim(claim: SignatureClaim, lookup: CredentialLookup, now: number): ServerCredentials {
  const known = lookup(claim.accessKeyId);
  if (!known) {
    throw new OssError(403, 'InvalidAccessKeyId', 'The OSS Access Key Id you provided does not exist in our records.', { OSSAccessKeyId: claim.accessKeyId });
  }
  const { credential } = known;
  if (!safeEqual(credential.securityToken ?? '', claim.securityToken ?? '')) {
    throw new OssError(403, 'InvalidSecurityToken', 'The security token you provided is invalid.');
  }
  if (known.expiresAt !== undefined && now >= known.expiresAt) {
    throw new OssError(403, 'SecurityTokenExpired', 'The security token you provided has expired.', {}, '0002-00000007');
  }
  const candidates = claim.expected(credential.accessKeySecret);
  if (!candidates.some((c) => safeEqual(c.signature, claim.signature))) {
    throw new OssError(403, 'SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.', {
      StringToSign: candidates[0]?.stringToSign ?? '',
      OSSAccessKeyId: claim.accessKeyId,
    });
  }
  return credential;
}

export function expired(deadlineMs: number): OssError | undefined {
  return Date.now() > deadlineMs ? new OssError(403, 'AccessDenied', 'Request has expired.') : undefined;
}

/** OSS takes a signed request up to 15 minutes either side of its clock. */
const MAX_SKEW_MS = 15 * 60_000;

/** RequestTimeTooSkewed, with the times OSS reports, when the request's signing time is too far off. */
export function checkSkew(signedAt: number, now: number): void {
  if (Math.abs(now - signedAt) <= MAX_SKEW_MS) return;
  throw new OssError(403, 'RequestTimeTooSkewed', 'The difference between the request time and the current time is too large.', {
    RequestTime: new Date(signedAt).toISOString(),
    ServerTime: new Date(now).toISOString(),
    MaxAllowedSkewMilliseconds: String(MAX_SKEW_MS),
  }, '0002-00000504');
}
