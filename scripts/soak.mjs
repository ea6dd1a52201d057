// Soak test: several processes do mixed random file operations on a real mount for a while, each
// keeping a model of what its part of the tree must hold; at the end the driver compares the mount
// with the merged model (and again after a remount, caches cold), checks that no multipart upload
// and no kept version is left over, and runs `ossencfs verify` over the bucket. Any difference or error fails the run.
//
//   node scripts/soak.mjs [--minutes N | --seconds N | --quick] [--workers N] [--faults] [--keep]
//
// --quick: about 30 s of operations. --log-level debug: the mount logs every operation. --faults: the server fails a few requests (503, connection
// resets) all along; the store's retries must hide them. --keep: leave the temporary directory.
// --write-back SECONDS: mount with write-back of new files (uploads after close; see the README).
// A worker is this same script run as `--worker ID MOUNT/DIR SECONDS SEED`.
import { spawn, spawnSync } from 'node:child_process';
import { createHash, createHmac, generateKeyPairSync, randomBytes } from 'node:crypto';
import {
  appendFileSync, closeSync, existsSync, lstatSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, readSync,
  renameSync, rmdirSync, rmSync, statSync, truncateSync, unlinkSync, writeFileSync, writeSync,
} from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { LOCAL_V4, LOCAL_REGION } from './bench/util.mjs';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BIN = join(ROOT, 'bin', 'ossencfs.js');
const KiB = 1024;
const MiB = 1024 * KiB;

const sha256 = (b) => createHash('sha256').update(b).digest('hex');

/** A small seeded PRNG (mulberry32): the sequence of operations is reproducible from the seed. */
function prng(seed) {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  return {
    next,
    int: (n) => Math.floor(next() * n),
    pick: (list) => list[Math.floor(next() * list.length)],
  };
}

// ---------------------------------------------------------------------------------------------
// Worker: random operations on its own directory, with a model of it.
// ---------------------------------------------------------------------------------------------

