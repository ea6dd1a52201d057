import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Readable } from 'node:stream';
import type { SignableRequest } from '../auth/signable.js';
import type { Clock } from '../clock.js';
import type { FaultInjector } from '../faults.js';
import type { MultipartStore } from '../storage/multipartStore.js';
import type { Store } from '../storage/store.js';
import { buildXml, type XmlValue } from '../xml.js';

/** One request on its way through the routes, with what they work on. */
export interface RequestContext extends SignableRequest {
  req: IncomingMessage;
  res: ServerResponse;
  /** The request body; a fault may put a wrapper between it and the socket. */
  body: Readable;
  requestId: string;
  store: Store;
  multipart: MultipartStore;
  faults: FaultInjector;
  clock: Clock;
}

export function param(ctx: RequestContext, name: string): string | undefined {
  return ctx.query.find((p) => p.name === name)?.value;
}

export function hasParam(ctx: RequestContext, name: string): boolean {
  return ctx.query.some((p) => p.name === name);
}

export function sendXml(ctx: RequestContext, root: string, body: XmlValue, status = 200): void {
  const payload = Buffer.from(buildXml(root, body));
  ctx.res.writeHead(status, { 'Content-Type': 'application/xml', 'Content-Length': payload.length });
  ctx.res.end(payload);
}

export function sendEmpty(ctx: RequestContext, status = 200, headers: Record<string, string> = {}): void {
  ctx.res.writeHead(status, { ...headers, 'Content-Length': 0 });
  ctx.res.end();
}
