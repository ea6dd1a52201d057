import OSS from 'ali-oss';
import { createHmac } from 'node:crypto';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer, type ServerCredentials } from '../../src/server/index.js';

export const CREDENTIALS: ServerCredentials = { accessKeyId: 'test-id', accessKeySecret: 'test-secret' };

export interface TestServer {
  server: RunningServer;
  dir: string;
  client(options?: Partial<OSS.Options>): OSS;
  /** Stops the server, runs `meanwhile` (e.g. to edit its directory), starts it again on the same port. */
  restart(meanwhile?: () => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

/** A server on a fresh directory; `client()` is ali-oss as the project uses it (IP endpoint). */
export async function startTestServer(credentials: ServerCredentials[] = [CREDENTIALS]): Promise<TestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'ossencfs-server-'));
  const t: TestServer = {
    server: await startServer({ dir, credentials }),
    dir,
    client: (options = {}) =>
      new OSS({
        endpoint: t.server.url,
        bucket: 'bkt',
        accessKeyId: credentials[0]!.accessKeyId,
        accessKeySecret: credentials[0]!.accessKeySecret,
        ...(credentials[0]!.securityToken ? { stsToken: credentials[0]!.securityToken } : {}),
        timeout: 120_000,
        ...options,
      } as OSS.Options),
    restart: async (meanwhile) => {
      await t.server.stop();
      await meanwhile?.();
      t.server = await startServer({ dir, credentials, port: t.server.port });
    },
    close: async () => {
      await t.server.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return t;
}

export interface RawResponse {
  status: number;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

export interface RawRequest {
  method: string;
  /** Path-style path and query, already encoded, e.g. `/bkt/a%20b?acl`. */
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** Sign with V1 using these credentials and this canonical resource (default: the path). */
  sign?: { credentials: ServerCredentials; resource?: string };
  /** Write the body with chunked transfer encoding in these pieces. */
  chunks?: Buffer[];
}

/** Headers plus a V1 Authorization header, as ali-oss would compute it. */
export function signV1(method: string, path: string, given: Record<string, string>, sign: NonNullable<RawRequest['sign']>): Record<string, string> {
  const headers: Record<string, string> = { 'x-oss-date': new Date().toUTCString(), ...given };
  const resource = sign.resource ?? decodeURIComponent(path);
  const oss = Object.keys(headers).filter((h) => h.toLowerCase().startsWith('x-oss-'))
    .map((h) => `${h.toLowerCase()}:${headers[h]!.trim()}`).sort();
  const text = [method, headers['Content-MD5'] ?? '', headers['Content-Type'] ?? '', headers['x-oss-date'], ...oss, resource].join('\n');
  headers.Authorization = `OSS ${sign.credentials.accessKeyId}:${createHmac('sha1', sign.credentials.accessKeySecret).update(text).digest('base64')}`;
  return headers;
}

/** A request ali-oss cannot express: verbatim headers, bad signatures, chunked bodies. */
export function rawRequest(server: RunningServer, r: RawRequest): Promise<RawResponse> {
  const headers = r.sign ? signV1(r.method, r.path, r.headers ?? {}, r.sign) : { 'x-oss-date': new Date().toUTCString(), ...r.headers };
  return new Promise((resolve, reject) => {
    const req = httpRequest({ host: server.host, port: server.port, method: r.method, path: r.path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: Buffer.concat(chunks) }));
      res.on('error', reject);
    });
    req.on('error', reject);
    if (r.chunks) {
      for (const c of r.chunks) req.write(c);
      req.end();
    } else req.end(r.body);
  });
}

/** Arms a fault through the admin endpoint, signed with the server's credentials. */
export async function adminFault(server: RunningServer, spec: Record<string, unknown>, credentials = CREDENTIALS): Promise<RawResponse> {
  const body = JSON.stringify(spec);
  return rawRequest(server, { method: 'POST', path: '/?x-ossencfs-faults', body, sign: { credentials, resource: '/?x-ossencfs-faults' } });
}

export function errorCode(body: Buffer): string | undefined {
  return /<Code>([^<]*)<\/Code>/.exec(body.toString())?.[1];
}
