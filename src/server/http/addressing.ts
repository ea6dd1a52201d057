import type { IncomingMessage } from 'node:http';
import { isIP } from 'node:net';
import { OssError } from '../errors.js';

export interface QueryParam {
  name: string;
  value: string;
  /** False for `?uploads`, true for `?uploads=`: signatures may tell them apart. */
  hasValue: boolean;
}

export interface Address {
  /** '' for service-level requests (ListBuckets). */
  bucket: string;
  /** '' for bucket-level requests. */
  key: string;
  query: QueryParam[];
}

function decode(part: string): string {
  try {
    return decodeURIComponent(part);
  } catch {
    throw new OssError(400, 'InvalidURI', 'Could not parse the specified URI.');
  }
}

function parseQuery(raw: string): QueryParam[] {
  if (raw === '') return [];
  return raw.split('&').filter((p) => p !== '').map((pair) => {
    const eq = pair.indexOf('=');
    const plus = (s: string): string => decode(s.replace(/\+/g, ' '));
    return eq < 0
      ? { name: plus(pair), value: '', hasValue: false }
      : { name: plus(pair.slice(0, eq)), value: plus(pair.slice(eq + 1)), hasValue: true };
  });
}

function hostname(host: string): string {
  if (host.startsWith('[')) return host.slice(1, host.indexOf(']'));
  const colon = host.lastIndexOf(':');
  return colon < 0 ? host : host.slice(0, colon);
}

/**
 * Bucket and key of a request. Virtual-host style (`Host: <bucket>.<anything>`) whenever the Host is
 * not one of the server's own names (an IP literal, `localhost`, a single label, or the host it was
 * started with);
 * ali-oss sends `<bucket>.oss-<region>.aliyuncs.com` even when connecting to 127.0.0.1. Otherwise
 * path style, `/<bucket>/<key>`, which is what `sldEnable` and plain HTTP clients send.
 */
export function resolveAddress(req: IncomingMessage, ownHost: string): Address {
  const url = req.url ?? '/';
  const q = url.indexOf('?');
  const path = q < 0 ? url : url.slice(0, q);
  const query = parseQuery(q < 0 ? '' : url.slice(q + 1));
  if (!path.startsWith('/')) throw new OssError(400, 'InvalidURI', 'Could not parse the specified URI.');
  const name = hostname(req.headers.host ?? '').toLowerCase();
  const own = name === '' || isIP(name) !== 0 || name === 'localhost' || name === ownHost.toLowerCase();
  const dot = name.indexOf('.');
  if (!own && dot >= 0) return { bucket: name.slice(0, dot), key: decode(path.slice(1)), query };
  const slash = path.indexOf('/', 1);
  if (slash < 0) return { bucket: decode(path.slice(1)), key: '', query };
  return { bucket: decode(path.slice(1, slash)), key: decode(path.slice(slash + 1)), query };
}
