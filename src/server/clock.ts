/**
 * The server's idea of the time: the host's, shifted by an offset a test may set through the admin
 * route, so a client's handling of a server whose clock differs from its own can be tried end to end.
 */
export class Clock {
  offsetMs = 0;

  now(): number {
    return Date.now() + this.offsetMs;
  }
}
