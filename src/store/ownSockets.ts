import net from 'node:net';
import tls from 'node:tls';
import type { BodySink } from './ObjectStore.js';

/** An answer's status and headers, names in lower case. */
export interface Answer {
  status: number;
  headers: Record<string, string | undefined>;
}

/**
 * An idle socket is closed after this long, well before a server closes its end (ours after 30 s,
 * OSS after about a minute): a request must never be written to a connection the server is
 * closing at that moment.
 */
const IDLE_CLOSE_MS = 4_000;
/** More header bytes than this is not an OSS answer. */
const MAX_HEADER_BYTES = 64 * 1024;
const HEADER_END = Buffer.from('\r\n\r\n');

/** The name ali-oss (urllib) and LeanRequest give a request that got no answer in time. */
export const TIMEOUT = 'ResponseTimeoutError';

export const codedError = (message: string, code: string): NodeJS.ErrnoException => Object.assign(new Error(message), { code });

export interface GetInto {
  /** The reader's memory (a block of the cache): on a plain socket the kernel copies the bytes straight there. */
  sink: BodySink;
  /** Called with a successful answer before any of its body goes to the sink; throws to refuse it. */
  accept(answer: Answer): void;
  /** The longest silence while the body arrives; 0 for none. */
  idleMs: number;
}

/** A request as it goes on the wire. */
export interface OwnRequest {
  /** The request line and headers, with the blank line that ends them. */
  header: string;
  /** A PUT's body (its Content-Length is in `header`). */
  body?: Buffer;
  /** A GET whose body goes into the reader's memory. */
  into?: GetInto;
}

/** An answer and, for one whose status was not asked for, its body (an error's XML). */
export interface Exchange {
  answer: Answer;
  body?: Buffer;
}

/**
 * Requests written and read by hand on keep-alive sockets of their own. A cold
 * `ls -l` of a big directory is a HEAD per name, and Node's HTTP client (request object, outgoing
 * and incoming streams, agent bookkeeping) cost ~160 µs of CPU per HEAD where this costs ~80 (10,000
 * HEADs on loopback, 32 in flight; the server also spent ~20% less per HEAD). A sequential read is a
 * ranged GET per run of blocks, and on a plain socket its body is read straight into the blocks
 * (`net` `onread` with the reader's memory), where Node's client hands over 64 KiB chunks that were
 * then copied into them: 0.14–0.53 against 0.83–1.86 s of the main thread per GiB in a bare loop of
 * 8 MiB GETs, 4 in flight. Over TLS the decrypted bytes are copied into the sink as they come.
 * A small file's PUT and a DELETE go here too; LISTs, streamed GETs and the calls made through
 * ali-oss (copies, multipart) stay on Node's client.
 *
 * An answer must say its length (Content-Length), as OSS's do; one that does not is a
 * 'ResponseError'. Errors are named as Node's client and urllib name them, so retries and messages
 * treat them alike: a connection that fails or closes before the end of the answer rejects with
 * its code (ECONNRESET for a close), a request without an answer (or a body gone silent) in time
 * with TIMEOUT, and an answer that is not HTTP with 'ResponseError'. Every failure destroys its
 * socket; the next request opens another.
 */
export class OwnSockets {
  private readonly idle: Connection[] = [];
  private readonly waiting: Array<(conn: Connection) => void> = [];
  private open = 0;

  /**
   * `hostHeader`: the Host the requests carry. Over TLS it is also the name the server's
   * certificate must bear (and the SNI), as Node's https client takes it, unless it is an IP.
   */
  constructor(
    private readonly origin: URL,
    private readonly maxSockets: number,
    private readonly hostHeader: string,
  ) {}

  /** Sends `request` and resolves with its answer. */
  async send(request: OwnRequest, timeoutMs: number): Promise<Exchange> {
    const conn = await this.acquire();
    const { exchange, reusable } = await conn.exchange(request, timeoutMs);
    if (reusable) this.release(conn);
    else conn.close();
    return exchange;
  }

  private acquire(): Promise<Connection> {
    const conn = this.idle.pop();
    if (conn) return Promise.resolve(conn.wake());
    if (this.open < this.maxSockets) return Promise.resolve(this.connect());
    return new Promise((resolve) => this.waiting.push(resolve));
  }

  private release(conn: Connection): void {
    const next = this.waiting.shift();
    if (next) return next(conn);
    this.idle.push(conn.sleep(IDLE_CLOSE_MS));
  }

  private connect(): Connection {
    this.open++;
    const conn: Connection = new Connection(this.origin, this.hostHeader, () => this.gone(conn));
    return conn;
  }

