import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type LocalBucket, startLocalBucket } from '../support/localBucket.js';
import { type Mounted, mountBucket } from '../support/mounted.js';
import { rawPut } from './support.js';

/** An object name in a log line can neither repaint the terminal tailing the log nor forge a line of its own. */
describe('reliability: object names in the mount log are escaped', () => {
  let local: LocalBucket;
  let m: Mounted;

  beforeAll(async () => {
    local = await startLocalBucket();
    m = await mountBucket(local, { name: 'names' });
  });
  afterAll(async () => {
    await m?.unmount();
    await local?.close();
  });

  it('ESC and CR in a name that fails to read', async () => {
    const name = 'esc\u001b[2J\rFORGED ERROR line';
    // No encryption headers: reading it is EIO with one log line naming it.
    expect(await rawPut(local, `logged/${name}`, Buffer.from('plain'))).toBe(200);
    expect(() => readFileSync(join(m.mountpoint, 'logged', name))).toThrow(/EIO/);
    const lines = m.log().split('\n').filter((l) => l.includes('FORGED'));
    expect(lines.length).toBeGreaterThan(0);
    for (const line of lines) {
      expect(line).not.toMatch(/[\u001b\r]/);
      expect(line).toContain('esc\\x1b[2J\\rFORGED ERROR line');
    }
  });
});