function runWorker(id, base, seconds, seed) {
  const rnd = prng(seed);
  /** relative path → content */
  const files = new Map();
  /** relative directory paths ('' is the worker's root) */
  const dirs = new Set(['']);
  const counts = {};
  const errors = [];
  const at = (rel) => join(base, rel);
  const count = (op) => (counts[op] = (counts[op] ?? 0) + 1);

  const size = () => {
    const r = rnd.next();
    if (r < 0.35) return rnd.int(4 * KiB);
    if (r < 0.8) return rnd.int(256 * KiB);
    if (r < 0.97) return rnd.int(3 * MiB);
    return 8 * MiB + rnd.int(2 * MiB); // multipart
  };
  const bigFiles = () => [...files.values()].filter((b) => b.length > 4 * MiB).length;
  const newName = () => {
    const dir = rnd.pick([...dirs]);
    const name = `${rnd.pick(['f', 'doc', 'x', 'data', 'ü', 'a b', 'n%20'])}-${rnd.int(1e6)}${rnd.pick(['', '.txt', '.bin'])}`;
    return dir === '' ? name : `${dir}/${name}`;
  };
  const someFile = () => (files.size === 0 ? undefined : rnd.pick([...files.keys()]));
  const check = (what, cond, detail) => {
    if (!cond) errors.push(`${what}: ${detail}`);
  };

  const ops = {
    create() {
      let content = randomBytes(size());
      if (content.length > 4 * MiB && bigFiles() >= 2) content = content.subarray(0, 64 * KiB);
      const rel = newName();
      writeFileSync(at(rel), content);
      files.set(rel, content);
    },
    overwrite() {
      const rel = someFile();
      if (!rel) return ops.create();
      const content = randomBytes(Math.min(size(), 3 * MiB));
      writeFileSync(at(rel), content);
      files.set(rel, content);
    },
    streamThenPatch() {
      // Written front to back past 8 MiB (it moves from memory to a staging file), then patched
      // behind its end before close; close uploads it as a multipart upload of its exact size.
      if (bigFiles() >= 2) return ops.create();
      const rel = newName();
      const content = randomBytes(9 * MiB + rnd.int(9 * MiB));
      const patch = randomBytes(rnd.int(16 * KiB) + 1);
      const offset = rnd.next() < 0.5 ? rnd.int(4 * KiB) : rnd.int(content.length - patch.length);
      const fd = openSync(at(rel), 'w');
      try {
        for (let from = 0; from < content.length; from += MiB) writeSync(fd, content, from, Math.min(MiB, content.length - from), from);
        writeSync(fd, patch, 0, patch.length, offset);
      } finally {
        closeSync(fd);
      }
      patch.copy(content, offset);
      files.set(rel, content);
    },
    append() {
      const rel = someFile();
      if (!rel) return ops.create();
      const extra = randomBytes(rnd.int(64 * KiB) + 1);
      appendFileSync(at(rel), extra);
      files.set(rel, Buffer.concat([files.get(rel), extra]));
    },
    overwriteMiddle() {
      const rel = someFile();
      if (!rel) return ops.create();
      const old = files.get(rel);
      const offset = rnd.int(old.length + 1);
      const patch = randomBytes(rnd.int(32 * KiB) + 1);
      const fd = openSync(at(rel), 'r+');
      try {
        writeSync(fd, patch, 0, patch.length, offset);
      } finally {
        closeSync(fd);
      }
      const next = Buffer.alloc(Math.max(old.length, offset + patch.length));
      old.copy(next);
      patch.copy(next, offset);
      files.set(rel, next);
    },
    truncate() {
      const rel = someFile();
      if (!rel) return ops.create();
      const old = files.get(rel);
      const length = rnd.next() < 0.7 ? rnd.int(old.length + 1) : old.length + rnd.int(100 * KiB);
      truncateSync(at(rel), length);
      const next = Buffer.alloc(length);
      old.copy(next, 0, 0, Math.min(length, old.length));
      files.set(rel, next);
    },
    rename() {
      const rel = someFile();
      if (!rel) return ops.create();
      // Sometimes onto an existing file (replace), sometimes to a new name.
      const target = rnd.next() < 0.3 && files.size > 1 ? someFile() : newName();
      if (target === rel) return;
      renameSync(at(rel), at(target));
      files.set(target, files.get(rel));
      files.delete(rel);
    },
    unlink() {
      const rel = someFile();
      if (!rel) return;
      unlinkSync(at(rel));
      files.delete(rel);
    },
    mkdir() {
      if (dirs.size > 12) return;
      const parent = rnd.pick([...dirs]);
      if (parent.split('/').length > 3) return;
      const rel = `${parent === '' ? '' : `${parent}/`}d${rnd.int(1e6)}`;
      mkdirSync(at(rel));
      dirs.add(rel);
    },
    rmdir() {
      const empty = [...dirs].filter((d) => d !== '' && ![...files.keys(), ...dirs].some((p) => p.startsWith(`${d}/`)));
      if (empty.length === 0) return;
      const rel = rnd.pick(empty);
      rmdirSync(at(rel));
      dirs.delete(rel);
    },
    renameDir() {
      const candidates = [...dirs].filter((d) => d !== '');
      if (candidates.length === 0) return;
      const rel = rnd.pick(candidates);
      const parent = rnd.pick([...dirs].filter((d) => d !== rel && !d.startsWith(`${rel}/`)));
      const target = `${parent === '' ? '' : `${parent}/`}r${rnd.int(1e6)}`;
      renameSync(at(rel), at(target));
      const move = (p) => (p === rel ? target : p.startsWith(`${rel}/`) ? target + p.slice(rel.length) : p);
      for (const d of [...dirs]) {
        dirs.delete(d);
        dirs.add(move(d));
      }
      for (const [p, c] of [...files]) {
        files.delete(p);
        files.set(move(p), c);
      }
    },
    readVerify() {
      const rel = someFile();
      if (!rel) return;
      const got = readFileSync(at(rel));
      check(`read ${rel}`, got.equals(files.get(rel)), `got ${got.length} bytes (sha ${sha256(got).slice(0, 12)}), expected ${files.get(rel).length} (sha ${sha256(files.get(rel)).slice(0, 12)})`);
    },
    readRange() {
      const rel = someFile();
      if (!rel) return;
      const content = files.get(rel);
      const offset = rnd.int(content.length + 1);
      const length = rnd.int(256 * KiB) + 1;
      const fd = openSync(at(rel), 'r');
      const buf = Buffer.alloc(length);
      let n;
      try {
        n = preadFully(fd, buf, offset);
      } finally {
        closeSync(fd);
      }
      const expected = content.subarray(offset, offset + length);
      check(`pread ${rel}@${offset}+${length}`, buf.subarray(0, n).equals(expected), `got ${n} bytes, expected ${expected.length}`);
    },
    stat() {
      const rel = someFile();
      if (!rel) return;
      const st = statSync(at(rel));
      check(`stat ${rel}`, st.isFile() && st.size === files.get(rel).length, `size ${st.size}, expected ${files.get(rel).length}`);
    },
    list() {
      const dir = rnd.pick([...dirs]);
      const listed = readdirSync(at(dir)).sort();
      const prefix = dir === '' ? '' : `${dir}/`;
      const expected = [...files.keys(), ...dirs]
        .filter((p) => p !== dir && p.startsWith(prefix) && !p.slice(prefix.length).includes('/'))
        .map((p) => p.slice(prefix.length))
        .sort();
      check(`readdir ${dir || '.'}`, JSON.stringify(listed) === JSON.stringify(expected), `got ${JSON.stringify(listed)}, expected ${JSON.stringify(expected)}`);
    },
  };
  const weights = {
    create: 14, overwrite: 8, streamThenPatch: 1, append: 10, overwriteMiddle: 10, truncate: 6, rename: 10, unlink: 6, mkdir: 4,
    rmdir: 2, renameDir: 2, readVerify: 14, readRange: 8, stat: 4, list: 4,
  };
  const table = Object.entries(weights).flatMap(([op, w]) => Array(w).fill(op));

  mkdirSync(base, { recursive: true });
  const deadline = Date.now() + seconds * 1000;
  while (Date.now() < deadline && errors.length < 20) {
    const op = rnd.pick(table);
    try {
      ops[op]();
      count(op);
    } catch (err) {
      errors.push(`${op}: ${err.code ?? ''} ${err.message}`);
      // The model no longer knows what the tree holds: stop here.
      break;
    }
  }
  process.stdout.write(
    `${JSON.stringify({
      id,
      counts,
      errors,
      files: Object.fromEntries([...files].map(([p, c]) => [p, { size: c.length, sha256: sha256(c) }])),
      dirs: [...dirs],
    })}\n`,
  );
}

