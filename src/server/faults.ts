import type { IncomingMessage, ServerResponse } from 'node:http';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import { OssError } from './errors.js';
import { FAULT_REQUEST_LOG_KEPT } from '../tuning.js';

/** Which requests a fault applies to; omitted fields match everything. */
export interface FaultTarget {
  /** HTTP method, e.g. 'GET' (case-insensitive). */
  method?: string;
  /** Substring of the request's `/<bucket>/<key>` path. */
  path?: string;
}

export interface FailOptions extends FaultTarget {
  /** 5xx and 429 are worth retrying; 403 and 404 are not (a client must give up at once). */
  status?: FailStatus;
  /** OSS error code in the body; defaults by status (InternalError, ServiceUnavailable, TooManyRequests). */
  code?: string;
  message?: string;
}

export interface RepeatOptions extends FaultTarget {
  /** How many matching requests the fault applies to (default 1; Infinity until cleared). */
  count?: number;
}

/** What the faults armed for one request do to it. */
export interface AppliedFaults {
  latencyMs: number;
  failure?: OssError;
  resetResponseAfter?: number;
  resetRequestAfter?: number;
}

type Effect =
  | { kind: 'fail'; error: OssError }
  | { kind: 'resetResponse'; bytes: number }
  | { kind: 'resetRequest'; bytes: number }
  | { kind: 'latency'; ms: number };

interface Armed {
  effect: Effect;
  target: FaultTarget;
  remaining: number;
}

export type FailStatus = 403 | 404 | 429 | 500 | 503;
export const FAIL_STATUSES: readonly FailStatus[] = [403, 404, 429, 500, 503];

const DEFAULT_CODES: Record<number, string> = {
  403: 'AccessDenied',
  404: 'NoSuchKey',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
};

/** One request the server saw (admin requests excepted), for tests that count requests. */
export interface SeenRequest {
  method: string;
  /** `/<bucket>/<key>`, as faults match it. */
  path: string;
  /** The query string without its `?` (sub-resources such as `uploads`, `partNumber=1&uploadId=…`). */
  query: string;
  /** The Range header, when the request had one. */
  range?: string;
  /** The response status once it was sent; 0 while in flight or when the connection was cut first. */
  status: number;
}


function checkCount(count: number): number {
  if (!(count > 0)) throw new RangeError('a fault count must be positive');
  return count;
}

/**
 * Faults for tests, armed in-process (`server.faults`) or over HTTP (see routes/admin.ts). Each
 * armed fault applies to the next `count` matching requests, then disarms itself.
 */
export class FaultInjector {
  private armed: Armed[] = [];
  private seen: SeenRequest[] = [];

  /** Notes a request (called by the handler for every non-admin request, before faults apply). */
  record(method: string, path: string, query: string, range?: string): SeenRequest {
    const entry: SeenRequest = { method, path, query, ...(range !== undefined ? { range } : {}), status: 0 };
    this.seen.push(entry);
    if (this.seen.length >= 2 * FAULT_REQUEST_LOG_KEPT) this.seen = this.seen.slice(-FAULT_REQUEST_LOG_KEPT);
    return entry;
  }

  /** The requests seen since the last reset that match `target` (oldest first). */
  requests(target: FaultTarget = {}): SeenRequest[] {
    return this.seen.filter((r) => matches(target, r.method, r.path)).map((r) => ({ ...r }));
  }

  /** Forgets the requests seen so far. */
  resetRequests(): void {
    this.seen = [];
  }

  /** The next `count` matching requests fail with `status` and an OSS error body. */
  failNext(count: number, options: FailOptions = {}): void {
    const status = options.status ?? 503;
    const code = options.code ?? DEFAULT_CODES[status] ?? 'InternalError';
    this.arm({ kind: 'fail', error: new OssError(status, code, options.message ?? 'Injected fault.') }, options, checkCount(count));
  }

  /** The response body of matching requests is cut by a connection reset after `bytes` bytes. */
  resetResponseAfter(bytes: number, options: RepeatOptions = {}): void {
    this.arm({ kind: 'resetResponse', bytes }, options, checkCount(options.count ?? 1));
  }

  /** The connection is reset once more than `bytes` bytes of a matching request body arrived. */
  resetRequestAfter(bytes: number, options: RepeatOptions = {}): void {
    this.arm({ kind: 'resetRequest', bytes }, options, checkCount(options.count ?? 1));
  }

  /** Matching requests wait `ms` before being handled (every one until cleared, unless `count`). */
  addLatency(ms: number, options: RepeatOptions = {}): void {
    this.arm({ kind: 'latency', ms }, options, checkCount(options.count ?? Infinity));
  }

  clear(): void {
    this.armed = [];
  }

  /** Consumes the faults matching this request. */
  take(method: string, path: string): AppliedFaults {
    const applied: AppliedFaults = { latencyMs: 0 };
    for (const armed of this.armed) {
      if (!matches(armed.target, method, path)) continue;
      const { effect } = armed;
      if (effect.kind === 'fail') {
        if (applied.failure) continue;
        applied.failure = effect.error;
      } else if (effect.kind === 'resetResponse') {
        if (applied.resetResponseAfter !== undefined) continue;
        applied.resetResponseAfter = effect.bytes;
      } else if (effect.kind === 'resetRequest') {
        if (applied.resetRequestAfter !== undefined) continue;
        applied.resetRequestAfter = effect.bytes;
      } else {
        applied.latencyMs += effect.ms;
      }
      armed.remaining -= 1;
    }
    this.armed = this.armed.filter((a) => a.remaining > 0);
    return applied;
  }

  private arm(effect: Effect, target: FaultTarget, count: number): void {
    this.armed.push({ effect, target: { method: target.method, path: target.path }, remaining: count });
  }
}

function matches(target: FaultTarget, method: string, path: string): boolean {
  const { method: m, path: p } = target;
  return !((m && m.toUpperCase() !== method) || (p && !path.includes(p)));
}

/** Lets `bytes` bytes of the response body through, then resets the connection. */
export function cutResponse(res: ServerResponse, bytes: number): void {
  let sent = 0;
  const write = res.write.bind(res) as (chunk: Buffer, done?: (err?: Error | null) => void) => boolean;
  const end = res.end.bind(res) as () => ServerResponse;
  // A write past the cut never calls back: the writer learns of the reset from 'close'.
  const pass = (chunk: unknown, done?: (err?: Error | null) => void): boolean => {
    if (sent >= bytes) return false;
    const buf = typeof chunk === 'string' ? Buffer.from(chunk) : (chunk as Buffer);
    if (sent + buf.length < bytes) {
      sent += buf.length;
      return write(buf, done);
    }
    const head = buf.subarray(0, bytes - sent);
    sent = bytes;
    // Destroy only once the allowed bytes are on the wire: destroying discards queued writes.
    write(head, () => res.socket?.destroy());
    return false;
  };
  res.write = ((chunk: unknown, done?: (err?: Error | null) => void) => pass(chunk, typeof done === 'function' ? done : undefined)) as typeof res.write;
  res.end = ((chunk?: unknown) => {
    if (chunk !== undefined && typeof chunk !== 'function' && !pass(chunk)) return res;
    return end();
  }) as typeof res.end;
}

/** The request body, with the connection reset once more than `bytes` bytes have arrived. */
export function cutRequest(req: IncomingMessage, bytes: number): Readable {
  let seen = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _encoding, done) {
      seen += chunk.length;
      if (seen <= bytes) return done(null, chunk);
      req.socket.destroy();
      done(new Error('connection reset by injected fault'));
    },
  });
  return pipeline(req, counter, () => undefined);
}
