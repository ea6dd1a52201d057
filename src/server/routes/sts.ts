import type { IncomingMessage, ServerResponse } from 'node:http';
import { isIP } from 'node:net';
import type { TemporaryCredentials } from '../auth/temporaryCredentials.js';

/** Where the server hands out temporary credentials, in the credentials-URI format. */
export const STS_PATH = '/.sts/credentials';

function isLoopback(address: string | undefined): boolean {
  if (address === undefined || isIP(address) === 0) return false;
  return address === '::1' || /^(::ffff:)?127\./.test(address);
}

/** `2026-12-06T21:30:00Z`: the UTC form @alicloud/credentials parses. */
function utcSeconds(ms: number): string {
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function isStsRequest(req: IncomingMessage): boolean {
  return req.method === 'GET' && (req.url ?? '').split('?')[0] === STS_PATH;
}

/**
 * `GET /.sts/credentials`, unsigned (it is how a client gets keys), and only from this machine: the
 * answer is what `ALIBABA_CLOUD_CREDENTIALS_URI` points @alicloud/credentials at, a fresh
 * key, secret and token each time.
 */
export function serveTemporaryCredentials(req: IncomingMessage, res: ServerResponse, sts: TemporaryCredentials): void {
  if (!isLoopback(req.socket.remoteAddress)) {
    const body = Buffer.from(JSON.stringify({ Code: 'AccessDenied', Message: 'temporary credentials are handed out on the loopback interface only' }));
    res.writeHead(403, { 'Content-Type': 'application/json', 'Content-Length': body.length });
    res.end(body);
    return;
  }
  const issued = sts.issue();
  const body = Buffer.from(JSON.stringify({
    Code: 'Success',
    AccessKeyId: issued.accessKeyId,
    AccessKeySecret: issued.accessKeySecret,
    SecurityToken: issued.securityToken,
    Expiration: utcSeconds(issued.expiresAt),
  }));
  res.writeHead(200, { 'Content-Type': 'application/json', 'Content-Length': body.length, 'Cache-Control': 'no-store' });
  res.end(body);
}
