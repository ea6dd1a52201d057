// A TCP relay on 127.0.0.1 that holds every chunk for `oneWayMs` in each direction, so a client
// talking to a local server through it sees a round trip of 2 × oneWayMs, as a bucket in another
// region would give. Chunks keep their order; bandwidth is not limited.
import { connect, createServer } from 'node:net';

/** Starts a relay in front of `target` (`http://host:port`); resolves with its URL and a close(). */
export async function startDelayRelay(target, oneWayMs) {
  const { hostname, port } = new URL(target);
  const sockets = new Set();
  const delayed = (from, to) => {
    from.on('data', (chunk) => {
      if (oneWayMs <= 0) to.write(chunk);
      else setTimeout(() => to.destroyed || to.write(chunk), oneWayMs);
    });
    from.on('end', () => setTimeout(() => to.end(), oneWayMs));
  };
  const relay = createServer((client) => {
    const upstream = connect(Number(port), hostname);
    client.setNoDelay(true);
    upstream.setNoDelay(true);
    sockets.add(client).add(upstream);
    delayed(client, upstream);
    delayed(upstream, client);
    const drop = () => {
      client.destroy();
      upstream.destroy();
      sockets.delete(client);
      sockets.delete(upstream);
    };
    client.on('error', drop).on('close', drop);
    upstream.on('error', drop).on('close', drop);
  });
  await new Promise((resolve) => relay.listen(0, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${relay.address().port}`,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        relay.close(() => resolve());
      }),
  };
}
