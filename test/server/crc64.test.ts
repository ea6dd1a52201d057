import { spawnSync } from 'node:child_process';
import { cpSync, mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// The compiled tree as setup.sh leaves it, less native/: what a checkout that skipped the addon build runs.
it('`ossencfs server` without native/crc64 built exits non-zero, naming the addon and how to build it', () => {
  const tree = mkdtempSync(join(tmpdir(), 'ossencfs-crc64-'));
  try {
    cpSync(join(ROOT, 'dist'), join(tree, 'dist'), { recursive: true });
    symlinkSync(join(ROOT, 'node_modules'), join(tree, 'node_modules'));
    const main = `import { main } from ${JSON.stringify(join(tree, 'dist', 'cli', 'main.js'))}; main(process.argv.slice(1));`;
    const r = spawnSync(process.execPath, ['--input-type=module', '-e', main, 'server', '--dir', join(tree, 'data'), '--port', '0'], {
      encoding: 'utf8',
      timeout: 30_000,
      env: { ...process.env, OSS_ACCESS_KEY_ID: 'id', OSS_ACCESS_KEY_SECRET: 'secret' },
    });
    expect(r.stdout).not.toMatch(/listening/);
    expect(r.status).not.toBe(0);
    expect(r.stderr.trim()).toMatch(/^ossencfs: native\/crc64 is not built \(scripts\/setup\.sh builds it\): Cannot find module [^\n]*$/);
  } finally {
    rmSync(tree, { recursive: true, force: true });
  }
});
