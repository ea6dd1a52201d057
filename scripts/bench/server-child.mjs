#!/usr/bin/env node
// The local OSS server for the bench, in its own process (it must not share a thread with the
// mount or with the bench), plus a request counter the bench reads over IPC.
//
//   node scripts/bench/server-child.mjs DIR        (credentials from OSS_ACCESS_KEY_ID/SECRET)
//   prints "listening on URL"; IPC messages: {cmd:'stats'} → {stats}, {cmd:'reset'} → {ok}
//
// Counting wraps http.Server.prototype.emit before the server module is loaded, so the server
// code is the one `ossencfs server` runs, untouched.
import http from 'node:http';
import { tuneLikeOssencfs } from './util.mjs';

const counts = {};
let rangedGets = 0;
let rangedBytes = 0;
const rangeSizes = {};

function classify(req) {
  const url = new URL(req.url ?? '/', 'http://x');
  const q = url.searchParams;
  const m = req.method ?? '?';
  // Path-style `/bucket/key` or virtual-host `/key`: a listing is a GET on the bucket (no key).
  const parts = url.pathname.split('/').filter(Boolean);
  const hostIsBucket = !/^(127\.|localhost|\[)/.test(req.headers.host ?? '');
  const hasKey = hostIsBucket ? parts.length > 0 : parts.length > 1;
  if (q.has('uploadId') && m === 'PUT') return q.has('partNumber') && req.headers['x-oss-copy-source'] ? 'UploadPartCopy' : 'UploadPart';
  if (q.has('uploads') && m === 'POST') return 'InitiateMultipart';
  if (q.has('uploadId') && m === 'POST') return 'CompleteMultipart';
  if (q.has('uploadId') && m === 'DELETE') return 'AbortMultipart';
  if (q.has('delete') && m === 'POST') return 'DeleteMultiple';
  if (m === 'GET' && !hasKey) return 'List';
  if (m === 'GET') {
    const range = /^bytes=(\d+)-(\d*)$/.exec(String(req.headers.range ?? ''));
    if (!range) return 'GetWhole';
    rangedGets++;
    if (range[2] !== '') {
      const n = Number(range[2]) - Number(range[1]) + 1;
      rangedBytes += n;
      rangeSizes[n] = (rangeSizes[n] ?? 0) + 1;
    }
    return 'GetRange';
  }
  if (m === 'PUT' && req.headers['x-oss-copy-source']) return 'Copy';
  if (m === 'PUT') return 'Put';
  if (m === 'HEAD') return 'Head';
  if (m === 'DELETE') return 'Delete';
  return m;
}

const emit = http.Server.prototype.emit;
http.Server.prototype.emit = function (event, ...args) {
  if (event === 'request') {
    const kind = classify(args[0]);
    counts[kind] = (counts[kind] ?? 0) + 1;
    // OSSENCFS_BENCH_SERVER_LOG=1: one line per request on stderr (diagnosis, not for timed runs).
    if (process.env.OSSENCFS_BENCH_SERVER_LOG === '1') process.stderr.write(`${kind} ${args[0].method} ${args[0].url}${args[0].headers['x-oss-copy-source'] ? ` <- ${args[0].headers['x-oss-copy-source']}` : ''}\n`);
  }
  return emit.call(this, event, ...args);
};

const dir = process.argv[2];
const { OSS_ACCESS_KEY_ID: accessKeyId, OSS_ACCESS_KEY_SECRET: accessKeySecret } = process.env;
if (!dir || !accessKeyId || !accessKeySecret) {
  console.error('usage: OSS_ACCESS_KEY_ID=… OSS_ACCESS_KEY_SECRET=… server-child.mjs DIR');
  process.exit(2);
}
await tuneLikeOssencfs(); // as `ossencfs server` runs
const { startServer } = await import(new URL('../../dist/server/index.js', import.meta.url).href);
// V1 too: an older build compared side by side (--dist) signs V1.
const server = await startServer({ dir, port: 0, credentials: [{ accessKeyId, accessKeySecret }], signatures: 'any' });

process.on('message', (m) => {
  if (m?.cmd === 'stats') {
    process.send({ id: m.id, stats: { counts: { ...counts }, rangedGets, rangedBytes, rangeSizes: { ...rangeSizes } } });
  } else if (m?.cmd === 'reset') {
    for (const k of Object.keys(counts)) delete counts[k];
    for (const k of Object.keys(rangeSizes)) delete rangeSizes[k];
    rangedGets = 0;
    rangedBytes = 0;
    process.send({ id: m.id, ok: true });
  }
});
process.on('disconnect', () => void server.stop().finally(() => process.exit(0)));
const stop = () => void server.stop().finally(() => process.exit(0));
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
console.log(`listening on ${server.url}`);
