// A TCP relay on 127.0.0.1 that holds every chunk for `oneWayMs` in each direction, so a client
// talking to a local server through it sees a round trip of 2 × oneWayMs, as a bucket in another
// region would give. Chunks keep their order; bandwidth is not limited.
//
// Without `windowBytes` the relay buffers without bound, so the delay costs a connection one round
// trip per request and nothing per byte: loopback TCP acknowledges at once. A real path sends at
// most a window of unacknowledged bytes per round trip; with `windowBytes` each direction of a
// connection keeps at most that many bytes in flight (a chunk counts from its arrival until a
// round trip later, when its acknowledgement would be back), capping one connection near
// windowBytes / RTT as a TCP window does.
import { fork } from 'node:child_process';
import { connect, createServer } from 'node:net';
import { fileURLToPath } from 'node:url';

/** Starts a relay in front of `target` (`http://host:port`); resolves with its URL and a close(). */
export async function startDelayRelay(target, oneWayMs, { windowBytes = Infinity } = {}) {
  const { hostname, port } = new URL(target);
  const sockets = new Set();
  const delayed = (from, to) => {
    let inFlight = 0;
    from.on('data', (chunk) => {
      if (oneWayMs <= 0) return void to.write(chunk);
      setTimeout(() => to.destroyed || to.write(chunk), oneWayMs);
      if (windowBytes === Infinity) return;
      inFlight += chunk.length;
      if (inFlight >= windowBytes) from.pause();
      setTimeout(() => {
        inFlight -= chunk.length;
        if (inFlight < windowBytes && from.isPaused()) from.resume();
      }, 2 * oneWayMs);
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

/**
 * startDelayRelay() in a child process of its own: it keeps forwarding while the caller blocks
 * (spawnSync), and its work is not the caller's CPU time.
 */
export async function startDelayRelayProcess(target, oneWayMs, { windowBytes } = {}) {
  const child = fork(fileURLToPath(import.meta.url), [target, String(oneWayMs), String(windowBytes ?? '')], { stdio: ['ignore', 'inherit', 'inherit', 'ipc'] });
  const exited = new Promise((resolve) => child.once('exit', resolve));
  const url = await new Promise((resolve, reject) => {
    child.once('message', (m) => resolve(m.url));
    exited.then((code) => reject(new Error(`delay relay exited ${code}`)));
  });
  return {
    url,
    close: async () => {
      if (child.exitCode === null) child.kill('SIGTERM');
      await exited;
    },
  };
}

if (process.argv[1] === fileURLToPath(import.meta.url) && process.send) {
  const [target, oneWayMs, windowBytes] = process.argv.slice(2);
  const relay = await startDelayRelay(target, Number(oneWayMs), windowBytes ? { windowBytes: Number(windowBytes) } : {});
  process.on('SIGTERM', () => void relay.close().finally(() => process.exit(0)));
  process.on('disconnect', () => void relay.close().finally(() => process.exit(0)));
  process.send({ url: relay.url });
}
