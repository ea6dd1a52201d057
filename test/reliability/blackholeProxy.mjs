// A TCP proxy that can make the network go silent, the way a dropped Wi-Fi link or a lost NAT
// entry does: no reset, no FIN, bytes just stop. Runs as its own process (tests block their own
// thread with spawnSync while the mount talks through it).
//
//   node blackholeProxy.mjs UPSTREAM_HOST UPSTREAM_PORT [LISTEN_PORT]
// prints "listening PORT", then takes one command per line on stdin and answers "ok COMMAND":
//   freeze     every connection open now goes silent for good (new ones work)
//   blackhole  every connection, open or new, goes silent until heal
//   heal       new connections work again and black-holed ones resume (frozen ones stay dead)
//   throttle N at most N bytes/s per connection and direction from now on (0: no limit)
//   count      answers "ok count N": connections accepted so far
import net from 'node:net';
import { createInterface } from 'node:readline';

const [host, portText, listenText] = process.argv.slice(2);
const upstreamPort = Number(portText);
let blackhole = false;
let bytesPerSecond = 0;
let accepted = 0;
/** @type {Set<{ frozen: boolean, held: Buffer[][] }>} */
const links = new Set();

const server = net.createServer((client) => {
  accepted += 1;
  const link = { frozen: false, held: [[], []] };
  links.add(link);
  const upstream = net.connect(upstreamPort, host);
  // Direction 0: client → upstream; 1: upstream → client.
  const forward = (from, to, dir) => {
    from.on('data', (chunk) => {
      if (link.frozen) return; // dropped for good
      if (blackhole) {
        link.held[dir].push(chunk); // delivered if the network heals
        return;
      }
      // Honour backpressure, so only socket buffers' worth is in flight when the link goes silent.
      if (!to.write(chunk)) {
        from.pause();
        to.once('drain', () => from.resume());
      } else if (bytesPerSecond > 0) {
        from.pause();
        setTimeout(() => from.resume(), (chunk.length / bytesPerSecond) * 1000);
      }
    });
  };
  forward(client, upstream, 0);
  forward(upstream, client, 1);
  link.flush = () => {
    for (const c of link.held[0]) upstream.write(c);
    for (const c of link.held[1]) client.write(c);
    link.held = [[], []];
  };
  const close = () => {
    links.delete(link);
    // A silent link never tells the other side anything.
    if (link.frozen || blackhole) return;
    client.destroy();
    upstream.destroy();
  };
  client.on('error', close);
  upstream.on('error', close);
  client.on('close', close);
  upstream.on('close', close);
});

server.listen(Number(listenText ?? 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});

createInterface({ input: process.stdin }).on('line', (line) => {
  const command = line.trim();
  if (command === 'freeze') for (const link of links) link.frozen = true;
  else if (command === 'blackhole') blackhole = true;
  else if (command === 'heal') {
    blackhole = false;
    for (const link of links) if (!link.frozen) link.flush();
  } else if (command.startsWith('throttle ')) {
    bytesPerSecond = Number(command.split(' ')[1]);
  } else if (command === 'count') {
    process.stdout.write(`ok count ${accepted}\n`);
    return;
  }
  process.stdout.write(`ok ${command}\n`);
});
process.stdin.on('end', () => process.exit(0));
