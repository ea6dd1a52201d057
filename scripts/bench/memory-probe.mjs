// Loaded into the mount by scripts/bench-rss.mjs --probe (node --import): every 100 ms, when the
// process's RSS is at a new high, prints where the memory is by V8's account and the kernel's
// (one JSON line on stderr, "memory-probe {...}"). Sizes only, never contents.
import { readFileSync } from 'node:fs';
import v8 from 'node:v8';

const MiB = 1024 * 1024;
let high = 0;
const timer = setInterval(() => {
  const m = process.memoryUsage();
  if (m.rss <= high) return;
  high = m.rss;
  const h = v8.getHeapSpaceStatistics();
  const space = (name) => Math.round((h.find((s) => s.space_name === name)?.space_size ?? 0) / MiB);
  const status = readFileSync('/proc/self/status', 'utf8');
  const kb = (name) => Math.round(Number(new RegExp(`${name}:\\s+(\\d+) kB`).exec(status)?.[1] ?? 0) / 1024);
  process.stderr.write(
    `memory-probe ${JSON.stringify({
      rss: Math.round(m.rss / MiB),
      anon: kb('RssAnon'),
      file: kb('RssFile'),
      heapTotal: Math.round(m.heapTotal / MiB),
      heapUsed: Math.round(m.heapUsed / MiB),
      newSpace: space('new_space'),
      oldSpace: space('old_space'),
      external: Math.round(m.external / MiB),
      arrayBuffers: Math.round(m.arrayBuffers / MiB),
    })}\n`,
  );
}, 100);
timer.unref();
