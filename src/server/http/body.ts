import { createHash } from 'node:crypto';
import { OssError } from '../errors.js';
import type { RequestContext } from './context.js';

/**
 * The Content-MD5 a request promises (16 bytes), or undefined when absent; a value that is not the
 * base64 of 16 bytes is InvalidDigest, as in OSS.
 */
export function expectedMd5(ctx: RequestContext): Buffer | undefined {
  const raw = ctx.req.headers['content-md5'];
  if (raw === undefined) return undefined;
  const value = String(raw);
  const digest = Buffer.from(value, 'base64');
  if (digest.length !== 16 || digest.toString('base64') !== value.trim()) {
    throw new OssError(400, 'InvalidDigest', 'The Content-MD5 you specified is not valid.', {}, '0017-00000502');
  }
  return digest;
}

/** A body whose MD5 is not the Content-MD5 sent: OSS names it InvalidDigest (S3 says BadDigest). */
export function checkMd5(expected: Buffer | undefined, actual: Buffer): void {
  if (expected && !expected.equals(actual)) {
    throw new OssError(400, 'InvalidDigest', 'The Content-MD5 you specified was invalid.', {}, '0017-00000503');
  }
}

/**
 * A small request body (XML documents), bounded and checked against Content-MD5. One over the
 * limit is read to its end but not kept, then refused (413): leaving a `for await` early would
 * destroy the request and its socket, and the client would get no answer at all.
 */
export async function readSmallBody(ctx: RequestContext, limit = 2 * 1024 * 1024): Promise<string> {
  const expected = expectedMd5(ctx);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of ctx.body) {
    size += (chunk as Buffer).length;
    if (size <= limit) chunks.push(chunk as Buffer);
  }
  if (size > limit) throw new OssError(413, 'EntityTooLarge', `The request body exceeds the maximum allowed size of ${limit} bytes.`);
  const body = Buffer.concat(chunks);
  checkMd5(expected, createHash('md5').update(body).digest());
  return body.toString('utf8');
}

/** Content-Length as a number; undefined for chunked bodies. */
export function declaredLength(ctx: RequestContext): number | undefined {
  const value = ctx.req.headers['content-length'];
  return value === undefined ? undefined : Number(value);
}
