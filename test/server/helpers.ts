import OSS from 'ali-oss';
import { createHmac } from 'node:crypto';
import { createRequire } from 'node:module';
import { request as httpRequest, type IncomingHttpHeaders } from 'node:http';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startServer, type RunningServer, type ServerCredentials, type ServerOptions } from '../../src/server/index.js';

/** ali-oss's V4 signer, the reference the server is checked against. */
const signUtils = createRequire(import.meta.url)('ali-oss/lib/common/signUtils.js') as {
  authorizationV4(id: string, secret: string, region: string, method: string, request: { headers: Record<string, string>; queries: Record<string, string | null> }, bucket?: string, object?: string): string;
};

export const CREDENTIALS: ServerCredentials = { accessKeyId: 'test-id', accessKeySecret: 'test-secret' };

export interface TestServer {
  server: RunningServer;
  dir: string;
  client(options?: Partial<OSS.Options>): TestOss;
  /** Stops the server, runs `meanwhile` (e.g. to edit its directory), starts it again on the same port. */
  restart(meanwhile?: () => Promise<void>): Promise<void>;
  close(): Promise<void>;
}

/**
 * ali-oss 6 as it behaves where @types/ali-oss says otherwise: listBuckets answers `{ buckets }`,
 * every query field is optional, uploadPartCopy's options may be left out, listParts and a verbose
 * deleteMulti answer with OSS's XML names, deleteBucket answers `{ res }`, getObjectMeta exists.
 */
export interface TestOss extends Omit<OSS, 'listBuckets' | 'list' | 'listParts' | 'uploadPartCopy' | 'deleteMulti' | 'deleteBucket'> {
  listBuckets(query?: Record<string, unknown> | null, options?: OSS.RequestOptions): Promise<{ buckets: OSS.Bucket[] | null; res: OSS.NormalSuccessResponse }>;
  list(query: Partial<OSS.ListObjectsQuery> | null, options: OSS.RequestOptions): Promise<OSS.ListObjectResult>;
  listParts(name: string, uploadId: string, query?: Partial<OSS.ListPartsQuery>, options?: OSS.RequestOptions): Promise<{ parts: { PartNumber: string; Size: string; ETag: string }[]; res: OSS.NormalSuccessResponse }>;
  uploadPartCopy(name: string, uploadId: string, partNo: number, range: string, sourceData: { sourceKey: string; sourceBucketName: string }, options?: { headers?: Record<string, string> }): Promise<{ name: string; etag: string; res: OSS.NormalSuccessResponse }>;
  deleteMulti(names: string[], options?: OSS.DeleteMultiOptions): Promise<{ deleted: { Key: string }[]; res: OSS.NormalSuccessResponse }>;
  deleteBucket(name: string, options?: OSS.RequestOptions): Promise<{ res: OSS.NormalSuccessResponse }>;
  getObjectMeta(name: string, options?: OSS.RequestOptions): Promise<{ status: number; res: OSS.NormalSuccessResponse }>;
}

/** A response's headers, as ali-oss gives them (lower-case names, string values); @types/ali-oss says `object`. */
export const headersOf = (r: { res: { headers: object } }): Record<string, string | undefined> =>
  r.res.headers as Record<string, string | undefined>;

/** The region test clients sign V4 for (the server accepts any). */
export const REGION = 'oss-cn-hangzhou';

/**
 * A server on a fresh directory; `client()` is ali-oss as the project uses it (IP endpoint),
 * signing V4 as the server requires by default (`{ authorizationV4: false }` for V1).
 */
export async function startTestServer(credentials: ServerCredentials[] = [CREDENTIALS], options: Partial<ServerOptions> = {}): Promise<TestServer> {
  const dir = await mkdtemp(join(tmpdir(), 'ossencfs-server-'));
  const t: TestServer = {
    server: await startServer({ dir, credentials, ...options }),
    dir,
    client: (clientOptions = {}) =>
      new OSS({
        endpoint: t.server.url,
        bucket: 'bkt',
        accessKeyId: credentials[0]!.accessKeyId,
        accessKeySecret: credentials[0]!.accessKeySecret,
        ...(credentials[0]!.securityToken ? { stsToken: credentials[0]!.securityToken } : {}),
        authorizationV4: true,
        region: REGION,
        timeout: 120_000,
        ...clientOptions,
      } as OSS.Options) as unknown as TestOss,
    restart: async (meanwhile) => {
      await t.server.stop();
      await meanwhile?.();
      t.server = await startServer({ dir, credentials, ...options, port: t.server.port });
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
  /**
   * Sign with these credentials: V4 (the default, by ali-oss's own signer) or V1, whose canonical
   * resource defaults to the decoded path.
   */
  sign?: { credentials: ServerCredentials; resource?: string; version?: 1 | 4 };
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

/** `20261206T210000Z`, the V4 timestamp. */
export function v4Date(at = new Date()): string {
  return at.toISOString().replace(/[-:]/g, '').replace(/\.\d{3}Z$/, 'Z');
}

/** Headers plus a V4 Authorization header computed by ali-oss's signer for a path-style `path`. */
export function signV4(method: string, path: string, given: Record<string, string>, credentials: ServerCredentials, at = new Date()): Record<string, string> {
  const headers: Record<string, string> = {
    'x-oss-date': v4Date(at),
    'x-oss-content-sha256': 'UNSIGNED-PAYLOAD',
    ...(credentials.securityToken ? { 'x-oss-security-token': credentials.securityToken } : {}),
    ...given,
  };
  const url = new URL(path, 'http://host');
  const [, bucket = '', ...rest] = decodeURIComponent(url.pathname).split('/');
  const queries: Record<string, string | null> = {};
  for (const part of url.search.slice(1).split('&').filter((p) => p !== '')) {
    const eq = part.indexOf('=');
    queries[decodeURIComponent(eq < 0 ? part : part.slice(0, eq))] = eq < 0 ? null : decodeURIComponent(part.slice(eq + 1));
  }
  headers.Authorization = signUtils.authorizationV4(
    credentials.accessKeyId, credentials.accessKeySecret, REGION.replace(/^oss-/, ''), method,
    { headers, queries }, bucket || undefined, rest.length > 0 ? rest.join('/') : undefined,
  );
  return headers;
}

/** A request ali-oss cannot express: verbatim headers, bad signatures, chunked bodies. */
export function rawRequest(server: RunningServer, r: RawRequest): Promise<RawResponse> {
  const signed = (sign: NonNullable<RawRequest['sign']>): Record<string, string> =>
    sign.version === 1 ? signV1(r.method, r.path, r.headers ?? {}, sign) : signV4(r.method, r.path, r.headers ?? {}, sign.credentials);
  const headers = r.sign ? signed(r.sign) : { 'x-oss-date': new Date().toUTCString(), ...r.headers };
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
