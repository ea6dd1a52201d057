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
 * reading it returns (undici's parser reads a chunk once, synchronously, and hands a body handler
 * views of it). A consumer that keeps a chunk — undici's `request()` body stream, a handler that
 * collects chunks — must copy it or use another dispatcher. A buffer is read into again only once
 * the socket's stream has been read empty since its view went in, so data put back unread
 * (`unshift`, a paused parser) stays intact: the read goes to a fresh buffer meanwhile.
 *
 * TLS connections are undici's own: a TLSSocket reads through its own buffers.
 */
export function recycledReadsConnector(options: buildConnector.BuildOptions = {}): buildConnector.connector {
  const standard = buildConnector(options);
  return (opts, callback) => {
    if (opts.protocol !== 'http:') return standard(opts, callback);
    // A connector per connection: net.connect takes the per-socket `onread` from its options.
    return buildConnector({ ...options, onread: new ReadBuffers().onread() } as buildConnector.BuildOptions)(opts, callback);
  };
}

/** One connection's read buffers: which may be read into again, and which still have unread bytes in the stream. */
export class ReadBuffers {
  private readonly buffers: Buffer[] = [Buffer.allocUnsafeSlow(SOCKET_READ_BYTES), Buffer.allocUnsafeSlow(SOCKET_READ_BYTES)];
  /** Per buffer: a view of it went into the stream and may not have been read yet. */
  private readonly held = [false, false];

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
    return free === -1 ? Buffer.allocUnsafeSlow(SOCKET_READ_BYTES) : this.buffers[free]!;
  }

  /** `n` bytes were read into `buffer`: on into the stream, as net does with its own reads. */
  received(socket: Socket, n: number, buffer: Buffer): boolean {
    // An empty stream has handed on every view that went into it: all buffers are free again.
    if (socket.readableLength === 0) this.held.fill(false);
    const i = this.buffers.indexOf(buffer);
    if (i !== -1) this.held[i] = true;
    return socket.push(buffer.subarray(0, n));
  }
}
