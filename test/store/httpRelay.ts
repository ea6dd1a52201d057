import { createServer, request, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Server } from './harness.js';

/** One request as the relay saw it. */
export interface Seen {
  method: string;
  url: string;
  authorization: string;
  /** The access key id the signature names (V4 Credential=…, or V1 `OSS id:`). */
  keyId: string;
}

/** An answer the relay gives itself instead of passing the request on. */
export interface Refusal {
  status: number;
  headers?: Record<string, string>;
  body?: string;
}

/** The key id an Authorization header names, whichever its version. */
export function keyIdOf(authorization: string): string {
  return /Credential=([^/]+)\//.exec(authorization)?.[1] ?? /^OSS ([^:]+):/.exec(authorization)?.[1] ?? '';
}

/**
 * An HTTP relay in front of the local server that records each request's method, path and
 * Authorization, and may answer a request itself (`refuse`) instead of passing it on: what a
 * real OSS would say that the local server does not.
 */
export async function httpRelay(
  target: Server,
  refuse: (seen: Seen, req: IncomingMessage) => Refusal | undefined = () => undefined,
): Promise<{ url: string; seen: Seen[]; close(): Promise<void> }> {
  const seen: Seen[] = [];
  const sockets = new Set<Socket>();
  const relay = createServer((req: IncomingMessage, res: ServerResponse) => {
    const authorization = req.headers.authorization ?? '';
    const entry = { method: req.method ?? '', url: req.url ?? '', authorization, keyId: keyIdOf(authorization) };
    seen.push(entry);
    const refusal = refuse(entry, req);
    if (refusal) {
      req.resume();
      const headers: Record<string, string> = { ...refusal.headers };
      // A HEAD answer has no body: OSS sends its error document base64 in x-oss-err instead.
      if (refusal.body && req.method === 'HEAD') headers['x-oss-err'] = Buffer.from(refusal.body).toString('base64');
      else if (refusal.body) Object.assign(headers, { 'Content-Type': 'application/xml', 'Content-Length': String(Buffer.byteLength(refusal.body)) });
      res.writeHead(refusal.status, headers);
      return void res.end(req.method === 'HEAD' ? undefined : refusal.body);
    }
    const upstream = request({ host: target.host, port: target.port, method: req.method, path: req.url, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on('error', () => res.destroy());
    req.pipe(upstream);
  });
  relay.on('connection', (s: Socket) => sockets.add(s));
  await new Promise<void>((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${(relay.address() as AddressInfo).port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sockets) s.destroy();
        relay.close(() => resolve());
      }),
  };
}

/** An OSS error document. */
export function ossErrorXml(code: string, message: string, extra = ''): string {
  return `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message><RequestId>R</RequestId>${extra}</Error>`;
}
