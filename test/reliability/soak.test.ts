import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const SOAK = fileURLToPath(new URL('../../scripts/soak.sh', import.meta.url));

/**
 * scripts/soak.sh --quick: four processes do ~30 s of random operations on a real mount against a
 * model, the tree is compared with the model before and after a remount, no multipart upload may
 * be left and `ossencfs verify` must pass. The run happens in its own processes (server, mount,
 * workers), so spawnSync here blocks nothing they need.
 */
describe('reliability: soak', () => {
  it('soak.sh --quick --faults: zero differences, clean verify', () => {
    const r = spawnSync('bash', [SOAK, '--quick', '--faults'], {
      encoding: 'utf8',
      env: { ...process.env, OSSENCFS_SOAK_NO_BUILD: '1' },
      timeout: 240_000,
    });
    const out = `${r.stdout}${r.stderr}`;
    expect(r.status, out).toBe(0);
    expect(out).toMatch(/^soak: differences: 0$/m);
    expect(out).toMatch(/^soak: differences after remount: 0$/m);
    expect(out).toMatch(/^soak: multipart uploads left: 0$/m);
    expect(out).toMatch(/^soak: verify: exit 0$/m);
    expect(out).toMatch(/^soak: PASSED$/m);
    const ops = Number(/^soak: operations: (\d+)/m.exec(out)?.[1]);
    expect(ops).toBeGreaterThan(200);
  }, 300_000);
});
