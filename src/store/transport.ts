import { isIP } from 'node:net';
import { Readable } from 'node:stream';
import { type Dispatcher, EnvHttpProxyAgent, Pool } from 'undici';
import { XMLParser } from 'fast-xml-parser';
import { FsError } from '../errors.js';
import type { BodySink } from './ObjectStore.js';
import type { CredentialProvider, Credentials } from './credentials.js';
import { type Query, type SignatureVersion, Signer } from './signing.js';
import { HEAD_PIPELINING, KEEP_ALIVE_MS } from '../tuning.js';
import { recycledReadsConnector } from './recycledReads.js';

/** An answer's status and headers, names in lower case, repeats joined by ", ". */
export interface Answer {
  status: number;
  headers: Record<string, string | undefined>;
}

/** One request to the bucket. */
export interface Exchange {
  method: 'GET' | 'HEAD' | 'PUT' | 'POST' | 'DELETE';
  /** The object; '' for the bucket itself. */
  key: string;
  query?: Query;
  headers?: Record<string, string>;
  /** A Buffer can be sent again (after renewed credentials); a stream cannot. */
  body?: Buffer | string | Readable;
  /** The statuses that resolve; any other rejects with an OssResponseError. */
  ok: readonly number[];
  /** The longest wait for the answer's headers once the request is sent. */
  timeoutMs: number;
  /** The longest silence between body bytes (0: none). */
  bodyIdleMs?: number;
}

/** A GET whose body goes into the reader's memory. */
export interface Into {
  sink: BodySink;
  /** Called with a successful answer before any of its body goes to the sink; throws to refuse it. */
  accept(answer: Answer): void;
}

/** A refusal from the server: the OSS error of its XML body (or its `x-oss-err` header). */
export class OssResponseError extends Error {
  override name = 'OssResponseError';
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly requestId: string | undefined,
    /** Server clock minus ours, when the answer says what the server's clock read. */
    readonly skewMs: number | undefined,
  ) {
    super(message);
  }
}

/** A request that got no answer: `status` -1 (the connection failed) or -2 (no answer in time), as errors.ts reads it. */
export class NetworkError extends Error {
  override name = 'NetworkError';
  constructor(
    readonly status: -1 | -2,
    readonly code: string,
    message: string,
    options: { cause: unknown },
  ) {
    super(message, options);
  }
}

/** Refusals that mean the signing credentials are no longer (or not yet) good: renew them and sign again. */
const STALE_CREDENTIAL_CODES = new Set(['SecurityTokenExpired', 'InvalidAccessKeyId', 'InvalidSecurityToken']);

const TIMEOUT_CODES = new Set(['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT', 'UND_ERR_CONNECT_TIMEOUT']);

export interface TransportOptions {
  endpoint: string;
  bucket: string;
  signatureVersion: SignatureVersion;
  region: string | undefined;
  credentials: CredentialProvider;
  pathStyle: boolean;
  /** Connections per host. */
  maxSockets: number;
}

