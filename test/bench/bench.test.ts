import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

interface Figure {
  label: string;
  value: number;
  unit: string;
  ratio?: number;
  ceiling?: string;
}

/**
 * The bench's quick mode end to end: it must run and produce every figure. The numbers
 * themselves are not asserted (other work shares the machine); scripts/bench.sh prints them.
 */
describe('scripts/bench.sh --quick --rtt none', () => {
  const results = mkdtempSync(join(tmpdir(), 'ossencfs-bench-test-'));
  afterAll(() => rmSync(results, { recursive: true, force: true }));

  it('exits 0 and writes a JSON result whose every figure is a finite number', () => {
    // The latency profile has its own test (./latency.test.ts): here it would double the run.
    const r = spawnSync('bash', ['scripts/bench.sh', '--quick', '--rtt', 'none'], {
      cwd: ROOT,
      // `npm test` builds first (pretest); rebuilding dist/ here would race other test files reading it.
      env: { ...process.env, OSSENCFS_BENCH_RESULTS_DIR: results, OSSENCFS_BENCH_NO_BUILD: '1' },
      encoding: 'utf8',
      timeout: 240_000,
    });
    expect(r.status, `${r.stdout}\n${r.stderr}`).toBe(0);

    const files = readdirSync(results).filter((f) => f.endsWith('.json'));
    expect(files).toHaveLength(1);
    expect(readdirSync(results)).toContain('plot.svg');
    const result = JSON.parse(readFileSync(join(results, files[0]!), 'utf8')) as { mode: string; figures: Record<string, Figure> };
    expect(result.mode).toBe('quick');

    const figures = Object.entries(result.figures);
    const expected = [
      'ceiling.aes_ctr', 'ceiling.get_plain', 'ceiling.put_plain', 'ceiling.fuse_read', 'ceiling.fuse_write',
      'ceiling.read_one_thread', 'ceiling.write_one_thread', 'ceiling.fuse_ls', 'ceiling.ls_expired', 'library.put', 'library.get',
      'mount.dd_write', 'mount.dd_read_cold', 'mount.dd_read_warm', 'mount.cp_in', 'mount.cp_out',
      'mount.rand4k_cold', 'mount.rand4k_warm_fuse', 'mount.small_files', 'mount.ls_cold', 'mount.ls_warm',
      'mount.rsync_first', 'mount.rsync_noop', 'mount.peak_rss_copies', 'mount.peak_rss',
      // scripts/setup.sh installs rclone, so the side-by-side rclone crypt mount runs too.
      'peer.rclone_write', 'peer.rclone_read', 'peer.ours_vs_rclone_write', 'peer.ours_vs_rclone_read',
    ];
    expect(Object.keys(result.figures)).toEqual(expect.arrayContaining(expected));
    for (const [key, f] of figures) {
      expect(Number.isFinite(f.value), `${key} = ${f.value}`).toBe(true);
      if (f.ceiling !== undefined) expect(Number.isFinite(f.ratio), `${key} ratio = ${f.ratio}`).toBe(true);
    }
  }, 300_000);
});
