import { constants } from 'node:os';

/** A POSIX errno name such as 'ENOENT'; the numeric value comes from the platform. */
export type Errno = keyof typeof constants.errno;

/**
 * The one error type of the project: what went wrong for a human, and the errno the mount
 * answers with. Lower layers throw it (or a subclass) so every caller can map it without guessing.
 */
export class FsError extends Error {
  override name = 'FsError';

  constructor(
    readonly errno: Errno,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }

  /** The positive errno number of this platform (FUSE wants it negated). */
  get errnoNumber(): number {
    return constants.errno[this.errno];
  }
}

/** Wraps anything thrown into an FsError, keeping an FsError as it is. */
export function toFsError(err: unknown, fallback: Errno = 'EIO'): FsError {
  if (err instanceof FsError) return err;
  const message = err instanceof Error ? err.message : String(err);
  return new FsError(fallback, message, { cause: err });
}
