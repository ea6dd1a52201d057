import type { IncomingHttpHeaders, ServerResponse } from 'node:http';
import { OssError } from '../errors.js';
import type { ObjectHeaders, ObjectRecord } from '../storage/store.js';

/** Standard headers OSS stores with an object and returns on GET/HEAD. */
const STORED = ['cache-control', 'content-disposition', 'content-encoding', 'content-language', 'expires'];
const META = 'x-oss-meta-';
const MAX_META_BYTES = 8 * 1024;

function single(value: string | string[] | undefined): string | undefined {
  return Array.isArray(value) ? value.join(',') : value;
}

/**
 * The descriptive headers of a PUT, initiate or REPLACE copy. Node hands header values over as
 * latin1 strings, one char per byte, and writes them back the same way, so values stay byte-exact.
 */
export function objectHeadersOf(headers: IncomingHttpHeaders): ObjectHeaders {
  const stored: Record<string, string> = {};
  const meta: Record<string, string> = {};
  let metaBytes = 0;
  for (const [name, value] of Object.entries(headers)) {
    const text = single(value);
    if (text === undefined) continue;
    if (STORED.includes(name)) stored[name] = text;
    else if (name.startsWith(META)) {
      meta[name] = text;
      metaBytes += name.length - META.length + text.length;
    }
  }
  if (metaBytes > MAX_META_BYTES) throw new OssError(400, 'MetadataTooLarge', 'Your metadata headers exceed the maximum allowed metadata size.');
  return { contentType: single(headers['content-type']) ?? 'application/octet-stream', headers: stored, meta };
}

export function httpDate(ms: number): string {
  return new Date(ms).toUTCString();
}

/** Headers describing an object on GET, HEAD and GetObjectMeta. */
export function writeObjectHeaders(res: ServerResponse, object: ObjectRecord): void {
  res.setHeader('Content-Type', object.contentType);
  res.setHeader('ETag', object.etag);
  res.setHeader('Last-Modified', httpDate(object.lastModified));
  res.setHeader('x-oss-hash-crc64ecma', object.crc64);
  res.setHeader('x-oss-object-type', object.type);
  res.setHeader('x-oss-storage-class', 'Standard');
  res.setHeader('Accept-Ranges', 'bytes');
  for (const [name, value] of Object.entries(object.headers)) res.setHeader(name, value);
  for (const [name, value] of Object.entries(object.meta)) res.setHeader(name, value);
}