/** pread until the buffer is full or the file ends; returns the bytes read. */
function preadFully(fd, buf, position) {
  let done = 0;
  while (done < buf.length) {
    const n = readSync(fd, buf, done, buf.length - done, position + done);
    if (n === 0) break;
    done += n;
  }
  return done;
}

// ---------------------------------------------------------------------------------------------
// Driver
// ---------------------------------------------------------------------------------------------

function parseArgs(argv) {
  const o = { seconds: 600, workers: 4, faults: false, keep: false, logLevel: 'info' };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    if (a === '--minutes') o.seconds = Number(argv[++i]) * 60;
    else if (a === '--seconds') o.seconds = Number(argv[++i]);
    else if (a === '--quick') o.seconds = 30;
    else if (a === '--workers') o.workers = Number(argv[++i]);
    else if (a === '--faults') o.faults = true;
    else if (a === '--keep') o.keep = true;
    else if (a === '--seed') o.seed = Number(argv[++i]);
    else if (a === '--write-back') o.writeBack = argv[++i];
    else if (a === '--log-level') o.logLevel = argv[++i];
    else throw new Error(`soak: unknown argument ${a}`);
  }
  if (!(o.seconds > 0) || !(o.workers > 0)) throw new Error('soak: --minutes/--seconds and --workers must be positive');
  return o;
}

