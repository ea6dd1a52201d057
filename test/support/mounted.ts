import { type ChildProcess, spawn, spawnSync, type SpawnSyncReturns } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll } from 'vitest';
import { isMounted } from '../../src/fuse/mount.js';
import { type LocalBucket, startLocalBucket } from './localBucket.js';

export const BIN = fileURLToPath(new URL('../../bin/ossencfs.js', import.meta.url));

export interface Mounted {
  mountpoint: string;
  logFile: string;
  process: ChildProcess;
  /** Unmounts (fusermount -u) and waits for the mount process to exit. */
  unmount(): Promise<void>;
  log(): string;
}

/**
 * Runs `ossencfs mount oss://BUCKET/PREFIX MOUNTPOINT --foreground` as a child process — the real
 * CLI, the real FUSE mount — against a local bucket, and resolves once the mount is live.
 */
/** Mount arguments for tests that check the bucket right after close(), or close()'s own errors:
 *  new files upload at close instead of after the write-back wait. A mount gets them unless its
 *  arguments name a --write-back or it asks for the default (`defaultWriteBack`). */
export const UPLOAD_AT_CLOSE = ['--write-back', '0'];

export async function mountBucket(
  local: LocalBucket,
  options: {
    name?: string;
    prefix?: string;
    args?: string[];
    keyArgs?: string[];
    /** Set over the mount's environment; an undefined value removes the variable. */
    env?: Record<string, string | undefined>;
    /** Mount with the default write-back rather than UPLOAD_AT_CLOSE. */
    defaultWriteBack?: boolean;
  } = {},
): Promise<Mounted> {
  const name = options.name ?? 'mnt';
  const mountpoint = join(local.dir, name);
  const logFile = join(local.dir, `${name}.log`);
  const cacheDir = join(local.dir, `${name}-cache`);
  mkdirSync(mountpoint, { recursive: true });
  const source = `oss://${local.bucket}${options.prefix ? `/${options.prefix}` : ''}`;
  const child = spawn(
    process.execPath,
    [
      BIN, 'mount', source, mountpoint, '--foreground',
      '--endpoint', local.server.url,
      ...(options.keyArgs ?? ['--rsa-key', local.keyFile]),
      '--cache-dir', cacheDir, '--log-file', logFile, '--log-level', 'debug',
      ...(options.args ?? []),
      ...(options.defaultWriteBack || options.args?.includes('--write-back') ? [] : UPLOAD_AT_CLOSE),
    ],
    {
      env: withEnv({ OSS_ACCESS_KEY_ID: local.credentials.accessKeyId, OSS_ACCESS_KEY_SECRET: local.credentials.accessKeySecret, ...options.env }),
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  const deadline = Date.now() + 20_000;
  while (!output.includes('mounted ')) {
    if (child.exitCode !== null) throw new Error(`mount exited ${child.exitCode}: ${output}`);
    if (Date.now() > deadline) throw new Error(`mount did not come up: ${output}`);
    await new Promise((r) => setTimeout(r, 50));
  }
  return {
    mountpoint,
    logFile,
    process: child,
    log: () => {
      try {
        return readFileSync(logFile, 'utf8');
      } catch {
        return '';
      }
    },
    unmount: async () => {
      if (child.exitCode !== null) return;
      if (isMounted(mountpoint)) {
        const r = spawnSync('fusermount', ['-u', mountpoint], { encoding: 'utf8' });
        if (r.status !== 0) throw new Error(`fusermount -u ${mountpoint}: ${r.stderr}`);
      }
      await exited;
    },
  };
}

/** This process's environment with `changes` set over it; an undefined value removes the variable. */
export function withEnv(changes: Record<string, string | undefined>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...process.env };
  for (const [name, value] of Object.entries(changes)) {
    if (value === undefined) delete env[name];
    else env[name] = value;
  }
  return env;
}

/**
 * A fresh local bucket and one mount of it for a describe block: both start in beforeAll and go in
 * afterAll. Read `local` and `m` inside the tests, once beforeAll has run.
 */
export function mountedSuite(options?: Parameters<typeof mountBucket>[1]): { readonly local: LocalBucket; readonly m: Mounted } {
  let local: LocalBucket | undefined;
  let m: Mounted | undefined;
  beforeAll(async () => {
    local = await startLocalBucket();
    m = await mountBucket(local, options);
  });
  afterAll(async () => {
    await m?.unmount();
    await local?.close();
  });
  return {
    get local() {
      if (!local) throw new Error('mountedSuite: the bucket is not started (read it inside a test)');
      return local;
    },
    get m() {
      if (!m) throw new Error('mountedSuite: nothing is mounted (read it inside a test)');
      return m;
    },
  };
}

/** Runs a shell command (bash -c) and returns stdout; throws with stderr on a non-zero exit. */
export function sh(command: string, cwd?: string): string {
  const r = spawnSync('bash', ['-c', command], { cwd, encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 });
  if (r.status !== 0) throw new Error(`\`${command}\` exited ${r.status}: ${r.stderr}${r.stdout.slice(0, 2000)}`);
  return r.stdout;
}

/** Like sh, but returns the exit status and stderr instead of throwing. */
export function shStatus(command: string, cwd?: string): { status: number; stdout: string; stderr: string } {
  const r = spawnSync('bash', ['-c', command], { cwd, encoding: 'utf8' });
  return { status: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** `ossencfs rekey` of the whole bucket from its key to a fresh RSA key (written 0600 as DIR/key-b.pem). */
export function rekeyToFreshKey(local: LocalBucket): { keyFile: string; rekey: SpawnSyncReturns<string> } {
  const { privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
  const keyFile = join(local.dir, 'key-b.pem');
  writeFileSync(keyFile, privateKey.export({ type: 'pkcs8', format: 'pem' }), { mode: 0o600 });
  const rekey = spawnSync(process.execPath, [BIN, 'rekey', `oss://${local.bucket}`, '--endpoint', local.server.url, '--rsa-key', local.keyFile, '--new-rsa-key', keyFile, '--quiet'], {
    env: withEnv({ OSS_ACCESS_KEY_ID: local.credentials.accessKeyId, OSS_ACCESS_KEY_SECRET: local.credentials.accessKeySecret }),
    encoding: 'utf8',
  });
  return { keyFile, rekey };
}
