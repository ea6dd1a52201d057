import type { Socket } from 'node:net';
import { buildConnector } from 'undici';
import { SOCKET_READ_BYTES } from '../tuning.js';

/**
 * undici's connector, except that a plain-HTTP connection reads into two buffers of its own, taken
 * in turn, instead of a fresh buffer per read (net's `onread`). Node's own reads each allocate
 * SOCKET_READ_BYTES of new memory that lives only until the parser has passed over it: a ranged
 * GET streams that through the process (page faults of fresh memory, and full collections that
 * the buffers' external memory sets off), only to copy it into a block.
 *
 * The price is a contract: a chunk these connections hand on is borrowed, good until the code
 * reading it returns. A consumer that keeps a chunk — undici's `request()` body stream, a handler
 * that collects chunks — must copy it or use another dispatcher. See ReadBuffers for when a
 * buffer is read into again.
 *
 * TLS connections keep undici's connector as it is: one connector per connection, as here, would
 * lose its TLS session cache. `observe` is given each connection's buffers (tests count reads).
 */
export function recycledReadsConnector(options: buildConnector.BuildOptions = {}, observe?: (buffers: ReadBuffers) => void): buildConnector.connector {
  const standard = buildConnector(options);
  return (opts, callback) => {
    if (opts.protocol !== 'http:') return standard(opts, callback);
    const buffers = new ReadBuffers(undiciHoldsViews);
    observe?.(buffers);
    // A connector per connection: net.connect takes the per-socket `onread` from its options.
    return buildConnector({ ...options, onread: buffers.onread() } as unknown as buildConnector.BuildOptions)(opts, callback);
  };
}

/**
 * Whether undici's HTTP/1.1 parser on `socket` may hold views of earlier reads: the names and
 * values of a header block it is in the middle of (client-h1.js keeps them as views until the
 * block ends; a status line, a body chunk or a whole block it turns into strings or hands on at
 * once). The parser is undici's internal, on the socket under Symbol('parser'): when it cannot be
 * found as expected (another undici, an upgraded socket), the answer is yes, and reads go to fresh
 * memory as Node's own do.
 */
export function undiciHoldsViews(socket: Socket): boolean {
  parserKey ??= Object.getOwnPropertySymbols(socket).find((s) => s.description === 'parser');
  const parser = parserKey === undefined ? undefined : (socket as unknown as Record<symbol, { headers?: unknown } | null | undefined>)[parserKey];
  return !Array.isArray(parser?.headers) || parser.headers.length > 0;
}

let parserKey: symbol | undefined;

/**
 * One connection's read buffers. A buffer is read into again only once nothing can still see the
 * bytes of its last read: the socket's stream has been read empty since (data put back unread, as
 * a paused parser does, stays in the stream) and the consumer holds no views of it (`holdsViews`).
 * Until then reads go to the other buffer, or to fresh memory.
 */
export class ReadBuffers {
  private readonly buffers: Buffer[] = [Buffer.allocUnsafeSlow(SOCKET_READ_BYTES), Buffer.allocUnsafeSlow(SOCKET_READ_BYTES)];
  /** Per buffer: bytes read into it may still be seen. */
  private readonly held = [false, false];
  /** Reads given fresh memory, both buffers being held. */
  freshReads = 0;

  constructor(private readonly holdsViews: (socket: Socket) => boolean) {}

  /** The `onread` option of net.connect / new Socket. */
  onread(): { buffer: () => Buffer; callback: (this: Socket, n: number, buffer: Buffer) => boolean } {
    const self = this;
    return {
      buffer: () => this.next(),
      callback(n, buffer) {
        return self.received(this, n, buffer);
      },
    };
  }

  /** The buffer the next read goes into (net asks right after each read, and once at connect). */
  next(): Buffer {
    const free = this.held.indexOf(false);
    if (free !== -1) return this.buffers[free]!;
    this.freshReads++;
    return Buffer.allocUnsafeSlow(SOCKET_READ_BYTES);
  }

  /** `n` bytes were read into `buffer`: on into the stream, as net does with its own reads. */
  received(socket: Socket, n: number, buffer: Buffer): boolean {
    if (socket.readableLength === 0 && !this.holdsViews(socket)) this.held.fill(false);
    const i = this.buffers.indexOf(buffer);
    if (i !== -1) this.held[i] = true;
    return socket.push(buffer.subarray(0, n));
  }
}