/** As ali-oss and OSS's V4 canonical URI encode a name: encodeURIComponent, and !'()* too. */
function encode(text: string): string {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** HTTP_PROXY/HTTPS_PROXY (either case) set: requests go through a proxy, NO_PROXY aside. */
function proxyInEnvironment(env: NodeJS.ProcessEnv): boolean {
  return ['HTTP_PROXY', 'HTTPS_PROXY', 'http_proxy', 'https_proxy'].some((name) => !!env[name]);
}

/**
 * The store's HTTP: undici (keep-alive pools per origin), every request signed for the bucket
 * (see Signer) with the credentials of the moment. Addressing: virtual-hosted
 * (`<bucket>.<endpoint host>`) as OSS wants it, path-style (`/<bucket>/key`) where the endpoint
 * has no virtual hosts: an IP or `localhost`, or when asked. Honours HTTP(S)_PROXY and NO_PROXY.
 *
 * A refusal is thrown as OssResponseError, a request without an answer as NetworkError; a request
 * refused because its credentials went stale is signed again with renewed ones and sent once more
 * (a body that is a stream excepted: it cannot be sent twice).
 */
export class Transport {
  /** Requests whose answers are taken in a dispatch handler that copies each chunk as it comes. */
  private readonly dispatcher: Dispatcher;
  /** HEADs' own connections, pipelined (see HEAD_PIPELINING); the others' without a proxy. */
  private readonly heads: Dispatcher;
  /** Answers whose body is handed on as a stream: chunks kept past their arrival, so not on recycled reads. */
  private readonly streams: Dispatcher;
  private readonly origin: string;
  private readonly pathPrefix: string;
  private readonly signer: Signer;
  private readonly credentials: CredentialProvider;

  constructor(o: TransportOptions) {
    const url = new URL(o.endpoint);
    this.origin = o.pathStyle ? url.origin : `${url.protocol}//${o.bucket}.${url.host}`;
    this.pathPrefix = o.pathStyle ? `/${o.bucket}/` : '/';
    this.signer = new Signer(o.bucket, o.signatureVersion, o.region);
    this.credentials = o.credentials;
    const pool = { connections: o.maxSockets, keepAliveTimeout: KEEP_ALIVE_MS, keepAliveMaxTimeout: KEEP_ALIVE_MS };
    // NO_PROXY read now, as the proxies are (undici would read it again at each request).
    // Through a proxy nothing is pipelined: a forward proxy need not take it.
    const env = process.env;
    if (proxyInEnvironment(env)) {
      this.dispatcher = new EnvHttpProxyAgent({ ...pool, noProxy: env.no_proxy ?? env.NO_PROXY ?? '' });
      this.heads = this.dispatcher;
      this.streams = this.dispatcher;
    } else {
      const recycled = { ...pool, connect: recycledReadsConnector() };
      this.dispatcher = new Pool(this.origin, recycled);
      this.heads = new Pool(this.origin, { ...recycled, connections: Math.ceil(o.maxSockets / HEAD_PIPELINING), pipelining: HEAD_PIPELINING });
      this.streams = new Pool(this.origin, pool);
    }
  }

  /** Whether an endpoint is addressed path-style by default: one without virtual hosts. */
  static pathStyleByDefault(endpoint: string): boolean {
    const host = new URL(endpoint).hostname.replace(/^\[|\]$/g, '');
    return host === 'localhost' || isIP(host) !== 0;
  }

  /** One try; resolves with the answer and its whole body (for answers that are small). */
  fetch(x: Exchange): Promise<Answer & { body: Buffer }> {
    return this.signedTry(x, (headers) => this.dispatch(x, headers, undefined) as Promise<Answer & { body: Buffer }>);
  }

  /** One try of a GET whose body goes into `into.sink`; resolves once all of it is in. */
  fetchInto(x: Exchange, into: Into): Promise<Answer> {
    return this.signedTry(x, (headers) => this.dispatch(x, headers, into));
  }

  /** One try; resolves at the answer's headers with its body to read (destroy it to let go of the connection). */
  open(x: Exchange): Promise<Answer & { body: Readable }> {
    return this.signedTry(x, async (headers) => {
      let r: Dispatcher.ResponseData;
      try {
        r = await this.streams.request({ ...this.requestOptions(x, headers) });
      } catch (err) {
        throw unanswered(err);
      }
      const answer = { status: r.statusCode, headers: flatHeaders(r.headers) };
      if (x.ok.includes(answer.status)) return { ...answer, body: r.body };
      let body: Buffer;
      try {
        body = Buffer.from(await r.body.arrayBuffer());
      } catch (err) {
        throw unanswered(err);
      }
      throw refusal(answer, body);
    });
  }

  async close(): Promise<void> {
    await Promise.all([...new Set([this.dispatcher, this.heads, this.streams])].map((d) => d.close()));
  }

  private async signedTry<T>(x: Exchange, send: (headers: Record<string, string>) => Promise<T>): Promise<T> {
    const used = await this.credentials.current();
    try {
      return await send(this.signed(x, used));
    } catch (err) {
      if (!(err instanceof OssResponseError) || !STALE_CREDENTIAL_CODES.has(err.code) || x.body instanceof Readable) throw err;
      if (!(await this.credentials.renew(used))) throw err;
      return send(this.signed(x, await this.credentials.current()));
    }
  }

  private signed(x: Exchange, credentials: Credentials): Record<string, string> {
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(x.headers ?? {})) headers[name.toLowerCase()] = value;
    this.signer.sign({ method: x.method, key: x.key, query: x.query ?? {}, headers }, credentials);
    return headers;
  }

  private requestOptions(x: Exchange, headers: Record<string, string>): Dispatcher.DispatchOptions & { origin: string } {
    let path = this.pathPrefix + encode(x.key).replace(/%2F/g, '/');
    const query = Object.entries(x.query ?? {});
    if (query.length > 0) path += `?${query.map(([k, v]) => (v === null ? encode(k) : `${encode(k)}=${encode(v)}`)).join('&')}`;
    return {
      origin: this.origin,
      path,
      method: x.method,
      headers,
      body: x.body ?? null,
      headersTimeout: x.timeoutMs,
      bodyTimeout: x.bodyIdleMs ?? 0,
      // Said outright, so a HEAD keeps its connection: undici closes one after every HEAD unless
      // told (servers that send a body with a HEAD answer exist; OSS is not one of them), and a
      // cold `ls -l` is a HEAD per name.
      reset: false,
    };
  }

  /** One request through a dispatch handler: the body is collected, or poured into `into.sink`. */
  private dispatch(x: Exchange, headers: Record<string, string>, into: Into | undefined): Promise<Answer & { body?: Buffer }> {
    return new Promise((resolve, reject) => {
      let answer: Answer | undefined;
      let toSink = false;
      const kept: Buffer[] = [];
      const handler: Dispatcher.DispatchHandler = {
        onRequestStart: () => {},
        onResponseStart: (controller, status, raw) => {
          if (status < 200) return;
          answer = { status, headers: flatHeaders(raw) };
          toSink = into !== undefined && x.ok.includes(status);
          if (!toSink) return;
          try {
            into!.accept(answer);
          } catch (err) {
            controller.abort(err as Error);
          }
        },
        // A chunk is good only until this returns (see recycledReads.ts): copied either way.
        onResponseData: (_controller, chunk) => {
          if (toSink) copyInto(into!.sink, chunk);
          else kept.push(Buffer.from(chunk));
        },
        onResponseEnd: () => {
          // Most answers (a HEAD's, a PUT's) have no body, the rest mostly one chunk: no second copy for them.
          const body = kept.length === 1 ? kept[0]! : kept.length === 0 ? EMPTY : Buffer.concat(kept);
          if (!x.ok.includes(answer!.status)) return reject(refusal(answer!, body));
          resolve(toSink ? answer! : { ...answer!, body });
        },
        onResponseError: (_controller, err) => reject(err instanceof FsError ? err : unanswered(err)),
      };
      (x.method === 'HEAD' ? this.heads : this.dispatcher).dispatch(this.requestOptions(x, headers), handler);
    });
  }
}

