import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { SignaturePolicy } from './auth/authenticate.js';
import type { KnownCredential, ServerCredentials } from './auth/credentials.js';
import { TemporaryCredentials } from './auth/temporaryCredentials.js';
import { Clock } from './clock.js';
import { FaultInjector } from './faults.js';
import { createHandler, type KmsHandler } from './handler.js';
import { applyLimits, DEFAULT_LIMITS, serverOptions, watchBodyRate, type ConnectionLimits } from './http/connectionLimits.js';
import { STS_PATH } from './routes/sts.js';
import { MultipartStore } from './storage/multipartStore.js';
import { Store } from './storage/store.js';
import { loadCrc64 } from './storage/crc64.js';

export type { SignaturePolicy } from './auth/authenticate.js';
export type { ConnectionLimits } from './http/connectionLimits.js';
export type { ServerCredentials } from './auth/credentials.js';
export type { KmsHandler } from './handler.js';
export { FaultInjector } from './faults.js';
export type { FailOptions, FaultTarget, RepeatOptions } from './faults.js';

export interface ServerOptions {
  /** Everything persists under it; a server started again on it sees the same buckets and objects. */
  dir: string;
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (the default) picks a free port. */
  port?: number;
  /** At least one; every request must be signed by one of them. */
  credentials: ServerCredentials[];
  /** 'v4' (the default) refuses V1-signed requests, as a bucket made today does; 'any' takes V1 too. */
  signatures?: SignaturePolicy;
  /** Requests it matches go to it before anything else (the KMS endpoint). */
  kms?: KmsHandler;
  /**
   * When set, `GET /.sts/credentials` (loopback, unsigned) answers a fresh temporary key valid for
   * this many seconds; requests signed with it after that get SecurityTokenExpired.
   */
  stsLifetimeSeconds?: number;
  /** Timeouts and the connection limit (http/connectionLimits.ts); tests set small ones. */
  limits?: Partial<ConnectionLimits>;
}

export interface RunningServer {
  url: string;
  host: string;
  port: number;
  faults: FaultInjector;
  /** The server's clock; tests shift it (also through the admin route's "clock" action). */
  clock: Clock;
  /** Where temporary credentials are handed out, when `stsLifetimeSeconds` is set. */
  stsUrl?: string;
  stop(): Promise<void>;
}

/** Starts the OSS-compatible server on `dir` and resolves once it listens. */
export async function startServer(options: ServerOptions): Promise<RunningServer> {
  if (options.credentials.length === 0) throw new Error('the server needs at least one credential');
  loadCrc64();
  const host = options.host ?? '127.0.0.1';
  const store = await Store.open(options.dir);
  const faults = new FaultInjector();
  const clock = new Clock();
  const sts = options.stsLifetimeSeconds === undefined ? undefined : new TemporaryCredentials(options.stsLifetimeSeconds * 1000, clock);
  const statics = new Map(options.credentials.map((credential): [string, KnownCredential] => [credential.accessKeyId, { credential }]));
  const handler = createHandler({
    store,
    multipart: new MultipartStore(store),
    faults,
    credentials: (accessKeyId) => {
      const known = statics.get(accessKeyId);
      if (known || !sts) return known;
      const issued = sts.find(accessKeyId);
      return issued && { credential: issued, expiresAt: issued.expiresAt };
    },
    clock,
    ...(sts ? { sts } : {}),
    signatures: options.signatures ?? 'v4',
    ownHost: host,
    kms: options.kms,
  });
  const limits = { ...DEFAULT_LIMITS, ...options.limits };
  const server = createServer(serverOptions(limits), (req: IncomingMessage, res: ServerResponse) => {
    watchBodyRate(req, limits);
    handler(req, res);
  });
  applyLimits(server, limits);
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(options.port ?? 0, host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.address() as AddressInfo;
  const urlHost = host.includes(':') ? `[${host}]` : host;
  const url = `http://${urlHost}:${port}`;
  return {
    url,
    host,
    port,
    faults,
    clock,
    ...(sts ? { stsUrl: url + STS_PATH } : {}),
    stop: () =>
      new Promise<void>((resolve, reject) => {
        server.close((err) => (err ? reject(err) : resolve()));
        server.closeAllConnections();
      }),
  };
}
