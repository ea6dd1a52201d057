import { OssError } from '../errors.js';
import { checkSkew, verifyClaim, type CredentialLookup, type ServerCredentials, type SignatureClaim } from './credentials.js';
import type { SignableRequest } from './signable.js';
import { v1HeaderClaim, v1QueryClaim } from './signatureV1.js';
import { v4HeaderClaim, v4QueryClaim } from './signatureV4.js';

/** Which signatures the server takes: V4 only, as a bucket made since September 2025, or V1 too. */
export type SignaturePolicy = 'v4' | 'any';

const SCHEMES: { version: 1 | 4; claim: (req: SignableRequest) => SignatureClaim | undefined }[] = [
  { version: 4, claim: v4HeaderClaim },
  { version: 1, claim: v1HeaderClaim },
  { version: 4, claim: v4QueryClaim },
  { version: 1, claim: v1QueryClaim },
];

/**
 * The credential that signed the request (header or presigned URL, V1 or V4), or a 403. `now` is
 * the server's clock, which a signed header date must be within 15 minutes of.
 */
export function authenticate(req: SignableRequest, lookup: CredentialLookup, policy: SignaturePolicy, now: number): ServerCredentials {
  for (const scheme of SCHEMES) {
    const claim = scheme.claim(req);
    if (!claim) continue;
    if (scheme.version === 1 && policy === 'v4') {
      throw new OssError(403, 'AccessDenied', 'OSS no longer accepts V1 signatures for this bucket: sign the request with V4 (OSS4-HMAC-SHA256).', {}, '0002-00000080');
    }
    if (claim.signedAt !== undefined) checkSkew(claim.signedAt, now);
    return verifyClaim(claim, lookup, now);
  }
  throw new OssError(403, 'AccessDenied', 'You have no right to access this object because of bucket acl.');
}