const log = (m) => process.stdout.write(`soak: ${m}\n`);

function startProcess(args, env, ready) {
  const child = spawn(process.execPath, [BIN, ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const exited = new Promise((r) => child.once('exit', (code, signal) => r(code ?? signal)));
  const up = new Promise((resolve, reject) => {
    const on = (d) => {
      output += d.toString();
      const m = ready.exec(output);
      if (m) resolve(m);
    };
    child.stdout.on('data', on);
    child.stderr.on('data', on);
    child.once('exit', (code) => reject(new Error(`${args[0]} exited ${code}: ${output}`)));
  });
  return { child, up, exited, output: () => output };
}

/** Signed admin request to the server's fault endpoint (V1 signature, as the tests do it). */
function admin(url, credentials, spec) {
  const body = JSON.stringify(spec);
  const date = new Date().toUTCString();
  const text = ['POST', '', 'application/json', date, '/?x-ossencfs-faults'].join('\n');
  const signature = createHmac('sha1', credentials.accessKeySecret).update(text).digest('base64');
  const u = new URL(url);
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: u.hostname, port: u.port, method: 'POST', path: '/?x-ossencfs-faults',
        headers: { 'Content-Type': 'application/json', Date: date, Authorization: `OSS ${credentials.accessKeyId}:${signature}` },
      },
      (res) => {
        let text = '';
        res.on('data', (d) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode, body: text }));
      },
    );
    req.on('error', reject);
    req.end(body);
  });
}

/** path (relative to the mount) → {size, sha256}, and the directories. */
function snapshot(mountpoint) {
  const files = {};
  const dirs = [];
  const walk = (dir) => {
    for (const name of readdirSync(dir)) {
      const path = join(dir, name);
      const st = lstatSync(path);
      const rel = relative(mountpoint, path);
      if (st.isDirectory()) {
        dirs.push(rel);
        walk(path);
      } else {
        const content = readFileSync(path);
        files[rel] = { size: content.length, sha256: sha256(content) };
        if (st.size !== content.length) files[rel].statSize = st.size;
      }
    }
  };
  walk(mountpoint);
  return { files, dirs };
}

function compare(model, actual) {
  const diffs = [];
  for (const [path, want] of Object.entries(model.files)) {
    const got = actual.files[path];
    if (!got) diffs.push(`missing file ${path}`);
    else if (got.sha256 !== want.sha256 || got.size !== want.size || got.statSize !== undefined) {
      diffs.push(`content of ${path}: ${got.size} bytes ${got.sha256.slice(0, 12)} (stat ${got.statSize ?? got.size}), expected ${want.size} bytes ${want.sha256.slice(0, 12)}`);
    }
  }
  for (const path of Object.keys(actual.files)) if (!model.files[path]) diffs.push(`unexpected file ${path}`);
  const wantDirs = new Set(model.dirs);
  const gotDirs = new Set(actual.dirs);
  for (const d of wantDirs) if (!gotDirs.has(d)) diffs.push(`missing directory ${d}`);
  for (const d of gotDirs) if (!wantDirs.has(d)) diffs.push(`unexpected directory ${d}`);
  return diffs;
}