  /** Called once per connection, whatever closed it: its slot goes to whoever waits for one. */
  private gone(conn: Connection): void {
    this.open--;
    const at = this.idle.indexOf(conn);
    if (at >= 0) this.idle.splice(at, 1);
    const next = this.waiting.shift();
    if (next) next(this.connect());
  }
}

/** Bytes read at a time while no body is being read into a sink (answers' heads, errors' bodies). */
const SCRATCH_BYTES = 64 * 1024;

interface Pending {
  /** A HEAD: its answer has no body, whatever its Content-Length says. */
  head: boolean;
  into: GetInto | undefined;
  resolve(done: { exchange: Exchange; reusable: boolean }): void;
  reject(err: Error): void;
  timer: NodeJS.Timeout;
  /** Set once the answer's head is in. */
  body?: {
    answer: Answer;
    keepAlive: boolean;
    /** Body bytes still to come. */
    left: number;
    /** Into the sink (a success of a GET), else kept here (an error's XML). */
    toSink: boolean;
    kept: Buffer[];
  };
}

/** One socket, carrying one request at a time. */
class Connection {
  private readonly socket: net.Socket;
  /** What a plain socket reads into outside a GET's body; a TLS socket brings its own chunks. */
  private scratch: Buffer | undefined;
  /** The sink's memory the socket reads into next, if any. */
  private lent: Buffer | undefined;
  private received: Buffer | undefined;
  private pending: Pending | undefined;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(origin: URL, hostHeader: string, onGone: () => void) {
    const secure = origin.protocol === 'https:';
    const host = origin.hostname.replace(/^\[|\]$/g, '');
    const port = Number(origin.port) || (secure ? 443 : 80);
    if (secure) {
      this.socket = tls.connect({ host, port, servername: serverName(hostHeader) });
      this.socket.on('data', (chunk: Buffer) => this.bytes(chunk, false));
    } else {
      // Called for the memory of each read, and the callback with what landed in it.
      const onread = {
        buffer: () => this.nextMemory(),
        callback: (n: number, memory: Uint8Array) => {
          const inPlace = memory === this.lent;
          this.lent = undefined;
          this.bytes((memory as Buffer).subarray(0, n), inPlace);
          return true;
        },
      };
      this.socket = net.connect({ host, port, onread });
    }
    this.socket.setNoDelay(true);
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('close', () => {
      clearTimeout(this.idleTimer);
      this.fail(codedError('socket hang up', 'ECONNRESET'));
      onGone();
    });
  }

