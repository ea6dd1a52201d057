import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEFAULT_RETRY_POLICY } from '../../src/store/retry.js';
import { BIN, LOCAL_REGION, runCli, writeKey } from './harness.js';

/** A put whose server is gone says each retry while it waits, and ends in one line within the retry budget. */
let dir: string;
let port: number;
let file: string;
let key: string;
beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'ossencfs-retries-'));
  file = join(dir, 'data.bin');
  writeFileSync(file, Buffer.alloc(300_000, 7));
  key = writeKey(join(dir, 'key.pem'));
  // A port nothing listens on: taken, then let go.
  const probe = createServer();
  await new Promise<void>((r) => probe.listen(0, '127.0.0.1', r));
  port = (probe.address() as { port: number }).port;
  await new Promise<void>((r) => probe.close(() => r()));
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const env = (): Record<string, string> => ({
  PATH: process.env.PATH ?? '',
  HOME: dir,
  XDG_CACHE_HOME: join(dir, 'cache'),
  XDG_DATA_HOME: join(dir, 'data'),
  OSS_ACCESS_KEY_ID: 'someone',
  OSS_ACCESS_KEY_SECRET: 'secret',
  OSS_REGION: LOCAL_REGION,
});
const args = (): string[] => ['put', file, 'oss://vault/gone.bin', '--endpoint', `http://127.0.0.1:${port}`, '--rsa-key', key];

const final = (): RegExp => new RegExp(
  `^ossencfs: put ${file}: PUT oss://vault/gone\\.bin: connection refused \\(connect ECONNREFUSED 127\\.0\\.0\\.1:\\d+\\); gave up after ${DEFAULT_RETRY_POLICY.attempts} tries in \\d+ s`,
);

describe('put with the server gone', () => {
  it('off a terminal: one line per retry as it happens, then one final line, exit 1, within the retry budget', async () => {
    const started = Date.now();
    const r = await runCli(args(), env(), dir);
    const elapsed = Date.now() - started;
    expect(r.code).toBe(1);
    const lines = r.stderr.split('\n').filter(Boolean);
    const retries = lines.slice(0, -1);
    expect(retries).toHaveLength(DEFAULT_RETRY_POLICY.attempts - 1);
    retries.forEach((line, i) => {
      expect(line).toMatch(new RegExp(`^ossencfs: retrying PUT oss://vault/gone\\.bin: connection refused \\(attempt ${i + 2}, next in \\d+\\.\\d s\\)$`));
    });
    expect(lines.at(-1)).toMatch(final());
    // The README's bound for a refused connection, loosely: the budget plus a slow start.
    expect(elapsed).toBeLessThan(DEFAULT_RETRY_POLICY.totalMs + 15_000);
  });

  it('--quiet: the final line alone', async () => {
    const r = await runCli([...args(), '-q'], env(), dir);
    expect(r.code).toBe(1);
    expect(r.stderr.split('\n').filter(Boolean)).toHaveLength(1);
    expect(r.stderr).toMatch(final());
  });

  it('on a terminal: the retry shows in the one status line, and the final line starts a line of its own', () => {
    // script(1) gives the CLI a terminal; its output is what the terminal was sent.
    const command = [process.execPath, BIN, ...args()].map((a) => `'${a}'`).join(' ');
    const r = spawnSync('script', ['-qec', command, '/dev/null'], { env: env(), encoding: 'utf8', timeout: 120_000 });
    expect(r.status).toBe(1);
    const out = r.stdout.replace(/\r\n/g, '\n');
    expect(out).toMatch(new RegExp(`retrying PUT oss://vault/gone\\.bin: connection refused \\(attempt ${DEFAULT_RETRY_POLICY.attempts}, next in`));
    // Never the log form: a terminal gets the status line, not a line per retry.
    expect(out).not.toMatch(/ossencfs: retrying/);
    const lastLine = out.split('\n').filter(Boolean).at(-1)!;
    expect(lastLine).toMatch(final());
  }, 120_000);
});
