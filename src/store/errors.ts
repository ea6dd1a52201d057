import { FsError, type Errno } from '../errors.js';

/**
 * The fields of the errors the transport throws (OssResponseError, NetworkError), and of those
 * ali-oss throws: `status` is the HTTP status, or -1 for a network error and -2 for a timeout;
 * `code` is the OSS error code from the XML body, or the network error's code; `skewMs` is the
 * server's clock minus ours when the answer said what the server's clock read.
 */
interface OssErrorLike {
  status?: number;
  code?: string;
  name?: string;
  message?: string;
  skewMs?: number;
}

const asOssError = (err: unknown): OssErrorLike =>
  typeof err === 'object' && err !== null ? (err as OssErrorLike) : { message: String(err) };

const CODE_ERRNO: Record<string, Errno> = {
  NoSuchKey: 'ENOENT',
  NoSuchUpload: 'ENOENT',
  NoSuchBucket: 'ENOENT',
  AccessDenied: 'EACCES',
  SignatureDoesNotMatch: 'EACCES',
  InvalidAccessKeyId: 'EACCES',
  SecurityTokenExpired: 'EACCES',
  InvalidSecurityToken: 'EACCES',
  RequestTimeTooSkewed: 'EACCES',
  InvalidRange: 'EINVAL',
  PreconditionFailed: 'ESTALE',
  FileAlreadyExists: 'EEXIST',
  InvalidObjectName: 'ENAMETOOLONG',
  KeyTooLong: 'ENAMETOOLONG',
  EntityTooLarge: 'EFBIG',
  InvalidPart: 'EIO',
  InvalidPartOrder: 'EIO',
};

const STATUS_ERRNO: Record<number, Errno> = {
  400: 'EINVAL',
  403: 'EACCES',
  404: 'ENOENT',
  412: 'ESTALE',
  416: 'EINVAL',
};

const THROTTLING_CODES = new Set(['Throttling', 'SlowDown', 'RequestTimeout', 'ServiceUnavailable', 'InternalError']);

/** Errors from the connection itself, as Node and urllib name them (also raised mid-body). */
const NETWORK_CODES = new Set([
  'ECONNRESET',
  'ECONNREFUSED',
  'ECONNABORTED',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'EAI_AGAIN',
  'ERR_STREAM_PREMATURE_CLOSE',
  'RequestError',
  'ConnectionTimeoutError',
  'ResponseTimeoutError',
  'SocketAssignTimeoutError',
  'ResponseError',
  'UND_ERR_SOCKET',
  'UND_ERR_CLOSED',
  'UND_ERR_CONNECT_TIMEOUT',
  'UND_ERR_HEADERS_TIMEOUT',
  'UND_ERR_BODY_TIMEOUT',
]);

const isTimeout = (e: OssErrorLike): boolean =>
  e.status === -2 || /timeout/i.test(e.code ?? '') || /timeout/i.test(e.name ?? '') || e.code === 'ETIMEDOUT';

/**
 * Whether trying the same idempotent request again may succeed: server errors, throttling and
 * broken or timed-out connections. Every other 4xx is the caller's problem and fails at once.
 */
export function isRetryable(err: unknown): boolean {
  if (err instanceof FsError) return false;
  const e = asOssError(err);
  if (e.status !== undefined && e.status >= 500) return true;
  if (e.status === 429) return true;
  if (e.code !== undefined && THROTTLING_CODES.has(e.code)) return true;
  if (e.status === -1 || e.status === -2) return true;
  if (e.status !== undefined && e.status > 0) return false;
  return (e.code !== undefined && NETWORK_CODES.has(e.code)) || (e.name !== undefined && NETWORK_CODES.has(e.name));
}

/**
 * One FsError for a failed store call: the errno the mount answers with, and a message naming the
 * operation, bucket/key and the OSS code, so a log line alone says what failed where.
 */
export function toStoreError(err: unknown, op: string, bucket: string, key: string): FsError {
  if (err instanceof FsError) return err;
  const e = asOssError(err);
  const code = e.code ?? e.name ?? 'Error';
  let errno: Errno = CODE_ERRNO[code] ?? (e.status !== undefined ? STATUS_ERRNO[e.status] : undefined) ?? 'EIO';
  if (errno === 'EIO' && isTimeout(e)) errno = 'ETIMEDOUT';
  const status = e.status !== undefined && e.status > 0 ? ` (HTTP ${e.status})` : '';
  if (code === 'RequestTimeTooSkewed') return new FsError(errno, `${op} ${bucket}/${key}: ${skewed(e.skewMs)}`, { cause: err });
  const plain = NETWORK_REASONS[code] ?? (isTimeout(e) && e.status === -2 ? 'no answer in time' : undefined);
  if (plain) return new FsError(errno, `${op} ${bucket}/${key}: ${plain} (${e.message ? firstLine(e.message) : code})`, { cause: err });
  const detail = e.message && !e.message.startsWith(code) ? `: ${firstLine(e.message)}` : '';
  return new FsError(errno, `${op} ${bucket}/${key}: ${code}${status}${detail}`, { cause: err });
}

/** The connection failures a user meets when the server or the network is gone, in words. */
const NETWORK_REASONS: Record<string, string> = {
  ECONNREFUSED: 'connection refused',
  ECONNRESET: 'connection reset',
  UND_ERR_SOCKET: 'connection lost',
  UND_ERR_CLOSED: 'connection closed',
  EPIPE: 'connection lost',
  EHOSTUNREACH: 'host unreachable',
  ENETUNREACH: 'network unreachable',
  EAI_AGAIN: 'host name lookup failed',
  UND_ERR_CONNECT_TIMEOUT: 'no connection in time',
  UND_ERR_HEADERS_TIMEOUT: 'no answer in time',
  UND_ERR_BODY_TIMEOUT: 'the answer stalled',
};

/** Why a try failed, in a few words, for the line that says another follows. */
export function retryReason(err: unknown): string {
  const e = asOssError(err);
  const code = e.code ?? e.name ?? 'Error';
  const plain = NETWORK_REASONS[code] ?? (isTimeout(e) ? 'no answer in time' : undefined);
  if (plain) return plain;
  return e.status !== undefined && e.status > 0 ? `HTTP ${e.status} ${code}` : code;
}

/** OSS refuses a request signed more than 15 minutes off its clock: say by how much ours is off. */
function skewed(skewMs: number | undefined): string {
  const lead = "the server refused the request's time (RequestTimeTooSkewed)";
  if (skewMs === undefined) return `${lead}: this machine's clock is off — set it right (NTP)`;
  const minutes = Math.round(Math.abs(skewMs) / 60_000);
  return `${lead}: this machine's clock is ${minutes} minute${minutes === 1 ? '' : 's'} off (${skewMs > 0 ? 'behind' : 'ahead of'} the server's) — set it right (NTP)`;
}

const firstLine = (s: string): string => s.split('\n', 1)[0] ?? '';