  exchange({ header, body, into }: OwnRequest, timeoutMs: number): Promise<{ exchange: Exchange; reusable: boolean }> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => this.socket.destroy(codedError(`no response in ${timeoutMs} ms`, TIMEOUT)), timeoutMs);
      this.pending = { head: header.startsWith('HEAD '), into, resolve, reject, timer };
      // Corked: header and body leave in one write.
      this.socket.cork();
      this.socket.write(header, 'latin1');
      if (body) this.socket.write(body);
      this.socket.uncork();
    });
  }

  /** Idle in the pool: it must not keep the process alive, and closes if not used again soon. */
  sleep(closeAfterMs: number): this {
    this.socket.unref();
    this.idleTimer = setTimeout(() => this.close(), closeAfterMs).unref();
    return this;
  }

  wake(): this {
    clearTimeout(this.idleTimer);
    this.socket.ref();
    return this;
  }

  close(): void {
    this.socket.destroy();
  }

  /** The sink's room while a GET's body is due, else the scratch buffer. */
  private nextMemory(): Buffer {
    const body = this.pending?.body;
    if (!body?.toSink || body.left === 0) return (this.scratch ??= Buffer.allocUnsafe(SCRATCH_BYTES));
    this.lent = this.pending!.into!.sink.room(body.left);
    return this.lent;
  }

  /** `chunk`: bytes read; `inPlace`: already in the sink's room (so none of them is a head). */
  private bytes(chunk: Buffer, inPlace: boolean): void {
    const pending = this.pending;
    if (!pending) return this.close(); // nothing was asked: not a server to keep talking to
    if (!pending.body) return this.head(pending, chunk);
    const body = pending.body;
    if (inPlace) {
      // Counted first: a filled piece may leave for a worker thread, detaching `chunk`.
      body.left -= chunk.length;
      pending.into!.sink.filled(chunk.length);
    } else {
      // More than the answer's length is none the protocol allows: the connection is not reused.
      if (chunk.length > body.left) body.keepAlive = false;
      const mine = chunk.subarray(0, body.left);
      body.left -= mine.length;
      if (body.toSink) copyInto(pending.into!.sink, mine);
      else body.kept.push(Buffer.from(mine));
    }
    if (body.left > 0) {
      if (pending.into?.idleMs) pending.timer.refresh();
      return;
    }
    this.done(pending, { answer: body.answer, ...(body.toSink ? {} : { body: Buffer.concat(body.kept) }) }, body.keepAlive);
  }

  private head(pending: Pending, chunk: Buffer): void {
    const received = this.received ? Buffer.concat([this.received, chunk]) : Buffer.from(chunk);
    const end = received.indexOf(HEADER_END);
    if (end < 0) {
      if (received.length > MAX_HEADER_BYTES) return void this.socket.destroy(codedError(`an answer's headers ran past ${MAX_HEADER_BYTES} bytes`, 'ResponseError'));
      this.received = received;
      return;
    }
    this.received = undefined;
    const parsed = parseHead(received.toString('latin1', 0, end));
    if (!parsed) return void this.socket.destroy(codedError(`not an HTTP answer: ${JSON.stringify(received.toString('latin1', 0, Math.min(end, 40)))}`, 'ResponseError'));
    const rest = received.subarray(end + HEADER_END.length);
    // RFC 9110: the answer to a HEAD, and a 204 or 304, ends with its headers (Node's server
    // sends a 204 without a Content-Length).
    if (pending.head || parsed.answer.status === 204 || parsed.answer.status === 304) {
      return this.done(pending, { answer: parsed.answer }, parsed.keepAlive && rest.length === 0);
    }
    const length = Number(parsed.answer.headers['content-length'] ?? NaN);
    if (!Number.isSafeInteger(length) || length < 0) return void this.socket.destroy(codedError('an answer without a Content-Length', 'ResponseError'));
    const toSink = pending.into !== undefined && parsed.answer.status < 300;
    if (toSink) {
      try {
        pending.into!.accept(parsed.answer);
      } catch (err) {
        return void this.socket.destroy(err as Error);
      }
    }
    pending.body = { answer: parsed.answer, keepAlive: parsed.keepAlive, left: length, toSink, kept: [] };
    clearTimeout(pending.timer);
    if (pending.into?.idleMs) {
      pending.timer = setTimeout(() => this.socket.destroy(codedError(`no body bytes in ${pending.into!.idleMs} ms`, TIMEOUT)), pending.into.idleMs);
    }
    this.bytes(rest, false);
  }

  private done(pending: Pending, exchange: Exchange, reusable: boolean): void {
    this.pending = undefined;
    clearTimeout(pending.timer);
    pending.resolve({ exchange, reusable });
  }

  private fail(err: Error): void {
    const pending = this.pending;
    if (!pending) return;
    this.pending = undefined;
    this.received = undefined;
    this.lent = undefined;
    clearTimeout(pending.timer);
    pending.reject(err);
  }
}

/** Copies `bytes` into the sink's rooms. */
function copyInto(sink: BodySink, bytes: Buffer): void {
  for (let at = 0; at < bytes.length; ) {
    const n = bytes.copy(sink.room(bytes.length - at), 0, at);
    sink.filled(n);
    at += n;
  }
}

/** The TLS server name for a Host header, as Node's https agent derives it: no port, and none for an IP. */
function serverName(hostHeader: string): string | undefined {
  const name = hostHeader.startsWith('[') ? hostHeader.slice(1, hostHeader.indexOf(']')) : hostHeader.split(':', 1)[0]!;
  return net.isIP(name) ? undefined : name;
}

/** A status line and header lines, read as Node's client reads them: names lower-cased, repeats joined by ", ". */
function parseHead(text: string): { answer: Answer; keepAlive: boolean } | undefined {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.([01]) ([2-5]\d\d)(?: |$)/.exec(lines[0] ?? '');
  if (!status) return undefined;
  const headers: Record<string, string | undefined> = {};
  for (let i = 1; i < lines.length; i++) {
    const line = lines[i] as string;
    const colon = line.indexOf(':');
    if (colon <= 0) return undefined;
    const name = line.slice(0, colon).toLowerCase();
    const value = line.slice(colon + 1).trim();
    const before = headers[name];
    headers[name] = before === undefined ? value : `${before}, ${value}`;
  }
  const connection = headers.connection?.toLowerCase();
  const keepAlive = status[1] === '1' ? connection !== 'close' : connection === 'keep-alive';
  return { answer: { status: Number(status[2]), headers }, keepAlive };
}