const EMPTY = Buffer.alloc(0);

/** Copies `bytes` into the sink's rooms. */
function copyInto(sink: BodySink, bytes: Buffer): void {
  for (let at = 0; at < bytes.length; ) {
    const n = bytes.copy(sink.room(bytes.length - at), 0, at);
    sink.filled(n);
    at += n;
  }
}

/** undici's headers (names already lower-case) with a repeated one's values joined, as Node's client joins them. */
function flatHeaders(raw: Record<string, string | string[] | undefined>): Record<string, string | undefined> {
  for (const name in raw) {
    const value = raw[name];
    if (Array.isArray(value)) raw[name] = value.join(', ');
  }
  return raw as Record<string, string | undefined>;
}

function unanswered(err: unknown): NetworkError {
  if (err instanceof NetworkError) return err;
  const e = err as NodeJS.ErrnoException;
  const code = e.code ?? e.name ?? 'RequestError';
  return new NetworkError(TIMEOUT_CODES.has(code) ? -2 : -1, code, e.message, { cause: err });
}

const xml = new XMLParser({ parseTagValue: false, trimValues: true });

/**
 * The OSS error an answer carries: the XML body, or for a HEAD (which has none) the same XML in
 * base64 in `x-oss-err`; with neither, a name from the status. A 403 without a body is a HEAD the
 * bucket's policy or a wrong secret refused: the server could not say which.
 */
function refusal(answer: Answer, body: Buffer): OssResponseError {
  const text = body.length > 0 ? body.toString('utf8') : answer.headers['x-oss-err'] ? Buffer.from(answer.headers['x-oss-err'], 'base64').toString('utf8') : '';
  let info: Record<string, unknown> = {};
  if (text) {
    try {
      info = ((xml.parse(text) as { Error?: Record<string, unknown> }).Error ?? {});
    } catch {
      info = {};
    }
  }
  const str = (v: unknown): string | undefined => (typeof v === 'string' && v !== '' ? v : undefined);
  const code = str(info.Code) ?? BODILESS[answer.status]?.code ?? `HTTP${answer.status}`;
  const message = str(info.Message) ?? BODILESS[answer.status]?.message ?? `the server answered ${answer.status} without saying why`;
  const requestId = str(info.RequestId) ?? answer.headers['x-oss-request-id'];
  return new OssResponseError(answer.status, code, message, requestId, skewOf(str(info.ServerTime) ?? answer.headers.date));
}

const BODILESS: Record<number, { code: string; message: string }> = {
  403: { code: 'AccessDenied', message: "access denied: check the access key secret and the bucket's policy" },
  404: { code: 'NoSuchKey', message: 'no such object' },
  412: { code: 'PreconditionFailed', message: 'the object changed (precondition failed)' },
};

function skewOf(serverTime: string | undefined): number | undefined {
  const at = serverTime ? Date.parse(serverTime) : NaN;
  return Number.isNaN(at) ? undefined : at - Date.now();
}
