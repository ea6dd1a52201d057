import { OssError } from '../errors.js';
import { verifyClaim, type ServerCredentials } from './credentials.js';
import type { SignableRequest } from './signable.js';
import { v1HeaderClaim, v1QueryClaim } from './signatureV1.js';
import { v4HeaderClaim, v4QueryClaim } from './signatureV4.js';

const SCHEMES = [v4HeaderClaim, v1HeaderClaim, v4QueryClaim, v1QueryClaim];

/** The credential that signed the request (header or presigned URL, V1 or V4), or a 403. */
export function authenticate(req: SignableRequest, credentials: ServerCredentials[]): ServerCredentials {
  for (const scheme of SCHEMES) {
    const claim = scheme(req);
    if (claim) return verifyClaim(claim, credentials);
  }
  throw new OssError(403, 'AccessDenied', 'You have no right to access this object because of bucket acl.');
}
