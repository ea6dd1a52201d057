import { timingSafeEqual } from 'node:crypto';
import { OssError } from '../errors.js';

export interface ServerCredentials {
  accessKeyId: string;
  accessKeySecret: string;
  /** When set, requests signed with this key must carry exactly this STS token. */
  securityToken?: string;
}

/** What a signature scheme hands over: who claims to sign, and how to check the claimed signature. */
export interface SignatureClaim {
  accessKeyId: string;
  securityToken: string | undefined;
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

/** Finds the key, checks the STS token and the signature; returns the credential or throws 403. */
export function verifyClaim(claim: SignatureClaim, credentials: ServerCredentials[]): ServerCredentials {
  const credential = credentials.find((c) => c.accessKeyId === claim.accessKeyId);
  if (!credential) {
    throw new OssError(403, 'InvalidAccessKeyId', 'The OSS Access Key Id you provided does not exist in our records.', { OSSAccessKeyId: claim.accessKeyId });
  }
  if (!safeEqual(credential.securityToken ?? '', claim.securityToken ?? '')) {
    throw new OssError(403, 'InvalidSecurityToken', 'The security token you provided is invalid.');
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
