import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Figure {
  value: number;
  seconds: number;
  requests?: Record<string, number>;
}

/**
 * The latency profile end to end, small: the mount and rclone's crypt mount through the delay
 * relay at 0 and 10 ms. Its figures are not asserted (other work shares the machine), only that
 * every workload ran on each side and the table says which targets were met.
 */
describe('scripts/bench/latency.mjs --quick', () => {
  const dir = mkdtempSync(join(tmpdir(), 'ossencfs-latency-test-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('runs every workload on both sides at both round trips and prints the table with each target met or not', () => {
    const json = join(dir, 'profile.json');
    const r = spawnSync(process.execPath, ['scripts/bench/latency.mjs', '--quick', '--rtt', '10', '--stacks', 'ours,rclone', '--json', json], {
      cwd: ROOT,
      encoding: 'utf8',
      timeout: 400_000,
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);
    const profile = JSON.parse(readFileSync(json, 'utf8')) as { rtt: number; results: Record<string, Record<string, Record<string, Figure>>> };
    expect(profile.rtt).toBe(10);
    const ours = ['rsync_first', 'small_files', 'dd_write', 'rsync_again', 'dd_read', 'ls_500', 'ls_big', 'rsync_noop'];
    const rclone = ['rsync_first', 'small_files', 'dd_write', 'rsync_again', 'dd_read', 'ls_500'];
    for (const rtt of ['0', '10']) {
      expect(Object.keys(profile.results.ours![rtt]!).sort()).toEqual([...ours].sort());
      expect(Object.keys(profile.results.rclone![rtt]!).sort()).toEqual([...rclone].sort());
      for (const f of [...Object.values(profile.results.ours![rtt]!), ...Object.values(profile.results.rclone![rtt]!)]) {
        expect(Number.isFinite(f.value) && f.value > 0).toBe(true);
      }
      // The mount's side counts what it asked the server for: the first rsync wrote each file.
      expect(profile.results.ours![rtt]!.rsync_first!.requests!.PUT).toBeGreaterThanOrEqual(100);
    }
    const table = r.stdout.slice(r.stdout.indexOf('workload'));
    for (const row of ['rsync -a of 100 files', '50 × 4 KiB files', 'dd write of 64 MiB', 'cold dd read of 64 MiB', 'cold ls -l of 1000 entries', 'no-op rsync of 200 files']) {
      expect(table).toMatch(new RegExp(`${row}.*(pass|FAIL)`));
    }
  }, 420_000);
});
