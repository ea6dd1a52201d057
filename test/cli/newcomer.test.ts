import { existsSync, mkdirSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type CliWorld, type Result, startWorld } from './harness.js';

/** A newcomer's mistakes (issue #31): each is one line, with the exit status the kind of mistake calls for. */
let w: CliWorld;
beforeAll(async () => {
  w = await startWorld();
});
afterAll(async () => {
  await w?.close();
});

const lines = (r: Result): string[] => r.stderr.split('\n').filter((l) => l !== '');

describe('the command line itself', () => {
  it('`ossencfs version` prints the version', async () => {
    const r = await w.run(['version']);
    expect(r.code).toBe(0);
    expect(r.stdout).toMatch(/^ossencfs \d+\.\d+\.\d+\n$/);
  });

  it('bare `ossencfs` says once, in one line, to name a command', async () => {
    const r = await w.run([]);
    expect(r.code).toBe(2);
    expect(lines(r)).toHaveLength(1);
    expect(r.stderr.match(/--help/g)).toHaveLength(1);
  });

  it('an unknown option is named, even where it swallowed the url', async () => {
    for (const args of [['ls', '--bogus', 'oss://vault'], ['ls', 'oss://vault', '--bogus']]) {
      const r = await w.run(args);
      expect(r.code).toBe(2);
      expect(lines(r)).toEqual(['ossencfs: unknown option --bogus (see ossencfs --help)']);
    }
  });
});

describe('mount with the mountpoint forgotten', () => {
  it('refuses a single oss:// argument, and a url as the mountpoint, without creating anything', async () => {
    for (const args of [['mount', 'oss://bkt', '--rsa-key', w.keyA], ['mount', 'oss://bkt', '--rsa-key', w.keyA, '--foreground'], ['mount', 'mnt', 'oss://bkt']]) {
      const r = await w.run(args, { env: { XDG_DATA_HOME: join(w.dir, 'data') } });
      expect(r.code).toBe(2);
      expect(lines(r)).toHaveLength(1);
      expect(r.stderr).toMatch(/oss:\/\/bkt/);
    }
    expect(existsSync(join(w.dir, 'oss:'))).toBe(false);
    // No embedded server was started over a data directory either.
    expect(existsSync(join(w.dir, 'data'))).toBe(false);
  });
});