async function drive(o) {
  for (const tool of ['fusermount']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) throw new Error(`soak: ${tool} is required`);
  }
  const dir = mkdtempSync(join(tmpdir(), 'ossencfs-soak-'));
  const credentials = { accessKeyId: 'SOAK', accessKeySecret: randomBytes(16).toString('hex') };
  const env = { OSS_ACCESS_KEY_ID: credentials.accessKeyId, OSS_ACCESS_KEY_SECRET: credentials.accessKeySecret, OSS_REGION: LOCAL_REGION };
  const bucket = 'soak-bucket';
  const keyFile = join(dir, 'key.pem');
  writeFileSync(keyFile, generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const mountpoint = join(dir, 'mnt');
  mkdirSync(mountpoint);
  const cacheDir = join(dir, 'cache');
  const mountLog = join(dir, 'mount.log');
  const seed = o.seed ?? randomBytes(4).readUInt32BE();
  let server;
  let mount;
  let faultTimer;
  let failed = false;
  const cleanup = async () => {
    clearInterval(faultTimer);
    if (mount && mount.child.exitCode === null) {
      spawnSync('fusermount', ['-u', mountpoint]);
      await Promise.race([mount.exited, new Promise((r) => setTimeout(r, 30_000))]);
      if (mount.child.exitCode === null) {
        mount.child.kill('SIGKILL');
        spawnSync('fusermount', ['-uz', mountpoint]);
      }
    }
    if (server && server.child.exitCode === null) {
      server.child.kill('SIGTERM');
      await server.exited;
    }
    if (!o.keep && !failed) rmSync(dir, { recursive: true, force: true });
    else log(`kept ${dir} (mount log: ${mountLog})`);
  };

  try {
    server = startProcess(['server', '--dir', join(dir, 'data')], env, /listening on (http:\/\/\S+)/);
    const url = (await server.up)[1];
    const cli = (args) => spawnSync(process.execPath, [BIN, ...args, '--endpoint', url, '--rsa-key', keyFile], { env: { ...process.env, ...env }, encoding: 'utf8' });
    // The bucket: created with a signed PUT (ali-oss, as the tests do it).
    const { default: OSS } = await import('ali-oss');
    await new OSS({ ...LOCAL_V4, ...credentials, endpoint: url, bucket }).putBucket(bucket);

    const mountArgs = ['mount', `oss://${bucket}`, mountpoint, '--foreground', '--endpoint', url, '--rsa-key', keyFile, '--cache-dir', cacheDir, '--log-file', mountLog, '--log-level', o.logLevel, ...(o.writeBack === undefined ? [] : ['--write-back', o.writeBack])];
    const mountUp = async () => {
      mount = startProcess(mountArgs, env, /mounted /);
      await mount.up;
    };
    await mountUp();
    log(`server ${url}, mount ${mountpoint}, ${o.workers} workers for ${o.seconds} s, seed ${seed}${o.faults ? ', with faults' : ''}`);

    if (o.faults) {
      const { status } = await admin(url, credentials, { action: 'requests', reset: true });
      if (status !== 200) throw new Error(`the server's fault endpoint answered ${status}`);
      const rnd = prng(seed ^ 0x5eed);
      faultTimer = setInterval(() => {
        const spec = rnd.pick([
          { action: 'fail', count: 2, status: 503 },
          { action: 'fail', count: 1, status: 500, method: 'PUT' },
          { action: 'fail', count: 2, status: 429, method: 'GET' },
          { action: 'resetResponse', bytes: 100 + rnd.int(50_000), count: 1, method: 'GET', path: '/w' },
        ]);
        admin(url, credentials, spec).catch(() => undefined);
      }, 700);
    }

    const workers = Array.from({ length: o.workers }, (_, i) => {
      const child = spawn(process.execPath, [fileURLToPath(import.meta.url), '--worker', String(i), join(mountpoint, `w${i}`), String(o.seconds), String(seed + i)], {
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d) => (out += d));
      child.stderr.on('data', (d) => (err += d));
      return new Promise((resolve) => child.once('exit', (code) => resolve({ i, code, out, err })));
    });
    const results = await Promise.all(workers);
    clearInterval(faultTimer);
    if (o.faults) {
      await admin(url, credentials, { action: 'clear' });
      const seen = JSON.parse((await admin(url, credentials, { action: 'requests', reset: true })).body).requests;
      const failed = seen.filter((r) => r.status >= 429).length;
      const cut = seen.filter((r) => r.status === 0).length;
      log(`server: ${seen.length} requests, ${failed} answered with an injected error, ${cut} cut mid-way`);
    }

    const model = { files: {}, dirs: [] };
    const totals = {};
    const errors = [];
    for (const r of results) {
      let report;
      try {
        report = JSON.parse(r.out.trim().split('\n').at(-1));
      } catch {
        errors.push(`worker ${r.i} exited ${r.code} without a report: ${r.err.slice(0, 2000)}`);
        continue;
      }
      for (const [op, n] of Object.entries(report.counts)) totals[op] = (totals[op] ?? 0) + n;
      for (const e of report.errors) errors.push(`worker ${r.i}: ${e}`);
      model.dirs.push(`w${r.i}`);
      for (const d of report.dirs) if (d !== '') model.dirs.push(`w${r.i}/${d}`);
      for (const [p, f] of Object.entries(report.files)) model.files[`w${r.i}/${p}`] = f;
    }
    const ops = Object.values(totals).reduce((a, b) => a + b, 0);
    log(`operations: ${ops} (${Object.entries(totals).map(([k, v]) => `${k} ${v}`).join(', ')})`);
    log(`model: ${Object.keys(model.files).length} files, ${model.dirs.length} directories, ${Object.values(model.files).reduce((a, f) => a + f.size, 0)} bytes`);
    for (const e of errors) log(`ERROR ${e}`);

    const diffs = compare(model, snapshot(mountpoint));
    for (const d of diffs.slice(0, 50)) log(`DIFF ${d}`);
    log(`differences: ${diffs.length}`);

    // Again with cold caches: everything must be in the bucket, not just in the mount's memory.
    spawnSync('fusermount', ['-u', mountpoint]);
    const code = await mount.exited;
    if (code !== 0) errors.push(`the mount exited ${code} at unmount`);
    await mountUp();
    const coldDiffs = compare(model, snapshot(mountpoint));
    for (const d of coldDiffs.slice(0, 50)) log(`DIFF after remount ${d}`);
    log(`differences after remount: ${coldDiffs.length}`);

    const uploads = cli(['uploads', 'list', `oss://${bucket}`]);
    const leftover = uploads.stdout.trim();
    log(`multipart uploads left: ${leftover === '' ? 0 : leftover.split('\n').length}${uploads.status !== 0 ? ` (uploads list exited ${uploads.status}: ${uploads.stderr.trim()})` : ''}`);
    const verify = cli(['verify', `oss://${bucket}`]);
    log(`verify: exit ${verify.status}${verify.status !== 0 ? `\n${verify.stdout}${verify.stderr}` : ''}`);

    const warnings = existsSync(mountLog) ? readFileSync(mountLog, 'utf8').split('\n').filter((l) => / (WARN|ERROR) /.test(l)) : [];
    log(`mount log: ${warnings.length} warnings/errors${warnings.length ? `, e.g. ${warnings.slice(0, 5).join(' | ')}` : ''}`);

    failed =
      errors.length > 0 || diffs.length > 0 || coldDiffs.length > 0 || verify.status !== 0 || uploads.status !== 0 || leftover !== '' || ops === 0;
    log(failed ? 'FAILED' : 'PASSED');
  } catch (err) {
    failed = true;
    log(`FAILED: ${err.stack ?? err.message}`);
  } finally {
    await cleanup();
  }
  return failed ? 1 : 0;
}

const argv = process.argv.slice(2);
if (argv[0] === '--worker') {
  runWorker(Number(argv[1]), argv[2], Number(argv[3]), Number(argv[4]));
} else {
  let options;
  try {
    options = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  process.exitCode = await drive(options);
}
