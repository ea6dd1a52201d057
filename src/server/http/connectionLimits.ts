import type { IncomingMessage, Server } from 'node:http';

/**
 * What keeps one client from holding the server's sockets (and file descriptors) without doing
 * anything: slow or idle connections are cut, and connections beyond a limit are refused. None of
 * these cuts a healthy upload, however long: a 5 GiB PUT sends bytes all along.
 */
export interface ConnectionLimits {
  /** The request line and headers must be complete this long after the request began. */
  headersTimeoutMs: number;
  /** A socket on which no byte moved either way for this long is closed (a stalled body or reader). */
  idleTimeoutMs: number;
  /**
   * An idle keep-alive socket is closed after this. Longer than clients keep theirs (ali-oss's agent
   * frees a socket after 15 s idle; Node's own follows the Keep-Alive hint sent here): a client must
   * never send on a connection the server is closing at that moment, which it sees as a reset.
   */
  keepAliveTimeoutMs: number;
  /** A request body must bring at least this many bytes in every `bodyWindowMs` (a slow-loris body)… */
  minBodyBytes: number;
  bodyWindowMs: number;
  /** Connections beyond this many are closed as they arrive. */
  maxConnections: number;
  /** How often Node looks for connections past `headersTimeoutMs`. */
  checkIntervalMs: number;
}

export const DEFAULT_LIMITS: ConnectionLimits = {
  headersTimeoutMs: 20_000,
  idleTimeoutMs: 120_000,
  keepAliveTimeoutMs: 30_000,
  minBodyBytes: 64 << 10,
  bodyWindowMs: 30_000,
  maxConnections: 256,
  checkIntervalMs: 2_000,
};

/** Node's server options for the limits it enforces itself. */
export function serverOptions(limits: ConnectionLimits) {
  return {
    headersTimeout: limits.headersTimeoutMs,
    // A total time for the request would cut a big upload on a slow link; the body's rate is watched instead.
    requestTimeout: 0,
    keepAliveTimeout: limits.keepAliveTimeoutMs,
    connectionsCheckingInterval: limits.checkIntervalMs,
  };
}

export function applyLimits(server: Server, limits: ConnectionLimits): void {
  // A client may half-close its socket once its request is sent (shutdown(SHUT_WR)); Node's
  // default then aborts the request in progress, and the answer is never sent. The switch is
  // Node's own (lib/_http_server.js), though not in its typings.
  (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  server.maxConnections = limits.maxConnections;
  // With no 'timeout' listener, Node destroys a socket idle this long.
  server.timeout = limits.idleTimeoutMs;
}

/**
 * Cuts the connection when the request's body brings fewer than `minBodyBytes` in a window, unless
 * the socket was paused by the server itself (its disk slower than the client), which is no fault
 * of the client's.
 */
export function watchBodyRate(req: IncomingMessage, limits: ConnectionLimits): void {
  if (req.complete) return;
  const socket = req.socket;
  let last = socket.bytesRead;
  const timer = setInterval(() => {
    if (req.complete || socket.destroyed) {
      clearInterval(timer);
      return;
    }
    const read = socket.bytesRead;
    if (read - last < limits.minBodyBytes && !socket.isPaused()) {
      clearInterval(timer);
      socket.destroy();
      return;
    }
    last = read;
  }, limits.bodyWindowMs);
  timer.unref();
  req.once('end', () => clearInterval(timer));
  req.once('close', () => clearInterval(timer));
}
