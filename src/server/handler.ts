import { randomBytes } from 'node:crypto';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { authenticate, type SignaturePolicy } from './auth/authenticate.js';
import type { CredentialLookup } from './auth/credentials.js';
import type { TemporaryCredentials } from './auth/temporaryCredentials.js';
import type { Clock } from './clock.js';
import { OssError } from './errors.js';
import { cutRequest, cutResponse, type FaultInjector } from './faults.js';
import { resolveAddress } from './http/addressing.js';
import type { RequestContext } from './http/context.js';
import { isAdmin, route } from './routes/router.js';
import { isStsRequest, serveTemporaryCredentials } from './routes/sts.js';
import type { MultipartStore } from './storage/multipartStore.js';
import type { Store } from './storage/store.js';
import { buildXml } from './xml.js';

export interface KmsHandler {
  matches(req: IncomingMessage): boolean;
  handle(req: IncomingMessage, res: ServerResponse): Promise<void>;
}

export interface HandlerDeps {
  store: Store;
  multipart: MultipartStore;
  faults: FaultInjector;
  credentials: CredentialLookup;
  signatures: SignaturePolicy;
  clock: Clock;
  /** Set when the server also hands out temporary credentials (routes/sts.ts). */
  sts?: TemporaryCredentials;
  ownHost: string;
  kms?: KmsHandler;
}

/** Headers an error answer keeps (removing `date` would also stop Node sending its own). */
const KEPT_ON_ERROR = new Set(['x-oss-request-id', 'server', 'date']);

function sendError(req: IncomingMessage, res: ServerResponse, err: OssError, requestId: string): void {
  if (res.headersSent) {
    res.destroy(); // mid-body: only a reset tells the client the body is incomplete
    return;
  }
  const body = req.method === 'HEAD' ? Buffer.alloc(0) : Buffer.from(buildXml('Error', {
    Code: err.code,
    Message: err.message,
    RequestId: requestId,
    HostId: req.headers.host ?? '',
    ...err.details,
    ...(err.ec === undefined ? {} : { EC: err.ec }),
  }));
  for (const name of res.getHeaderNames()) if (!KEPT_ON_ERROR.has(name)) res.removeHeader(name);
  res.writeHead(err.status, {
    'Content-Type': 'application/xml',
    'Content-Length': body.length,
    ...(err.ec === undefined ? {} : { 'x-oss-ec': err.ec }),
  });
  res.end(body);
}

function toOssError(err: unknown): OssError {
  if (err instanceof OssError) return err;
  process.stderr.write(`ossencfs server: ${err instanceof Error ? err.stack ?? err.message : String(err)}\n`);
  return new OssError(500, 'InternalError', 'We encountered an internal error. Please try again.');
}

/**
 * OSS's 24 hex digits: random for this process, then a count, which is as unique and spares a
 * call into the random source per request (a cold `ls -l` makes one HEAD per name).
 */
const REQUEST_ID_PREFIX = randomBytes(4).toString('hex').toUpperCase();
let requestCount = 0;
function nextRequestId(): string {
  return REQUEST_ID_PREFIX + (requestCount++).toString(16).toUpperCase().padStart(16, '0');
}

/** The request pipeline: KMS hand-off, addressing, authentication, faults, then the operation. */
export function createHandler(deps: HandlerDeps): (req: IncomingMessage, res: ServerResponse) => void {
  const handle = async (req: IncomingMessage, res: ServerResponse, requestId: string): Promise<void> => {
    if (deps.kms?.matches(req)) return deps.kms.handle(req, res);
    if (deps.sts && isStsRequest(req)) return serveTemporaryCredentials(req, res, deps.sts);
    const address = resolveAddress(req, deps.ownHost);
    const ctx: RequestContext = {
      ...address,
      method: (req.method ?? 'GET').toUpperCase(),
      headers: req.headers,
      req,
      res,
      body: req,
      requestId,
      store: deps.store,
      multipart: deps.multipart,
      faults: deps.faults,
      clock: deps.clock,
    };
    const admin = isAdmin(ctx);
    const path = `/${ctx.bucket}/${ctx.key}`;
    if (!admin) {
      const seen = deps.faults.record(ctx.method, path, (req.url ?? '').split('?').slice(1).join('?'), req.headers.range);
      res.once('finish', () => (seen.status = res.statusCode));
    }
    // The admin route is how a test sets the clock, so it must work whatever the clock says.
    authenticate(ctx, deps.credentials, deps.signatures, admin ? Date.now() : deps.clock.now());
    if (!admin) {
      const applied = deps.faults.take(ctx.method, path);
      if (applied.latencyMs > 0) await sleep(applied.latencyMs);
      if (applied.failure) throw applied.failure;
      if (applied.resetRequestAfter !== undefined) ctx.body = cutRequest(req, applied.resetRequestAfter);
      if (applied.resetResponseAfter !== undefined) cutResponse(res, applied.resetResponseAfter);
    }
    await route(ctx)(ctx);
  };
  return (req, res) => {
    const requestId = nextRequestId();
    res.setHeader('x-oss-request-id', requestId);
    res.setHeader('Server', 'AliyunOSS');
    if (deps.clock.offsetMs !== 0) res.setHeader('Date', new Date(deps.clock.now()).toUTCString());
    handle(req, res, requestId).catch((err: unknown) => {
      // A body that failed mid-way (client gone, injected reset) has no one left to answer.
      if (!req.socket || req.socket.destroyed) return;
      sendError(req, res, toOssError(err), requestId);
    });
  };
}
