import type { IncomingHttpHeaders } from 'node:http';
import { OssError } from '../errors.js';

function etagList(value: string): string[] {
  return value.split(',').map((e) => e.trim().replace(/^W\//, '').replace(/^"|"$/g, '').toUpperCase());
}

function matches(value: string, etag: string): boolean {
  const bare = etag.replace(/^"|"$/g, '').toUpperCase();
  return etagList(value).some((e) => e === '*' || e === bare);
}

/** Whole seconds: Last-Modified carries no more, so a sub-second mtime must not fail a match. */
function modifiedAfter(lastModified: number, value: string): boolean | undefined {
  const since = Date.parse(value);
  return Number.isNaN(since) ? undefined : Math.floor(lastModified / 1000) * 1000 > since;
}

const preconditionFailed = (condition: string): OssError =>
  new OssError(412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold.', { Condition: condition });

/**
 * Evaluates conditional headers against an object, in the RFC 7232 order OSS follows. `prefix` is
 * '' for GET/HEAD and 'x-oss-copy-source-' for a copy's source. Returns 304 when a GET should
 * answer Not Modified; throws 412 PreconditionFailed.
 */
export function checkConditions(headers: IncomingHttpHeaders, etag: string, lastModified: number, prefix = ''): 304 | undefined {
  const get = (name: string): string | undefined => {
    const v = headers[`${prefix}${name}`];
    return Array.isArray(v) ? v.join(',') : v;
  };
  const ifMatch = get('if-match');
  if (ifMatch !== undefined && !matches(ifMatch, etag)) throw preconditionFailed(`${prefix}If-Match`);
  const ifUnmodified = get('if-unmodified-since');
  if (ifMatch === undefined && ifUnmodified !== undefined && modifiedAfter(lastModified, ifUnmodified) === true) {
    throw preconditionFailed(`${prefix}If-Unmodified-Since`);
  }
  const ifNoneMatch = get('if-none-match');
  const notModified = prefix === '' ? (): 304 => 304 : (): never => { throw preconditionFailed(`${prefix}If-None-Match`); };
  if (ifNoneMatch !== undefined) return matches(ifNoneMatch, etag) ? notModified() : undefined;
  const ifModified = get('if-modified-since');
  if (ifModified !== undefined && modifiedAfter(lastModified, ifModified) === false) return notModified();
  return undefined;
}
