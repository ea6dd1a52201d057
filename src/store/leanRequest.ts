import { createHash } from 'node:crypto';
import http from 'node:http';
import https from 'node:https';
import { createRequire } from 'node:module';
import { FsError } from '../errors.js';
import { codedError, OwnSockets, TIMEOUT, type Answer, type Exchange, type GetInto } from './ownSockets.js';

/** ali-oss's own request builder (lib/common/utils/createRequest.js, called with the client as `this`),
 *  run once to learn how it addresses this bucket (see LeanRequest). Required, not imported: the
 *  package ships that file's TypeScript source, which does not compile under our strict settings. */
const { createRequest } = createRequire(import.meta.url)('ali-oss/lib/common/utils/createRequest.js') as {
  createRequest(this: unknown, params: { method: string; bucket: string; object: string }): { url: string; params: { headers: Record<string, unknown> } };
};

/** The parts of ali-oss's client used here (lib/client.js). */
interface SdkClient {
  authorization(method: string, resource: string, subres: undefined, headers: Record<string, string>): string;
  _getResource(params: { bucket: string; object: string }): string;
  _escape(name: string): string;
  requestError(result: { status: number; headers?: http.IncomingHttpHeaders; data?: Buffer; name?: string; message?: string }): Promise<Error>;
  options: { stsToken?: string };
}

/** As ali-oss (Node's querystring) writes a query: a space is %20, never '+'. */
function queryString(query: Record<string, string> | undefined): string {
  if (!query) return '';
  return `?${Object.entries(query).map(([k, v]) => `${encodeURIComponent(k)}=${encodeURIComponent(v)}`).join('&')}`;
}

export interface LeanOptions {
  headers?: Record<string, string>;
  /** The statuses that resolve; any other rejects. */
  ok: readonly number[];
  timeoutMs: number;
  body?: Buffer;
  query?: Record<string, string>;
}

/** A response whose status was one asked for; its headers have lower-case names. */
export type LeanResponse = http.IncomingMessage & { headers: Record<string, string | undefined> };

/** A request that got no answer, as ali-oss's `requestError` takes it: a timeout (-2) or a network error (-1). */
function unanswered(err: NodeJS.ErrnoException): { status: number; name: string; message: string } {
  return { status: err.code === TIMEOUT ? -2 : -1, name: err.code ?? 'RequestError', message: err.message };
}

/** The object name ali-oss is asked to address once; its URL and headers show the bucket's addressing. */
const PROBE = 'p';

/**
 * HeadObject, GetObject, PutObject of a buffer, DeleteObject and ListObjects without ali-oss's
 * per-call machinery: the calls a directory listing makes per entry and per page, a reader per
 * block, and a small file's upload at close (and rsync's delete of its temporary name).
 * ali-oss's request builder (date formatting, MIME lookup, header re-encoding, URL formatting) and
 * urllib under it cost ~115 µs of CPU per call on top of Node's own http client (285 vs 170 µs per
 * HEAD measured on loopback), and that CPU bounded a cold `ls -l` of a big directory; a 4 KiB PUT
 * spent ~0.7 ms in them. HEADs, a reader's ranged GETs, PUTs and DELETEs go further and skip Node's
 * client too (OwnSockets).
 *
 * Nothing SDK-specific is re-implemented here: the signature is ali-oss's `authorization`, the
 * key's escaping its `_escape`, and the URL and Host header come from its request builder, run
 * once for a sample key (an IP endpoint, for one, is addressed by a `Host: bucket.<region host>`
 * header that only that builder knows to add). Failures are shaped by its `requestError` from the
 * status, headers and XML body, so they read exactly like the errors of every other call.
 */
export class LeanRequest {
  private readonly origin: URL;
  private readonly pathPrefix: string;
  private readonly fixedHeaders: Record<string, string>;
  private readonly sockets: OwnSockets;

  constructor(
    private readonly client: SdkClient,
    private readonly bucket: string,
    private readonly agents: { http: http.Agent; https: https.Agent },
    maxSockets: number,
  ) {
    const probe = createRequest.call(client, { method: 'HEAD', bucket, object: PROBE });
    const url = new URL(probe.url);
    if (!url.pathname.endsWith(`/${PROBE}`) || url.search) throw new Error(`ali-oss addressed a sample key as ${probe.url}: not a path ending in the key`);
    this.origin = url;
    this.pathPrefix = url.pathname.slice(0, -PROBE.length);
    this.fixedHeaders = {};
    for (const name of ['host', 'User-Agent']) {
      const value = probe.params.headers[name];
      if (value !== undefined) this.fixedHeaders[name] = String(value);
    }
    this.fixedHeaders.host ??= url.host;
    this.sockets = new OwnSockets(url, maxSockets, this.fixedHeaders.host);
  }

  /**
   * HeadObject, one attempt, on sockets of its own (see OwnSockets); resolves with an answer
   * whose status is in `ok` and rejects as `send` does otherwise.
   */
  head(key: string, o: Pick<LeanOptions, 'ok' | 'timeoutMs'>): Promise<Answer['headers']> {
    return this.own('HEAD', key, o);
  }

