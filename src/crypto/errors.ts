import { FsError } from '../errors.js';

export type CryptoErrorKind =
  | 'not-encrypted'
  | 'no-key-for-matdesc'
  | 'unwrap-failed'
  | 'unsupported-algorithm'
  | 'malformed-header'
  | 'length-mismatch'
  | 'md5-mismatch'
  | 'kms-failure'
  | 'encrypt-only'
  | 'no-writer';

/**
 * A failure to read or write an encrypted object. The message names the object and the reason
 * (never key material, IVs or plaintext) so it can go to a log line or the CLI as it is.
 */
export class CryptoError extends FsError {
  override name = 'CryptoError';
  readonly kmsCode?: string;

  constructor(
    readonly kind: CryptoErrorKind,
    readonly objectKey: string,
    message: string,
    options?: { cause?: unknown; kmsCode?: string },
  ) {
    super(errnoOf(kind), message, options);
    if (options?.kmsCode !== undefined) this.kmsCode = options.kmsCode;
  }
}

function errnoOf(kind: CryptoErrorKind) {
  // A missing private key or a read-only keyring is a permission problem the user can fix;
  // everything else means the stored bytes cannot be turned into plaintext.
  switch (kind) {
    case 'encrypt-only':
      return 'EACCES' as const;
    case 'no-writer':
      return 'EROFS' as const;
    default:
      return 'EIO' as const;
  }
}

/** How an object is named in messages: quoted, and "(new object)" when sealing has no name yet. */
export function describeObject(objectKey: string): string {
  return objectKey === '' ? '(new object)' : JSON.stringify(objectKey);
}
