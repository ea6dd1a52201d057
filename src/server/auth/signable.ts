import type { IncomingHttpHeaders } from 'node:http';
import type { QueryParam } from '../http/addressing.js';

/** The parts of a request that signatures cover. */
export interface SignableRequest {
  method: string;
  bucket: string;
  key: string;
  query: QueryParam[];
  headers: IncomingHttpHeaders;
}

export function header(req: SignableRequest, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value.join(',') : value;
}

export function queryValue(req: SignableRequest, name: string): string | undefined {
  return req.query.find((p) => p.name === name)?.value;
}

/** `x-oss-*` headers, lower-case, values trimmed, sorted by name: both versions sign them. */
export function ossHeaders(req: SignableRequest): [string, string][] {
  return Object.keys(req.headers)
    .filter((name) => name.startsWith('x-oss-'))
    .sort()
    .map((name) => [name, (header(req, name) ?? '').trim()]);
}