  /**
   * A ranged GetObject (`headers`: its Range, and If-Match), one attempt, on the same sockets, its body read into `into.sink`; resolves
   * once the whole body is in, and rejects as `send` does (or with what `into.accept` threw).
   */
  getInto(key: string, headers: Record<string, string>, timeoutMs: number, into: GetInto): Promise<Answer['headers']> {
    return this.own('GET', key, { headers, ok: [206], timeoutMs }, into);
  }

  /** PutObject of a buffer, or DeleteObject, one attempt, on the same sockets; settles as `head` does. */
  write(method: 'PUT' | 'DELETE', key: string, o: Omit<LeanOptions, 'query'>): Promise<Answer['headers']> {
    return this.own(method, key, o);
  }

  private async own(method: string, key: string, o: Omit<LeanOptions, 'query'>, into?: GetInto): Promise<Answer['headers']> {
    const headers = this.signed(method, key, o);
    let header = `${method} ${this.path(key, undefined)} HTTP/1.1\r\n`;
    for (const [name, value] of Object.entries(headers)) {
      if (/[\r\n]/.test(value)) throw new Error(`header ${name} holds a line break`);
      header += `${name}: ${value}\r\n`;
    }
    let exchange: Exchange;
    try {
      exchange = await this.sockets.send({ header: `${header}\r\n`, ...(o.body ? { body: o.body } : {}), ...(into ? { into } : {}) }, o.timeoutMs);
    } catch (err) {
      if (err instanceof FsError) throw err; // `into.accept` refused the answer
      throw await this.client.requestError(unanswered(err as NodeJS.ErrnoException));
    }
    const { answer, body } = exchange;
    if (o.ok.includes(answer.status)) return answer.headers;
    throw await this.client.requestError({ status: answer.status, headers: answer.headers, data: body ?? Buffer.alloc(0) });
  }

  /**
   * One attempt on `key` (the bucket itself if ''). Resolves once the response headers are in,
   * with a status in `ok` (the caller owns the body); rejects with an error shaped as ali-oss
   * shapes it. `timeoutMs` bounds the wait for the headers, as ali-oss's `timeout` does; a body's
   * own silences are the caller's to bound. `query` holds parameters that are not signed
   * sub-resources (a listing's prefix, marker, …).
   */
  send(method: 'GET', key: string, o: Omit<LeanOptions, 'body'>): Promise<LeanResponse> {
    const { ok, timeoutMs } = o;
    const headers = this.signed(method, key, o);
    const secure = this.origin.protocol === 'https:';
    return new Promise<LeanResponse>((resolve, reject) => {
      const fail = (result: Parameters<SdkClient['requestError']>[0]): void => {
        this.client.requestError(result).then(reject, reject);
      };
      const req = (secure ? https : http).request(
        {
          protocol: this.origin.protocol,
          hostname: this.origin.hostname,
          port: this.origin.port,
          path: this.path(key, o.query),
          method,
          headers,
          agent: secure ? this.agents.https : this.agents.http,
        },
        (res) => {
          clearTimeout(timer);
          const status = res.statusCode ?? 0;
          if (ok.includes(status)) return resolve(res as LeanResponse);
          const chunks: Buffer[] = [];
          res.on('data', (chunk: Buffer) => chunks.push(chunk));
          res.on('end', () => fail({ status, headers: res.headers, data: Buffer.concat(chunks) }));
          res.on('error', (err: NodeJS.ErrnoException) => fail({ status: -1, name: err.code ?? 'ResponseError', message: err.message }));
        },
      );
      // The one way a request without an answer fails: a timeout destroys it with its own error.
      const timer = setTimeout(() => req.destroy(codedError(`${method} ${key}: no response in ${timeoutMs} ms`, TIMEOUT)), timeoutMs);
      req.on('error', (err: NodeJS.ErrnoException) => {
        clearTimeout(timer);
        fail(unanswered(err));
      });
      req.end();
    });
  }

  /**
   * A request's headers, signed as ali-oss signs them. A `body` goes with its Content-MD5, as
   * ali-oss sends it, so the server checks it arrived whole.
   */
  private signed(method: string, key: string, o: Pick<LeanOptions, 'headers' | 'body'>): Record<string, string> {
    const headers: Record<string, string> = { ...this.fixedHeaders, ...o.headers, 'x-oss-date': new Date().toUTCString() };
    if (o.body) {
      headers['Content-MD5'] = createHash('md5').update(o.body).digest('base64');
      headers['Content-Length'] = String(o.body.length);
    }
    if (this.client.options.stsToken) headers['x-oss-security-token'] = this.client.options.stsToken;
    headers.authorization = this.client.authorization(method, this.client._getResource({ bucket: this.bucket, object: key }), undefined, headers);
    return headers;
  }

  private path(key: string, query: LeanOptions['query']): string {
    return this.pathPrefix + this.client._escape(key).replace(/\+/g, '%2B') + queryString(query);
  }
}
